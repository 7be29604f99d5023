"""Batched log-odds motif scanning of short DNA windows.

A motif's position probability matrix P (4, W) becomes a log-odds matrix against the background
base composition b of the data, with a pseudocount weighted by the background,

    L[c, j] = log2( (P[c, j] + pseudocount * b[c]) / (1 + pseudocount) / b[c] ),

or, as the study's code did (pseudocount 0, `zero_probability` z), with each zero probability
replaced by z: L[c, j] = log2(max(P[c, j], z if P[c, j] = 0) / b[c]). A window's score at offset
o on one strand is sum_j L[base(o + j), j] (bits). A window *hits* a motif when its best score
over all offsets and both strands reaches the motif's threshold, by `hit_rule`: `hit_fraction`
(0.8) x the motif's best attainable score sum_j max_c L[c, j] (`best_score`), or x the largest
single entry max_{c, j} L[c, j] (`max_entry`, the study's code at its results commit, whose
threshold is then the same for a 6 bp and a 30 bp motif); or, with `p_value`, the score whose
per-site p-value under the background is `p_value` (exact dynamic programming on scores rounded
to a fine grid, as FIMO does). Each rule is a ratio of scores, so the logarithm's base does not
change which windows hit. A motif longer than a window cannot hit it.

Scanning is one vectorised pass over chunks of windows: every offset of every window is scored
against all motifs and both strands at once (4-mer score tables summed by `embedding_bag` for
windows of A/C/G/T, a convolution written as a matrix product for windows with ambiguous letters),
followed by a max over offsets; see `scan_windows`. Both read the motif left to right (a
cross-correlation: the kernel is not flipped, so '+' is the motif as given). In the convolution
only three of the four base channels enter the product: because each base column of a window sums
to 1, L[c, j] - L[T, j] on A, C, G plus the constant sum_j L[T, j] gives the same score with 25%
less arithmetic.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..data.encoding import CODE_TO_ONE_HOT, PAD_CODE, encode_codes
from ..errors import InputError
from .motifs import Motif

DEFAULT_PSEUDOCOUNT = 0.1
DEFAULT_HIT_FRACTION = 0.8
HIT_RULES = ("best_score", "max_entry")


def log_odds_matrix(probabilities: np.ndarray, background: Sequence[float],
                    pseudocount: float = DEFAULT_PSEUDOCOUNT,
                    zero_probability: float | None = None) -> np.ndarray:
    """Log-odds (bits) of a position probability matrix against a background.

    Parameters
    ----------
    probabilities : np.ndarray, shape (4, W), rows A, C, G, T; columns sum to 1
    background : 4 base frequencies A, C, G, T (summing to 1)
    pseudocount : weight of the background mixed into each column, so that a base never seen in
        the motif scores a finite penalty instead of minus infinity
    zero_probability : when given, a probability that is still 0 (pseudocount 0) is replaced by
        this value, without renormalising the column (the study's code: 0.001)

    Returns
    -------
    np.ndarray, shape (4, W), float64
    """
    b = _check_background(background)[:, None]
    p = (np.asarray(probabilities, dtype=np.float64) + pseudocount * b) / (1.0 + pseudocount)
    if zero_probability is not None:
        p = np.where(p == 0, zero_probability, p)
    with np.errstate(divide="ignore"):  # a zero left as it is scores -inf: never a site
        return np.log2(p / b)


def best_attainable_score(log_odds: np.ndarray) -> float:
    """Highest score any sequence can reach: the sum over columns of the best base's log-odds."""
    return float(np.asarray(log_odds).max(axis=0).sum())


def reverse_complement_matrix(matrix: np.ndarray) -> np.ndarray:
    """The matrix of the opposite strand, (4, W) rows A, C, G, T: reversed columns, and each row
    swapped with its complement (A<->T, C<->G), i.e. both axes flipped."""
    return np.ascontiguousarray(np.asarray(matrix)[::-1, ::-1])


def score_threshold_for_pvalue(log_odds: np.ndarray, background: Sequence[float],
                               p_value: float, n_bins: int = 20_000) -> float:
    """Smallest score whose per-site p-value P(S >= score) under the background is <= `p_value`.

    S is the score of one random site (independent bases drawn from the background). Scores are
    rounded to a grid of (score range / n_bins) bits and the exact distribution of their sum is
    built column by column; the error of the threshold is below W x grid / 2 bits.
    Returns +inf when even the best attainable score is more probable than `p_value` allows.
    """
    b = _check_background(background)
    log_odds = np.asarray(log_odds, dtype=np.float64)
    span = float((log_odds.max(axis=0) - log_odds.min(axis=0)).sum())
    step = max(span / n_bins, 1e-9)
    integer = np.round(log_odds / step).astype(np.int64)
    low = int(integer.min(axis=0).sum())
    pmf = np.ones(1)
    for column in integer.T:
        shifted = column - column.min()
        new = np.zeros(len(pmf) + int(shifted.max()))
        for base in range(4):
            new[shifted[base]:shifted[base] + len(pmf)] += b[base] * pmf
        pmf = new
    survival = np.cumsum(pmf[::-1])[::-1]  # survival[k] = P(S >= low + k)
    passing = np.nonzero(survival <= p_value * (1 + 1e-9))[0]
    if len(passing) == 0:
        return float("inf")
    return (low + int(passing[0])) * step


@dataclass
class MotifSet:
    """Motifs ready for scanning: log-odds matrices and hit thresholds.

    motifs : the K motifs, in database order
    background : np.ndarray (4,), base composition A, C, G, T
    log_odds : list of K np.ndarray (4, W_k), bits
    max_scores : np.ndarray (K,), best attainable score of each motif
    thresholds : np.ndarray (K,), score a window's best site must reach to count as a hit
    """

    motifs: list[Motif]
    background: np.ndarray
    log_odds: list[np.ndarray]
    max_scores: np.ndarray
    thresholds: np.ndarray
    settings: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.motifs)

    @property
    def widths(self) -> np.ndarray:
        return np.array([m.width for m in self.motifs], dtype=np.int64)


