"""Tokenised DNA for language models (DNABERT-2): sequences tokenised once per split, in batches.

Sequences are upper-cased, padded on the right to `max_length` tokens with attention masks; longer
ones are truncated and counted (a warning names how many).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..runs import console_logger
from .encoding import reverse_complement
from .sequences import DATA_FILE, check_sequences, read_sequence_table
from .splits import SPLITS, augment_rows, load_split_indices

TOKENIZE_CHUNK = 8192  # sequences per tokenizer call: batched, with a bounded overflow buffer

log = console_logger("ir_sei.tokens")


def tokenize_sequences(tokenizer, sequences: Sequence[str], max_length: int,
                       chunk: int = TOKENIZE_CHUNK, desc: str = "tokenising"
                       ) -> tuple[dict[str, np.ndarray], int]:
    """Tokenise DNA strings in batches: padded/truncated to `max_length`, with attention masks.

    Sequences are upper-cased first (DNA tokenizers know upper-case letters only).

    Returns
    -------
    inputs : dict name -> np.ndarray (M, max_length): input_ids int32, attention_mask uint8,
        and token_type_ids uint8 when the tokenizer makes them
    n_truncated : int, sequences longer than `max_length` tokens (cut on the right)
    """
    n = len(sequences)
    names = [name for name in tokenizer.model_input_names
             if name in ("input_ids", "attention_mask", "token_type_ids")]
    dtypes = {"input_ids": np.int32, "attention_mask": np.uint8, "token_type_ids": np.uint8}
    inputs = {name: np.zeros((n, max_length), dtype=dtypes[name]) for name in names}
    n_truncated = 0
    starts = range(0, n, chunk)
    for start in tqdm(starts, desc=desc, leave=False, disable=None if len(starts) > 1 else True):
        batch = [s.upper() for s in sequences[start:start + chunk]]
        encoded = tokenizer(batch, padding="max_length", truncation=True, max_length=max_length,
                            return_overflowing_tokens=True, return_attention_mask=True,
                            return_tensors="np")
        # overflowing tokens of a long sequence come as extra rows after its first one
        owner = np.asarray(encoded["overflow_to_sample_mapping"])
        first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        if len(first) != len(batch):
            raise RuntimeError(f"tokenizer returned rows for {len(first)} of {len(batch)} sequences")
        n_truncated += int((np.bincount(owner, minlength=len(batch)) > 1).sum())
        for name in names:
            values = np.asarray(encoded[name])[first]
            if values.shape[1] != max_length:
                raise RuntimeError(f"tokenizer padded to {values.shape[1]}, not {max_length}")
            inputs[name][start:start + len(batch)] = values
    if not os.environ.get("TOKENIZERS_PARALLELISM"):
        # the Rust thread pool is done; DataLoader workers forked later need not warn about it
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    return inputs, n_truncated


class TokenizedDataset(Dataset):
    """A split tokenised once: item -> ({input_ids, attention_mask[, token_type_ids]} int64
    tensors of shape (max_length,), label, item index).

    The token arrays are kept compact (int32 / uint8, shape (M, max_length)) and widened per item.
    """

    def __init__(self, inputs: dict[str, np.ndarray], labels: np.ndarray, headers: np.ndarray,
                 n_truncated: int = 0):
        lengths = {len(v) for v in inputs.values()} | {len(labels), len(headers)}
        if len(lengths) != 1:
            raise ValueError(f"inputs, labels and headers differ in length: {lengths}")
        self.inputs = {name: torch.from_numpy(np.ascontiguousarray(v)) for name, v in inputs.items()}
        self.labels = np.asarray(labels, dtype=np.int64)
        self.headers = headers
        self.n_truncated = n_truncated

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return {name: values[i].long() for name, values in self.inputs.items()}, \
            int(self.labels[i]), i


def build_tokenized_datasets(config, tokenizer, splits: Sequence[str] = SPLITS
                             ) -> dict[str, TokenizedDataset]:
    """Tokenised datasets of the requested splits, with the study's reverse-complement rows.

    tokenizer : the model's fast tokenizer (the model folder's, or the one stored in a
        checkpoint). Every sequence is validated (IUPAC letters) before anything is written.
    """
    data_dir = Path(config.data_path)
    table = read_sequence_table(data_dir / DATA_FILE)
    check_sequences(table, max(len(s) for s in table.sequences))
    indices = load_split_indices(data_dir, len(table), seed=config.seed)
    datasets = {}
    for split in splits:
        rows = augment_rows(table, indices[split], config.use_reverse_complement,
                            config.targets_for_reverse_complement)
        texts = [reverse_complement(table.sequences[row]) if is_rc else table.sequences[row]
                 for row, is_rc in zip(rows.source_rows.tolist(),
                                       rows.is_reverse_complement.tolist())]
        inputs, n_truncated = tokenize_sequences(tokenizer, texts, config.max_length,
                                                 desc=f"tokenising {split}")
        if n_truncated:
            log.warning(f"{split}: {n_truncated:,} of {len(texts):,} sequences have more than "
                        f"max_length = {config.max_length} tokens and were truncated; raise "
                        f"max_length in the JSON to keep their ends")
        datasets[split] = TokenizedDataset(inputs, rows.labels, rows.headers, n_truncated)
    return datasets
