"""Binary classification metrics, computed with scikit-learn.

AUPRC is reported two ways: average precision (the step-wise area scikit-learn recommends) and the
paper's trapezoidal area under the precision-recall curve (`auc(recall, precision)`), which is what
the published numbers use.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (accuracy_score, auc, average_precision_score, precision_recall_curve,
                             roc_auc_score)

METRIC_NAMES = ("accuracy", "auroc", "auprc", "auprc_trapezoid")


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy (at `threshold`), AUROC, AUPRC (average precision) and AUPRC (trapezoid).

    Parameters
    ----------
    labels : array (N,) of 0/1
    probabilities : array (N,), predicted probability of class 1

    AUROC and AUPRC are NaN when only one class is present (they are undefined then).
    """
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


# Test AUROC / AUPRC (trapezoid) published by the study (Daoud & Ben-Hur, PLOS Comput Biol 2025),
# reverse-complement protocol; keyed like `src.runs.run_label`.
PUBLISHED = {
    "FSei": (0.815, 0.654),
    "LR (ALL)": (0.808, 0.640),
    "LR (TF)": (0.807, 0.636),
    "LR (HM)": (0.808, 0.641),
    "LGBM (TF)": (0.798, 0.624),
    "ConvNet": (0.797, 0.627),
    "Basset": (0.795, 0.614),
    "DNABERT2": (0.762, 0.567),
}


def comparison_table(predictions: dict) -> pd.DataFrame:
    """One row per run: counts, accuracy, AUROC, AUPRC (AP and trapezoid) and, where the study
    published one, its AUROC and AUPRC.

    predictions : {label: DataFrame with columns label, probability}
    """
    rows = []
    for name, frame in predictions.items():
        metrics = binary_metrics(frame["label"].to_numpy(), frame["probability"].to_numpy())
        published = PUBLISHED.get(name, (float("nan"), float("nan")))
        rows.append({"model": name, **metrics, "published_auroc": published[0],
                     "published_auprc_trapezoid": published[1]})
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    def cell(value):
        if isinstance(value, float):
            return "" if np.isnan(value) else f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(table.columns) + " |",
             "| " + " | ".join("---" for _ in table.columns) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"
