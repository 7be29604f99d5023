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


def plot_distribution(values, path: str | Path, xlabel: str, title: str = "",
                      bins: int = 100) -> Path:
    """Histogram of per-feature values (LR weights, LightGBM importances), log-scaled counts so
    that the few large values next to thousands of near-zero ones stay visible."""
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.hist(values, bins=bins, color="#4c72b0")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("features")
    if values.min() < 0 < values.max():
        ax.axvline(0, color="grey", lw=0.8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def feature_label(assay: str, cell_type: str, width: int = 28) -> str:
    """Bar label of a Sei feature: the assay target, then its cell type (shortened)."""
    cell = cell_type if len(cell_type) <= width else cell_type[: width - 1] + "…"
    return f"{assay} ({cell})" if cell else assay


def plot_top_features(lr_top: pd.DataFrame, lgbm_top: pd.DataFrame, path: str | Path,
                      titles: tuple[str, str] = ("logistic regression", "LightGBM"),
                      importance_label: str = "importance") -> Path:
    """The paper's bar plot: top LR weights and top LightGBM importances side by side.

    Parameters
    ----------
    lr_top, lgbm_top : the rows to draw, most important first (`src.features.top_importance`),
        with columns assay, cell_type and value; LR bars keep their sign (red: towards
        retention, blue: against)
    """
    height = max(3.0, 0.28 * max(len(lr_top), len(lgbm_top)) + 1.4)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, height))
    panels = ((left, lr_top, titles[0], "weight (log-odds of retention per unit)"),
              (right, lgbm_top, titles[1], importance_label))
    for ax, rows, title, xlabel in panels:
        positions = list(range(len(rows)))
        colors = (["#c0392b" if v > 0 else "#2471a3" for v in rows["value"]] if ax is left
                  else "#55a868")
        ax.barh(positions, rows["value"], color=colors)
        ax.set_yticks(positions, [feature_label(a, c) for a, c in
                                  zip(rows["assay"], rows["cell_type"])], fontsize=8)
        ax.invert_yaxis()  # most important on top
        ax.set_xlabel(xlabel)
        ax.set_title(f"{title}: top {len(rows)}", fontsize=10)
    left.axvline(0, color="grey", lw=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return Path(path)


def plot_enrichment_bars(table: pd.DataFrame, path: str | Path, top_n: int = 20,
                         title: str = "") -> Path:
    """Top motifs by IR enrichment and by non-IR enrichment (Attribute.py `top_tfs.png`).

    `table` is `src.interpret.enrichment.motif_enrichment` output (ranked by `difference`).
    Bars are the difference of the proportions of IR and non-IR windows hit (percentage points);
    * marks a Benjamini-Hochberg adjusted p-value below 0.05.
    """
    ir = table[table["difference"] > 0].head(top_n)
    non_ir = table[table["difference"] < 0].tail(top_n)
    shown = pd.concat([ir, non_ir])
    fig, ax = plt.subplots(figsize=(7.0, 0.28 * max(len(shown), 4) + 1.2))
    if shown.empty:
        ax.text(0.5, 0.5, "no motif is hit more often in one class", ha="center",
                transform=ax.transAxes)
    else:
        labels = [f"{tf} ({mid})" + (" *" if p < 0.05 else "")
                  for tf, mid, p in zip(shown["tf"], shown["matrix_id"], shown["p_bh"])]
        colours = ["#c0392b" if d > 0 else "#2471a3" for d in shown["difference"]]
        y = range(len(shown))[::-1]
        ax.barh(list(y), 100 * shown["difference"], color=colours)
        ax.set_yticks(list(y), labels, fontsize=8)
        ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("windows hit: IR % - non-IR %  (red: IR, blue: non-IR; * BH p < 0.05)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_motif_logos(panels: list[dict], path: str | Path) -> Path:
    """Sequence logos (logomaker) of motifs and of the hot-spot sites that hit them.

    Each panel is a dict with `title`, `motif` (4, W) probabilities of the database motif,
    `sites` (4, W) base counts of the hit sites, `attribution` (4, W) mean attribution on the
    observed bases, and `background` (4,). One row per panel: the motif and the sites in bits
    (information content against the background), and the mean attribution.
    """
    import logomaker
    import numpy as np

    fig, axes = plt.subplots(len(panels), 3, figsize=(13.0, 1.9 * len(panels) + 0.4),
                             squeeze=False)
    for row, panel in zip(axes, panels):
        background = np.asarray(panel["background"], dtype=float)
        frames = {
            "database motif (bits)": _information(panel["motif"], background),
            "hot-spot sites (bits)": _information(panel["sites"] + 1e-9, background),
            "mean attribution": pd.DataFrame(np.asarray(panel["attribution"]).T,
                                             columns=list("ACGT")),
        }
        for ax, (name, frame) in zip(row, frames.items()):
            logomaker.Logo(frame, ax=ax, color_scheme="classic", show_spines=False)
            ax.set_title(f"{panel['title']}\n{name}" if ax is row[1] else f"\n{name}",
                         fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def _information(matrix, background) -> pd.DataFrame:
    """(4, W) counts or probabilities -> information content (bits) per base, as logomaker wants."""
    import logomaker
    import numpy as np

    probabilities = np.asarray(matrix, dtype=float)
    probabilities = probabilities / probabilities.sum(axis=0, keepdims=True)
    frame = pd.DataFrame(probabilities.T, columns=list("ACGT"))
    return logomaker.transform_matrix(frame, from_type="probability", to_type="information",
                                      background=background)


def plot_roc_pr(predictions: dict, path: str | Path) -> Path:
    """The paper's comparison figure: ROC and precision-recall curves of several runs side by
    side, AUROC and AUPRC (trapezoid) in the legends.

    predictions : {label: DataFrame with columns label, probability}
    """
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(11, 4.8))
    for name, frame in predictions.items():
        labels, scores = frame["label"].to_numpy(), frame["probability"].to_numpy()
        fpr, tpr, _ = roc_curve(labels, scores)
        precision, recall, _ = precision_recall_curve(labels, scores)
        roc_ax.plot(fpr, tpr, lw=1.5, label=f"{name} (AUROC {auc(fpr, tpr):.3f})")
        pr_ax.plot(recall, precision, lw=1.5, label=f"{name} (AUPRC {auc(recall, precision):.3f})")
    roc_ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    if predictions:
        prevalence = float(pd.concat(predictions.values())["label"].mean())
        pr_ax.axhline(prevalence, color="grey", lw=0.8, ls="--")
    pr_ax.set(xlabel="recall", ylabel="precision", title="precision-recall", ylim=(0, 1.02))
    for ax in (roc_ax, pr_ax):
        # good models crowd the upper right of both panels: their legends go below the curves
        ax.legend(loc="lower right" if ax is roc_ax else "lower left", fontsize=8,
                  frameon=ax is not roc_ax, framealpha=0.85)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return Path(path)
