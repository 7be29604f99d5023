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
import pandas as pd
import torch
from torch.utils.data import Dataset, WeightedRandomSampler

from .errors import InputError

FEATURE_SETS = ("ALL", "TF", "HM")
SPLITS = ("train", "valid", "test")
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


def feature_files(config, split: str) -> FeatureFiles:
    """Paths of one split's files from a `FeatureDataConfig`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if config.features_path is not None:
        root, fset = Path(config.features_path), config.feature_set
        return FeatureFiles(split, root / f"data_{fset}_{split}.npy",
                            root / f"target_{fset}_{split}.npy", root / f"headers_{split}.txt",
                            root / f"features_{fset}.txt", "features_path", "features_path")
    data = Path(getattr(config, f"{split}_data"))
    if config.feature_names is not None:
        names = Path(config.feature_names)
    else:  # the study's keys: the contract's names file beside data_{SET}_train.npy
        match = re.fullmatch(r"data_(\w+?)_train\.npy", Path(config.train_data).name)
        names = Path(config.train_data).parent / f"features_{match.group(1)}.txt" if match else None
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


def split_target_name(name: str) -> tuple[str, str]:
    """Sei target name `cell type | assay target | source` -> (assay target, cell type)."""
    parts = [part.strip() for part in name.split("|")]
    return (parts[1], parts[0]) if len(parts) >= 2 else (name.strip(), "")


def importance_table(names: Sequence[str], values: dict[str, np.ndarray], rank_by: str,
                     by_magnitude: bool = False) -> pd.DataFrame:
    """One row per feature, most important first.

    Parameters
    ----------
    names : (F,) Sei target names
    values : columns of per-feature numbers, each (F,)
    rank_by : the column of `values` to sort by (descending; ties keep column order)
    by_magnitude : sort by the absolute value (LR weights of either sign)

    Returns
    -------
    DataFrame with rank, column (0-based index in the data file), name, assay, cell_type and
    the `values` columns.
    """
    split = [split_target_name(n) for n in names]
    frame = pd.DataFrame({"column": np.arange(len(names)), "name": list(names),
                          "assay": [s[0] for s in split], "cell_type": [s[1] for s in split],
                          **{k: np.asarray(v) for k, v in values.items()}})
    key = np.abs(frame[rank_by].to_numpy()) if by_magnitude else frame[rank_by].to_numpy()
    frame = frame.iloc[np.argsort(-key, kind="stable")].reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame


IMPORTANCE_COLUMNS = {"LR": "weight", "LGBM": "importance"}


def top_importance(table: pd.DataFrame, model: str, top: int = 20) -> pd.DataFrame:
    """The `top` rows of an importance table, most important first: LR by |weight| (the sign
    kept), LightGBM by importance. Adds `value` (the weight or importance)."""
    values = table[IMPORTANCE_COLUMNS[model]]
    key = values.abs() if model == "LR" else values
    chosen = table.loc[key.sort_values(ascending=False, kind="stable").index].head(top).copy()
    chosen["value"] = chosen[IMPORTANCE_COLUMNS[model]]
    chosen["cell_type"] = chosen["cell_type"].fillna("")
    return chosen.reset_index(drop=True)


def read_importance_table(path: str | Path, model: str) -> tuple[pd.DataFrame, Path]:
    """The importance.csv of an LR or LGBM run, found from a run folder, the CSV itself, or a
    results folder (then the run whose importance.csv is newest). Returns (table, csv path).

    Raises
    ------
    InputError
        Nothing found, or the table is not the `model`'s (LR tables have `weight`, LightGBM
        tables `importance`).
    """
    path = Path(path)
    flag = f"--{model.lower()}"
    if path.is_dir():
        direct = path / "importance.csv"
        found = [direct] if direct.is_file() else sorted(
            path.glob("*/importance.csv"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise InputError(f"{flag} {path}: no importance.csv in this folder or its run "
                             f"folders; pass a run folder written by {model}.py")
        path = found[-1]
    elif not path.is_file():
        raise InputError(f"{flag} {path}: not found; pass a run folder of {model}.py (or its "
                         f"importance.csv)")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"{path} is not a readable importance table ({err})") from None
    column = IMPORTANCE_COLUMNS[model]
    missing = [c for c in ("assay", "cell_type", column) if c not in table.columns]
    if missing:
        other = [m for m, c in IMPORTANCE_COLUMNS.items() if m != model and c in table.columns]
        hint = (f"it is the table of a {other[0]}.py run: pass it with --{other[0].lower()}"
                if other
                else f"pass the importance.csv of a {model}.py run")
        raise InputError(f"{path} has no column(s) {', '.join(missing)}: {hint}")
    if table.empty:
        raise InputError(f"{path} has no rows: pass the importance.csv of a finished {model}.py "
                         f"run")
    values = pd.to_numeric(table[column], errors="coerce")
    if not np.isfinite(values.to_numpy(dtype=float)).all():
        row = int(np.argmax(~np.isfinite(values.to_numpy(dtype=float))))
        raise InputError(f"{path}, line {row + 2}: {column} {table[column].iloc[row]!r} is not a "
                         f"finite number; the table was edited or damaged: write it again with "
                         f"{model}.py")
    table[column] = values
    return table, path