def prepare_motifs(motifs: Sequence[Motif], background: Sequence[float],
                   pseudocount: float = DEFAULT_PSEUDOCOUNT,
                   hit_fraction: float = DEFAULT_HIT_FRACTION,
                   p_value: float | None = None, zero_probability: float | None = None,
                   hit_rule: str = "best_score") -> MotifSet:
    """Log-odds matrices and thresholds of `motifs` for `scan_windows`.

    The threshold is `hit_fraction` x the best attainable score (`hit_rule` "best_score") or x
    the largest single log-odds entry ("max_entry"), or, when `p_value` is given, the per-site
    p-value threshold (`score_threshold_for_pvalue`).
    """
    if not motifs:
        raise InputError("the motif database holds no motif")
    if not 0 < hit_fraction <= 1:
        raise InputError(f"hit_fraction must be in (0, 1], got {hit_fraction}")
    if p_value is not None and not 0 < p_value < 1:
        raise InputError(f"p_value must be in (0, 1), got {p_value}")
    if hit_rule not in HIT_RULES:
        raise InputError(f"hit_rule must be one of {', '.join(HIT_RULES)}, got {hit_rule!r}")
    if pseudocount == 0 and zero_probability is None and any(
            (m.probabilities == 0).any() for m in motifs):
        raise InputError("with pseudocount 0 a motif probability of 0 gives a log-odds of minus "
                         "infinity: set a pseudocount (e.g. 0.1) or zero_probability (the "
                         "study's 0.001)")
    background = _check_background(background)
    log_odds = [log_odds_matrix(m.probabilities, background, pseudocount, zero_probability)
                for m in motifs]
    max_scores = np.array([best_attainable_score(lo) for lo in log_odds])
    if p_value is not None:
        thresholds = np.array([score_threshold_for_pvalue(lo, background, p_value)
                               for lo in log_odds])
    elif hit_rule == "max_entry":
        thresholds = hit_fraction * np.array([float(lo.max()) for lo in log_odds])
    else:
        thresholds = hit_fraction * max_scores
    settings = {"pseudocount": pseudocount, "zero_probability": zero_probability,
                "hit_rule": None if p_value else hit_rule,
                "hit_fraction": None if p_value else hit_fraction, "p_value": p_value}
    return MotifSet(list(motifs), background, log_odds, max_scores, thresholds, settings)


