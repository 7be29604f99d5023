"""Full attribution maps of the sequences `Attribute.py -i` explains, saved for de novo discovery.

The hot-spot windows keep only a few bp around each sequence's strongest positions; TF-MoDISco
(`Attribute.py -s`, `src.interpret.denovo`) needs the whole (4, L) Integrated Gradients map of
every selected sequence. `-i` saves them beside its windows (this module owns the names):

    maps.csv         one row per sequence: header, label (the class whose logit was attributed),
                     split, reverse_complement, seq_start, seq_end (the columns of the real
                     sequence in the padded model input, [seq_start, seq_end)), probability,
                     ig_delta
    maps_codes.npy   (N, L) uint8 base codes of the model input (`src.data.encoding`)
    maps_ig.npy      (N, 4, L) float32 IG towards the true class, from the uniform baseline
    maps.json        how they were made (per-base gradients or not, baseline, background, an id
                     that the de novo outputs record); written last, so it marks the maps complete

The arrays are plain `.npy` files, written chunk by chunk through a memory map (`MapsWriter`) and
read back memory-mapped (`load_attribution_maps`): neither side needs them in memory at once
(18,000 sequences of 600 bp: 173 MB of attributions, 11 MB of codes).

A token model (DNABERT-2) has no per-base gradients: its IG lives on the token embeddings and is
spread evenly over each token's bases, so the hypothetical contributions that TF-MoDISco needs
cannot be derived from it. For such a model only maps.json is written (`per_base: false`), and
`load_attribution_maps` refuses with that explanation.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io import atomic_write_text, require_files

MAPS_TABLE = "maps.csv"
MAPS_CODES = "maps_codes.npy"
MAPS_ATTRIBUTIONS = "maps_ig.npy"
MAPS_INFO = "maps.json"
MAPS_COLUMNS = ("header", "label", "reverse_complement", "seq_start", "seq_end")
BASELINE = "uniform: 0.25 per base where the input has a base, 0 in padding"


@dataclass
class AttributionMaps:
    """Full IG maps of the selected sequences.

    table : one row per sequence with `MAPS_COLUMNS` (more columns are kept)
    codes : (N, L) uint8 base codes of the model input (0 padding, 1..15 IUPAC)
    attributions : (N, 4, L) float32 IG towards the row's label, from `BASELINE`
    info : per_base (bool: one-hot gradients, so hypothetical contributions can be derived),
        attribution (how), baseline, background (A, C, G, T of the data); maps.json adds id
    """

    table: pd.DataFrame
    codes: np.ndarray
    attributions: np.ndarray
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.table)


def selected_maps(data, order: np.ndarray, result, probabilities: np.ndarray,
                  methods=None) -> AttributionMaps:
    """The maps of the sequences `-i` attributed (`compute_windows`), without copying the IG.

    Parameters
    ----------
    data : `src.interpret.attribute.AttributionData` (headers, labels, splits, codes, ...)
    order : (N,) rows of `data` that were attributed, in the order of `result`
    result : `src.interpret.gradients.Attributions` of those rows ((N, 4, L), delta)
    probabilities : (len(data), 2) class probabilities of every row
    methods : None for a one-hot model; the token attribution methods of a token model
    """
    order = np.asarray(order, dtype=np.int64)
    labels = data.labels[order]
    table = pd.DataFrame({
        "header": data.headers[order], "label": labels, "split": data.splits[order],
        "reverse_complement": data.is_reverse_complement[order].astype(bool),
        "seq_start": data.starts[order], "seq_end": data.ends[order],
        "probability": np.asarray(probabilities)[order, labels].round(6),
        "ig_delta": np.asarray(result.delta, dtype=float).round(6)})
    info = {"per_base": methods is None,
            "attribution": ("Integrated Gradients on the one-hot input" if methods is None
                            else methods.description),
            "baseline": BASELINE, "background": [float(b) for b in data.background]}
    return AttributionMaps(table, data.codes[order], result.attributions, info)


class MapsWriter:
    """Write the maps of N sequences chunk by chunk through memory-mapped `.npy` files.

    The arrays go to temporary files that replace the old ones in `close`; maps.json, the mark of
    complete maps, is removed when writing starts and written last, so an interrupted run leaves
    no maps that look complete.
    """

    def __init__(self, folder: str | Path, n: int, length: int):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / MAPS_INFO).unlink(missing_ok=True)
        self.tmp = {name: self.folder / f".{name}.tmp.npy" for name in (MAPS_CODES,
                                                                         MAPS_ATTRIBUTIONS)}
        self.codes = np.lib.format.open_memmap(self.tmp[MAPS_CODES], mode="w+", dtype=np.uint8,
                                               shape=(n, length))
        self.attributions = np.lib.format.open_memmap(self.tmp[MAPS_ATTRIBUTIONS], mode="w+",
                                                      dtype=np.float32, shape=(n, 4, length))

    def write(self, begin: int, codes: np.ndarray, attributions: np.ndarray) -> None:
        """Rows [begin, begin + len(codes)): codes (n, L) and attributions (n, 4, L)."""
        self.codes[begin:begin + len(codes)] = codes
        self.attributions[begin:begin + len(codes)] = attributions

    def close(self, table: pd.DataFrame, info: dict) -> str:
        """Flush, put the arrays in place, write maps.csv and then maps.json; returns the id."""
        for array in (self.codes, self.attributions):
            array.flush()
        del self.codes, self.attributions
        for name, tmp in self.tmp.items():
            tmp.replace(self.folder / name)
        atomic_write_text(self.folder / MAPS_TABLE, table.to_csv(index=False))
        identity = uuid.uuid4().hex
        atomic_write_text(self.folder / MAPS_INFO, json.dumps(
            {**info, "id": identity, "sequences": int(len(table))}, indent=2) + "\n")
        return identity

    def abort(self) -> None:
        for tmp in self.tmp.values():
            tmp.unlink(missing_ok=True)


def save_attribution_maps(folder: str | Path, maps: AttributionMaps, chunk_size: int = 1024,
                          log=None) -> Path:
    """Write maps.csv, maps_codes.npy, maps_ig.npy and maps.json into `folder`, replacing older
    ones; `chunk_size` rows at a time (the attributions may be a memory map themselves).

    For maps without per-base gradients (`info["per_base"]` false: a token model) only maps.json
    is written, saying so. Returns the path of maps.json; `log` (optional) gets one line.
    """
    folder = Path(folder)
    if not maps.info.get("per_base", True):
        folder.mkdir(parents=True, exist_ok=True)
        for name in (MAPS_TABLE, MAPS_CODES, MAPS_ATTRIBUTIONS):
            (folder / name).unlink(missing_ok=True)
        atomic_write_text(folder / MAPS_INFO, json.dumps(
            {**maps.info, "id": uuid.uuid4().hex, "sequences": len(maps)}, indent=2) + "\n")
        if log:
            log("attribution maps not saved: a token model has no per-base gradients for de "
                "novo discovery (-s)")
        return folder / MAPS_INFO
    codes = np.asarray(maps.codes)
    if codes.ndim != 2 or maps.attributions.shape != (len(maps), 4, codes.shape[1]) \
            or len(codes) != len(maps):
        raise ValueError(f"{len(maps)} table rows, codes {codes.shape} and attributions "
                         f"{maps.attributions.shape} do not describe the same (N, 4, L) maps")
    writer = MapsWriter(folder, len(maps), codes.shape[1])
    try:
        for begin in range(0, len(maps), chunk_size):
            writer.write(begin, codes[begin:begin + chunk_size],
                         maps.attributions[begin:begin + chunk_size])
        writer.close(maps.table, maps.info)
    except BaseException:
        writer.abort()
        raise
    if log:
        log(f"attribution maps of {len(maps)} sequences: {folder / MAPS_ATTRIBUTIONS} (for -s)")
    return folder / MAPS_INFO


def read_info(folder: str | Path) -> dict | None:
    """maps.json of `folder`, or None when there is none (or it is not readable)."""
    try:
        info = json.loads((Path(folder) / MAPS_INFO).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def load_attribution_maps(folder: str | Path, mmap: bool = True) -> AttributionMaps:
    """Read what `save_attribution_maps` wrote; the arrays memory-mapped unless `mmap=False`.

    Raises
    ------
    InputError
        No maps (an older -i, or -i not run), maps of a token model, a missing or unreadable
        file, or files that do not describe the same sequences.
    """
    folder = Path(folder)
    info = read_info(folder)
    if info is None:
        raise InputError(f"{folder / MAPS_INFO} not found: the attribution maps that de novo "
                         f"discovery needs are saved by Attribute.py -i (since this version); "
                         f"run -i (with --force to replace older windows) with the same -m and "
                         f"-r")
    if not info.get("per_base", True):
        raise InputError(
            f"{folder} holds the attributions of a token model ({info.get('attribution', '?')}): "
            f"de novo discovery (-s) needs per-base gradients to derive TF-MoDISco's "
            f"hypothetical contributions, and a token model's IG lives on its token embeddings; "
            f"run -s on a one-hot model (FSei, ConvNet, Basset)")
    paths = [folder / MAPS_TABLE, folder / MAPS_CODES, folder / MAPS_ATTRIBUTIONS]
    require_files(paths, f" (the maps in {folder} are incomplete): rerun Attribute.py -i "
                         f"--force with the same -m and -r")
    try:
        table = pd.read_csv(paths[0], dtype={"header": str, "split": str}, keep_default_na=False)
        codes = np.load(paths[1], mmap_mode="r" if mmap else None, allow_pickle=False)
        attributions = np.load(paths[2], mmap_mode="r" if mmap else None, allow_pickle=False)
    except Exception as err:  # noqa: BLE001 - damaged files: many exception types
        raise InputError(f"{folder}: the saved attribution maps cannot be read ({err}); rerun "
                         f"-i --force") from None
    absent = [c for c in MAPS_COLUMNS if c not in table.columns]
    if absent:
        raise InputError(f"{paths[0]} lacks the column(s) {', '.join(absent)}; rerun -i --force")
    n = len(table)
    if codes.ndim != 2 or codes.shape[0] != n or attributions.shape != (n, 4, codes.shape[1]):
        raise InputError(f"{folder}: {MAPS_TABLE} has {n} rows, {MAPS_CODES} is {codes.shape} "
                         f"and {MAPS_ATTRIBUTIONS} {attributions.shape}; expected (N, L) and "
                         f"(N, 4, L) for the same N sequences: rerun -i --force")
    if not set(np.unique(table["label"])) <= {0, 1}:
        raise InputError(f"{paths[0]}: the label column must hold 0 or 1; rerun -i --force")
    return AttributionMaps(table, codes, attributions, info)


def is_complete(folder: str | Path) -> bool:
    """Per-base attribution maps (what `-s` reads) are saved in `folder`."""
    folder = Path(folder)
    info = read_info(folder)
    return (info is not None and bool(info.get("per_base", True))
            and all((folder / name).is_file() for name in (MAPS_TABLE, MAPS_CODES,
                                                            MAPS_ATTRIBUTIONS)))


def maps_id(folder: str | Path) -> str | None:
    """The id of the maps saved in `folder` (a new one at every -i), or None."""
    info = read_info(folder)
    return info.get("id") if info else None
