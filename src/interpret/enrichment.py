"""Motif enrichment between IR and non-IR hot spots, counted two ways.

Per window (`motif_enrichment`, the study's table): for each motif, the number of IR and of
non-IR windows it hits, the two proportions and their difference (IR - non-IR), a two-sided
two-proportion z-test with the pooled proportion (`statsmodels.stats.proportion.proportions_ztest`).
The windows of one sequence overlap and share its sites, and a sequence and its reverse
complement give two sets of windows, so these counts are not independent and the p-values are
too small.

Per intron (`intron_enrichment`): a motif counts once per intron, hit when any hot-spot window of
the intron, on either strand (the reverse-complement copy, header + "_r", collapsed into its
intron), hits it; the denominators are the introns with at least one window. Two-sided Fisher's
exact test on the 2 x 2 table (`scipy.stats.fisher_exact`), with the odds ratio.

Both tables: p-values adjusted by Bonferroni and by Benjamini-Hochberg
(`statsmodels.stats.multitest.multipletests`) over the motifs with at least one hit (as the study
did: a motif that hits nothing is not tested and keeps p = 1), ranked by the difference of
proportions, so motifs enriched in IR come first and those enriched in non-IR last, as in the
study's `nsites.txt`.
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
    if hits.shape[0] != len(is_ir):
        raise ValueError(f"hits has {hits.shape[0]} windows but is_ir {len(is_ir)}")
    n_ir, n_non = int(is_ir.sum()), int((~is_ir).sum())
    ir_hits = hits[is_ir].sum(axis=0).astype(np.int64)
    non_hits = hits[~is_ir].sum(axis=0).astype(np.int64)
    tests = [two_proportion_ztest(int(a), n_ir, int(b), n_non) for a, b in zip(ir_hits, non_hits)]
    z = np.array([t[0] for t in tests])
    p = np.array([t[1] for t in tests])
    bonferroni, bh = adjust_p_values(p, (ir_hits + non_hits) > 0)
    counts = {"ir_hits": ir_hits, "non_ir_hits": non_hits, "ir_windows": n_ir,
              "non_ir_windows": n_non}
    return _ranked(names, matrix_ids, consensus, widths, counts, ir_hits / n_ir,
                   non_hits / n_non, {"z": z}, p, bonferroni, bh, TABLE_COLUMNS)


def _ranked(names, matrix_ids, consensus, widths, counts: dict, ir_prop, non_prop,
            statistic: dict, p, bonferroni, bh, columns: Sequence[str]) -> pd.DataFrame:
    """One row per motif with its `counts`, proportions, difference, test `statistic` and
    p-values, ranked by the difference (IR - non-IR, largest first; ties by p-value)."""
    n_motifs = len(p)
    difference = ir_prop - non_prop
    table = pd.DataFrame({
        "tf": list(names), "matrix_id": list(matrix_ids),
        "consensus": list(consensus) if consensus is not None else [""] * n_motifs,
        "width": list(widths) if widths is not None else [0] * n_motifs,
        **counts,
        "ir_proportion": ir_prop, "non_ir_proportion": non_prop, "difference": difference,
        **statistic, "p_value": p, "p_bonferroni": bonferroni, "p_bh": bh,
        "enriched_in": np.where(difference > 0, "IR", np.where(difference < 0, "non-IR", "-")),
    })
    table = table.sort_values(["difference", "p_value"], ascending=[False, True], kind="stable")
    table.insert(0, "rank", np.arange(1, n_motifs + 1))
    return table.reset_index(drop=True)[list(columns)]


def adjust_p_values(p: np.ndarray, tested: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bonferroni and Benjamini-Hochberg adjusted p-values over the `tested` motifs (K,) bool;
    the others get 1."""
    bonferroni, bh = np.ones(len(p)), np.ones(len(p))
    if tested.any():
        bonferroni[tested] = multipletests(p[tested], method="bonferroni")[1]
        bh[tested] = multipletests(p[tested], method="fdr_bh")[1]
    return bonferroni, bh


INTRON_COLUMNS = ("rank", "tf", "matrix_id", "consensus", "width", "ir_introns_hit",
                  "non_ir_introns_hit", "ir_introns", "non_ir_introns", "ir_proportion",
                  "non_ir_proportion", "difference", "odds_ratio", "p_value", "p_bonferroni",
                  "p_bh", "enriched_in")


def intron_of_windows(headers: Sequence[str], is_reverse_complement: Sequence[bool],
                      suffix: str = "_r") -> np.ndarray:
    """The intron of each window: its row's header, without `suffix` for a reverse-complement
    row. Returns (M,) object array."""
    headers = np.asarray(headers, dtype=object)
    rc = np.asarray(is_reverse_complement, dtype=bool)
    if not all(h.endswith(suffix) for h in headers[rc]):
        raise ValueError(f"a reverse-complement row's header must end with {suffix!r}")
    out = headers.copy()
    out[rc] = [h[:-len(suffix)] for h in headers[rc]]
    return out


