"""The data contract (DESIGN section 4): `final_data.csv`, the split index files, and datasets.

`final_data.csv` has the columns `header,sequence,label` (label 1 = retained intron). The splits are
`{train,valid,test}_indices.txt` beside it: 0-based row numbers, one a line, disjoint. When none of
the three exists they are made once, by the study's procedure (seeded shuffle; 10% valid, 10% test,
the rest train), and never overwritten afterwards.

Every dataset item is `(x, y, i)`: the model input, the label (int64) and the item's row in the
split, so that predictions of shuffled or sharded loaders can be matched to their headers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from .encoding import codes_to_one_hot, encode_codes, reverse_complement_codes
from .errors import InputError, read_text
from .runs import temporary_file_beside

SPLITS = ("train", "valid", "test")
DATA_FILE = "final_data.csv"
REQUIRED_COLUMNS = ("header", "sequence", "label")
RC_SUFFIX = "_r"  # the study's header suffix for a reverse-complement copy


@dataclass
class SequenceTable:
    """The rows of `final_data.csv`, validated."""

    path: Path
    headers: np.ndarray  # (N,) object (str)
    sequences: list[str]
    labels: np.ndarray  # (N,) int64, 0 or 1

    def __len__(self) -> int:
        return len(self.labels)

    def describe_row(self, row: int) -> str:
        """Names a row the way a user finds it in the file: line, 0-based index and header."""
        return f"line {row + 2} (row {row}, header {self.headers[row]!r})"


def read_sequence_table(path: str | Path) -> SequenceTable:
    """Read and validate `final_data.csv`.

    Lowercase and IUPAC letters are accepted; a missing or renamed column, a label other than 0/1,
    an empty sequence or a character outside IUPAC is an `InputError` naming the line and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} not found: put the study's final_data.csv there (columns "
                         f"header,sequence,label), set data_path in the JSON config, or run "
                         f"`python Make_demo_data.py` for the demo data")
    try:
        # header=None: the first line sets the field count, so a row with extra fields is an
        # error instead of being silently taken as an index column
        raw = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty: it needs a header line header,sequence,label "
                         f"and one row per sequence") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"{path} is not a readable CSV file ({err}); each line must be "
                         f"header,sequence,label") from None
    frame = raw.iloc[1:].reset_index(drop=True)
    frame.columns = [str(c).strip() for c in raw.iloc[0]]
    repeated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1}
                      & set(REQUIRED_COLUMNS))
    if repeated:
        raise InputError(f"{path}: the column(s) {', '.join(repeated)} appear more than once in "
                         f"the header line (line 1); keep one header,sequence,label column each")
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        renamed = {c.lower(): c for c in frame.columns}
        hints = [f"'{renamed[m]}' should be named '{m}'" for m in missing if m in renamed]
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(frame.columns)}. "
            + ("; ".join(hints) + ". " if hints else "")
            + "The first line must be header,sequence,label")
    if frame.empty:
        raise InputError(f"{path} has no rows: add one line per sequence after the header line")
    table = SequenceTable(path=path, headers=frame["header"].to_numpy(dtype=object),
                          sequences=[s.strip() for s in frame["sequence"]],
                          labels=np.zeros(len(frame), dtype=np.int64))
    table.labels[:] = _parse_labels(frame["label"], table)
    empty = [i for i, s in enumerate(table.sequences) if not s]
    if empty:
        raise InputError(f"{path}: {table.describe_row(empty[0])} has an empty sequence "
                         f"({len(empty)} such row(s)); fill them in or remove them")
    return table


def _parse_labels(column: pd.Series, table: SequenceTable) -> np.ndarray:
    values = pd.to_numeric(column.str.strip(), errors="coerce").to_numpy(dtype=float)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(f"{table.path}: {table.describe_row(row)} has label "
                         f"{column.iloc[row]!r}; labels must be 0 (not retained) or 1 (retained) "
                         f"({int(bad.sum())} bad label(s) in all)")
    return values.astype(np.int64)


def split_paths(data_dir: str | Path) -> dict[str, Path]:
    return {split: Path(data_dir) / f"{split}_indices.txt" for split in SPLITS}


def load_split_indices(data_dir: str | Path, n_rows: int, seed: int = 100) -> dict[str, np.ndarray]:
    """Read the three split files, or make them once when none exists.

    Returns
    -------
    dict split -> np.ndarray of int64 row numbers, in file order.

    Raises
    ------
    InputError
        Some but not all files exist; a line is not an integer; an index is out of range or
        repeated; two splits share a row (a leak); a split is empty.
    """
    paths = split_paths(data_dir)
    present = [split for split, path in paths.items() if path.exists()]
    if not present:
        return write_split_indices(data_dir, n_rows, seed)
    if len(present) < len(SPLITS):
        absent = [str(paths[s]) for s in SPLITS if s not in present]
        raise InputError(f"split files incomplete: {', '.join(absent)} missing while "
                         f"{', '.join(str(paths[s]) for s in present)} exist(s). Restore the "
                         f"missing file(s), or move all three away to make new splits")
    splits = {split: _read_index_file(paths[split], n_rows) for split in SPLITS}
    seen: dict[int, str] = {}
    for split in SPLITS:
        for index in splits[split].tolist():
            if index in seen:
                raise InputError(
                    f"row {index} is in both {paths[seen[index]]} and {paths[split]}: the splits "
                    f"leak into each other; each row must be in exactly one split")
            seen[index] = split
    return splits


