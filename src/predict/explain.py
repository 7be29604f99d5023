"""`--explain N`: for the N variants of variant_effects.tsv with the largest |delta|, what changed.

Written to `explain/` in the output folder:

    motif_changes.tsv        per variant (ranked by |delta|), the motifs whose best site over
                             the variant it breaks, creates, weakens or strengthens, the largest
                             score change first (a row "none" when no site changes)
    rank<k>_<chrom>_<pos>_<ref>_<alt>.png
                             Integrated Gradients of the IR logit for the reference and the
                             alternative window, 30 bp either side of the variant (models with a
                             one-hot input: FSei, Basset, ConvNet, and LR through its Sei)

Motifs (JASPAR 2024 CORE vertebrates, or `--motifs` MEME file) are scanned as Attribute.py scans
(`src.interpret.scanning`: log-odds against the base composition of the explained windows,
pseudocount 0.1, a site counts when its per-site p-value is at most 1e-4), on both strands, over
the sites that overlap the variant: for a motif of width W, the W - 1 bases either side of the
REF bases in the reference window and of the ALT bases in the alternative one. A motif *breaks*
when its best overlapping site reaches the threshold in the reference but not in the alternative,
*creates* the reverse; *weakens* / *strengthens* when both reach it and the score moves by at
least 1 bit.

Integrated Gradients (`src.interpret.gradients`: uniform 0.25 baseline, 50 Gauss-Legendre steps)
explain the IR logit (class 1); a position's attribution is the sum over the four bases, drawn on
the base it holds (a logo whose letters rise for IR and fall against it).
"""

from __future__ import annotations

import csv
import heapq
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import atomic_write_text
from ..runs import console_logger

EXPLAIN_DIR = "explain"
MOTIF_CHANGES_FILE = "motif_changes.tsv"
CONTEXT = 30  # bases either side of the variant in the figures
P_VALUE = 1e-4
MIN_SCORE_CHANGE = 1.0  # bits, for "weakens" / "strengthens"
IG_STEPS = 50
MOTIF_COLUMNS = ("rank", "chrom", "pos", "id", "ref", "alt", "intron_name", "intron_strand",
                 "delta", "effect", "matrix_id", "tf", "ref_score", "alt_score", "threshold",
                 "ref_site", "alt_site", "figure")

log = console_logger("ir_sei.predict")


