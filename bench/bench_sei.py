"""Benchmark: Sei feature extraction and FSei training throughput, ours vs the study's approach.

1. Feature extraction with the full Sei (21,907 outputs, 4,000 bp inputs): sequences/s of
   `src.features.extract.extract_rows` (codes per batch, one-hot on the device, inference mode,
   rows written through short-lived memory maps), in fp32 and, on CUDA, with bf16 autocast,
   against the study's Preprocess_data_to_numpy.py (every input one-hot encoded up front as
   float32 tensors, a DataLoader, `torch.no_grad`, outputs gathered in lists, `np.stack` +
   `np.save` at the end; fp32). All run the same model object, so the ratios measure the
   pipeline and bf16.
2. The same two pipelines with a small Sei on more rows, each in its own process: throughput and
   peak resident memory, which grows with the number of rows for the study's approach only.
3. FSei training (full-width trunk + head, 600 bp): samples/s of the project's training step
   (`src.train.loop`: Accelerate-prepared model, the `autocast` helper) in fp32 and, on CUDA, with
   bf16 autocast, against a plain PyTorch loop (fp32); and with the trunk frozen (-p -f).

Without a GPU the bf16 rows are not measured (the CPU computes in fp32): the script says so.
Sizes default to a few rows on the CPU and to GPU-sized batches on CUDA. Weights are random
(speed does not depend on them). Prints a table per part; paste it into bench/RESULTS.md with
the machine line.

    python bench/bench_sei.py [--rows N] [--batch B] [--small-rows 3000] [--train-samples N]
                              [--train-batch B] [--skip-small]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from src.config import FSeiConfig, PreprocessConfig  # noqa: E402
from src.data.encoding import one_hot_encode  # noqa: E402
from src.data.splits import SplitRows  # noqa: E402
from src.demo.sei import demo_target_names  # noqa: E402
from src.features.extract import PreparedData, SplitWriter, extract_rows  # noqa: E402
from src.models.sei import FSei, Sei  # noqa: E402
from src.models.sei_targets import parse_target_names


def random_sequences(n: int, length: int = 600, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(row) for row in np.array(list("ACGT"))[rng.integers(0, 4, (n, length))]]


def random_sei(channels, n_targets: int, device) -> Sei:
    """A Sei with random weights, without the slow default initialisation of 890 M weights."""
    with torch.device("meta"):
        model = Sei(channels, n_targets)
    model = model.to_empty(device=device)
    with torch.no_grad():
        for param in model.parameters():
            param.uniform_(-0.01, 0.01)
    return model.eval()


def prepared(n_rows: int, n_targets: int) -> PreparedData:
    sequences = random_sequences(n_rows)
    rows = SplitRows(headers=np.array([f"s{i}" for i in range(n_rows)], dtype=object),
                     labels=np.arange(n_rows) % 2, source_rows=np.arange(n_rows),
                     is_reverse_complement=np.arange(n_rows) >= n_rows // 2)
    targets = parse_target_names(demo_target_names(n_targets))
    return PreparedData(sequences, {"train": rows}, targets,
                        {s: targets.indices(s) for s in ("ALL", "TF", "HM")}, Path("bench"))


def ours(model, data, folder: Path, length: int, batch: int, device, bf16: bool = False) -> float:
    config = PreprocessConfig(sequence_length=length, batch_size=batch, device=str(device),
                              mixed_precision=bf16)
    start = time.perf_counter()
    writer = SplitWriter.create(folder, "train", data.splits["train"], data.columns)
    extract_rows(model, data, "train", writer, config, device, progress=False)
    writer.finalize({})
    _sync(device)
    return time.perf_counter() - start


def study(model, data, folder: Path, length: int, batch: int, device) -> float:
    """The study's Preprocess_data_to_numpy.py, fp32."""
    from torch.utils.data import DataLoader

    start = time.perf_counter()
    rows = data.splits["train"]
    sequences = [data.sequences[r] for r in rows.source_rows]
    from src.data.encoding import reverse_complement

    sequences = [reverse_complement(s) if rc else s
                 for s, rc in zip(sequences, rows.is_reverse_complement)]
    tensors = [torch.tensor(one_hot_encode([s], length)[0]) for s in sequences]  # all up front
    dataset = list(zip(tensors, torch.as_tensor(rows.labels)))
    loader = DataLoader(dataset, batch_size=batch)
    outputs, targets = [], []
    with torch.no_grad():
        for x, y in loader:
            out = model(x.to(device))
            outputs.extend(out.detach().cpu().numpy())
            targets.extend(y)
    outputs = np.stack(outputs)
    for fset, cols in data.columns.items():
        np.save(folder / f"data_{fset}.npy", outputs[:, cols])
        np.save(folder / f"target_{fset}.npy", np.stack(targets))
    _sync(device)
    return time.perf_counter() - start


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def part_full_sei(args, device) -> list[tuple]:
    model = random_sei((480, 640, 960), 21907, device)
    data = prepared(args.rows, 21907)
    variants = [("study pipeline, fp32", study), ("ours, fp32", ours)]
    if device.type == "cuda":
        variants.append(("ours, bf16", lambda *a: ours(*a, bf16=True)))
    results = []
    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as tmp:
        for k, (name, function) in enumerate(variants):
            folder = Path(tmp) / str(k)
            folder.mkdir()
            function(model, prepared(min(2, args.rows), 21907), folder, 4000, args.batch, device)
            seconds = min(function(model, data, folder, 4000, args.batch, device)
                          for _ in range(args.repeats))
            results.append((name, args.rows / seconds))
    return results