@dataclass
class ScanResult:
    """Result of `scan_windows` for M windows and K motifs.

    hits : np.ndarray (M, K) bool, best score >= the motif's threshold
    best_scores : np.ndarray (M, K) float32, best score over offsets and strands (-inf when the
        motif is longer than the window); only when asked for with `return_scores`
    sites : DataFrame with one row per hit: window, motif (index), score, offset (0-based start
        in the window), strand ("+" = the motif as given, "-" = its reverse complement)
    """

    hits: np.ndarray
    sites: pd.DataFrame
    best_scores: np.ndarray | None = None


# One-hot columns of A, C, G only, by code: the T channel is folded into a constant (see top).
_CODE_TO_ACG = torch.from_numpy(np.ascontiguousarray(CODE_TO_ONE_HOT[:, :3]))
KMER = 4  # bases per table lookup in the k-mer path
_EXACT_CODES = (1, 2, 3, 4)  # A, C, G, T in src.data.encoding; other letters are ambiguous


def scan_windows(codes: np.ndarray, lengths: np.ndarray | None, motif_set: MotifSet,
                 chunk_size: int = 64, return_scores: bool = False, progress: bool = True,
                 desc: str = "scanning motifs", threads: int | None = None,
                 block_size: int = 128) -> ScanResult:
    """Score every window against every motif on both strands; keep the best site of each pair.

    Two equivalent vectorised passes, chosen per window:

    * windows of A, C, G, T only (nearly all): each motif is cut into blocks of 4 columns whose
      scores for all 256 4-mers are tabulated; a site's score is then the sum of a few table
      rows, and `torch.nn.functional.embedding_bag` adds them for every offset of every window
      and every motif (both strands) at once, ~4x fewer operations than a convolution;
    * windows with ambiguous letters (N, R, ...): a convolution of the one-hot window (an
      ambiguous letter spreads over its bases, so it scores the mean of their log-odds), written
      as one matrix product per motif width.

    Parameters
    ----------
    codes : np.ndarray, shape (M, w), uint8 base codes (`src.data.encoding`), each window
        left-aligned: bases in columns 0 .. length - 1, padding after them
    lengths : np.ndarray (M,) int, bases in each window; None when every window fills all w columns
    motif_set : `prepare_motifs` output
    chunk_size : windows scored together (memory about chunk x w x 2 block_size floats per
        thread); small chunks keep the work in the CPU cache
    return_scores : also return the (M, K) best scores (4 bytes per pair)
    threads : chunks scanned in parallel; default `torch.get_num_threads()`
    block_size : motifs per table lookup pass

    Returns
    -------
    ScanResult
    """
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    n_windows, width = codes.shape
    lengths = np.full(n_windows, width, np.int64) if lengths is None else np.asarray(
        lengths, dtype=np.int64)
    if lengths.shape != (n_windows,) or (lengths > width).any() or (lengths < 0).any():
        raise ValueError(f"lengths must be (M,) = ({n_windows},) values in 0..{width}")
    n_motifs = len(motif_set)
    inside = np.arange(width)[None, :] < lengths[:, None]
    exact = (np.isin(codes, _EXACT_CODES) | ~inside).all(axis=1)
    exact_rows, ambiguous_rows = np.nonzero(exact)[0], np.nonzero(~exact)[0]
    table_groups = _table_groups(motif_set, width, block_size) if len(exact_rows) else []
    matmul_groups = _width_groups(motif_set, width) if len(ambiguous_rows) else []
    hits = np.zeros((n_windows, n_motifs), dtype=bool)
    best_all = np.full((n_windows, n_motifs), -np.inf, np.float32) if return_scores else None
    site_parts = []
    codes_t = torch.from_numpy(codes)
    lengths_t = torch.from_numpy(lengths)
    jobs = [(exact_rows[i:i + chunk_size], True) for i in range(0, len(exact_rows), chunk_size)]
    jobs += [(ambiguous_rows[i:i + chunk_size], False)
             for i in range(0, len(ambiguous_rows), chunk_size)]

    def scan_chunk(job) -> int:
        rows, use_table = job
        chunk = codes_t[torch.from_numpy(rows)]
        chunk_lengths = lengths_t[torch.from_numpy(rows)]
        short = chunk_lengths if bool((chunk_lengths < width).any()) else None
        if use_table:
            x, groups, scan = _kmer_index(chunk), table_groups, _scan_table
        else:
            x, groups, scan = _CODE_TO_ACG[chunk.long()], matmul_groups, _scan_matmul
        parts = []
        for group in groups:
            best, hit, offset, minus = scan(x, short, group)
            index = group.motif_index
            hits[np.ix_(rows, index)] = hit.numpy()  # chunks write disjoint rows
            if return_scores:
                best_all[np.ix_(rows, index)] = best.numpy()
            if len(offset):
                r, c = torch.nonzero(hit, as_tuple=True)
                parts.append((rows[r.numpy()], index[c.numpy()], best[r, c].numpy(),
                              offset.numpy(), minus.numpy()))
        site_parts.extend(parts)
        return len(rows)

    # Chunks run on `threads` Python threads, each with single-threaded torch operations (they
    # release the GIL): the small operations of a chunk gain little from intra-op threads, and
    # on a busy machine OpenMP's spinning barriers make them many times slower.
    threads = max(1, threads or torch.get_num_threads())
    previous = torch.get_num_threads()
    bar = tqdm(total=n_windows, desc=desc, unit="window", leave=False,
               disable=not progress or None)
    torch.set_num_threads(1)
    try:
        with torch.inference_mode(), ThreadPoolExecutor(threads) as pool:
            for done in pool.map(scan_chunk, jobs):
                bar.update(done)
    finally:
        torch.set_num_threads(previous)
        bar.close()
    if site_parts:
        window, motif, score, offset, minus = (np.concatenate(p) for p in zip(*site_parts))
    else:
        window, motif, offset = (np.zeros(0, np.int64) for _ in range(3))
        score, minus = np.zeros(0, np.float32), np.zeros(0, bool)
    sites = pd.DataFrame({"window": window.astype(np.int64), "motif": motif.astype(np.int64),
                          "score": score.astype(np.float32), "offset": offset.astype(np.int64),
                          "strand": np.where(minus, "-", "+").astype(object)})
    sites = sites.sort_values(["window", "motif"], kind="stable").reset_index(drop=True)
    return ScanResult(hits=hits, sites=sites, best_scores=best_all)


