"""Benchmark: motif scanning of hot-spot windows, batched scanner vs a per-pair reference.

100,000 random windows of 32 bp (intron-like base composition) against every JASPAR CORE
vertebrate motif: `/work/shared/reference/jaspar.meme.txt` (949 motifs, the study's database) when
that file exists, else JASPAR 2024 from pyjaspar (879 motifs). Both strands, hit = best score >=
0.8 x the motif's best attainable log-odds score.

The reference is the straightforward approach: for each window and each motif, a 2-D
cross-correlation (scipy.signal.correlate2d) of the one-hot window with the log-odds matrix and
with its reverse complement, then the maximum. It is timed on a subsample of windows in the same
run and extrapolated to all windows; the two must agree on the subsample.

    python bench/bench_scanning.py [--windows 100000] [--sample 200] [--database jaspar2024]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.signal import correlate2d

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from src.data.encoding import CODE_TO_ONE_HOT  # noqa: E402
from src.interpret.motifs import load_motifs  # noqa: E402
from src.interpret.scanning import (  # noqa: E402
    prepare_motifs,
    reverse_complement_matrix,
    scan_windows,
)

REFERENCE_MEME = ROOT.parent / "shared" / "reference" / "jaspar.meme.txt"
BACKGROUND = (0.28, 0.22, 0.22, 0.28)


def reference_scan(codes: np.ndarray, log_odds: list[np.ndarray], thresholds: np.ndarray):
    """Per window, per motif: correlate2d on both strands; returns best (M, K) and hits."""
    best = np.full((len(codes), len(log_odds)), -np.inf)
    reverse = [reverse_complement_matrix(lo) for lo in log_odds]
    for m, row in enumerate(codes):
        one_hot = CODE_TO_ONE_HOT[row].T.astype(np.float64)  # (4, w)
        for k, (forward, rc) in enumerate(zip(log_odds, reverse)):
            best[m, k] = max(correlate2d(one_hot, forward, mode="valid").max(),
                             correlate2d(one_hot, rc, mode="valid").max())
    return best, best >= thresholds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=100_000, help="windows to scan")
    parser.add_argument("--width", type=int, default=32, help="window width (bp)")
    parser.add_argument("--sample", type=int, default=200,
                        help="windows the per-pair reference scans (then extrapolated)")
    parser.add_argument("--database", default=None,
                        help="a MEME file or jaspar2024; default the reference jaspar.meme.txt "
                             "when present, else jaspar2024")
    args = parser.parse_args(argv)

    source = args.database or (str(REFERENCE_MEME) if REFERENCE_MEME.is_file() else "jaspar2024")
    motifs = [m for m in load_motifs(source) if m.width <= args.width]
    motif_set = prepare_motifs(motifs, BACKGROUND)
    rng = np.random.default_rng(0)
    codes = (rng.choice(4, size=(args.windows, args.width), p=BACKGROUND) + 1).astype(np.uint8)
    pairs = args.windows * len(motifs)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s), "
          f"torch {torch.__version__} with {torch.get_num_threads()} thread(s)")
    print(f"motifs: {len(motifs)} from {source} (those <= {args.width} bp); windows: "
          f"{args.windows:,} x {args.width} bp; {pairs:,} window-motif pairs, both strands")

    start = time.perf_counter()
    result = scan_windows(codes, None, motif_set, return_scores=True, progress=False)
    batched = time.perf_counter() - start
    print(f"batched scanner: {batched:.2f} s ({pairs / batched:,.0f} pairs/s), "
          f"{int(result.hits.sum()):,} hits")

    sample = codes[:args.sample]
    start = time.perf_counter()
    best, hits = reference_scan(sample, motif_set.log_odds, motif_set.thresholds)
    measured = time.perf_counter() - start
    rate = args.sample * len(motifs) / measured
    extrapolated = pairs / rate
    print(f"per-pair reference (correlate2d): {measured:.2f} s for {args.sample} windows "
          f"({rate:,.0f} pairs/s) -> {extrapolated:,.0f} s ({extrapolated / 60:.1f} min) for "
          f"all {args.windows:,} windows (extrapolated)")

    scores = result.best_scores[:args.sample].astype(np.float64)
    error = np.abs(scores - best).max()
    clear = np.abs(best - motif_set.thresholds) > 1e-4
    agree = (result.hits[:args.sample] == hits)[clear].all()
    print(f"agreement on the sample: max score difference {error:.1e} bits, hits identical: "
          f"{agree}")
    print(f"speed-up: {extrapolated / batched:,.0f}x")
    if error > 1e-3 or not agree:
        sys.exit("the batched scanner disagrees with the reference")


if __name__ == "__main__":
    main()
