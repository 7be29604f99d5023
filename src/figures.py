"""Figures (matplotlib, no display needed): loss curves, and later the paper's comparison plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def plot_loss(history: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Train and validation loss per epoch (left axis) and learning rate (right axis).

    `history` has the columns of loss.csv: epoch, lr, train_loss, valid_loss.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(history["epoch"], history["train_loss"], marker="o", ms=3, label="train")
    valid = history.dropna(subset=["valid_loss"])
    ax.plot(valid["epoch"], valid["valid_loss"], marker="o", ms=3, label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss")
    lr_axis = ax.twinx()
    lr_axis.plot(history["epoch"], history["lr"], color="grey", lw=1, ls="--", label="lr")
    lr_axis.set_ylabel("learning rate", color="grey")
    lines = ax.get_legend_handles_labels()
    lr_lines = lr_axis.get_legend_handles_labels()
    ax.legend(lines[0] + lr_lines[0], lines[1] + lr_lines[1], loc="upper right", frameon=False)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