@dataclass
class _TableGroup:
    """Motifs scored by 4-mer table lookups: those needing the same number of lookups.

    For n lookups a motif of width W <= 4n is padded with zero-score columns to 4n; lookup i
    covers columns 4i .. 4i + 3. Row i * 256 + kmer of `table` holds the scores of that k-mer
    in lookup i for all 2k columns (k motifs, then their reverse complements); the last P rows
    add 0 at an offset where the motif fits in a full window and -inf where it does not.
    """

    motif_index: np.ndarray  # (k,)
    table: torch.Tensor  # (n * 256 + P, 2k) float32
    positions: torch.Tensor  # (P, n): window position of lookup i at offset o, o + 4i
    lookup_rows: torch.Tensor  # (n,): i * 256
    mask_rows: torch.Tensor  # (P,): n * 256 + o
    widths: torch.Tensor  # (2k,)
    thresholds: torch.Tensor  # (k,)


def _table_groups(motif_set: MotifSet, window_width: int, block_size: int) -> list[_TableGroup]:
    widths = motif_set.widths
    lookups = -(-widths // KMER)
    kmers = np.array(np.meshgrid(*[range(4)] * KMER, indexing="ij")).reshape(KMER, -1).T
    groups = []
    for n_lookups in np.unique(lookups[widths <= window_width]):
        members = np.nonzero((lookups == n_lookups) & (widths <= window_width))[0]
        for block in range(0, len(members), block_size):
            index = members[block:block + block_size]
            matrices = [motif_set.log_odds[i] for i in index]
            matrices += [reverse_complement_matrix(m) for m in matrices]
            padded = np.zeros((len(matrices), 4, KMER * n_lookups))
            for d, matrix in enumerate(matrices):
                padded[d, :, :matrix.shape[1]] = matrix
            blocks = padded.reshape(len(matrices), 4, n_lookups, KMER)
            # table[i, kmer, d] = sum_t padded[d, base_t(kmer), 4i + t]
            table = sum(np.take(blocks[..., t], kmers[:, t], axis=1) for t in range(KMER))
            # (2k, 256, n) -> rows i * 256 + kmer
            table = table.transpose(2, 1, 0).reshape(n_lookups * 4 ** KMER, len(matrices))
            member_widths = np.concatenate([widths[index], widths[index]])
            n_offsets = window_width - int(member_widths.min()) + 1
            offsets = np.arange(n_offsets)
            mask = np.where(offsets[:, None] > window_width - member_widths[None, :], -np.inf, 0.0)
            groups.append(_TableGroup(
                motif_index=index,
                table=torch.from_numpy(np.concatenate([table, mask]).astype(np.float32)),
                positions=torch.from_numpy(offsets[:, None] + KMER * np.arange(n_lookups)[None]),
                lookup_rows=(torch.arange(n_lookups) * 4 ** KMER).int(),
                mask_rows=(n_lookups * 4 ** KMER + torch.arange(n_offsets)).int(),
                widths=torch.from_numpy(member_widths),
                thresholds=torch.from_numpy(motif_set.thresholds[index].astype(np.float32))))
    return groups


def _kmer_index(codes: torch.Tensor) -> torch.Tensor:
    """(B, w) codes of A/C/G/T (padding read as A) -> (B, w) int32 index of the 4-mer starting at
    each position (bases past the end read as A; only zero-score columns ever see them)."""
    bases = (codes.int() - 1).clamp(min=0)
    bases = torch.nn.functional.pad(bases, (0, KMER - 1))
    index = torch.zeros_like(bases[:, :codes.shape[1]])
    for t in range(KMER):
        index = index * 4 + bases[:, t:t + codes.shape[1]]
    return index


def _scan_table(kmer_index: torch.Tensor, lengths: torch.Tensor | None, group: _TableGroup):
    """Best score of each window for each motif of a table group, and the hit sites.

    kmer_index : (B, w) from `_kmer_index`; lengths : (B,) or None when all windows are full.
    Returns like `_scan_matmul`.
    """
    n = kmer_index.shape[0]
    n_offsets, n_lookups = group.positions.shape
    k = len(group.motif_index)
    index = kmer_index[:, group.positions] + group.lookup_rows  # (B, P, n)
    index = torch.cat([index, group.mask_rows.expand(n, n_offsets)[:, :, None]], dim=2)
    # offsets outermost, so that the max over offsets runs over contiguous slabs
    index = index.transpose(0, 1).reshape(n_offsets * n, n_lookups + 1)
    scores = torch.nn.functional.embedding_bag(index, group.table, mode="sum")
    scores = scores.view(n_offsets, n, 2 * k)
    if lengths is not None:  # offsets whose site runs past the window's last base
        invalid = (torch.arange(n_offsets)[:, None, None]
                   > (lengths[None, :, None] - group.widths[None, None, :]))
        scores = scores.masked_fill(invalid, float("-inf"))
    best = scores.amax(dim=0).view(n, 2, k).amax(dim=1)
    hit = best >= group.thresholds
    rows, cols = torch.nonzero(hit, as_tuple=True)
    if len(rows) == 0:
        return best, hit, torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.bool)
    both = torch.cat([scores[:, rows, cols], scores[:, rows, cols + k]], dim=0)  # (2P, h)
    where = both.argmax(dim=0)  # forward strand wins ties
    return best, hit, where % n_offsets, where >= n_offsets


