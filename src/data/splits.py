"""The train / valid / test splits and the study's reverse-complement augmentation.

The splits are `{train,valid,test}_indices.txt` beside `final_data.csv`: 0-based row numbers, one
a line, disjoint. When none of the three exists they are made once, by the study's procedure
(seeded shuffle; 10% valid, 10% test, the rest train), and never overwritten afterwards.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..io import read_text, temporary_file_beside
from .sequences import SequenceTable

SPLITS = ("train", "valid", "test")
RC_SUFFIX = "_r"  # the study's header suffix for a reverse-complement copy


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


def sequence_keys(headers) -> np.ndarray:
    """The sequence (intron) of each row: its header, without the reverse-complement suffix
    `RC_SUFFIX` when the header without it is also among `headers` (so an original header that
    happens to end in "_r" stays itself). Returns (N,) object array."""
    headers = [str(h) for h in headers]
    present = set(headers)
    cut = len(RC_SUFFIX)
    return np.array([h[:-cut] if h.endswith(RC_SUFFIX) and h[:-cut] in present else h
                     for h in headers], dtype=object)