def top_variant_rows(table: Path, n: int) -> list[dict]:
    """The `n` rows of variant_effects.tsv with the largest |delta| (ties: file order), read in
    one pass holding `n` rows."""
    with open(table, newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        keyed = ((abs(float(row["delta"])), -i, row) for i, row in enumerate(rows))
        return [row for _, _, row in heapq.nlargest(n, keyed, key=lambda t: (t[0], t[1]))]


def motif_changes(ref: str, alt: str, ref_span: tuple[int, int], alt_span: tuple[int, int],
                  motif_set) -> pd.DataFrame:
    """Motif sites over a variant in the reference and the alternative window.

    Parameters
    ----------
    ref, alt : the two windows (5'->3' on the intron's strand)
    ref_span, alt_span : the REF bases in `ref` and the ALT bases in `alt`, [a, b)
    motif_set : `src.interpret.scanning.prepare_motifs` output

    Returns
    -------
    DataFrame: matrix_id, tf, effect ("breaks", "creates", "weakens", "strengthens"), ref_score,
    alt_score, threshold, ref_site, alt_site (the best site's bases on the motif's strand when it
    reaches the threshold); the largest |alt_score - ref_score| first
    """
    from ..interpret.scanning import (
        MotifSet,
        encode_windows,
        scan_windows,
        site_sequences,
    )

    widths = motif_set.widths
    rows = []
    for width in np.unique(widths):
        members = np.flatnonzero(widths == width)
        subset = MotifSet([motif_set.motifs[i] for i in members], motif_set.background,
                          [motif_set.log_odds[i] for i in members],
                          motif_set.max_scores[members], motif_set.thresholds[members])
        regions = [_around(ref, ref_span, int(width)), _around(alt, alt_span, int(width))]
        if min(len(r) for r in regions) == 0:
            continue
        codes, lengths = encode_windows(regions, source="variant windows")
        result = scan_windows(codes, lengths, subset, return_scores=True, progress=False,
                              threads=1)
        sites = result.sites
        texts = site_sequences(codes, sites, subset.widths) if len(sites) else []
        site_of = {(int(w), int(m)): t for w, m, t in zip(sites["window"], sites["motif"], texts)}
        for k, index in enumerate(members):
            r, a = float(result.best_scores[0, k]), float(result.best_scores[1, k])
            threshold = float(motif_set.thresholds[index])
            effect = _effect(r, a, threshold)
            if effect is None:
                continue
            motif = motif_set.motifs[index]
            rows.append({"matrix_id": motif.matrix_id, "tf": motif.name, "effect": effect,
                         "ref_score": round(r, 3), "alt_score": round(a, 3),
                         "threshold": round(threshold, 3), "ref_site": site_of.get((0, k), ""),
                         "alt_site": site_of.get((1, k), "")})
    frame = pd.DataFrame(rows, columns=["matrix_id", "tf", "effect", "ref_score", "alt_score",
                                        "threshold", "ref_site", "alt_site"])
    change = (frame["alt_score"] - frame["ref_score"]).abs()
    return (frame.assign(_c=-change).sort_values("_c", kind="stable").drop(columns="_c")
            .reset_index(drop=True))


def _around(sequence: str, span: tuple[int, int], width: int) -> str:
    """The bases of every site of `width` that overlaps span [a, b) (a == b: the point a)."""
    a, b = span
    b = max(b, a + 1)
    return sequence[max(0, a - width + 1):min(len(sequence), b + width - 1)]


def _effect(ref_score: float, alt_score: float, threshold: float) -> str | None:
    if ref_score >= threshold > alt_score:
        return "breaks"
    if alt_score >= threshold > ref_score:
        return "creates"
    if min(ref_score, alt_score) >= threshold and abs(alt_score - ref_score) >= MIN_SCORE_CHANGE:
        return "weakens" if alt_score < ref_score else "strengthens"
    return None


def window_background(sequences: list[str]) -> np.ndarray:
    """Base composition (A, C, G, T) of windows, with one pseudo-count per base."""
    text = "".join(sequences).upper()
    counts = np.array([text.count(base) for base in "ACGT"], dtype=np.float64) + 1.0
    return counts / counts.sum()


def position_attributions(model, sequences: list[str], input_length: int, device,
                          steps: int = IG_STEPS) -> np.ndarray:
    """Integrated Gradients of the IR logit, summed over the bases, per position of each
    sequence.

    Parameters
    ----------
    sequences : M windows of the same length w <= input_length (centred in the input)

    Returns
    -------
    np.ndarray, shape (M, w), float32
    """
    from ..data.encoding import encode_codes
    from ..interpret.gradients import attribute_sequences

    width = len(sequences[0])
    codes = encode_codes(sequences, input_length)
    result = attribute_sequences(model, codes, np.ones(len(sequences), dtype=np.int64), device,
                                 steps=steps, batch_size=2 * steps, progress=False)
    offset = (input_length - width) // 2
    return result.attributions.sum(axis=1)[:, offset:offset + width]


def plot_variant(path: Path, ref: str, alt: str, ref_span, alt_span, ref_scores: np.ndarray,
                 alt_scores: np.ndarray, title: str, changes: pd.DataFrame) -> Path:
    """Reference and alternative attribution logos around the variant (`CONTEXT` bases either
    side), the variant's bases shaded, and the motif changes listed below."""
    import logomaker
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..data.encoding import CODE_TO_ONE_HOT, encode_codes

    panels = [("reference", ref, ref_span, ref_scores), ("alternative", alt, alt_span,
                                                         alt_scores)]
    fig, axes = plt.subplots(2, 1, figsize=(11, 5.2))
    limit = max(float(np.abs(s).max()) for s in (ref_scores, alt_scores)) or 1.0
    for ax, (name, sequence, (a, b), scores) in zip(axes, panels):
        lo, hi = max(0, a - CONTEXT), min(len(sequence), max(b, a + 1) + CONTEXT)
        one_hot = CODE_TO_ONE_HOT[encode_codes([sequence[lo:hi]], hi - lo)[0]]
        frame = pd.DataFrame(one_hot * scores[lo:hi, None], columns=list("ACGT"),
                             index=np.arange(lo + 1, hi + 1))
        with warnings.catch_warnings():  # an all-zero stretch: logomaker warns about flat limits
            warnings.simplefilter("ignore", UserWarning)
            logomaker.Logo(frame, ax=ax, color_scheme="classic", show_spines=False)
        ax.axvspan(a + 0.5, max(b, a + 1) + 0.5, color="gold", alpha=0.3, lw=0)
        ax.axhline(0, color="0.5", lw=0.6)
        ax.set_ylim(-1.1 * limit, 1.1 * limit)
        ax.set_ylabel(f"{name}\nIG (IR logit)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("position in the model window (5'->3' on the intron's strand)",
                        fontsize=8)
    lines = [f"{row.effect} {row.tf} ({row.matrix_id}): {row.ref_score:.1f} -> "
             f"{row.alt_score:.1f} bits (threshold {row.threshold:.1f})"
             for row in changes.head(4).itertuples()]
    fig.suptitle(title, fontsize=9)
    fig.text(0.01, 0.01, "motifs over the variant: " + ("; ".join(lines) if lines else
                                                        "no site breaks, appears or changes"),
             fontsize=7, wrap=True)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def figure_name(rank: int, row: dict) -> str:
    """rank<k>_<chrom>_<pos>_<ref>_<alt>.png, alleles shortened to 10 letters."""
    parts = [row["chrom"], row["pos"], row["ref"][:10], row["alt"][:10]]
    return f"rank{rank:02d}_" + "_".join(re.sub(r"[^A-Za-z0-9.-]", "-", p) for p in parts) + ".png"


def explain_variants(folder: Path, req, scorer, undo) -> list[Path]:
    """Motif changes and attribution figures of the `req.explain` largest |delta| (see the
    module docstring); returns the files written."""
    from ..interpret.motifs import load_motifs
    from ..interpret.scanning import prepare_motifs
    from .genome import Genome, make_window
    from .sources import Interval
    from .variants import Variant, apply_variant
    from .workflow import VARIANTS_FILE, window_flank

    rows = top_variant_rows(folder / VARIANTS_FILE, req.explain)
    out = folder / EXPLAIN_DIR
    if not out.exists():
        undo.created(out)
    out.mkdir(exist_ok=True)
    for old in out.glob("rank*.png"):  # figures of a former run (--force)
        old.unlink()
    motifs = load_motifs(req.motifs)
    contexts = []
    with Genome(req.genome) as genome:
        for row in rows:
            interval = Interval(row["intron_chrom"], int(row["intron_start"]),
                                int(row["intron_end"]), row["intron_name"], ".",
                                row["intron_strand"], str(req.bed), 0)
            chrom = genome.resolve(interval.chrom, f"{folder / VARIANTS_FILE}")
            window = make_window(genome, interval, chrom, scorer.window, req.anchor,
                                 window_flank(req))
            variant = Variant(row["chrom"], int(row["pos"]), row["id"], row["ref"], row["alt"],
                              1, 1, str(req.vcf), 0)
            contexts.append((row, window, *apply_variant(genome, window, variant)))
    if not contexts:
        log.warning("--explain: the variant table is empty, nothing to explain")
    fitting = [m for m in motifs if m.width <= scorer.window]
    background = window_background([c[1].sequence for c in contexts] or ["ACGT"])
    motif_set = prepare_motifs(fitting, background, p_value=P_VALUE)
    gradients = scorer.gradient_model
    if gradients is None and contexts:
        log.info(f"--explain: {scorer.model_name} has no one-hot input, so no attribution "
                 f"figures; motif changes only")
    tables, written = [], []
    for rank, (row, window, alt, ref_span, alt_span) in enumerate(contexts, start=1):
        changes = motif_changes(window.sequence, alt, ref_span, alt_span, motif_set)
        name = ""
        if gradients is not None:
            scores = position_attributions(gradients, [window.sequence, alt],
                                           scorer.gradient_length, scorer.device)
            title = (f"#{rank} {row['chrom']}:{row['pos']} {row['ref']}>{row['alt']} "
                     f"({row['id']}) in {row['intron_name']} ({row['intron_strand']}); P(IR) "
                     f"{float(row['ref_p_ir']):.3f} -> {float(row['alt_p_ir']):.3f} "
                     f"(delta {float(row['delta']):+.3f}); {scorer.model_name}")
            name = figure_name(rank, row)
            written.append(plot_variant(out / name, window.sequence, alt, ref_span, alt_span,
                                        scores[0], scores[1], title, changes))
        variant_columns = {"rank": rank, **{k: row[k] for k in ("chrom", "pos", "id", "ref",
                                                                 "alt", "intron_name",
                                                                 "intron_strand", "delta")},
                           "figure": name}
        if changes.empty:
            changes = pd.DataFrame([{"effect": "none"}])
        tables.append(changes.assign(**variant_columns))
    table = (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame())
    table = table.reindex(columns=list(MOTIF_COLUMNS))
    path = out / MOTIF_CHANGES_FILE
    atomic_write_text(path, table.to_csv(sep="\t", index=False))
    log.info(f"--explain: {len(contexts)} variant(s) in {out} ({len(written)} figure(s), motif "
             f"changes in {MOTIF_CHANGES_FILE})")
    return [path, *written]