@dataclass
class _WidthGroup:
    """All motifs of one width W, both strands stacked as the columns of one weight matrix."""

    width: int
    motif_index: np.ndarray  # (k,) positions in the MotifSet
    weight: torch.Tensor  # (3 * W, 2k): [forward motifs | reverse-complement motifs]
    constant: torch.Tensor  # (2k,)
    thresholds: torch.Tensor  # (k,)


def _width_groups(motif_set: MotifSet, window_width: int) -> list[_WidthGroup]:
    widths = motif_set.widths
    groups = []
    for width in np.unique(widths):
        if width > window_width:  # cannot fit in any window: never a hit
            continue
        index = np.nonzero(widths == width)[0]
        matrices = [motif_set.log_odds[i] for i in index]
        matrices += [reverse_complement_matrix(m) for m in matrices]
        stack = np.stack(matrices)  # (2k, 4, W)
        reduced = stack[:, :3, :] - stack[:, 3:4, :]  # A, C, G relative to T
        weight = torch.from_numpy(reduced.reshape(len(stack), -1).T.astype(np.float32).copy())
        constant = torch.from_numpy(stack[:, 3, :].sum(axis=1).astype(np.float32))
        groups.append(_WidthGroup(int(width), index, weight, constant,
                                  torch.from_numpy(motif_set.thresholds[index].astype(np.float32))))
    return groups


