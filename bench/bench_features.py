"""Benchmark: reading Sei feature rows for LR training, ours vs the study's approach.

The study's LR loaded every split fully with `np.load` and served rows one at a time from a
tensor (`Dataset.__getitem__` + default collate). `src.features.FeatureDataset` reads a whole
batch with one sorted fancy index, from a memory-mapped file (`lazy_loading: true`) or from
memory. This script writes an (N, 21,907) float32 file (the ALL feature set; N = 6,000 by
default, 0.5 GB) to bench/out/, then runs each variant in its own process and reports its set-up
time, the fastest of three shuffled epochs (batch 512) and the process's largest anonymous
(not file-backed) memory, with ratios against the reference measured in the same run. The file is in the page cache for every variant
(just written), so the times compare the code, not the disk.

    python bench/bench_features.py [--rows 6000] [--features 21907] [--batch 512]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("reference", "ours_in_memory", "ours_memory_mapped")
EPOCHS = 3  # the fastest of three epochs is reported (the machine may be shared)


def write_file(path: Path, rows: int, features: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and np.load(path, mmap_mode="r").shape == (rows, features):
        return
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, features))
    rng = np.random.default_rng(0)
    for start in range(0, rows, 1000):
        out[start:start + 1000] = rng.random((min(1000, rows - start), features), np.float32)
    out.flush()
    del out


def run_variant(variant: str, path: Path, batch: int) -> dict:
    """One epoch in this process (called as a subprocess); prints a JSON line."""
    sys.path.insert(0, str(ROOT))
    import torch
    from torch.utils.data import DataLoader, Dataset

    torch.set_num_threads(1)
    labels = np.arange(np.load(path, mmap_mode="r").shape[0]) % 2
    start = time.perf_counter()
    if variant == "reference":
        class StudyDataset(Dataset):  # the study's datasetLR: whole array as a tensor
            def __init__(self, data, target):
                self.data, self.target = torch.from_numpy(data), torch.from_numpy(target)

            def __len__(self):
                return len(self.data)

            def __getitem__(self, index):
                return self.data[index], self.target[index]

        dataset = StudyDataset(np.load(path), labels)
    else:
        from src.features.files import (
            FeatureDataset,
            FeatureFiles,
            FeatureSplit,
            check_finite,
        )

        data = np.load(path, mmap_mode="r")
        if variant == "ours_in_memory":
            memory = np.empty(data.shape, np.float32)
            check_finite(data, path, out=memory)
            data = memory
        else:
            check_finite(data, path)
        files = FeatureFiles("train", path, path, path, None, "", "")
        dataset = FeatureDataset(FeatureSplit("train", data, labels, np.arange(len(labels)),
                                              [], files))
    setup = time.perf_counter() - start
    anon_mb = [anonymous_memory_mb()]
    loader = DataLoader(dataset, batch_size=batch, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    epochs = []
    for _ in range(EPOCHS):
        start = time.perf_counter()
        total = 0.0
        for batch_rows in loader:
            total += float(batch_rows[0].sum(dim=0)[0])  # touch the batch
        epochs.append(time.perf_counter() - start)
        anon_mb.append(anonymous_memory_mb())
    return {"variant": variant, "setup_s": setup, "epoch_s": min(epochs),
            "anon_mb": max(anon_mb), "check": total}


def anonymous_memory_mb() -> float:
    """Resident memory that is not file-backed (a memory map's pages are the page cache's and
    the kernel can drop them; an array read into memory is anonymous)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--features", type=int, default=21907)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, Path(args.path), args.batch)))
        return
    path = ROOT / "bench" / "out" / f"features_{args.rows}x{args.features}.npy"
    write_file(path, args.rows, args.features)
    size_mb = args.rows * args.features * 4 / 2**20
    print(f"{args.rows:,} rows x {args.features:,} float32 features ({size_mb:,.0f} MB), batch "
          f"{args.batch}; {platform.processor() or platform.machine()}, Python "
          f"{platform.python_version()}, 1 torch thread")
    results = {}
    for variant in VARIANTS:
        out = subprocess.run([sys.executable, __file__, "--variant", variant, "--path", str(path),
                              "--batch", str(args.batch)], capture_output=True, text=True,
                             check=True)
        results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    reference = results["reference"]
    print(f"{'variant':<20} {'set-up s':>9} {'epoch s':>8} {'anon. MB':>9}   speed-up  "
          f"memory ratio (reference / variant)")
    for variant, r in results.items():
        print(f"{variant:<20} {r['setup_s']:9.2f} {r['epoch_s']:8.2f} {r['anon_mb']:9.0f}  "
              f"{reference['epoch_s'] / r['epoch_s']:9.2f}  {reference['anon_mb'] / r['anon_mb']:9.2f}")
    checks = {round(r["check"], 1) for r in results.values()}
    if len(checks) != 1:
        raise SystemExit(f"variants read different data: {checks}")


if __name__ == "__main__":
    main()