def hits_per_intron(hits: np.ndarray, introns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Collapse window hits to introns: an intron hits a motif when any of its windows does.

    Parameters
    ----------
    hits : (M, K) bool; introns : (M,) intron of each window

    Returns
    -------
    names : (I,) the introns, sorted; collapsed : (I, K) bool
    """
    hits = np.asarray(hits, dtype=bool)
    names, inverse = np.unique(np.asarray(introns, dtype=object), return_inverse=True)
    if len(names) == 0:
        return names, np.zeros((0, hits.shape[1]), dtype=bool)
    order = np.argsort(inverse, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0])
    collapsed = np.maximum.reduceat(hits[order].view(np.uint8), starts, axis=0).astype(bool)
    return names, collapsed


def intron_enrichment(hits: np.ndarray, is_ir: np.ndarray, introns: np.ndarray,
                      matrix_ids: Sequence[str], names: Sequence[str],
                      consensus: Sequence[str] | None = None,
                      widths: Sequence[int] | None = None) -> pd.DataFrame:
    """Ranked per-intron enrichment table of K motifs (see the module docstring).

    Parameters
    ----------
    hits : (M, K) bool, window m hits motif k
    is_ir : (M,) bool, the window's intron is IR (label 1)
    introns : (M,) the intron of each window (`intron_of_windows`)

    Returns
    -------
    DataFrame with the columns `INTRON_COLUMNS`, one row per motif, ranked by `difference`
    (IR - non-IR proportion of introns hit, largest first; ties by p-value).

    Raises
    ------
    ValueError
        An intron has windows of both classes (its label must be one).
    """
    from scipy.stats import fisher_exact

    is_ir = np.asarray(is_ir, dtype=bool)
    hits = np.asarray(hits, dtype=bool)
    # one pass: the motif hits and the windows' classes, each collapsed to introns
    _, collapsed = hits_per_intron(np.column_stack([hits, is_ir, ~is_ir]), introns)
    collapsed, intron_ir, intron_non = collapsed[:, :-2], collapsed[:, -2], collapsed[:, -1]
    if (intron_ir & intron_non).any():
        raise ValueError("an intron has windows of both classes")
    intron_is_ir = intron_ir
    n_ir, n_non = int(intron_is_ir.sum()), int((~intron_is_ir).sum())
    ir_hits = collapsed[intron_is_ir].sum(axis=0).astype(np.int64)
    non_hits = collapsed[~intron_is_ir].sum(axis=0).astype(np.int64)
    odds, p = np.ones(len(ir_hits)), np.ones(len(ir_hits))
    for k, (a, b) in enumerate(zip(ir_hits.tolist(), non_hits.tolist())):
        if a + b:
            result = fisher_exact([[a, n_ir - a], [b, n_non - b]], alternative="two-sided")
            odds[k], p[k] = float(result.statistic), float(result.pvalue)
    bonferroni, bh = adjust_p_values(p, (ir_hits + non_hits) > 0)
    ir_prop = ir_hits / n_ir if n_ir else np.full(len(ir_hits), np.nan)
    non_prop = non_hits / n_non if n_non else np.full(len(ir_hits), np.nan)
    counts = {"ir_introns_hit": ir_hits, "non_ir_introns_hit": non_hits, "ir_introns": n_ir,
              "non_ir_introns": n_non}
    return _ranked(names, matrix_ids, consensus, widths, counts, ir_prop, non_prop,
                   {"odds_ratio": odds}, p, bonferroni, bh, INTRON_COLUMNS)


def format_intron_table(table: pd.DataFrame, max_rows: int | None = None) -> str:
    """The per-intron table as aligned text (the body of `nsites_per_intron.txt`)."""
    return _aligned(table, max_rows, ("non_ir_introns_hit", "ir_introns_hit"),
                    ("odds ratio", table["odds_ratio"].map("{:.2f}".format)))


def format_table(table: pd.DataFrame, max_rows: int | None = None) -> str:
    """The enrichment table as aligned text (the body of `nsites.txt`)."""
    return _aligned(table, max_rows, ("non_ir_hits", "ir_hits"),
                    ("z", table["z"].map("{:+.2f}".format)))


def _aligned(table: pd.DataFrame, max_rows: int | None, hit_columns: tuple[str, str],
             statistic: tuple[str, pd.Series]) -> str:
    """A ranked table as aligned text: the counts of `hit_columns` (non-IR, IR) and the test's
    `statistic` (name, formatted values) beside the shared columns."""
    shown = table if max_rows is None else table.head(max_rows)
    text = pd.DataFrame({
        "rank": shown["rank"], "TF": shown["tf"], "motif": shown["matrix_id"],
        "consensus": shown["consensus"],
        "non-IR": shown[hit_columns[0]], "IR": shown[hit_columns[1]],
        "non-IR %": (100 * shown["non_ir_proportion"]).map("{:.1f}".format),
        "IR %": (100 * shown["ir_proportion"]).map("{:.1f}".format),
        "diff prob": shown["difference"].map("{:+.3f}".format),
        statistic[0]: statistic[1].loc[shown.index],
        "p-value": shown["p_value"].map("{:.2e}".format),
        "Bonferroni": shown["p_bonferroni"].map("{:.2e}".format),
        "BH": shown["p_bh"].map("{:.2e}".format),
    })
    return text.to_string(index=False)
