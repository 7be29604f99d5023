"""De novo motif discovery (`Attribute.py -s`, src.interpret.denovo): time and peak memory.

    python bench/bench_denovo.py demo RESULT [OUT]       TF-MoDISco + TOMTOM (JASPAR 2024) on the
        attribution maps that `Attribute.py -i` saved in RESULT (e.g. the demo FSei run's IG/);
        outputs in OUT (default bench/out/denovo_demo), the result folder is left as it is
    python bench/bench_denovo.py synthetic N [L] [--max-seqlets K]
        N sequences x L bp (600) of random bases, 22% IR, each with one planted motif (ZNF143 or
        REST in IR, SRF or HNF4A in non-IR) and IG maps that mark it, written like a saved -i
        result (memory-mapped .npy, `src.interpret.maps.MapsWriter`) and read back memory-mapped;
        K: `max_seqlets_per_metacluster` (default 5000)

Prints the time of each part and the peak RSS of this process and of the largest forked worker.
Run twice: the first run of a fresh machine includes numba's compile (then cached on disk).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from src.config import DenovoConfig  # noqa: E402
from src.interpret import denovo, maps  # noqa: E402


def peak_mb() -> tuple[float, float]:
    """Peak RSS (MB) of this process and of the largest waited-for child (Linux: kB units)."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def synthetic_maps(n: int, length: int, out: Path, seed: int = 0) -> None:
    """22% IR (ZNF143 / REST sites), 78% non-IR (SRF / HNF4A), one site per sequence; gradients
    = the motif's log-odds at the site plus N(0, 0.05) elsewhere; IG = (x - 0.25) * gradients.
    Written 1,000 rows at a time through `maps.MapsWriter`."""
    from src.interpret.motifs import load_jaspar

    by_id = {m.matrix_id: m for m in load_jaspar("JASPAR2024")}
    planted = {1: [by_id["MA0088.2"], by_id["MA0138.3"]],
               0: [by_id["MA0083.3"], by_id["MA1494.2"]]}
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.22).astype(np.int64)  # the study's IR fraction
    writer = maps.MapsWriter(out, n, length)
    for begin in range(0, n, 1000):
        part = np.arange(begin, min(n, begin + 1000))
        bases = rng.integers(0, 4, size=(len(part), length))
        grads = rng.normal(0, 0.05, size=(len(part), 4, length)).astype(np.float32)
        for i, row in enumerate(part):
            motif = planted[labels[row]][rng.integers(2)]
            w = motif.width
            s = int(rng.integers(40, length - w - 40))
            instance = np.array([rng.choice(4, p=c) for c in motif.probabilities.T])
            log_odds = np.log2((motif.probabilities + 0.01) / 0.25)
            if rng.random() < 0.5:
                instance, log_odds = 3 - instance[::-1], log_odds[::-1, ::-1]
            bases[i, s:s + w] = instance
            grads[i, :, s:s + w] += log_odds
        one_hot = np.eye(4, dtype=np.float32)[bases].transpose(0, 2, 1)
        writer.write(begin, (bases + 1).astype(np.uint8),  # A C G T are codes 1..4
                     (one_hot - 0.25) * grads)
    table = pd.DataFrame({"header": [f"s{i}" for i in range(n)], "label": labels,
                          "reverse_complement": False, "seq_start": 0, "seq_end": length})
    writer.close(table, {"per_base": True, "attribution": "synthetic", "baseline": maps.BASELINE,
                         "background": [0.25] * 4})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    demo = sub.add_parser("demo")
    demo.add_argument("result", type=Path)
    demo.add_argument("out", type=Path, nargs="?", default=ROOT / "bench" / "out" / "denovo_demo")
    synthetic = sub.add_parser("synthetic")
    synthetic.add_argument("n", type=int)
    synthetic.add_argument("length", type=int, nargs="?", default=600)
    for p in (demo, synthetic):
        p.add_argument("--max-seqlets", type=int, default=DenovoConfig().max_seqlets_per_metacluster)
    args = parser.parse_args(argv)
    from src.interpret.motifs import load_jaspar

    settings = DenovoConfig(max_seqlets_per_metacluster=args.max_seqlets)
    if args.mode == "demo":
        source, out = args.result, args.out
    else:
        source = out = ROOT / "bench" / "out" / f"denovo_{args.n}x{args.length}"
        if not maps.is_complete(source):
            start = time.perf_counter()
            synthetic_maps(args.n, args.length, source)
            print(f"synthetic maps {args.n} x {args.length}: {time.perf_counter() - start:.1f} s")
    motifs = load_jaspar("JASPAR2024")
    saved = maps.load_attribution_maps(source)
    print(f"before de novo: peak RSS {peak_mb()[0]:.0f} MB")
    start = time.perf_counter()
    result = denovo.run_denovo(saved, motifs, out, settings, database="jaspar2024")
    seconds = time.perf_counter() - start
    self_mb, child_mb = peak_mb()
    print(f"{len(saved)} sequences x {saved.codes.shape[1]} bp, at most {args.max_seqlets} "
          f"seqlets per metacluster: de novo {seconds:.1f} s "
          f"({', '.join(f'{k} {v:.1f} s' for k, v in result.timings.items())}); peak RSS "
          f"{self_mb:.0f} MB (this process), {child_mb:.0f} MB (largest worker)")
    print(result.table[["pattern", "seqlets", "consensus", "best_match", "best_match_id",
                        "best_q"]].to_string())


if __name__ == "__main__":
    main()
