"""Motif enrichment between IR and non-IR hot-spot windows.

For each motif: the number of IR and of non-IR windows it hits, the two proportions and their
difference (IR - non-IR), a two-sided two-proportion z-test with the pooled proportion
(`statsmodels.stats.proportion.proportions_ztest`), and p-values adjusted over all motifs tested
by Bonferroni and by Benjamini-Hochberg (`statsmodels.stats.multitest.multipletests`). The table is
ranked by the difference, so motifs enriched in IR windows come first and those enriched in
non-IR windows last, as in the study's `nsites.txt`.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

TABLE_COLUMNS = ("rank", "tf", "matrix_id", "consensus", "width", "ir_hits", "non_ir_hits",
                 "ir_windows", "non_ir_windows", "ir_proportion", "non_ir_proportion",
                 "difference", "z", "p_value", "p_bonferroni", "p_bh", "enriched_in")


def two_proportion_ztest(count_a: int, n_a: int, count_b: int, n_b: int) -> tuple[float, float]:
    """Two-sided z-test of p_a = p_b with the pooled proportion; returns (z, p-value).

    z = (p_a - p_b) / sqrt(p (1 - p) (1/n_a + 1/n_b)), p = (count_a + count_b) / (n_a + n_b).
    When no window or every window of both groups is a hit the proportions cannot differ:
    z = 0, p = 1 (statsmodels would return NaN).
    """
    if n_a <= 0 or n_b <= 0:
        raise ValueError(f"both groups need windows, got n_a={n_a}, n_b={n_b}")
    total = count_a + count_b
    if total == 0 or total == n_a + n_b:
        return 0.0, 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        z, p = proportions_ztest([count_a, count_b], [n_a, n_b], alternative="two-sided")
    return float(z), float(p)


def motif_enrichment(hits: np.ndarray, is_ir: np.ndarray, matrix_ids: Sequence[str],
                     names: Sequence[str], consensus: Sequence[str] | None = None,
                     widths: Sequence[int] | None = None) -> pd.DataFrame:
    """Ranked enrichment table of K motifs over M windows.

    Parameters
    ----------
    hits : np.ndarray, shape (M, K), bool, window m hits motif k
    is_ir : np.ndarray, shape (M,), bool, the window comes from an IR (label 1) sequence
    matrix_ids, names : K identifiers and TF names
    consensus, widths : optional K consensus strings and motif widths, copied to the table

    Returns
    -------
    DataFrame with the columns `TABLE_COLUMNS`, one row per motif, ranked by `difference`
    (IR - non-IR proportion, largest first; ties by p-value).
    """
    hits = np.asarray(hits, dtype=bool)
    is_ir = np.asarray(is_ir, dtype=bool)
    n_motifs = hits.shape[1]
    if hits.shape[0] != len(is_ir):
        raise ValueError(f"hits has {hits.shape[0]} windows but is_ir {len(is_ir)}")
    n_ir, n_non = int(is_ir.sum()), int((~is_ir).sum())
    ir_hits = hits[is_ir].sum(axis=0).astype(np.int64)
    non_hits = hits[~is_ir].sum(axis=0).astype(np.int64)
    tests = [two_proportion_ztest(int(a), n_ir, int(b), n_non) for a, b in zip(ir_hits, non_hits)]
    z = np.array([t[0] for t in tests])
    p = np.array([t[1] for t in tests])
    bonferroni = multipletests(p, method="bonferroni")[1] if n_motifs else p
    bh = multipletests(p, method="fdr_bh")[1] if n_motifs else p
    ir_prop, non_prop = ir_hits / n_ir, non_hits / n_non
    difference = ir_prop - non_prop
    table = pd.DataFrame({
        "tf": list(names), "matrix_id": list(matrix_ids),
        "consensus": list(consensus) if consensus is not None else [""] * n_motifs,
        "width": list(widths) if widths is not None else [0] * n_motifs,
        "ir_hits": ir_hits, "non_ir_hits": non_hits,
        "ir_windows": n_ir, "non_ir_windows": n_non,
        "ir_proportion": ir_prop, "non_ir_proportion": non_prop, "difference": difference,
        "z": z, "p_value": p, "p_bonferroni": bonferroni, "p_bh": bh,
        "enriched_in": np.where(difference > 0, "IR", np.where(difference < 0, "non-IR", "-")),
    })
    table = table.sort_values(["difference", "p_value"], ascending=[False, True], kind="stable")
    table.insert(0, "rank", np.arange(1, n_motifs + 1))
    return table.reset_index(drop=True)[list(TABLE_COLUMNS)]


def format_table(table: pd.DataFrame, max_rows: int | None = None) -> str:
    """The enrichment table as aligned text (the body of `nsites.txt`)."""
    shown = table if max_rows is None else table.head(max_rows)
    text = pd.DataFrame({
        "rank": shown["rank"], "TF": shown["tf"], "motif": shown["matrix_id"],
        "consensus": shown["consensus"],
        "non-IR": shown["non_ir_hits"], "IR": shown["ir_hits"],
        "non-IR %": (100 * shown["non_ir_proportion"]).map("{:.1f}".format),
        "IR %": (100 * shown["ir_proportion"]).map("{:.1f}".format),
        "diff prob": shown["difference"].map("{:+.3f}".format),
        "z": shown["z"].map("{:+.2f}".format),
        "p-value": shown["p_value"].map("{:.2e}".format),
        "Bonferroni": shown["p_bonferroni"].map("{:.2e}".format),
        "BH": shown["p_bh"].map("{:.2e}".format),
    })
    return text.to_string(index=False)
