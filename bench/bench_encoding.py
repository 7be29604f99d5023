"""Benchmark: one-hot encoding + dataset construction with reverse-complement augmentation.

The study's training split (60,000 sequences of 600 bp, every sequence also reverse-complemented)
is built two ways in the same run:

* project: `src.data.datasets.build_sequence_datasets`'s path — one byte-table lookup over all sequences
  (`encode_codes`), the reverse complements as a vectorised flip of the codes, an in-memory
  `OneHotDataset`; also timed with every one-hot matrix materialised (float32) as a training epoch
  would read them;
* reference: a per-base Python encoder and per-row DataFrame appends of the reverse complements (the
  straightforward approach), timed on a subsample and extrapolated linearly. Appends to a growing
  DataFrame get slower with its size, so the linear extrapolation flatters the reference.

    python bench/bench_encoding.py [--n 60000] [--length 600] [--reference-n 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from src.data.datasets import OneHotDataset  # noqa: E402
from src.data.encoding import (
    ALPHABET,
    IUPAC_BASES,
    IUPAC_COMPLEMENT,
    codes_to_one_hot,
    encode_codes,  # noqa: E402
    reverse_complement_codes,
)


def random_sequences(n: int, length: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    letters = np.array(list(ALPHABET))[rng.integers(0, 4, size=(n, length))]
    return letters.view(f"<U{length}").ravel().tolist()


def project(sequences, labels, length, materialise=False):
    codes = encode_codes(sequences, length)
    rc = labels >= 0  # targets_for_reverse_complement = [0, 1]: every row
    all_codes = np.concatenate([codes, reverse_complement_codes(codes[rc])])
    headers = np.array([f"s{i}" for i in range(len(sequences))], dtype=object)
    dataset = OneHotDataset(all_codes, np.concatenate([labels, labels[rc]]),
                            np.concatenate([headers, headers[rc] + "_r"]))
    if materialise:  # every one-hot matrix, as an epoch reads them (in chunks)
        for start in range(0, len(dataset), 4096):
            codes_to_one_hot(dataset.codes[start:start + 4096])
    return dataset


def per_base_one_hot(sequence: str, length: int) -> np.ndarray:
    out = np.zeros((4, length), dtype=np.float32)
    start = (length - len(sequence)) // 2
    for position, letter in enumerate(sequence.upper()):
        bases = IUPAC_BASES[letter]
        for base in bases:
            out[ALPHABET.index(base), start + position] = 1.0 / len(bases)
    return out


def reference(sequences, labels, length):
    frame = pd.DataFrame({"header": [f"s{i}" for i in range(len(sequences))],
                          "sequence": sequences, "label": labels})
    for _, row in frame.loc[frame.label.isin([0, 1])].iterrows():
        rc = "".join(IUPAC_COMPLEMENT[c] for c in reversed(row.sequence))
        frame.loc[len(frame.index)] = [row.header + "_r", rc, row.label]
    return [per_base_one_hot(s, length) for s in frame["sequence"]]


def timed(function, *args, **kwargs) -> float:
    start = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=60_000)
    parser.add_argument("--length", type=int, default=600)
    parser.add_argument("--reference-n", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    sequences = random_sequences(args.n, args.length)
    labels = (np.arange(args.n) % 5 == 0).astype(np.int64)
    # correctness first: both paths give the same one-hot matrices
    check = project(sequences[:50], labels[:50], args.length)
    expected = reference(sequences[:50], labels[:50], args.length)
    assert all(np.array_equal(check[i][0].numpy(), expected[i]) for i in range(100))

    ours = min(timed(project, sequences, labels, args.length) for _ in range(args.repeats))
    ours_full = min(timed(project, sequences, labels, args.length, materialise=True)
                    for _ in range(args.repeats))
    sub = args.reference_n
    ref_sub = timed(reference, sequences[:sub], labels[:sub], args.length)
    ref = ref_sub * args.n / sub

    print(f"{args.n:,} sequences of {args.length} bp, each also reverse-complemented "
          f"({2 * args.n:,} items)")
    print(f"reference (per-base encoder + per-row DataFrame appends): {ref_sub:.2f} s for "
          f"{sub:,} sequences -> {ref:.1f} s extrapolated ({sub / ref_sub:,.0f} sequences/s)")
    print(f"project, dataset construction:               {ours:.3f} s "
          f"({args.n / ours:,.0f} sequences/s)  ratio {ref / ours:,.0f}x")
    print(f"project, construction + every one-hot read:  {ours_full:.3f} s "
          f"({args.n / ours_full:,.0f} sequences/s)  ratio {ref / ours_full:,.0f}x")


if __name__ == "__main__":
    main()
