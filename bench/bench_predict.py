"""Benchmark: Predict.py on introns from a genome, and on variants, against a per-record loop.

Writes to bench/out/predict/: a random genome (5 chromosomes of 4 Mb), a BED of 100,000 introns
(300-3,000 bp, either strand, sorted), a ConvNet checkpoint with the demo's architecture
(json/demo/ConvNet.json, 600 bp input; random weights: the speed does not depend on them) and a
VCF of SNVs inside the windows of the first 10,000 introns. Then, each in its own process:

* Predict.py --bed --genome on the first 10,000 and on all 100,000 introns (CPU): wall time,
  introns/s and the process's peak resident memory (it should not grow with the number of
  introns: the BED, the genome and the table are streamed);
* Predict.py --vcf on the SNVs: variants/s;
* the straightforward per-record loop on the first `--loop` introns: for each intron, fetch its
  window with pyfaidx, reverse-complement it on '-', encode it, and run the model on it and on
  its reverse complement one at a time; introns/s, and the ratio of Predict.py's rate to it.

    python bench/bench_predict.py [--sizes 10000 100000] [--variants 20000] [--loop 1000]
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
OUT = ROOT / "bench" / "out" / "predict"
CHROMOSOMES = 5
CHROMOSOME_LENGTH = 4_000_000
WINDOW = 600


def write_inputs(sizes: list[int], n_variants: int) -> Path:
    """genome.fa, introns_<size>.bed (the first `size` introns of one sorted BED), a VCF of SNVs
    in the windows of the smallest BED and the ConvNet checkpoint (kept between runs); returns
    the VCF."""
    n_introns, smallest = max(sizes), min(sizes)
    sys.path.insert(0, str(ROOT))
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"ACGT", dtype="S1")
    genome = OUT / "genome.fa"
    if not genome.is_file():
        with open(genome, "wb") as out:
            for c in range(CHROMOSOMES):
                bases = letters[rng.integers(0, 4, CHROMOSOME_LENGTH)].tobytes()
                out.write(f">chr{c + 1}\n".encode())
                out.write(b"\n".join(bases[i:i + 60] for i in range(0, len(bases), 60)) + b"\n")
    bed = OUT / f"introns_{n_introns}.bed"
    if not bed.is_file():
        rng = np.random.default_rng(1)
        chrom = rng.integers(1, CHROMOSOMES + 1, n_introns)
        start = rng.integers(WINDOW, CHROMOSOME_LENGTH - 4000, n_introns)
        length = rng.integers(300, 3001, n_introns)
        strand = np.where(rng.random(n_introns) < 0.5, "+", "-")
        order = np.lexsort((start, chrom))
        with open(bed, "w") as out:
            for k, i in enumerate(order):
                out.write(f"chr{chrom[i]}\t{start[i]}\t{start[i] + length[i]}\tintron_{k}\t0\t"
                          f"{strand[i]}\n")
    for size in sizes:
        head = OUT / f"introns_{size}.bed"
        if not head.is_file():
            with open(bed) as source, open(head, "w") as out:
                for _, line in zip(range(size), source):
                    out.write(line)
    vcf = OUT / f"variants_{n_variants}_in_{smallest}.vcf"
    if not vcf.is_file():
        import pyfaidx

        from src.predict.genome import window_bounds

        rng = np.random.default_rng(2)
        lines = (OUT / f"introns_{smallest}.bed").read_text().splitlines()
        fasta = pyfaidx.Fasta(str(genome), sequence_always_upper=True)
        records = set()
        while len(records) < n_variants:
            chrom, start, end, _, _, strand = lines[int(rng.integers(len(lines)))].split("\t")
            ws, we = window_bounds(int(start), int(end), strand, WINDOW)
            position = int(rng.integers(ws, we))
            ref = str(fasta[chrom][position:position + 1])
            alt = "ACGT"[("ACGT".index(ref) + int(rng.integers(1, 4))) % 4]
            records.add((int(chrom[3:]), position + 1, ref, alt))
        with open(vcf, "w") as out:
            out.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
            for c, pos, ref, alt in sorted(records):
                out.write(f"chr{c}\t{pos}\t.\t{ref}\t{alt}\t.\t.\t.\n")
        fasta.close()
    run_dir = OUT / "ConvNet_bench"
    if (run_dir / "best.pt").is_file():
        return vcf
    import torch

    from src.models import build_model
    from src.train.checkpoints import save_checkpoint

    config = json.loads((ROOT / "json" / "demo" / "ConvNet.json").read_text())
    architecture = {**config["model_architecture"], "sequence_length": WINDOW}
    torch.manual_seed(0)
    run_dir.mkdir(exist_ok=True)
    save_checkpoint(run_dir / "best.pt", build_model("ConvNet", architecture),
                    {**config, "sequence_length": WINDOW})
    return vcf


def child_predict(argv: list[str]) -> dict:
    """Predict.main in this process; wall time and peak resident memory."""
    sys.path.insert(0, str(ROOT))
    import Predict

    start = time.perf_counter()
    try:
        Predict.main(argv)
    except SystemExit as stop:
        if stop.code:
            raise
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_mb": resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1024}


def child_loop(n: int, bed: str) -> dict:
    """The per-record loop: fetch, encode and predict one intron (and its reverse complement)
    at a time."""
    sys.path.insert(0, str(ROOT))
    import pyfaidx
    import torch

    from src.data.encoding import codes_to_one_hot, encode_codes, reverse_complement
    from src.predict.genome import window_bounds
    from src.train.checkpoints import load_model

    model, _ = load_model(OUT / "ConvNet_bench" / "best.pt")
    model.eval()
    fasta = pyfaidx.Fasta(str(OUT / "genome.fa"), sequence_always_upper=True)
    lines = Path(bed).read_text().splitlines()[:n]
    start = time.perf_counter()
    total = 0.0
    with torch.inference_mode():
        for line in lines:
            chrom, s, e, _, _, strand = line.split("\t")
            ws, we = window_bounds(int(s), int(e), strand, WINDOW)
            sequence = str(fasta[chrom][ws:we])
            if strand == "-":
                sequence = reverse_complement(sequence)
            for text in (sequence, reverse_complement(sequence)):
                x = codes_to_one_hot(torch.from_numpy(encode_codes([text], WINDOW)))
                total += float(model(x).softmax(dim=1)[0, 1])
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "introns": n, "check": total}


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if sys.argv[1:2] == ["--child"]:  # one measurement, in a process of its own
        kind, *rest = sys.argv[2:]
        result = child_loop(int(rest[0]), rest[1]) if kind == "loop" else child_predict(rest)
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--variants", type=int, default=20_000)
    parser.add_argument("--loop", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    import torch

    vcf = write_inputs(args.sizes, args.variants)
    smallest = OUT / f"introns_{min(args.sizes)}.bed"
    print(f"Predict.py, ConvNet (json/demo/ConvNet.json, {WINDOW} bp, both strands), CPU, "
          f"{torch.get_num_threads()} torch threads, batch {args.batch}; "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    model = str(OUT / "ConvNet_bench")
    common = ["-m", model, "--genome", str(OUT / "genome.fa"), "--force", "--no-progress",
              "--device", "cpu", "--batch-size", str(args.batch)]
    results = {}
    for size in args.sizes:
        r = run_child("predict", *common, "--bed", str(OUT / f"introns_{size}.bed"), "--out",
                      str(OUT / f"run_{size}"))
        r["per_s"] = size / r["seconds"]
        results[f"introns_{size}"] = r
        print(f"{size:>8,} introns: {r['seconds']:8.1f} s  {r['per_s']:8.0f} introns/s  peak "
              f"memory {r['peak_rss_mb']:6.0f} MB")
    r = run_child("predict", *common, "--bed", str(smallest), "--vcf", str(vcf), "--out",
                  str(OUT / "run_vcf"))
    rows = sum(1 for _ in open(OUT / "run_vcf" / "variant_effects.tsv")) - 1
    r["per_s"] = rows / r["seconds"]
    results["variants"] = {**r, "rows": rows}
    print(f"{rows:>8,} variant rows ({args.variants:,} SNVs in {min(args.sizes):,} introns): "
          f"{r['seconds']:.1f} s  {r['per_s']:.0f} variants/s  peak memory "
          f"{r['peak_rss_mb']:.0f} MB")
    loop = run_child("loop", str(args.loop), str(smallest))
    loop["per_s"] = loop["introns"] / loop["seconds"]
    results["loop"] = loop
    best = max(results[f"introns_{s}"]["per_s"] for s in args.sizes)
    print(f"per-record loop ({args.loop:,} introns): {loop['seconds']:.1f} s  "
          f"{loop['per_s']:.0f} introns/s;  Predict.py / loop: {best / loop['per_s']:.1f}x")
    sizes = [results[f"introns_{s}"]["peak_rss_mb"] for s in args.sizes]
    print(f"peak memory {min(args.sizes):,} -> {max(args.sizes):,} introns: {sizes[0]:.0f} -> "
          f"{sizes[-1]:.0f} MB ({sizes[-1] / sizes[0]:.2f}x)")
    (OUT / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
