"""Sei feature files: find, validate and read them; a Dataset for the training loop.

`Preprocess_data_to_numpy.py --result DIR` writes, for each feature set SET in {ALL, TF, HM} and
split in {train, valid, test}:

    data_{SET}_{split}.npy    float32 (N_split, F_SET)  Sei outputs (probabilities) per row
    target_{SET}_{split}.npy  int64 (N_split,)          labels 0/1, same rows
    features_{SET}.txt        F_SET lines               the Sei target name of each column
    headers_{split}.txt       N_split lines             the header of each row ("_r" = reverse
                                                        complement)

A config names them either by folder (`features_path` + `feature_set`) or file by file (the
study's keys `train_data`, `train_target`, ...; the names file is then `feature_names`, or
`features_{SET}.txt` beside a `data_{SET}_train.npy`). Data files are memory-mapped
(`np.load(mmap_mode="r")`): validating a 10 GB split reads it once in chunks and never holds a
second copy.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, WeightedRandomSampler

from ..errors import InputError
from ..models.sei_targets import FEATURE_SETS

SPLITS = ("train", "valid", "test")
MARKER = "sei_features_{split}.json"  # written last, when a split is complete
PREPROCESS_HINT = ("Preprocess_data_to_numpy.py --data DATA_DIR --result FEATURES_DIR writes the "
                   "feature files")
_CHUNK_BYTES = 256 * 2**20  # rows read at once when scanning a memory-mapped file


@dataclass(frozen=True)
class FeatureFiles:
    """The files of one split, and the config keys that named them (for error messages)."""

    split: str
    data: Path
    target: Path
    headers: Path
    names: Path | None  # None: cannot be derived, `feature_names` must be set
    data_key: str
    target_key: str


def feature_paths(folder: str | Path, split: str) -> dict[str, Path]:
    """The files Preprocess writes for one split (keys "data_ALL", "target_ALL", ...,
    "headers"); this function is the one place their names are made."""
    folder = Path(folder)
    paths = {}
    for fset in FEATURE_SETS:
        paths[f"data_{fset}"] = folder / f"data_{fset}_{split}.npy"
        paths[f"target_{fset}"] = folder / f"target_{fset}_{split}.npy"
    paths["headers"] = folder / f"headers_{split}.txt"
    return paths


def names_path(folder: str | Path, feature_set: str) -> Path:
    """The feature-names file of a feature set: one Sei target name per column."""
    return Path(folder) / f"features_{feature_set}.txt"


def marker_path(folder: str | Path, split: str) -> Path:
    """The completion marker of a split (settings and input fingerprints)."""
    return Path(folder) / MARKER.format(split=split)


def is_complete(folder: str | Path) -> bool:
    """Every split's completion marker, feature files and names files are in `folder`."""
    paths = [marker_path(folder, split) for split in SPLITS]
    paths += [names_path(folder, fset) for fset in FEATURE_SETS]
    paths += [path for split in SPLITS for path in feature_paths(folder, split).values()]
    return all(path.is_file() for path in paths)


