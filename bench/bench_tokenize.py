"""Benchmark: tokenising the training split for DNABERT-2, batched once vs per item.

The study's training split (60,000 sequences of 600 bp, each also reverse-complemented: 120,000
token rows) is tokenised two ways in the same run, with a BPE tokenizer of DNABERT-2's vocabulary
size (4,096) trained here on random DNA (no download), max_length 150 as in the study:

* project: `src.data.tokens.tokenize`, what `build_tokenized_datasets` does once per dataset: one
  batched call of the fast tokenizer per 8,192 sequences into compact arrays. A training epoch
  then only reads rows; that reading is timed too (every item once, through `__getitem__`);
* reference: one tokenizer call per item, as a dataset that tokenises in `__getitem__` does in
  every epoch (the study's `lazyLoad` path), timed on a subsample and extrapolated linearly.

    python bench/bench_tokenize.py [--n 60000] [--length 600] [--reference-n 2000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from src.data.encoding import ALPHABET, reverse_complement  # noqa: E402
from src.data.tokens import TokenizedDataset, load_tokenizer, tokenize  # noqa: E402
from src.demo.dnabert2 import make_tiny_model  # noqa: E402


def random_sequences(n: int, length: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    letters = np.array(list(ALPHABET))[rng.integers(0, 4, size=(n, length))]
    return letters.view(f"<U{length}").ravel().tolist()


def per_item(tokenizer, sequences, max_length):
    """What a dataset that tokenises in __getitem__ does for each item, each epoch."""
    for sequence in sequences:
        tokenizer(sequence.upper(), padding="max_length", truncation=True, max_length=max_length,
                  return_tensors="pt")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=60_000, help="training sequences")
    parser.add_argument("--length", type=int, default=600, help="bp per sequence")
    parser.add_argument("--max-length", type=int, default=150, help="tokens per sequence")
    parser.add_argument("--reference-n", type=int, default=2_000,
                        help="items tokenised one by one (extrapolated to all)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = make_tiny_model(Path(tmp) / "bpe4096", random_sequences(2_000, args.length, 9),
                                 vocab_size=4096, hidden_size=8, num_hidden_layers=1,
                                 num_attention_heads=1, intermediate_size=8)
        tokenizer = load_tokenizer(folder)
    sequences = random_sequences(args.n, args.length)
    texts = sequences + [reverse_complement(s) for s in sequences]
    labels = np.zeros(len(texts), dtype=np.int64)
    headers = np.array([f"s{i}" for i in range(len(texts))], dtype=object)

    start = time.perf_counter()
    batch = tokenize(tokenizer, texts, args.max_length)
    inputs, n_truncated = batch.inputs(), batch.n_truncated
    dataset = TokenizedDataset(inputs, labels, headers, n_truncated)
    project_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    read_s = time.perf_counter() - start

    subsample = texts[: args.reference_n]
    start = time.perf_counter()
    per_item(tokenizer, subsample, args.max_length)
    reference_s = (time.perf_counter() - start) * len(texts) / len(subsample)

    tokens = int(inputs["attention_mask"].sum())
    print(f"{len(texts):,} sequences of {args.length} bp ({args.n:,} + reverse complements), "
          f"max_length {args.max_length}: {tokens / len(texts):.1f} tokens per sequence, "
          f"{n_truncated:,} truncated")
    print(f"project, batched once:            {project_s:8.2f} s")
    print(f"project, reading every item:      {read_s:8.2f} s per epoch")
    print(f"reference, one call per item:     {reference_s:8.2f} s per epoch "
          f"(extrapolated from {len(subsample):,})")
    print(f"speed-up of tokenisation, one epoch: {reference_s / project_s:.1f}x; "
          f"over 20 epochs: {20 * reference_s / (project_s + 20 * read_s):.1f}x")


if __name__ == "__main__":
    main()
