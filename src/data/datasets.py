"""Datasets of one-hot sequences for the training loop.

Every dataset item is `(x, y, i)`: the model input, the label (int64) and the item's row in the
split, so that predictions of shuffled or sharded loaders can be matched to their headers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .encoding import codes_to_one_hot, encode_codes, reverse_complement_codes
from .sequences import DATA_FILE, check_sequences, read_sequence_table
from .splits import SPLITS, SplitRows, augment_rows, load_split_indices


class OneHotDataset(Dataset):
    """In-memory dataset: codes (M, L) uint8 kept compact; item -> one-hot (4, L) float32."""

    def __init__(self, codes: np.ndarray, labels: np.ndarray, headers: np.ndarray):
        if not (len(codes) == len(labels) == len(headers)):
            raise ValueError(f"codes {len(codes)}, labels {len(labels)}, headers {len(headers)}")
        self.codes = torch.from_numpy(np.ascontiguousarray(codes))
        self.labels = np.asarray(labels, dtype=np.int64)
        self.headers = headers

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return codes_to_one_hot(self.codes[i]), int(self.labels[i]), i


class LazyOneHotDataset(Dataset):
    """Dataset that keeps the strings and encodes an item when it is read (same tensors as
    `OneHotDataset`); it starts at once and holds no encoded copy."""

    def __init__(self, sequences: Sequence[str], split: SplitRows, length: int):
        self.sequences = sequences
        self.split = split
        self.length = length
        self.labels = split.labels
        self.headers = split.headers

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        codes = encode_codes([self.sequences[self.split.source_rows[i]]], self.length)
        if self.split.is_reverse_complement[i]:
            codes = reverse_complement_codes(codes)
        return codes_to_one_hot(codes[0]), int(self.labels[i]), i


def build_sequence_datasets(config, splits: Sequence[str] = SPLITS) -> dict[str, Dataset]:
    """Datasets of the requested splits from a `SequenceDataConfig` (data_path, sequence_length,
    lazy_loading and the reverse-complement settings). Each has `.labels` and `.headers`."""
    data_dir = Path(config.data_path)
    table = read_sequence_table(data_dir / DATA_FILE)
    codes = None
    # every sequence is checked before split files may be written, and not mid-epoch when lazy
    if not config.lazy_loading:
        codes = encode_codes(table.sequences, config.sequence_length, source=str(table.path),
                             describe_row=table.describe_row)
    else:
        check_sequences(table, config.sequence_length)
    indices = load_split_indices(data_dir, len(table), seed=getattr(config, "seed", 100))
    datasets = {}
    for split in splits:
        rows = augment_rows(table, indices[split], config.use_reverse_complement,
                            config.targets_for_reverse_complement)
        if codes is None:
            datasets[split] = LazyOneHotDataset(table.sequences, rows, config.sequence_length)
        else:
            n_plain = int((~rows.is_reverse_complement).sum())
            split_codes = codes[rows.source_rows]
            split_codes[n_plain:] = reverse_complement_codes(split_codes[n_plain:])
            datasets[split] = OneHotDataset(split_codes, rows.labels, rows.headers)
    return datasets


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = False, num_workers: int = 0,
                sampler=None, drop_last: bool = False) -> DataLoader:
    """A DataLoader with the project's defaults: worker processes kept alive between epochs and
    pinned memory when a GPU is present. Shuffling order is seeded by the training loop."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None,
                      sampler=sampler, num_workers=num_workers, drop_last=drop_last,
                      persistent_workers=num_workers > 0, pin_memory=torch.cuda.is_available())
