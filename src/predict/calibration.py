"""What a predicted P(IR) means: metrics and calibration of labelled predictions.

A model is *calibrated* when, among the introns it gives P(IR) = p, a fraction p is retained.
The reliability curve bins the predictions (10 equal-width bins of P(IR)) and compares each bin's
mean P(IR) with its fraction of retained introns; the expected calibration error (ECE) is the mean
|fraction - mean P(IR)| over bins, weighted by their sizes, and the Brier score the mean squared
error of P(IR). Models trained on the study's data learn its prevalence (about 22% retained): on
introns with another prevalence the probabilities shift even when the ranking (AUROC) holds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

N_BINS = 10


def reliability_bins(labels: np.ndarray, probabilities: np.ndarray, n_bins: int = N_BINS
                     ) -> pd.DataFrame:
    """The reliability table of labelled predictions.

    Parameters
    ----------
    labels : (N,) 0/1
    probabilities : (N,) predicted P(class 1)
    n_bins : equal-width bins over [0, 1] (the last one includes 1)

    Returns
    -------
    DataFrame, one row per non-empty bin: lower, upper, n, mean_probability, fraction_positive
    """
    labels = np.asarray(labels, dtype=np.float64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(probabilities, edges[1:-1], right=False), 0, n_bins - 1)
    n = np.bincount(which, minlength=n_bins)
    sum_p = np.bincount(which, weights=probabilities, minlength=n_bins)
    sum_y = np.bincount(which, weights=labels, minlength=n_bins)
    keep = n > 0
    return pd.DataFrame({"lower": edges[:-1][keep], "upper": edges[1:][keep], "n": n[keep],
                         "mean_probability": sum_p[keep] / n[keep],
                         "fraction_positive": sum_y[keep] / n[keep]})


def expected_calibration_error(bins: pd.DataFrame) -> float:
    """Size-weighted mean |fraction_positive - mean_probability| over the bins of
    `reliability_bins`."""
    if bins.empty:
        return float("nan")
    gap = (bins["fraction_positive"] - bins["mean_probability"]).abs()
    return float((gap * bins["n"]).sum() / bins["n"].sum())


def calibration_summary(labels: np.ndarray, probabilities: np.ndarray, n_bins: int = N_BINS
                        ) -> dict:
    """ECE, Brier score, prevalence, mean P(IR) and the bins (as lists) of labelled predictions."""
    labels = np.asarray(labels, dtype=np.float64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    bins = reliability_bins(labels, probabilities, n_bins)
    return {"n": int(len(labels)), "prevalence": float(labels.mean()) if len(labels) else None,
            "mean_probability": float(probabilities.mean()) if len(labels) else None,
            "ece": expected_calibration_error(bins),
            "brier": float(np.mean((probabilities - labels) ** 2)) if len(labels) else None,
            "bins": {column: bins[column].tolist() for column in bins.columns}}


def plot_reliability(curves: dict[str, pd.DataFrame], path: str | Path, title: str = "",
                     note: str = "") -> Path:
    """The reliability diagram: one curve per labelled set (marker size ~ bin size), the
    diagonal of perfect calibration, and a histogram of the predictions below.

    curves : name -> `reliability_bins` table (e.g. "your introns", "model's test split")
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5.6, 6.4), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfect calibration")
    width = 1.0 / N_BINS
    for k, (name, bins) in enumerate(curves.items()):
        if bins.empty:
            continue
        sizes = 20 + 180 * bins["n"] / bins["n"].max()
        ax.plot(bins["mean_probability"], bins["fraction_positive"], marker="o", ms=0, lw=1.5,
                label=f"{name} (ECE {expected_calibration_error(bins):.3f})")
        ax.scatter(bins["mean_probability"], bins["fraction_positive"], s=sizes, alpha=0.6)
        share = bins["n"] / bins["n"].sum()
        offset = (k - (len(curves) - 1) / 2) * width / (len(curves) + 1)
        hist.bar((bins["lower"] + bins["upper"]) / 2 + offset, share, width=width /
                 (len(curves) + 1), alpha=0.7, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction retained (label 1)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    hist.set_xlabel("predicted P(IR) (mean of both strands)")
    hist.set_ylabel("share of introns")
    if note:
        fig.text(0.01, 0.005, note, fontsize=6.5, va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.06 if note else 0, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