def feature_files(config, split: str) -> FeatureFiles:
    """Paths of one split's files from a `FeatureDataConfig`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if config.features_path is not None:
        paths, fset = feature_paths(config.features_path, split), config.feature_set
        return FeatureFiles(split, paths[f"data_{fset}"], paths[f"target_{fset}"],
                            paths["headers"], names_path(config.features_path, fset),
                            "features_path", "features_path")
    data = Path(getattr(config, f"{split}_data"))
    if config.feature_names is not None:
        names = Path(config.feature_names)
    else:  # the study's keys: the contract's names file beside data_{SET}_train.npy
        match = re.fullmatch(r"data_(\w+?)_train\.npy", Path(config.train_data).name)
        names = names_path(Path(config.train_data).parent, match.group(1)) if match else None
    return FeatureFiles(split, data, Path(getattr(config, f"{split}_target")),
                        data.parent / f"headers_{split}.txt", names, f"{split}_data",
                        f"{split}_target")


def open_feature_data(path: Path, key: str = "features_path") -> np.ndarray:
    """Memory-map a data file and check that it is a non-empty 2-D float array.

    Returns
    -------
    np.memmap, shape (N, F), read-only
    """
    if not path.is_file():
        raise InputError(f"feature file {path} not found: {PREPROCESS_HINT}, or fix '{key}' in "
                         f"the JSON config")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    # a damaged header fails in numpy's parser in several ways (ValueError, EOFError, but also
    # SyntaxError and tokenize.TokenError); any of them means the file is not usable
    except Exception as err:  # noqa: BLE001
        raise InputError(f"{path} is not a readable .npy array ({err}); {PREPROCESS_HINT} "
                         f"(numpy .npy format, not .npz or pickle)") from None
    if not isinstance(array, np.ndarray):
        raise InputError(f"{path} holds several arrays (.npz); the data file must be one .npy "
                         f"array of shape (sequences, features)")
    if array.ndim != 2:
        raise InputError(f"{path}: expected a 2-D array (sequences x features), got shape "
                         f"{array.shape}; each row must hold the Sei outputs of one sequence")
    if array.dtype.kind != "f":
        raise InputError(f"{path}: expected floating-point Sei outputs (float32), got dtype "
                         f"{array.dtype}; write the file again ({PREPROCESS_HINT})")
    if 0 in array.shape:
        raise InputError(f"{path} is empty (shape {array.shape}): it needs at least one row and "
                         f"one column")
    return array


def read_targets(path: Path, n_rows: int, data_path: Path, key: str = "features_path"
                 ) -> np.ndarray:
    """Read a target file: (N,) (or one column (N, 1)) of 0/1 labels matching the data's rows.

    Returns
    -------
    np.ndarray, shape (N,), int64
    """
    if not path.is_file():
        raise InputError(f"target file {path} not found: {PREPROCESS_HINT}, or fix '{key}' in "
                         f"the JSON config")
    try:
        targets = np.load(path, allow_pickle=False)
    except Exception as err:  # noqa: BLE001 - as in open_feature_data
        raise InputError(f"{path} is not a readable .npy array ({err})") from None
    if not isinstance(targets, np.ndarray):
        raise InputError(f"{path} holds several arrays (.npz); it must be one .npy array of labels")
    if targets.ndim == 2 and targets.shape[1] == 1:
        targets = targets[:, 0]
    if targets.ndim != 1:
        raise InputError(f"{path}: expected a 1-D array of labels, got shape {targets.shape}")
    if targets.dtype.kind not in "iubf":
        raise InputError(f"{path}: labels must be integers 0/1, got dtype {targets.dtype}")
    bad = ~np.isin(targets, (0, 1))
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(f"{path}: row {row} has label {targets[row].item()}; labels must be 0 "
                         f"(not retained) or 1 (retained) ({int(bad.sum())} bad label(s) in all)")
    if len(targets) != n_rows:
        raise InputError(f"{path} has {len(targets):,} labels but {data_path} has {n_rows:,} rows: "
                         f"the two files must describe the same sequences; write them again "
                         f"together ({PREPROCESS_HINT})")
    return targets.astype(np.int64)


def read_lines(path: Path, what: str) -> list[str]:
    """Non-empty-file lines without line endings; a blank line inside is an error."""
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a text file: it must hold one {what} per line") from None
    while lines and not lines[-1].strip():
        lines.pop()
    blank = [i for i, line in enumerate(lines) if not line.strip()]
    if blank:
        raise InputError(f"{path}, line {blank[0] + 1} is blank: the file must hold one {what} "
                         f"per line")
    return lines


def read_feature_names(files: FeatureFiles, n_columns: int) -> list[str]:
    """The Sei target name of each column; their count must equal the data's columns."""
    if files.names is None:
        raise InputError(f"cannot tell which feature-names file belongs to {files.data}: set "
                         f"'feature_names' in the JSON config to the names file (one Sei target "
                         f"name per column)")
    if not files.names.is_file():
        raise InputError(f"feature-names file {files.names} not found: {PREPROCESS_HINT} "
                         f"(features_<SET>.txt), or set 'feature_names' in the JSON config")
    names = read_lines(files.names, "Sei target name")
    if len(names) != n_columns:
        raise InputError(f"{files.names} lists {len(names):,} feature names but {files.data} has "
                         f"{n_columns:,} columns: use the names file of the same feature set "
                         f"(features_ALL.txt, features_TF.txt or features_HM.txt)")
    return names