def _read_index_file(path: Path, n_rows: int) -> np.ndarray:
    values, first_line = [], {}
    for line_no, line in enumerate(read_text(path, "a split file").splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        try:
            index = int(text)
        except ValueError:
            raise InputError(f"{path}, line {line_no}: {text!r} is not a row number; the file "
                             f"holds one 0-based integer row index per line") from None
        if not 0 <= index < n_rows:
            raise InputError(f"{path}, line {line_no}: row {index} is out of range: the data has "
                             f"{n_rows} rows (indices 0 to {n_rows - 1}); were the index files "
                             f"made for another final_data.csv?")
        if index in first_line:
            raise InputError(f"{path}, line {line_no}: row {index} repeats line "
                             f"{first_line[index]}; each row may appear once")
        first_line[index] = line_no
        values.append(index)
    if not values:
        raise InputError(f"{path} is empty: the split needs at least one row index")
    return np.asarray(values, dtype=np.int64)


def write_split_indices(data_dir: str | Path, n_rows: int, seed: int = 100,
                        fraction: float = 0.1) -> dict[str, np.ndarray]:
    """Make the splits as the study did and save them; existing files are never replaced.

    A legacy-seeded shuffle of 0..n-1: the first `fraction` is valid, the next `fraction` test,
    the rest train (75,992 rows give 60,794 / 7,599 / 7,599).
    """
    order = np.arange(n_rows)
    np.random.RandomState(seed).shuffle(order)
    cut = int(np.floor(fraction * n_rows))
    splits = {"train": order[2 * cut:], "valid": order[:cut], "test": order[cut:2 * cut]}
    empty = [s for s, rows in splits.items() if len(rows) == 0]
    if empty:
        raise InputError(f"{n_rows} rows are too few to make train/valid/test splits "
                         f"({', '.join(empty)} would be empty); add data or write the split files")
    paths = split_paths(data_dir)
    staged = []
    for split, rows in splits.items():
        handle, tmp = temporary_file_beside(paths[split])
        with os.fdopen(handle, "w") as out:
            out.write("".join(f"{i}\n" for i in rows.tolist()))
        staged.append((tmp, paths[split]))
    for tmp, final in staged:
        if final.exists():  # made meanwhile by another process: keep theirs
            os.unlink(tmp)
            raise InputError(f"{final} appeared while splits were being written; rerun to use it")
        os.replace(tmp, final)
    return {s: rows.astype(np.int64) for s, rows in splits.items()}


@dataclass
class SplitRows:
    """The rows of one split after reverse-complement augmentation."""

    headers: np.ndarray  # (M,) object
    labels: np.ndarray  # (M,) int64
    source_rows: np.ndarray  # (M,) row in final_data.csv
    is_reverse_complement: np.ndarray  # (M,) bool


def augment_rows(table: SequenceTable, rows: np.ndarray, use_reverse_complement: bool,
                 targets_for_reverse_complement: Sequence[int]) -> SplitRows:
    """The study's augmentation: the rows, then a reverse-complement copy of each row whose label
    is in `targets_for_reverse_complement` (header + "_r", same label), appended after them."""
    rows = np.asarray(rows, dtype=np.int64)
    rc_rows = (rows[np.isin(table.labels[rows], list(targets_for_reverse_complement))]
               if use_reverse_complement else rows[:0])
    all_rows = np.concatenate([rows, rc_rows])
    return SplitRows(
        headers=np.concatenate([table.headers[rows], table.headers[rc_rows] + RC_SUFFIX]),
        labels=table.labels[all_rows],
        source_rows=all_rows,
        is_reverse_complement=np.arange(len(all_rows)) >= len(rows),
    )


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


def check_sequences(table: SequenceTable, length: int, chunk: int = 20_000) -> None:
    """Validate every sequence of `table` (letters, length) without keeping an encoded copy."""
    for start in range(0, len(table), chunk):
        encode_codes(table.sequences[start:start + chunk], length, source=str(table.path),
                     describe_row=lambda r: table.describe_row(start + r))


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = False, num_workers: int = 0,
                sampler=None, drop_last: bool = False) -> DataLoader:
    """A DataLoader with the project's defaults: worker processes kept alive between epochs and
    pinned memory when a GPU is present. Shuffling order is seeded by the training loop."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None,
                      sampler=sampler, num_workers=num_workers, drop_last=drop_last,
                      persistent_workers=num_workers > 0, pin_memory=torch.cuda.is_available())
