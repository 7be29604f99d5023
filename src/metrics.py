"""Binary classification metrics (scikit-learn, imported when a metric is computed).

AUPRC is reported two ways: average precision (the step-wise area scikit-learn recommends) and the
paper's trapezoidal area under the precision-recall curve (`auc(recall, precision)`), which is what
the published numbers use.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

METRIC_NAMES = ("accuracy", "auroc", "auprc", "auprc_trapezoid")


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy (at `threshold`), AUROC, AUPRC (average precision) and AUPRC (trapezoid).

    Parameters
    ----------
    labels : array (N,) of 0/1
    probabilities : array (N,), predicted probability of class 1

    AUROC and AUPRC are NaN when only one class is present (they are undefined then).
    """
    from sklearn.metrics import (
        accuracy_score,
        auc,
        average_precision_score,
        precision_recall_curve,
        roc_auc_score,
    )

    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    result = {"n": int(len(labels)), "n_positive": int(labels.sum()),
              "accuracy": float(accuracy_score(labels, probabilities >= threshold))}
    if len(np.unique(labels)) < 2:
        result.update(auroc=float("nan"), auprc=float("nan"), auprc_trapezoid=float("nan"))
        return result
    precision, recall, _ = precision_recall_curve(labels, probabilities)
    result.update(auroc=float(roc_auc_score(labels, probabilities)),
                  auprc=float(average_precision_score(labels, probabilities)),
                  auprc_trapezoid=float(auc(recall, precision)))
    return result


def require_both_classes(labels: np.ndarray, split: str, source: str) -> None:
    """A split to train on must hold both labels: a one-class training set would train without
    error and then report AUROC NaN.

    Raises
    ------
    InputError
        naming the split, `source` (where its rows come from) and the count of each label.
    """
    labels = np.asarray(labels)
    counts = {label: int((labels == label).sum()) for label in (0, 1)}
    if counts[0] and counts[1]:
        return
    missing = 0 if counts[0] == 0 else 1
    raise InputError(
        f"the {split} split ({source}) holds {counts[0]:,} row(s) of label 0 and {counts[1]:,} of "
        f"label 1: a classifier needs both classes to learn from, and none of label {missing} is "
        f"there. Check the label column of the data and the split files (or, for Sei features, "
        f"the target_*.npy files)")
