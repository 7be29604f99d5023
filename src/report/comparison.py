"""Runs side by side: the metrics table beside the published numbers, and the ROC / PR figure.

Writes, into one folder (this module owns the names):

    comparison.csv   one row per run: run folder, counts, accuracy, AUROC, AUPRC (AP and
                     trapezoid), the study's published AUROC / AUPRC
    comparison.md    the same table in Markdown (without the run folders)
    comparison.png   ROC and precision-recall curves of every run
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..io import atomic_write_text
from ..metrics import binary_metrics
from ..runs import PREDICTIONS_FILE, find_run, newer_than, read_predictions, run_label

COMPARISON_DIR = "comparison"  # Reproduce.py: <results>/comparison/ beside the run folders
TABLE_FILE = "comparison.csv"
MARKDOWN_FILE = "comparison.md"
FIGURE_FILE = "comparison.png"

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
    # the published DNABERT-2 run loaded the checkpoint this way (study_settings section 5)
    "DNABERT2 (original load)": (0.762, 0.567),
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


def compare_runs(paths, out: str | Path, labels=None) -> pd.DataFrame:
    """Compare runs (run folders, or results folders standing for their newest evaluated run):
    write comparison.csv / .md / .png into `out`; returns the table (with the run folders).

    Raises
    ------
    InputError
        A path holds no evaluated run, or a predictions.csv is damaged.
    """
    from ..errors import InputError
    from .figures import plot_roc_pr

    paths = list(paths)
    if labels and len(labels) != len(paths):
        raise InputError(f"--labels gives {len(labels)} names for {len(paths)} runs: give one "
                         f"name per run")
    folders = [find_run(path) for path in paths]
    labels = list(labels) if labels else [run_label(folder) for folder in folders]
    if len(set(labels)) != len(labels):
        labels = [f"{label} [{folder.name}]" for label, folder in zip(labels, folders)]
    predictions = {label: read_predictions(folder / PREDICTIONS_FILE)
                   for label, folder in zip(labels, folders)}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = comparison_table(predictions)
    table.insert(1, "run", [str(folder) for folder in folders])
    atomic_write_text(out / TABLE_FILE, table.to_csv(index=False))
    atomic_write_text(out / MARKDOWN_FILE, to_markdown(table.drop(columns=["run"])))
    plot_roc_pr(predictions, out / FIGURE_FILE)
    return table


def is_complete(out: str | Path, runs: list[Path | None]) -> bool:
    """comparison.csv in `out` lists exactly `runs` and is newer than each run's predictions."""
    table = Path(out) / TABLE_FILE
    if not table.is_file() or any(run is None for run in runs):
        return False
    try:
        listed = pd.read_csv(table)["run"].tolist()
    except (OSError, ValueError, KeyError):
        return False
    return listed == [str(run) for run in runs] and newer_than(table, runs, PREDICTIONS_FILE)