def _scan_matmul(x: torch.Tensor, lengths: torch.Tensor | None, group: _WidthGroup):
    """Best score of each window for each motif of one width group, and the hit sites.

    x : (B, w, 3) float32 (A, C, G channels); lengths : (B,) or None when all windows are full.
    Returns best (B, k) float32, hit (B, k) bool, and for the hits (in `torch.nonzero(hit)`
    order) the offset (h,) int64 and strand (h,) bool (True = minus) of the best site.
    """
    n, width, _ = x.shape
    n_offsets = width - group.width + 1
    k = len(group.motif_index)
    # (B, P, 3, W) -> (B * P, 3W): row = one offset of one window, channel-major like the weight.
    unfolded = x.unfold(1, group.width, 1).reshape(n * n_offsets, 3 * group.width)
    scores = (unfolded @ group.weight).view(n, n_offsets, 2 * k) + group.constant
    if lengths is not None:  # offsets whose site runs past the window's last base
        invalid = torch.arange(n_offsets)[None, :] > (lengths[:, None] - group.width)
        scores = scores.masked_fill(invalid[:, :, None], float("-inf"))
    best = scores.amax(dim=1).view(n, 2, k).amax(dim=1)
    hit = best >= group.thresholds
    rows, cols = torch.nonzero(hit, as_tuple=True)
    if len(rows) == 0:
        return best, hit, torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.bool)
    both = torch.cat([scores[rows, :, cols], scores[rows, :, cols + k]], dim=1)  # (h, 2P)
    where = both.argmax(dim=1)  # forward strand wins ties
    return best, hit, where % n_offsets, where >= n_offsets


def encode_windows(sequences: Sequence[str], width: int | None = None,
                   source: str = "windows") -> tuple[np.ndarray, np.ndarray]:
    """Codes (M, w) uint8 of window strings, left-aligned, and their lengths (M,).

    `width` defaults to the longest window; longer windows are an error.
    """
    codes = encode_codes(list(sequences), width, source=source)
    lengths = (codes != PAD_CODE).sum(axis=1).astype(np.int64)
    # encode_codes centres a short sequence; the scanner wants it at column 0
    lead = np.argmax(codes != PAD_CODE, axis=1)
    for row in np.nonzero((lead > 0) & (lengths > 0))[0]:
        codes[row] = np.roll(codes[row], -lead[row])
    return codes, lengths


def site_sequences(codes: np.ndarray, sites: pd.DataFrame, widths: np.ndarray) -> list[str]:
    """The bases of each hit site, read on the motif's strand (reverse complement for '-')."""
    from ..data.encoding import LETTERS, reverse_complement

    letters = np.array(["-"] + list(LETTERS))
    out = []
    for window, motif, offset, strand in zip(sites["window"], sites["motif"], sites["offset"],
                                             sites["strand"]):
        text = "".join(letters[codes[window, offset:offset + widths[motif]]])
        out.append(reverse_complement(text) if strand == "-" else text)
    return out


def consensus(probabilities: np.ndarray) -> str:
    """IUPAC-free consensus: the most probable base of each column, lower case when it has
    probability below 0.5 (a weak position)."""
    probabilities = np.asarray(probabilities)
    best = probabilities.argmax(axis=0)
    strong = probabilities.max(axis=0) >= 0.5
    return "".join(("ACGT"[b] if s else "acgt"[b]) for b, s in zip(best, strong))


def _check_background(background) -> np.ndarray:
    b = np.asarray(background, dtype=np.float64)
    if b.shape != (4,) or (b <= 0).any() or abs(b.sum() - 1) > 1e-6:
        raise InputError(f"background base frequencies must be 4 positive values summing to 1 "
                         f"(A, C, G, T), got {b.tolist()}")
    return b