def peak_rss() -> int:
    """Peak resident memory of this process, bytes (VmHWM: unlike ru_maxrss, it does not
    inherit the parent's peak across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def small_probe(variant: str, n_rows: int, folder: str) -> None:
    """Part 2 in a subprocess: prints seconds and peak RSS (bytes)."""
    torch.manual_seed(0)
    model = random_sei((8, 12, 16), 2000, torch.device("cpu"))
    data = prepared(n_rows, 2000)
    function = ours if variant == "ours" else study
    seconds = function(model, data, Path(folder), 4000, 64, torch.device("cpu"))
    print(json.dumps({"seconds": seconds, "rss": peak_rss()}))


def part_small(args) -> list[tuple]:
    results = []
    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as tmp:
        for variant in ("study", "ours"):
            for n in (args.small_rows // 4, args.small_rows):
                folder = Path(tmp) / f"{variant}{n}"
                folder.mkdir()
                done = subprocess.run(
                    [sys.executable, __file__, "--probe", variant, str(n), str(folder)],
                    capture_output=True, text=True, check=True,
                    env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())})
                out = json.loads(done.stdout.strip().splitlines()[-1])
                results.append((variant, n, n / out["seconds"], out["rss"] / 2**20))
    return results


def part_fsei(args, device) -> list[tuple]:
    from accelerate import Accelerator

    from src.train.loop import autocast

    torch.manual_seed(0)
    x = torch.from_numpy(one_hot_encode(random_sequences(args.train_samples)))
    y = torch.arange(args.train_samples) % 2
    batches = [(x[i:i + args.train_batch], y[i:i + args.train_batch])
               for i in range(0, args.train_samples, args.train_batch)]
    results = []

    def plain(model):  # the study's trainer: fp32, plain PyTorch
        model.to(device).train()
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3,
                                    momentum=0.95, weight_decay=0.01)
        for xb, yb in batches:
            loss = torch.nn.functional.cross_entropy(model(xb.to(device)), yb.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    accelerator = Accelerator(cpu=device.type != "cuda", mixed_precision="no")

    def project(model, bf16: bool):  # the step of src.train.loop.fit
        config = FSeiConfig(results_path=str(ROOT / "bench" / "out"), mixed_precision=bf16)
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3,
                                    momentum=0.95, weight_decay=0.01)
        prepared_model, optimizer = accelerator.prepare(model, optimizer)
        prepared_model.train()
        for xb, yb in batches:
            with autocast(accelerator, config):
                loss = torch.nn.functional.cross_entropy(
                    prepared_model(xb.to(accelerator.device)).float(), yb.to(accelerator.device))
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    variants = [("plain PyTorch loop, fp32", plain, False),
                ("ours, fp32", lambda m: project(m, False), False)]
    if device.type == "cuda":
        variants.append(("ours, bf16", lambda m: project(m, True), False))
    variants.append(("ours, trunk frozen, fp32", lambda m: project(m, False), True))
    if device.type == "cuda":
        variants.append(("ours, trunk frozen, bf16", lambda m: project(m, True), True))
    for name, step, freeze in variants:
        torch.manual_seed(0)
        model = FSei(freeze_trunk=freeze)
        step(model)  # warm-up (and the first-call costs)
        best = float("inf")
        for _ in range(args.repeats):  # the fastest pass: the machine may be shared
            _sync(device)
            start = time.perf_counter()
            step(model)
            _sync(device)
            best = min(best, time.perf_counter() - start)
        results.append((name, args.train_samples / best))
    return results


CPU_SIZES = {"rows": 4, "batch": 2, "train_samples": 8, "train_batch": 4}
GPU_SIZES = {"rows": 1024, "batch": 128, "train_samples": 1024, "train_batch": 128}


def bf16_ratios(results: list[tuple], device) -> str:
    """'bf16 / fp32 = r' for each pair of rows that differ only in precision."""
    if device.type != "cuda":
        return ("   no GPU found (CUDA unavailable): bf16 vs fp32 not measured; the CPU computes "
                "in fp32")
    rates = dict(results)
    pairs = [(name, rates[name.replace("bf16", "fp32")]) for name in rates if "bf16" in name]
    return "\n".join(f"   {name}: bf16 / fp32 = {rates[name] / fp32:.2f}" for name, fp32 in pairs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help="rows for the full Sei (part 1; default 4 on "
                                                  "the CPU, 1024 on CUDA)")
    parser.add_argument("--batch", type=int, help="batch size of part 1 (default 2; CUDA 128)")
    parser.add_argument("--small-rows", type=int, default=3000, help="rows for part 2")
    parser.add_argument("--train-samples", type=int,
                        help="FSei samples per pass (default 8; CUDA 1024)")
    parser.add_argument("--train-batch", type=int, help="FSei batch (default 4; CUDA 128)")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes (the fastest counts)")
    parser.add_argument("--skip-small", action="store_true")
    parser.add_argument("--probe", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        small_probe(args.probe[0], int(args.probe[1]), args.probe[2])
        return
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sizes = GPU_SIZES if device.type == "cuda" else CPU_SIZES
    for key, value in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    (ROOT / "bench").mkdir(exist_ok=True)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
          + f", load average {os.getloadavg()[0]:.1f}")

    print(f"\n1. Sei feature extraction, full Sei (21,907 outputs), 4,000 bp, {args.rows} rows, "
          f"batch {args.batch}")
    full = part_full_sei(args, device)
    for name, rate in full:
        print(f"   {name:32s} {rate:10.3f} sequences/s   ratio {rate / full[0][1]:.2f}")
    print(bf16_ratios(full, device))

    if not args.skip_small:
        print("\n2. Small Sei (8-12-16 channels, 2,000 outputs), 4,000 bp, batch 64, CPU, one "
              "process each")
        small = part_small(args)
        for variant, n, rate, rss in small:
            print(f"   {variant:6s} {n:6d} rows  {rate:8.1f} sequences/s  peak RSS {rss:7.0f} MB")
        by = {(v, n): (rate, rss) for v, n, rate, rss in small}
        lo, hi = args.small_rows // 4, args.small_rows
        print(f"   peak RSS growth from {lo} to {hi} rows: study "
              f"{by[('study', hi)][1] - by[('study', lo)][1]:.0f} MB, ours "
              f"{by[('ours', hi)][1] - by[('ours', lo)][1]:.0f} MB; throughput ratio (ours / "
              f"study) at {hi} rows {by[('ours', hi)][0] / by[('study', hi)][0]:.2f}")

    print(f"\n3. FSei training (trunk 480-640-960 + head), 600 bp, batch {args.train_batch}, "
          f"{args.train_samples} samples per pass")
    fsei = part_fsei(args, device)
    for name, rate in fsei:
        print(f"   {name:32s} {rate:10.2f} samples/s   ratio {rate / fsei[0][1]:.2f}")
    print(bf16_ratios(fsei, device))


if __name__ == "__main__":
    main()