def read_headers(files: FeatureFiles, n_rows: int) -> tuple[np.ndarray, str | None]:
    """Row headers from `headers_{split}.txt` beside the data; returns (headers, note).

    Without that file (feature files from the study's own scripts), rows are named
    `{split}_{row}` and `note` says so.
    """
    if not files.headers.is_file():
        note = (f"{files.headers} not found: predictions.csv names rows {files.split}_0, "
                f"{files.split}_1, ... (row numbers of {files.data.name})")
        return np.array([f"{files.split}_{i}" for i in range(n_rows)], dtype=object), note
    headers = read_lines(files.headers, "sequence header")
    if len(headers) != n_rows:
        raise InputError(f"{files.headers} has {len(headers):,} headers but {files.data} has "
                         f"{n_rows:,} rows: the files come from different runs of "
                         f"Preprocess_data_to_numpy.py; write them again together")
    return np.asarray(headers, dtype=object), None


def check_finite(data: np.ndarray, path: Path, names: Sequence[str] | None = None,
                 out: np.ndarray | None = None) -> None:
    """Scan `data` in chunks for NaN/inf (an interrupted or broken feature file); optionally copy
    it into `out` (float32) in the same pass, so the file is read once."""
    rows_per_chunk = max(1, _CHUNK_BYTES // max(1, data.shape[1] * data.itemsize))
    for start in range(0, data.shape[0], rows_per_chunk):
        chunk = np.asarray(data[start:start + rows_per_chunk])
        finite = np.isfinite(chunk)
        if not finite.all():
            row, column = np.argwhere(~finite)[0]
            name = f" ({names[column]})" if names is not None else ""
            raise InputError(f"{path}: row {start + row}, column {column}{name} is "
                             f"{chunk[row, column]}; Sei outputs must be finite numbers. The file "
                             f"is damaged or incomplete: write it again ({PREPROCESS_HINT})")
        if out is not None:
            out[start:start + len(chunk)] = chunk


@dataclass
class FeatureSplit:
    """One split's validated features, labels, row headers and column names."""

    split: str
    data: np.ndarray  # (N, F) float, memory-mapped or in memory
    labels: np.ndarray  # (N,) int64
    headers: np.ndarray  # (N,) object (str)
    feature_names: list[str]  # (F,)
    files: FeatureFiles
    note: str | None = None  # something the run log should mention

    @property
    def n_features(self) -> int:
        return self.data.shape[1]


def load_feature_split(config, split: str, in_memory: bool = False) -> FeatureSplit:
    """Open and validate one split named by a `FeatureDataConfig`.

    Checks: data 2-D float and finite, targets 1-D 0/1 with the data's row count, names count =
    columns, headers count = rows. With `in_memory` the data is read into a float32 array
    (one copy); otherwise it stays memory-mapped.

    Raises
    ------
    InputError
        A file is missing, unreadable, of the wrong shape or type, or disagrees with the others;
        the message names the file and the fix.
    """
    files = feature_files(config, split)
    data = open_feature_data(files.data, files.data_key)
    n_rows, n_columns = data.shape
    labels = read_targets(files.target, n_rows, files.data, files.target_key)
    names = read_feature_names(files, n_columns)
    headers, note = read_headers(files, n_rows)
    if in_memory:
        memory = np.empty(data.shape, dtype=np.float32)
        check_finite(data, files.data, names, out=memory)
        data = memory
    else:
        check_finite(data, files.data, names)
    return FeatureSplit(split, data, labels, headers, names, files, note)


def load_feature_splits(config, splits: Sequence[str] = SPLITS, in_memory: bool = False
                        ) -> dict[str, FeatureSplit]:
    """Validated splits; they must have the same columns (one names file for all)."""
    loaded = {split: load_feature_split(config, split, in_memory)
              for split in dict.fromkeys(splits)}
    widths = {split: part.n_features for split, part in loaded.items()}
    if len(set(widths.values())) > 1:
        shown = ", ".join(f"{loaded[s].files.data} has {w:,}" for s, w in widths.items())
        raise InputError(f"the splits have different numbers of feature columns ({shown}): all "
                         f"splits must come from the same feature set")
    return loaded


def feature_count(config) -> int:
    """Columns of the training data file (reads only the .npy header)."""
    files = feature_files(config, "train")
    return open_feature_data(files.data, files.data_key).shape[1]


class FeatureDataset(Dataset):
    """Items `(x, y, i)`: x float32 tensor (F,) of one row, y its int label, i the row index.

    Also has `.labels` (N,), `.headers` (N,) and `.feature_names` (F,). An item is a view of its
    row (of the array in memory, or of the memory-mapped file), so the DataLoader's collation is
    the only copy of a batch. Pickling (DataLoader workers under spawn) reopens a memory-mapped
    file instead of copying it.
    """

    def __init__(self, split: FeatureSplit):
        self.data = split.data
        self.labels = split.labels
        self.headers = split.headers
        self.feature_names = split.feature_names
        self.path = split.files.data
        self.split = split.split
        self._rows = _shared_tensor(self.data)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        x = self._rows[i]
        return (x if x.dtype == torch.float32 else x.float()), int(self.labels[i]), int(i)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_rows"] = None
        if isinstance(self.data, np.memmap):
            state["data"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self.data is None:
            self.data = np.load(self.path, mmap_mode="r", allow_pickle=False)
        self._rows = _shared_tensor(self.data)


def _shared_tensor(data: np.ndarray) -> torch.Tensor:
    """A tensor over the same memory (no copy). Items are only read, never written, so a
    read-only memory map is safe to share (torch warns about it in general)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(data)


def load_feature_datasets(config, splits: Sequence[str] = SPLITS) -> dict[str, FeatureDataset]:
    """`ModelSpec.build_datasets` for feature models: {split: FeatureDataset}. The data is read
    into memory unless the config's `lazy_loading` asks for memory-mapped reads."""
    in_memory = not getattr(config, "lazy_loading", True)
    return {split: FeatureDataset(part)
            for split, part in load_feature_splits(config, splits, in_memory).items()}


class BalancedSampler(WeightedRandomSampler):
    """Draws N items with replacement so that both classes are equally likely (`imbalanced_data`).

    The draw of epoch e is seeded by `seed + e` (the training loop calls `set_epoch`), so every
    process of a multi-process run and a resumed run see the same order. With several processes,
    Accelerate deals the batches of this one draw out in turn (batch k to process k mod P), so
    each process trains on its own part of one balanced draw: the sampler draws for the whole
    split and must not shard itself (tests/test_distributed.py checks both).
    """

    def __init__(self, labels: np.ndarray, seed: int):
        labels = np.asarray(labels, dtype=np.int64)
        counts = np.bincount(labels, minlength=2)
        if (counts == 0).any():
            raise InputError(f"imbalanced_data balances the two classes, but the training split "
                             f"has {counts[0]} label-0 and {counts[1]} label-1 rows: it needs "
                             f"both; set imbalanced_data to false or check the target file")
        weights = torch.from_numpy(1.0 / counts[labels])
        super().__init__(weights, num_samples=len(labels), replacement=True,
                         generator=torch.Generator())
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        self.generator.manual_seed(self.seed + self.epoch)
        return super().__iter__()


def balanced_sampler(config, dataset) -> BalancedSampler | None:
    """`ModelSpec.sampler`: a `BalancedSampler` when the config sets `imbalanced_data`."""
    return BalancedSampler(dataset.labels, config.seed) if config.imbalanced_data else None
