"""De novo motif discovery on Integrated Gradients attributions: TF-MoDISco, then TOMTOM.

`Attribute.py -b` asks which *known* motifs sit in the hot spots of the attribution maps. This
module asks the opposite question: which sequence patterns does the model use, whatever a
database holds? It clusters the attribution maps of the selected sequences into patterns with
TF-MoDISco (`modisco-lite`), then names each pattern by TOMTOM (`memelite`) against the motif
database. It finds motifs the database lacks, groups redundant database motifs under the one
pattern they describe, and keeps every seqlet's sequence, strand and position so that each
pattern can be traced back to introns.

`Attribute.py -s` (`denovo_step`) runs it on the attribution maps that `-i` saved
(`src.interpret.maps`), without recomputing them, and writes its outputs in `<result>/denovo/`.

Steps (`run_denovo`)
    1. Hypothetical contributions from the IG maps (`hypothetical_from_attributions`, derivation
       below), built per class in chunks.
    2. TF-MoDISco once per class (`run_modisco`): IR sequences with their attributions towards
       the IR logit, non-IR sequences with theirs towards the non-IR logit (what `-i` computes:
       IG towards the true class). Each run has a positive metacluster (bases that raise the
       true class's logit: what the model uses to call that class) and a negative one (bases
       that argue against it). Patterns are named `<class>.<pos|neg>.<k>`, k by decreasing
       number of seqlets.
    3. TOMTOM of each pattern's trimmed probability matrix against the database
       (`match_patterns`), Benjamini-Hochberg q-values per pattern over the whole database; a
       database motif is *called* for a pattern when q <= 0.05.
    4. Outputs (`write_outputs`, names below): patterns.meme, patterns.csv, seqlets.csv,
       matches.csv, patterns.png, denovo.md, and denovo.json last (with the id of the maps, so
       that `is_complete` knows outputs of older maps as stale).

Hypothetical contributions from Integrated Gradients
    TF-MoDISco needs, for every position i and every base k, the contribution base k *would*
    make if it sat at i (the "hypothetical contribution"), not only the contribution of the base
    that is there. Integrated Gradients from a baseline b gives, for input x (one-hot, (4, L)),

        IG[c, i] = (x[c, i] - b[c, i]) * gbar[c, i],

    where gbar is the gradient of the target logit averaged along the straight path from b to
    x (captum's quadrature). Keeping these path-averaged gradients and asking what the same
    first-order expansion gives for the one-hot column e_k instead of x[:, i]:

        hyp[k, i] = sum_c (e_k[c] - b[c, i]) * gbar[c, i] = gbar[k, i] - sum_c b[c, i] gbar[c, i]

    With `-i`'s baseline (0.25 for each base where the input has a base) this is

        hyp[k, i] = gbar[k, i] - mean_c gbar[c, i],

    the mean-centred gradient (the gradient correction of Majdandzic, Rajesh & Koo, Genome
    Biology 24:109, 2023, which removes the gradient component off the one-hot simplex). At the
    observed base o the identity is exact, not an approximation:

        hyp[o, i] = sum_c (x[c, i] - b[c, i]) gbar[c, i] = sum_c IG[c, i],

    so sum_k x[k, i] hyp[k, i] (what TF-MoDISco takes as the actual contribution) equals the IG
    attribution of position i summed over the bases, for any input whose column sums to 1 (one
    base, or the fractions of an IUPAC code). For the other bases it is exact when the model is
    linear in its input (the gradient does not depend on the path) and a first-order estimate
    otherwise. The path-averaged gradients need not be stored: wherever x[c, i] != b[c, i]
    (0.75 or -0.25 for a one-hot base against 0.25) they are IG[c, i] / (x[c, i] - b[c, i]).
    Columns without information get 0: padding (no base, no baseline) and N (x equals the
    uniform baseline there, so IG is 0 whatever the gradient).

Memory
    Inputs are memory-mapped `.npy` files (`maps.load_attribution_maps`). One class is held at a
    time, as TF-MoDISco's float32 (n, L, 4) tracks: the one-hot sequence, the hypothetical
    contributions, and the actual contributions TF-MoDISco computes from them, 3 x n x L x 16
    bytes (about 400 MB for 14,000 sequences of 600 bp). The seqlets it clusters are capped by
    `max_seqlets_per_metacluster`; its nearest-neighbour affinity matrices grow with that cap
    (`nearest_neighbors_to_compute` neighbours per seqlet), not with the number of sequences.
    Measured on 2 cores, 18,000 synthetic sequences of 600 bp (3,909 IR, 14,091 non-IR,
    `bench/bench_denovo.py`): peak RSS 1.6 GB with the default cap of 5,000 seqlets (97-173 s
    depending on the machine's load), 1.4 GB with 2,000, 1.7 GB with 10,000 (the non-IR run
    alone: 32 s, 45 s, 167 s); torch, imported with the project's base-code table, accounts for
    about 250 MB of it.

The numba kernels of modisco-lite and memelite compile on their first call (tens of seconds to
a few minutes) into numba's on-disk cache; `configure_numba_cache` (run before they are
imported, by `prepare_numba`) points that cache at a writable folder, so that a read-only install
still caches, and `configure_numba_threading` picks numba's fork-safe `workqueue` threading
layer.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import DenovoConfig
from ..data.encoding import CODE_TO_ONE_HOT
from ..errors import InputError
from ..io import atomic_write_text
from .maps import MAPS_COLUMNS, AttributionMaps
from .scanning import consensus

NUMBA_CACHE_ENV = "NUMBA_CACHE_DIR"
BASES = "ACGT"
CLASS_NAMES = {1: "IR", 0: "non-IR"}
SIGNS = {"pos": "positive", "neg": "negative"}


# ----------------------------------------------------------------------------------------------
# numba's cache


def default_numba_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/ir-sei/numba`, or `~/.cache/ir-sei/numba`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ir-sei" / "numba"


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
        return True
    except OSError:
        return False


def configure_numba_cache(folder: str | Path | None = None) -> Path | None:
    """Point numba's on-disk cache (`NUMBA_CACHE_DIR`) at a writable folder.

    numba caches compiled kernels beside their source files, which fails in a read-only install
    and then every process compiles again (minutes for memelite's TOMTOM). Order of choice:
    `folder` if given, an `NUMBA_CACHE_DIR` already set by the user (kept as it is),
    `default_numba_cache_dir()`, then a folder in the temporary directory. Must run before
    modiscolite or memelite is imported (their kernels read the setting when they are defined);
    `prepare_numba` runs it just before they are imported (only inside functions).

    Returns
    -------
    The folder in use, or None when none is writable (numba then compiles in every process).
    """
    if folder is None and os.environ.get(NUMBA_CACHE_ENV):
        return Path(os.environ[NUMBA_CACHE_ENV])
    user = os.environ.get("USER") or str(os.getuid() if hasattr(os, "getuid") else "user")
    candidates = ([Path(folder)] if folder is not None else
                  [default_numba_cache_dir(),
                   Path(tempfile.gettempdir()) / f"ir-sei-numba-{user}"])
    for candidate in candidates:
        if _writable(candidate):
            os.environ[NUMBA_CACHE_ENV] = str(candidate)
            if "numba" in sys.modules:  # numba read its settings on import: read them again
                import numba

                numba.config.reload_config()
            return candidate
    return None


def configure_numba_threading(layer: str = "workqueue") -> str:
    """Choose numba's threading layer (`NUMBA_THREADING_LAYER`) unless the user has.

    Without TBB installed numba runs its parallel kernels (memelite's TOMTOM, several of
    modisco-lite's) on GNU OpenMP, which is not fork-safe: once such a kernel has run, a child
    forked from the process (multiprocessing's default on Linux, the project's own worker and
    test processes) hangs as soon as it uses OpenMP, e.g. in a torch matrix product.
    `workqueue`, numba's own thread pool, is fork-safe, and is one of the two layers under
    which modisco-lite forks its parallel workers. Must run before numba launches its threads
    (`prepare_numba`).
    """
    if os.environ.get("NUMBA_THREADING_LAYER"):
        return os.environ["NUMBA_THREADING_LAYER"]
    os.environ["NUMBA_THREADING_LAYER"] = layer
    if "numba" in sys.modules:
        import numba

        numba.config.reload_config()
    return layer


def prepare_numba() -> None:
    """`configure_numba_cache` and `configure_numba_threading`, before modisco-lite or memelite
    is imported (`run_modisco` and `match_patterns` call it; importing this module changes
    nothing)."""
    configure_numba_cache()
    configure_numba_threading()


# ----------------------------------------------------------------------------------------------
# hypothetical contributions


def uniform_baseline(one_hot: np.ndarray) -> np.ndarray:
    """`-i`'s Integrated Gradients baseline: 0.25 per base where the input has a base, 0 in padding.

    one_hot : (N, 4, L) -> (N, 4, L) float32
    """
    one_hot = np.asarray(one_hot, dtype=np.float32)
    return np.broadcast_to(0.25 * one_hot.sum(axis=1, keepdims=True), one_hot.shape)


def path_gradients_from_attributions(attributions: np.ndarray, one_hot: np.ndarray,
                                     baseline: np.ndarray | None = None,
                                     tolerance: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Recover the path-averaged gradients from Integrated Gradients: IG / (x - baseline).

    Parameters
    ----------
    attributions : (N, 4, L), IG[c, i] = (x[c, i] - b[c, i]) * gbar[c, i]
    one_hot : (N, 4, L), the input x (rows A, C, G, T; IUPAC codes as fractions, padding 0)
    baseline : array broadcastable to (N, 4, L); None: `uniform_baseline(one_hot)` (as `-i`)
    tolerance : |x - b| below this counts as x = b (no information about that gradient)

    Returns
    -------
    gradients : (N, 4, L) float32, 0 where unknown
    known : (N, L) bool, True where every base of the column has x != b (a definite base or an
        ambiguity code against the uniform baseline; False for padding and N)
    """
    x = np.asarray(one_hot, dtype=np.float32)
    a = np.asarray(attributions, dtype=np.float32)
    if a.shape != x.shape or a.ndim != 3 or a.shape[1] != 4:
        raise ValueError(f"attributions {a.shape} and one_hot {x.shape} must both be (N, 4, L)")
    b = uniform_baseline(x) if baseline is None else np.asarray(baseline, dtype=np.float32)
    difference = x - b
    informative = np.abs(difference) > tolerance
    known = informative.all(axis=1)
    gradients = np.zeros(x.shape, dtype=np.float32)
    np.divide(a, difference, out=gradients, where=informative & known[:, None, :])
    return gradients, known


def hypothetical_contributions(gradients: np.ndarray, one_hot: np.ndarray,
                               baseline: np.ndarray | None = None,
                               known: np.ndarray | None = None) -> np.ndarray:
    """TF-MoDISco's hypothetical contributions from path-averaged IG gradients.

    hyp[k, i] = gbar[k, i] - sum_c b[c, i] gbar[c, i]: the IG contribution base k would make at
    position i (first order; exact for a model linear in its input). With the uniform 0.25
    baseline, hyp[k, i] = gbar[k, i] - mean_c gbar[c, i]. sum_k x[k, i] hyp[k, i] equals the IG
    attribution of position i summed over bases (see the module docstring).

    Parameters
    ----------
    gradients : (N, 4, L), the path-averaged gradients gbar of the target logit
    one_hot : (N, 4, L), the input x; columns without a base (padding) get 0
    baseline : broadcastable to (N, 4, L); None: `uniform_baseline(one_hot)`
    known : (N, L) bool, optional: columns whose gradients are known; the others get 0

    Returns
    -------
    np.ndarray (N, 4, L) float32
    """
    g = np.asarray(gradients, dtype=np.float32)
    x = np.asarray(one_hot, dtype=np.float32)
    if g.shape != x.shape or g.ndim != 3 or g.shape[1] != 4:
        raise ValueError(f"gradients {g.shape} and one_hot {x.shape} must both be (N, 4, L)")
    b = uniform_baseline(x) if baseline is None else np.asarray(baseline, dtype=np.float32)
    hyp = g - (b * g).sum(axis=1, keepdims=True)
    present = x.sum(axis=1) > 0
    if known is not None:
        present &= known
    hyp *= present[:, None, :]
    return hyp.astype(np.float32, copy=False)


def hypothetical_from_attributions(attributions: np.ndarray, one_hot: np.ndarray,
                                   baseline: np.ndarray | None = None) -> np.ndarray:
    """Hypothetical contributions straight from saved IG maps (what `-i` stores).

    attributions, one_hot : (N, 4, L) -> (N, 4, L) float32; columns without information
    (padding, N) are 0. See `path_gradients_from_attributions` and `hypothetical_contributions`.
    """
    gradients, known = path_gradients_from_attributions(attributions, one_hot, baseline)
    return hypothetical_contributions(gradients, one_hot, baseline, known)


# ----------------------------------------------------------------------------------------------
# TF-MoDISco


def modisco_arguments(settings: DenovoConfig) -> dict:
    """The TFMoDISco keyword arguments among the settings."""
    names = ("sliding_window_size", "flank_size", "target_seqlet_fdr",
             "max_seqlets_per_metacluster", "min_metacluster_size", "n_leiden_runs",
             "trim_to_window_size", "initial_flank_to_add", "final_flank_to_add",
             "final_min_cluster_size", "nearest_neighbors_to_compute")
    return {name: getattr(settings, name) for name in names}


@dataclass
class Pattern:
    """One TF-MoDISco pattern.

    name : "<class>.<pos|neg>.<k>", e.g. "IR.pos.0"; k by decreasing number of seqlets
    group : the class of the sequences it came from ("IR" or "non-IR")
    sign : "pos" (raises the true class's logit) or "neg"
    ppm, cwm, hypothetical : (4, W) base frequencies, mean contributions and mean hypothetical
        contributions of the seqlets, on the pattern's strand
    seqlets : DataFrame, one row per seqlet: row (index into the arrays given to `run_modisco`,
        or `rows` when given), start, end (columns of those arrays, padding included),
        is_revcomp (the pattern reads on the reverse strand of the row), contribution (sum of
        the actual contributions over [start, end)), sequence (on the pattern's strand)
    trim : (lo, hi) columns of the core: |contribution| >= trim_threshold x its maximum
    """

    name: str
    group: str
    sign: str
    ppm: np.ndarray
    cwm: np.ndarray
    hypothetical: np.ndarray
    seqlets: pd.DataFrame
    trim: tuple[int, int] = (0, 0)

    @property
    def n_seqlets(self) -> int:
        return len(self.seqlets)

    @property
    def width(self) -> int:
        return self.ppm.shape[1]

    @property
    def trimmed_ppm(self) -> np.ndarray:
        return self.ppm[:, self.trim[0]:self.trim[1]]

    @property
    def trimmed_cwm(self) -> np.ndarray:
        return self.cwm[:, self.trim[0]:self.trim[1]]

    @property
    def consensus(self) -> str:
        return consensus(self.trimmed_ppm)


def trim_span(cwm: np.ndarray, threshold: float = 0.3) -> tuple[int, int]:
    """The core of a pattern: the first to the last column whose summed |contribution| reaches
    `threshold` x the largest (modisco-lite's rule for TOMTOM queries).

    cwm : (4, W) -> (lo, hi), hi exclusive
    """
    score = np.abs(np.asarray(cwm, dtype=float)).sum(axis=0)
    if score.size == 0 or not score.max() > 0:
        return 0, score.size
    passing = np.nonzero(score >= threshold * score.max())[0]
    return int(passing[0]), int(passing[-1]) + 1


def _letters(one_hot_lw4: np.ndarray) -> str:
    """(W, 4) one-hot -> letters; N where the column is not one definite base."""
    definite = one_hot_lw4.max(axis=1) == 1
    return "".join(BASES[k] if d else "N" for k, d in zip(one_hot_lw4.argmax(axis=1), definite))


def _convert_patterns(seqlet_sets, group: str, sign: str, one_hot, contributions, rows,
                      trim_threshold: float) -> list[Pattern]:
    """modisco-lite SeqletSets -> `Pattern`s (arrays (4, W); seqlets with rows and letters)."""
    patterns = []
    for k, seqlet_set in enumerate(seqlet_sets or []):
        records = []
        for seqlet in seqlet_set.seqlets:
            row, start, end = int(seqlet.example_idx), int(seqlet.start), int(seqlet.end)
            window = one_hot[row, start:end]
            if seqlet.is_revcomp:
                window = window[::-1, ::-1]
            records.append({"row": int(rows[row]), "start": start, "end": end,
                            "is_revcomp": bool(seqlet.is_revcomp),
                            "contribution": float(contributions[row, start:end].sum()),
                            "sequence": _letters(window)})
        cwm = np.asarray(seqlet_set.contrib_scores, dtype=np.float64).T
        patterns.append(Pattern(
            name=f"{group}.{sign}.{k}", group=group, sign=sign,
            ppm=np.asarray(seqlet_set.sequence, dtype=np.float64).T, cwm=cwm,
            hypothetical=np.asarray(seqlet_set.hypothetical_contribs, dtype=np.float64).T,
            seqlets=pd.DataFrame(records, columns=["row", "start", "end", "is_revcomp",
                                                  "contribution", "sequence"]),
            trim=trim_span(cwm, trim_threshold)))
    return patterns


def run_modisco(one_hot: np.ndarray, hypothetical: np.ndarray, group: str,
                settings: DenovoConfig = DenovoConfig(), rows: np.ndarray | None = None,
                log=print) -> list[Pattern]:
    """TF-MoDISco on the sequences of one class: its positive and negative patterns.

    Parameters
    ----------
    one_hot : (n, 4, L) input of the class's sequences
    hypothetical : (n, 4, L) hypothetical contributions (`hypothetical_from_attributions`)
    group : the class name put in the pattern names ("IR", "non-IR")
    rows : (n,) int, optional: the row numbers reported in `Pattern.seqlets` (default 0..n-1)

    TF-MoDISco takes float32 (n, L, 4) arrays; they are copied into that layout unless given as
    the transposed view of such an array (`array.transpose(0, 2, 1)`), which is used as it is.
    Its actual contributions are one_hot x hypothetical (TF-MoDISco computes them).

    Returns
    -------
    list of `Pattern`, positive ones first, each sign by decreasing number of seqlets; empty
    when fewer than `min_metacluster_size` seqlets of a sign pass TF-MoDISco's FDR.
    """
    prepare_numba()
    from modiscolite.tfmodisco import TFMoDISco

    x = np.ascontiguousarray(np.asarray(one_hot).transpose(0, 2, 1), dtype=np.float32)
    hyp = np.ascontiguousarray(np.asarray(hypothetical).transpose(0, 2, 1), dtype=np.float32)
    if x.shape != hyp.shape or x.ndim != 3 or x.shape[2] != 4:
        raise ValueError(f"one_hot {np.shape(one_hot)} and hypothetical {np.shape(hypothetical)} "
                         f"must both be (n, 4, L)")
    rows = np.arange(len(x)) if rows is None else np.asarray(rows)
    if len(rows) != len(x):
        raise ValueError(f"rows has {len(rows)} entries for {len(x)} sequences")
    if len(x) == 0 or not np.any(hyp):
        log(f"{group}: no attribution to cluster")
        return []
    start = time.perf_counter()
    positive, negative = TFMoDISco(one_hot=x, hypothetical_contribs=hyp,
                                   **modisco_arguments(settings))
    contributions = np.einsum("nlc,nlc->nl", x, hyp)  # per-position actual contribution
    patterns = (_convert_patterns(positive, group, "pos", x, contributions, rows,
                                  settings.trim_threshold)
                + _convert_patterns(negative, group, "neg", x, contributions, rows,
                                    settings.trim_threshold))
    log(f"{group}: TF-MoDISco on {len(x)} sequences in {time.perf_counter() - start:.1f} s: "
        f"{sum(p.sign == 'pos' for p in patterns)} positive, "
        f"{sum(p.sign == 'neg' for p in patterns)} negative pattern(s)")
    return patterns


# ----------------------------------------------------------------------------------------------
# TOMTOM


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of one family of p-values (any shape, NaN-free)."""
    from statsmodels.stats.multitest import (
        multipletests,  # as enrichment.adjust_p_values
    )

    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return p.copy()
    return multipletests(p.ravel(), method="fdr_bh")[1].reshape(p.shape)


MIN_DATABASE = 50  # motifs TOMTOM's p-values need at the least
MATCH_COLUMNS = ("pattern", "rank", "matrix_id", "tf", "p_value", "q_value", "e_value",
                 "offset", "overlap", "strand", "called")


def match_patterns(patterns: list[Pattern], motifs: list, settings: DenovoConfig =
                   DenovoConfig()) -> pd.DataFrame:
    """TOMTOM (memelite) of each pattern's trimmed probability matrix against a motif database.

    The query is the pattern's base-frequency matrix (PPM) over its core (`Pattern.trim`), so
    that it is compared with the database's probability matrices on the same scale; the CWM
    only chooses the core. memelite's TOMTOM gives, per pattern and database motif, the p-value
    of the best alignment over offsets and both strands (complete scores, Euclidean distance).
    q-values: Benjamini-Hochberg over the whole database, per pattern (MEME's tomtom also
    corrects per query); e_value = p x number of database motifs.

    Parameters
    ----------
    motifs : database motifs with `matrix_id`, `name` and `probabilities` (4, W)
        (`src.interpret.motifs.Motif`, e.g. JASPAR 2024 CORE vertebrates: 879 motifs)

    Returns
    -------
    DataFrame with `MATCH_COLUMNS`, per pattern its `top_matches` best motifs and every other
    motif with q <= q_threshold, by increasing p-value (rank 1 = best); `called` is
    q <= q_threshold. offset and strand place the motif against the trimmed query: the motif's
    column j (reverse-complemented when strand is "-") lies under query column j - offset.
    """
    if not patterns:
        return pd.DataFrame(columns=MATCH_COLUMNS)
    if len(motifs) < MIN_DATABASE:
        raise InputError(f"TOMTOM needs a full motif database to estimate its p-values (its "
                         f"background is the database's columns); got {len(motifs)} motif(s): "
                         f"use e.g. jaspar2024")
    prepare_numba()
    from memelite import tomtom

    queries = [np.asarray(p.trimmed_ppm, dtype=np.float64) for p in patterns]
    targets = [np.asarray(m.probabilities, dtype=np.float64) for m in motifs]
    p_values, _, offsets, overlaps, strands = tomtom(queries, targets)
    rows = []
    for i, pattern in enumerate(patterns):
        q_values = benjamini_hochberg(p_values[i])
        order = np.argsort(p_values[i], kind="stable")
        n_called = int((q_values <= settings.q_threshold).sum())
        for rank, j in enumerate(order[:max(settings.top_matches, n_called)], start=1):
            rows.append({"pattern": pattern.name, "rank": rank,
                         "matrix_id": motifs[j].matrix_id, "tf": motifs[j].name,
                         "p_value": float(p_values[i, j]), "q_value": float(q_values[j]),
                         "e_value": float(p_values[i, j] * len(motifs)),
                         "offset": int(offsets[i, j]), "overlap": int(overlaps[i, j]),
                         "strand": "-" if strands[i, j] else "+",
                         "called": bool(q_values[j] <= settings.q_threshold)})
    return pd.DataFrame(rows, columns=MATCH_COLUMNS)


# ----------------------------------------------------------------------------------------------
# tables


def patterns_table(patterns: list[Pattern], matches: pd.DataFrame,
                   top_n: int = 3) -> pd.DataFrame:
    """One row per pattern: pattern, class, sign, seqlets, sequences (distinct rows), consensus,
    width (of the core), called (a database motif with q <= threshold), best_match,
    best_match_id, best_q, match{k}_tf / _id / _q for the top_n matches, and matches: every
    called motif, "TF (ID, q=...)" joined by "; " (the redundant database motifs grouped under
    this pattern)."""
    out = []
    for pattern in patterns:
        mine = matches[matches["pattern"] == pattern.name].sort_values("rank")
        called = mine[mine["called"]]
        row = {"pattern": pattern.name, "class": pattern.group, "sign": pattern.sign,
               "seqlets": pattern.n_seqlets,
               "sequences": int(pattern.seqlets["row"].nunique()),
               "consensus": pattern.consensus, "width": pattern.trim[1] - pattern.trim[0],
               "called": not called.empty,
               "best_match": called.iloc[0]["tf"] if not called.empty else "",
               "best_match_id": called.iloc[0]["matrix_id"] if not called.empty else "",
               "best_q": float(called.iloc[0]["q_value"]) if not called.empty else math.nan}
        for k in range(top_n):
            hit = mine.iloc[k] if k < len(mine) else None
            row[f"match{k + 1}_tf"] = hit["tf"] if hit is not None else ""
            row[f"match{k + 1}_id"] = hit["matrix_id"] if hit is not None else ""
            row[f"match{k + 1}_q"] = float(hit["q_value"]) if hit is not None else math.nan
        row["matches"] = "; ".join(f"{r.tf} ({r.matrix_id}, q={r.q_value:.2g})"
                                   for r in called.itertuples())
        out.append(row)
    columns = (["pattern", "class", "sign", "seqlets", "sequences", "consensus", "width",
                "called", "best_match", "best_match_id", "best_q"]
               + [f"match{k + 1}_{c}" for k in range(top_n) for c in ("tf", "id", "q")]
               + ["matches"])
    return pd.DataFrame(out, columns=columns)


SEQLET_COLUMNS = ("pattern", "class", "sign", "header", "reverse_complement", "start", "end",
                  "strand", "forward_start", "forward_end", "forward_strand", "sequence",
                  "seqlet_start", "seqlet_end", "contribution")


def seqlets_table(patterns: list[Pattern], sequences: pd.DataFrame) -> pd.DataFrame:
    """Every seqlet of every pattern, traced back to its sequence.

    Parameters
    ----------
    sequences : one row per row of the attribution arrays, with columns header,
        reverse_complement (the row is the reverse complement of the intron, as `-i` adds
        them), seq_start and seq_end (the columns [seq_start, seq_end) that hold the sequence;
        the rest is padding)

    Returns
    -------
    DataFrame with `SEQLET_COLUMNS`, one row per seqlet. start, end: the pattern's core
    (`Pattern.trim`, the site) in the row's sequence, 0-based, end exclusive, without padding;
    strand: the pattern's strand on that row; forward_start, forward_end, forward_strand: the
    same site on the intron as given in the data (for a reverse-complement row: length - end,
    length - start and the other strand); sequence: the site's bases on the pattern's strand;
    seqlet_start, seqlet_end: the whole seqlet (core and flanks) in the row's sequence
    (negative or past the end only where it reaches into padding); contribution: the sum of the
    actual contributions over the whole seqlet.
    """
    frames = []
    for pattern in patterns:
        s = pattern.seqlets
        lo, hi = pattern.trim
        info = sequences.iloc[s["row"].to_numpy()]
        offset = info["seq_start"].to_numpy()
        length = info["seq_end"].to_numpy() - offset
        seqlet_start = s["start"].to_numpy() - offset
        seqlet_end = s["end"].to_numpy() - offset
        reverse = s["is_revcomp"].to_numpy().astype(bool)
        # pattern column j lies at seqlet_start + j, or at seqlet_end - 1 - j on the - strand
        start = np.where(reverse, seqlet_end - hi, seqlet_start + lo)
        end = np.where(reverse, seqlet_end - lo, seqlet_start + hi)
        rc_row = info["reverse_complement"].to_numpy().astype(bool)
        strand = np.where(reverse, "-", "+")
        flipped = np.where(reverse, "+", "-")
        frames.append(pd.DataFrame({
            "pattern": pattern.name, "class": pattern.group, "sign": pattern.sign,
            "header": info["header"].to_numpy(), "reverse_complement": rc_row,
            "start": start, "end": end, "strand": strand,
            "forward_start": np.where(rc_row, length - end, start),
            "forward_end": np.where(rc_row, length - start, end),
            "forward_strand": np.where(rc_row, flipped, strand),
            "sequence": [text[lo:hi] for text in s["sequence"]],
            "seqlet_start": seqlet_start, "seqlet_end": seqlet_end,
            "contribution": s["contribution"].round(5).to_numpy()}))
    if not frames:
        return pd.DataFrame(columns=SEQLET_COLUMNS)
    return pd.concat(frames, ignore_index=True)[list(SEQLET_COLUMNS)]


# ----------------------------------------------------------------------------------------------
# inputs


def class_tracks(maps: AttributionMaps, rows: np.ndarray, chunk_size: int = 1024
                 ) -> tuple[np.ndarray, np.ndarray]:
    """TF-MoDISco's float32 (n, L, 4) one-hot and hypothetical tracks of some rows, built
    `chunk_size` rows at a time so that only the outputs and one chunk are in memory (the maps
    may be memory-mapped)."""
    rows = np.asarray(rows, dtype=np.int64)
    length = maps.codes.shape[1]
    one_hot = np.empty((len(rows), length, 4), dtype=np.float32)
    hyp = np.empty((len(rows), length, 4), dtype=np.float32)
    for begin in range(0, len(rows), chunk_size):
        part = rows[begin:begin + chunk_size]
        x = CODE_TO_ONE_HOT[np.asarray(maps.codes[part])].transpose(0, 2, 1)  # (c, 4, L)
        h = hypothetical_from_attributions(np.asarray(maps.attributions[part]), x)
        one_hot[begin:begin + len(part)] = x.transpose(0, 2, 1)
        hyp[begin:begin + len(part)] = h.transpose(0, 2, 1)
    return one_hot, hyp


# ----------------------------------------------------------------------------------------------
# outputs


def write_patterns_meme(patterns: list[Pattern], path: str | Path,
                        background=(0.25, 0.25, 0.25, 0.25), trimmed: bool = True) -> Path:
    """Patterns as a MEME (version 4) motif file: `MOTIF <pattern> <consensus>`, the base
    frequencies of the core (`trimmed`) or of the whole pattern, nsites = number of seqlets.
    Read by `src.interpret.motifs.read_meme`, `memelite.io.read_meme` and the MEME suite."""
    out = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
           "Background letter frequencies",
           " ".join(f"{b} {p:.4f}" for b, p in zip(BASES, background)), ""]
    for pattern in patterns:
        ppm = pattern.trimmed_ppm if trimmed else pattern.ppm
        ppm = ppm / ppm.sum(axis=0, keepdims=True)
        out += [f"MOTIF {pattern.name} {pattern.consensus}",
                f"letter-probability matrix: alength= 4 w= {ppm.shape[1]} "
                f"nsites= {pattern.n_seqlets} E= 0"]
        out += [" ".join(f"{p:.6f}" for p in column) for column in ppm.T]
        out.append("")
    path = Path(path)
    atomic_write_text(path, "\n".join(out) + "\n")
    return path


def aligned_match(pattern: Pattern, motif_probabilities: np.ndarray, offset: int,
                  strand: str) -> tuple[np.ndarray, int]:
    """A database motif placed under a pattern's core as TOMTOM aligned them.

    Returns the motif's (4, W) matrix on the pattern's strand (reverse-complemented for strand
    "-") and the column of the pattern's core where its first column lies (`-offset`; negative
    when the motif starts before the core).
    """
    matrix = np.asarray(motif_probabilities, dtype=float)
    if strand == "-":
        matrix = matrix[::-1, ::-1]
    return matrix, -int(offset)


def plot_patterns(patterns: list[Pattern], matches: pd.DataFrame, motifs_by_id: dict,
                  path: str | Path, background=(0.25, 0.25, 0.25, 0.25)) -> Path:
    """The report figure: one row per pattern, its contribution logo (mean actual contribution
    of its seqlets over the core, the CWM), under it on the same columns the logo (bits) of its
    best database match aligned as TOMTOM aligned them, and the number of seqlets with the
    match's name and q-value. A match that is not called (q above the threshold) is drawn in
    grey and labelled as such."""
    import matplotlib

    matplotlib.use("Agg")
    import logomaker
    import matplotlib.pyplot as plt

    if not patterns:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.text(0.5, 0.5, "TF-MoDISco found no pattern", ha="center", va="center")
        ax.axis("off")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return Path(path)
    bg = np.asarray(background, dtype=float)
    fig, axes = plt.subplots(len(patterns), 2, figsize=(11, 2.3 * len(patterns) + 0.3),
                             squeeze=False, gridspec_kw={"width_ratios": [1, 1]})
    for (cwm_ax, db_ax), pattern in zip(axes, patterns):
        cwm = pattern.trimmed_cwm
        best = matches[(matches["pattern"] == pattern.name) & (matches["rank"] == 1)]
        lo, hi = 0, cwm.shape[1]
        motif_frame = None
        if not best.empty:
            hit = best.iloc[0]
            motif = motifs_by_id.get(hit["matrix_id"])
            if motif is not None:
                matrix, first = aligned_match(pattern, motif.probabilities, hit["offset"],
                                              hit["strand"])
                lo, hi = min(lo, first), max(hi, first + matrix.shape[1])
                frame = pd.DataFrame(matrix.T, columns=list(BASES))
                motif_frame = logomaker.transform_matrix(frame, from_type="probability",
                                                         to_type="information", background=bg)
                motif_frame.index = np.arange(first, first + matrix.shape[1])
        cwm_frame = pd.DataFrame(cwm.T, columns=list(BASES), index=np.arange(cwm.shape[1]))
        logomaker.Logo(cwm_frame, ax=cwm_ax, color_scheme="classic", show_spines=False)
        cwm_ax.axhline(0, color="grey", lw=0.5)
        cwm_ax.set_xlim(lo - 0.5, hi - 0.5)
        cwm_ax.set_title(f"{pattern.name}: {pattern.n_seqlets} seqlets "
                         f"({pattern.seqlets['row'].nunique()} sequences), {pattern.consensus}",
                         fontsize=8)
        cwm_ax.set_ylabel("contribution", fontsize=7)
        if motif_frame is None:
            db_ax.text(0.5, 0.5, "no database match", ha="center", va="center", fontsize=8)
            db_ax.axis("off")
        else:
            called = bool(hit["called"])
            logomaker.Logo(motif_frame, ax=db_ax, show_spines=False,
                           color_scheme="classic" if called else "grey")
            db_ax.set_xlim(lo - 0.5, hi - 0.5)
            db_ax.set_ylim(0, 2)
            db_ax.set_ylabel("bits", fontsize=7)
            db_ax.set_title(f"{'best match' if called else 'not called; closest'}: {hit['tf']} "
                            f"({hit['matrix_id']}, strand {hit['strand']}), q = "
                            f"{hit['q_value']:.2g}", fontsize=8)
        for ax in (cwm_ax, db_ax):
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def summary_markdown(table: pd.DataFrame, counts: dict, settings: DenovoConfig,
                     timings: dict, database: str = "") -> str:
    """denovo.md: what was run, and the patterns of each class with their database names."""
    lines = ["# De novo motifs (TF-MoDISco on Integrated Gradients, TOMTOM)", ""]
    for name, c in counts.items():
        lines.append(f"- {name}: {c['sequences']} sequences, {c['positive']} positive and "
                     f"{c['negative']} negative pattern(s)")
    lines += [f"- database: {database or '?'}; a motif is called for a pattern when TOMTOM's "
              f"q-value (Benjamini-Hochberg over the database) is <= {settings.q_threshold:g}",
              f"- TF-MoDISco: seqlet cores {settings.sliding_window_size} bp, flanks "
              f"{settings.flank_size} bp, seqlet FDR {settings.target_seqlet_fdr:g}, at most "
              f"{settings.max_seqlets_per_metacluster} seqlets per metacluster, "
              f"{settings.n_leiden_runs} Leiden run(s)",
              "- time: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()), "",
              "Positive patterns raise the logit of their class (what the model uses to call it); "
              "negative ones argue against it. A pattern without a called match is a candidate "
              "motif the database lacks (or a repeat, or low-complexity sequence). Seqlets: "
              "`seqlets.csv`; logos: `patterns.png`; matrices: `patterns.meme`.", ""]
    called = table[table["called"]]
    if not called.empty:
        lines += ["## Database motifs found", "",
                  "Each called database motif (the best match of a pattern), with the patterns "
                  "it names; several patterns of one motif are variants TF-MoDISco kept apart "
                  "(flanks, spacing, strength).", "",
                  "| motif | class | patterns | seqlets | best q |",
                  "| --- | --- | --- | ---: | ---: |"]
        grouped = called.groupby(["best_match_id", "best_match", "class", "sign"], sort=False)
        for (matrix_id, tf, group, sign), rows in grouped:
            lines.append(f"| {tf} ({matrix_id}) | {group} ({SIGNS[sign]}) | "
                         f"{', '.join(rows['pattern'])} | {rows['seqlets'].sum()} | "
                         f"{rows['best_q'].min():.2g} |")
        lines.append("")
    for group in ("IR", "non-IR"):
        mine = table[table["class"] == group]
        lines += [f"## {group} sequences", ""]
        if mine.empty:
            lines += ["No pattern.", ""]
            continue
        lines += ["| pattern | seqlets | sequences | consensus | best match (q) | other called "
                  "matches |", "| --- | ---: | ---: | --- | --- | --- |"]
        for r in mine.itertuples():
            best = (f"**{r.best_match}** ({r.best_match_id}, {r.best_q:.2g})" if r.called
                    else f"none (closest {r.match1_tf}, q={r.match1_q:.2g})" if r.match1_tf
                    else "none")
            others = r.matches.split("; ")[1:] if r.called else []
            if len(others) > 6:  # patterns.csv lists them all
                others = others[:6] + [f"{len(others) - 6} more in patterns.csv"]
            others = "; ".join(others)
            lines.append(f"| {r.pattern} | {r.seqlets} | {r.sequences} | `{r.consensus}` | "
                         f"{best} | {others} |")
        lines.append("")
    return "\n".join(lines) + "\n"


@dataclass
class DenovoResult:
    patterns: list[Pattern]
    matches: pd.DataFrame
    table: pd.DataFrame
    seqlets: pd.DataFrame
    counts: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


def discover(maps: AttributionMaps, settings: DenovoConfig = DenovoConfig(),
             log=print) -> tuple[list[Pattern], dict]:
    """TF-MoDISco per class on the saved maps: IR (label 1) first, then non-IR (label 0).

    Returns the patterns and, per class, the numbers of sequences and patterns.
    """
    labels = maps.table["label"].to_numpy()
    patterns, counts = [], {}
    for label in (1, 0):
        name = CLASS_NAMES[label]
        rows = np.nonzero(labels == label)[0]
        one_hot, hyp = class_tracks(maps, rows, settings.chunk_size)
        found = run_modisco(one_hot.transpose(0, 2, 1), hyp.transpose(0, 2, 1), name, settings,
                            rows=rows, log=log)
        del one_hot, hyp
        patterns += found
        counts[name] = {"sequences": int(len(rows)),
                        "positive": sum(p.sign == "pos" for p in found),
                        "negative": sum(p.sign == "neg" for p in found)}
    return patterns, counts


def run_denovo(maps: AttributionMaps, motifs: list, out_dir: str | Path,
               settings: DenovoConfig = DenovoConfig(), database: str = "",
               background=(0.25, 0.25, 0.25, 0.25), log=print) -> DenovoResult:
    """The whole de novo step on saved attribution maps; writes `write_outputs`'s files.

    Raises
    ------
    InputError
        Maps without per-base gradients (a token model), or a database too small for TOMTOM.
    """
    if not maps.info.get("per_base", True):
        raise InputError(f"the attribution maps come from a token model "
                         f"({maps.info.get('attribution', '?')}): de novo discovery needs per-base "
                         f"gradients; use a one-hot model")
    length = maps.codes.shape[1]
    if length < settings.sliding_window_size:
        raise InputError(f"the attribution maps are {length} columns wide, shorter than "
                         f"TF-MoDISco's seqlet core (denovo.sliding_window_size = "
                         f"{settings.sliding_window_size}): lower it to {length} or less")
    timings = {}
    start = time.perf_counter()
    patterns, counts = discover(maps, settings, log)
    timings["TF-MoDISco"] = time.perf_counter() - start
    start = time.perf_counter()
    matches = match_patterns(patterns, motifs, settings)
    timings["TOMTOM"] = time.perf_counter() - start
    table = patterns_table(patterns, matches, settings.top_matches)
    sequences = maps.table[list(MAPS_COLUMNS)]
    result = DenovoResult(patterns, matches, table, seqlets_table(patterns, sequences), counts,
                          timings)
    write_outputs(result, motifs, out_dir, settings, database, background,
                  maps_id=maps.info.get("id"))
    called = table[table["called"]]
    log(f"de novo: {len(patterns)} pattern(s), {len(called)} called (a database motif with "
        f"q <= {settings.q_threshold:g})" + (": " if len(called) else "")
        + ", ".join(f"{r.pattern} {r.best_match} ({r.best_match_id}, q={r.best_q:.2g}, "
                    f"{r.seqlets} seqlets)" for r in called.itertuples())
        + "; time " + ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items()))
    return result


# ----------------------------------------------------------------------------------------------
# outputs (in `<Attribute.py result>/denovo/`)

DENOVO_DIR = "denovo"
PATTERNS_MEME = "patterns.meme"
PATTERNS_FILE = "patterns.csv"
MATCHES_FILE = "matches.csv"
SEQLETS_FILE = "seqlets.csv"
PATTERNS_FIGURE = "patterns.png"
SUMMARY_FILE = "denovo.md"
RECORD_FILE = "denovo.json"  # written last: marks the outputs complete
OUTPUT_FILES = (PATTERNS_MEME, PATTERNS_FILE, MATCHES_FILE, SEQLETS_FILE, PATTERNS_FIGURE,
                SUMMARY_FILE, RECORD_FILE)


def write_outputs(result: DenovoResult, motifs: list, out_dir: str | Path,
                  settings: DenovoConfig = DenovoConfig(), database: str = "",
                  background=(0.25, 0.25, 0.25, 0.25), maps_id: str | None = None) -> Path:
    """patterns.meme, patterns.csv, matches.csv, seqlets.csv, patterns.png, denovo.md and, last,
    denovo.json (settings, counts, timings, and the id of the maps they come from)."""
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / RECORD_FILE).unlink(missing_ok=True)
    start = time.perf_counter()
    write_patterns_meme(result.patterns, out / PATTERNS_MEME, background)
    atomic_write_text(out / PATTERNS_FILE, result.table.to_csv(index=False))
    atomic_write_text(out / MATCHES_FILE, result.matches.to_csv(index=False))
    atomic_write_text(out / SEQLETS_FILE, result.seqlets.to_csv(index=False))
    plot_patterns(result.patterns, result.matches, {m.matrix_id: m for m in motifs},
                  out / PATTERNS_FIGURE, background)
    result.timings["outputs"] = time.perf_counter() - start
    atomic_write_text(out / SUMMARY_FILE, summary_markdown(result.table, result.counts, settings,
                                                          result.timings, database))
    atomic_write_text(out / RECORD_FILE, json.dumps(
        {"settings": settings.model_dump(), "counts": result.counts, "timings": result.timings,
         "database": database, "maps": maps_id,
         "patterns": int(len(result.table)), "called": int(result.table["called"].sum())},
        indent=2) + "\n")
    return out


def is_complete(folder: str | Path) -> bool:
    """`Attribute.py -s` has written every output in `<folder>/denovo/`, from the attribution
    maps now saved in `folder` (a later `-i --force` makes them stale)."""
    import json

    from .maps import maps_id

    folder = Path(folder)
    out = folder / DENOVO_DIR
    if not all((out / name).is_file() for name in OUTPUT_FILES):
        return False
    try:
        record = json.loads((out / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return False
    current = maps_id(folder)
    return isinstance(record, dict) and current is not None and record.get("maps") == current


def check_denovo_inputs(folder: str | Path, integrate: bool, inputs=None) -> None:
    """Before any work: can `-s` run? With `-i` the model must be a one-hot model (a token
    model's IG has no per-base gradients); without it, the maps of an earlier `-i` must be
    saved in `folder` and readable (`InputError` otherwise, saying what to run)."""
    from .maps import load_attribution_maps

    if integrate:
        methods = getattr(inputs, "methods", None)
        if methods is not None:
            raise InputError(
                f"-s (de novo motifs) needs per-base gradients to derive TF-MoDISco's "
                f"hypothetical contributions, and this model's Integrated Gradients are computed "
                f"on its token embeddings ({methods.description}): leave out -s for a token "
                f"model (DNABERT-2); -i -b work as usual")
        return
    load_attribution_maps(folder)


def denovo_database(config) -> str:
    """The motif database of `-s`: `denovo.database`, or else `database` (-d)."""
    return config.denovo.database or config.database


def prepare_denovo(folder: str | Path, config, integrate: bool, inputs=None,
                   motifs: list | None = None) -> list:
    """Everything `-s` needs checked before any work (`check_denovo_inputs`), and its motif
    database, read (`motifs`, the -d motifs already read, are reused when it is the same).

    Raises
    ------
    InputError
        As `check_denovo_inputs`; a database that cannot be read or holds fewer than
        `MIN_DATABASE` motifs (TOMTOM's p-values come from the database's own columns).
    """
    from .motifs import load_motifs

    check_denovo_inputs(folder, integrate, inputs)
    database = denovo_database(config)
    if motifs is None or database != config.database:
        motifs = load_motifs(database)
    if len(motifs) < MIN_DATABASE:
        key = "denovo.database" if config.denovo.database else "database (-d)"
        raise InputError(f"{database} holds {len(motifs)} motif(s): TOMTOM, which names the de "
                         f"novo patterns, estimates its p-values from the database's own columns "
                         f"and needs a full database ({MIN_DATABASE} motifs or more); set {key} "
                         f"to one, e.g. jaspar2024")
    return motifs


def denovo_step(folder: str | Path, config, motifs: list, log=print) -> DenovoResult:
    """`Attribute.py -s` on the maps saved in the result `folder`: outputs in `folder/denovo/`.

    config : `src.config.AttributeConfig` (its `denovo` settings and `database`)
    motifs : the motif database (`src.interpret.motifs.load_motifs(config.database)`)
    """
    from .maps import load_attribution_maps

    maps = load_attribution_maps(folder)
    counts = maps.table["label"].value_counts()
    database = denovo_database(config)
    log(f"de novo motifs: TF-MoDISco on the IG maps of {len(maps)} sequences ({counts.get(1, 0)} "
        f"IR, {counts.get(0, 0)} non-IR; {maps.codes.shape[1]} columns), TOMTOM against "
        f"{database} ({len(motifs)} motifs)")
    background = maps.info.get("background") or (0.25, 0.25, 0.25, 0.25)
    result = run_denovo(maps, motifs, Path(folder) / DENOVO_DIR, config.denovo,
                        database=database, background=background, log=log)
    log(f"de novo outputs: {Path(folder) / DENOVO_DIR} ({SUMMARY_FILE}, {PATTERNS_FIGURE}, "
        f"{PATTERNS_FILE}, {PATTERNS_MEME}, {SEQLETS_FILE})")
    return result


def patterns_overview(folder: str | Path, sign: str | None = "pos") -> pd.DataFrame | None:
    """The patterns of a result `folder` as a short table (pattern, class, seqlets, best match,
    q), positive patterns only unless `sign` is None; None when `-s` has not run."""
    path = Path(folder) / DENOVO_DIR / PATTERNS_FILE
    if not path.is_file():
        return None
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if sign is not None:
        table = table[table["sign"] == sign]
    best = [(f"{r.best_match} ({r.best_match_id})" if r.called else
             f"none (closest {r.match1_tf}, {r.match1_id})" if r.match1_tf else "none")
            for r in table.fillna({"match1_tf": ""}).itertuples()]
    q = np.where(table["called"], table["best_q"], table["match1_q"])
    return pd.DataFrame({"pattern": table["pattern"].to_numpy(),
                         "class": table["class"].to_numpy(),
                         "seqlets": table["seqlets"].to_numpy(), "best match": best,
                         "q": [f"{v:.2g}" for v in q]})
