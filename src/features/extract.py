"""Sei outputs as features: run the full Sei over every split and write the feature files.

For each split (train, valid, test) and feature set SET in {ALL, TF, HM}, in the result folder:

    data_{SET}_{split}.npy    float32 (N_split, F_SET)  Sei outputs (probabilities)
    target_{SET}_{split}.npy  int64 (N_split,)          labels 0/1, same rows
    features_{SET}.txt        F_SET lines               Sei target name of each column
    headers_{split}.txt       N_split lines             header of each row ("_r": reverse complement)
    sei_features_{split}.json                           settings and input fingerprints of the split

Rows are the split's sequences, then (as in the study) a reverse-complement copy of each sequence
whose label is in `targets_for_reverse_complement`. Each sequence is centred in
`sequence_length` bp (4,000 in the study) of zero padding.

Writing: a split is first laid out under `.partial/` in the result folder (`.npy` files of the
final size, made with `numpy.lib.format.open_memmap`); each batch of Sei outputs is written into
its rows through a memory map of just those rows, which is closed at once, so memory stays flat
however many rows there are. Rows can be written in any order and by several processes at once
(each takes a `shard_range` of rows, see `SplitWriter.open`), and the result is one coherent file:
under `torchrun` / `accelerate launch` (one machine), `run_preprocess` shares each split's rows
out over the processes this way (the main process lays out and finalises the split).
When every row is written the files are synced, `sei_features_{split}.json` is written and the
files are renamed into the result folder. A split counts as complete only with its marker and
every file of the right shape; otherwise it is made again on the next run. A complete split is
skipped, unless its marker records other settings or inputs, which is an error (nothing is
overwritten). Files of a split without a marker are not ours and are never overwritten either.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import PreprocessConfig, config_to_dict
from ..data.encoding import codes_to_one_hot, encode_codes, reverse_complement_codes
from ..data.sequences import DATA_FILE, check_sequences, read_sequence_table
from ..data.splits import SPLITS, SplitRows, augment_rows, load_split_indices
from ..device import bf16_autocast, choose_device
from ..distributed import broadcast, main_first, on_main, process_state, together
from ..errors import InputError
from ..io import atomic_write_text, file_sha256
from ..models.sei import Sei, load_sei
from ..models.sei_targets import FEATURE_SETS, SeiTargets, read_target_names
from .files import feature_paths, marker_path, names_path

PARTIAL_DIR = ".partial"
# Settings that change the numbers: a complete split made with others is not silently reused.
SIGNATURE_KEYS = ("sequence_length", "strand_average", "use_reverse_complement",
                  "targets_for_reverse_complement")
# ... and the inputs, by content (paths may move): weights, target names, data, the split's rows
COMPARED_KEYS = (*SIGNATURE_KEYS, "n_outputs", "sei_sha256", "target_names_sha256",
                 "data_sha256", "rows_sha256", "n_rows")

log = logging.getLogger("ir_sei.preprocess")


def shard_range(n_rows: int, rank: int, world_size: int) -> tuple[int, int]:
    """Contiguous rows [start, stop) of process `rank` out of `world_size` (sizes differ by <= 1)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} out of range for world_size {world_size}")
    base, extra = divmod(n_rows, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def _npy_data_offset(path: Path) -> tuple[int, tuple, np.dtype]:
    """Byte offset of the data in a .npy file, with its shape and dtype."""
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        if fortran:
            raise ValueError(f"{path} is Fortran-ordered")
        return handle.tell(), shape, dtype


class SplitWriter:
    """The memory-mapped output files of one split, written row block by row block.

    `create` (one process) lays out the files under `.partial/` and writes labels and headers;
    `open` (any process, after `create`) attaches to them; `write` fills rows; `finalize` (one
    process, after every row is written) writes the marker and moves the files into place.
    """

    def __init__(self, folder: Path, split: str, n_rows: int, columns: dict[str, np.ndarray]):
        self.folder = Path(folder)
        self.split = split
        self.n_rows = n_rows
        self.columns = columns  # feature set -> column indices into the ALL outputs
        self.partial = feature_paths(self.folder / PARTIAL_DIR, split)
        self._layout: dict[str, tuple[int, int]] = {}  # set -> (data offset, n columns)

    @classmethod
    def create(cls, folder: Path, split: str, rows: SplitRows, columns: dict[str, np.ndarray]
               ) -> "SplitWriter":
        writer = cls(folder, split, len(rows.labels), columns)
        (writer.folder / PARTIAL_DIR).mkdir(parents=True, exist_ok=True)
        for fset, cols in columns.items():
            # A sparse file of the final size: rows are filled in place later.
            data = np.lib.format.open_memmap(writer.partial[f"data_{fset}"], mode="w+",
                                             dtype=np.float32, shape=(writer.n_rows, len(cols)))
            del data
            target = np.lib.format.open_memmap(writer.partial[f"target_{fset}"], mode="w+",
                                               dtype=np.int64, shape=(writer.n_rows,))
            target[:] = rows.labels
            target.flush()
            del target
        atomic_write_text(writer.partial["headers"],
                          "".join(f"{header}\n" for header in rows.headers))
        return writer.attach()

    @classmethod
    def open(cls, folder: Path, split: str, n_rows: int, columns: dict[str, np.ndarray]
             ) -> "SplitWriter":
        """Attach to files laid out by `create` (e.g. in another process of a sharded run)."""
        return cls(folder, split, n_rows, columns).attach()

    def attach(self) -> "SplitWriter":
        for fset, cols in self.columns.items():
            path = self.partial[f"data_{fset}"]
            if not path.is_file():
                raise InputError(f"{path} is missing: the split's output was removed while it "
                                 f"was being written; run the script again")
            offset, shape, dtype = _npy_data_offset(path)
            if shape != (self.n_rows, len(cols)) or dtype != np.float32:
                raise InputError(f"{path} has shape {shape}, expected {(self.n_rows, len(cols))}: "
                                 f"another run is writing the same folder; wait for it or use "
                                 f"another result folder")
            self._layout[fset] = (offset, len(cols))
        return self

    def write(self, start: int, outputs: np.ndarray) -> None:
        """Write Sei outputs (B, F_ALL) float32 into rows [start, start + B) of every set."""
        outputs = np.asarray(outputs, dtype=np.float32)
        stop = start + len(outputs)
        if start < 0 or stop > self.n_rows:
            raise ValueError(f"rows [{start}, {stop}) outside the split's {self.n_rows} rows")
        for fset, cols in self.columns.items():
            offset, width = self._layout[fset]
            if len(outputs) == 0 or width == 0:
                continue
            # Map just these rows and drop the map at once: written pages then belong to the
            # page cache, not to this process, so its memory does not grow with the split.
            block = np.memmap(self.partial[f"data_{fset}"], dtype=np.float32, mode="r+",
                              offset=offset + start * width * 4, shape=(len(outputs), width))
            block[:] = outputs if fset == "ALL" else outputs[:, cols]
            del block  # no msync per batch: `finalize` syncs each file once

    def finalize(self, signature: dict) -> None:
        """Write the completion marker, then move the finished files into the result folder.

        A crash between the two leaves a marker with files missing, which `split_status` reports
        as "redo": the split is made again, never taken as complete.
        """
        for path in self.partial.values():  # the data reach the disk before the marker does
            with open(path, "rb+") as handle:
                os.fsync(handle.fileno())
        marker = {"split": self.split, "n_rows": self.n_rows,
                  "n_features": {fset: len(cols) for fset, cols in self.columns.items()},
                  **signature}
        atomic_write_text(marker_path(self.folder, self.split),
                          json.dumps(marker, indent=2, sort_keys=True) + "\n")
        for key, partial in self.partial.items():
            os.replace(partial, feature_paths(self.folder, self.split)[key])
        with contextlib.suppress(OSError):  # removed once no other split is in progress
            (self.folder / PARTIAL_DIR).rmdir()


def split_status(folder: Path, split: str, signature: dict, n_rows: int,
                 columns: dict[str, np.ndarray]) -> str:
    """State of one split in the result folder.

    Returns "complete" (marker and every file of the right shape: skip it), "redo" (our marker,
    but files missing or damaged: make it again) or "missing" (nothing there: make it).

    Raises
    ------
    InputError
        The split was made with other settings, or files of that split exist without a marker
        (not written by a complete run of this script); nothing is overwritten.
    """
    marker_file = marker_path(folder, split)
    finals = feature_paths(folder, split)
    if not marker_file.is_file():
        present = [path.name for path in finals.values() if path.exists()]
        if present:
            raise InputError(
                f"{folder} holds {', '.join(present)} but no {marker_file.name}: these files were "
                f"not written by a complete run of this script (another program's output, or a "
                f"copy). To keep them, choose another result folder (--result); to replace "
                f"them, delete them first")
        return "missing"
    try:
        marker = json.loads(marker_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "redo"
    ours = {**signature, "n_rows": n_rows}
    differ = [(key, marker.get(key), ours.get(key)) for key in COMPARED_KEYS
              if marker.get(key) != ours.get(key)]
    if differ:
        detail = "; ".join(f"{key}: {_short(there)} there, {_short(now)} now"
                           for key, there, now in differ)
        raise InputError(
            f"{folder} already holds the {split} split's Sei features, made with other settings "
            f"({detail}). Choose another result folder (--result), or delete {marker_file.name} "
            f"and the {split} files there to make them again")
    for key, path in finals.items():
        if not path.is_file():
            return "redo"
        if key.startswith(("data_", "target_")):
            try:
                _, shape, _ = _npy_data_offset(path)
            except Exception:  # noqa: BLE001 - a damaged header (numpy raises several kinds)
                return "redo"
            fset = key.split("_", 1)[1]
            expected = (n_rows, len(columns[fset])) if key.startswith("data_") else (n_rows,)
            if shape != expected:
                return "redo"
    return "complete"


def _short(value) -> str:
    text = repr(value)
    return text[:13] + "...'" if isinstance(value, str) and len(value) == 64 else text


def rows_sha256(rows: SplitRows) -> str:
    """Fingerprint of a split's rows: which sequences, which are reverse complements, labels."""
    digest = hashlib.sha256()
    for array in (rows.source_rows, rows.is_reverse_complement, rows.labels):
        digest.update(np.ascontiguousarray(array).astype(np.int64).tobytes())
    return digest.hexdigest()


def discard_split(folder: Path, split: str) -> None:
    """Remove a split's files written by an earlier, unfinished run (files first, marker last, so
    a crash in between never leaves files without their marker)."""
    for path in feature_paths(folder, split).values():
        path.unlink(missing_ok=True)
    marker_path(folder, split).unlink(missing_ok=True)


@dataclass
class PreparedData:
    """What every split needs: sequences, split rows, Sei targets and column sets."""

    sequences: list[str]
    splits: dict[str, SplitRows]
    targets: SeiTargets
    columns: dict[str, np.ndarray]
    data_file: Path


def prepare(config: PreprocessConfig, n_outputs: int) -> PreparedData:
    """Read and check the data, the split files and target.names (before any Sei work)."""
    data_dir = Path(config.data_path)
    targets = read_target_names(config.target_names, n_outputs=n_outputs)
    table = read_sequence_table(data_dir / DATA_FILE)
    check_sequences(table, config.sequence_length)  # every sequence checked now, not mid-split
    # last: may write new split files, which only a run whose other inputs are good should do
    indices = load_split_indices(data_dir, len(table), seed=config.seed)
    splits = {split: augment_rows(table, indices[split], config.use_reverse_complement,
                                  config.targets_for_reverse_complement) for split in SPLITS}
    columns = {fset: targets.indices(fset) for fset in FEATURE_SETS}
    return PreparedData(table.sequences, splits, targets, columns, table.path)


def batch_inputs(sequences: list[str], rows: SplitRows, start: int, stop: int, length: int,
                 device: torch.device) -> torch.Tensor:
    """One-hot inputs (B, 4, length) float32 on `device` for rows [start, stop) of a split.

    Codes (1 byte per base) are made and reverse-complemented on the CPU and expanded to one-hot
    on the device, so only the compact codes travel.
    """
    codes = encode_codes([sequences[r] for r in rows.source_rows[start:stop]], length)
    flip = rows.is_reverse_complement[start:stop]
    if flip.any():
        codes[flip] = reverse_complement_codes(codes[flip])
    return codes_to_one_hot(torch.from_numpy(codes).to(device, non_blocking=True))


def extract_rows(model: Sei, data: PreparedData, split: str, writer: SplitWriter,
                 config: PreprocessConfig, device: torch.device, row_range=None,
                 progress: bool = True) -> None:
    """Run Sei over rows [start, stop) of a split and write its outputs.

    Inference mode; bf16 autocast on CUDA when `mixed_precision` (fp32 on the CPU). The model's
    train/eval mode is restored afterwards.
    """
    rows = data.splits[split]
    start, stop = row_range or (0, len(rows.labels))
    was_training = model.training
    model.eval()
    bar = tqdm(total=stop - start, desc=f"Sei features, {split}", unit="seq", disable=not progress)
    try:
        with torch.inference_mode():
            for first in range(start, stop, config.batch_size):
                last = min(first + config.batch_size, stop)
                x = batch_inputs(data.sequences, rows, first, last, config.sequence_length, device)
                with bf16_autocast(device, config.mixed_precision):
                    outputs = model(x)
                writer.write(first, outputs.float().cpu().numpy())
                bar.update(last - first)
    finally:
        bar.close()
        model.train(was_training)


def signature_of(config: PreprocessConfig, n_outputs: int, data_file: Path) -> dict:
    """The settings and input fingerprints recorded in (and compared with) each split's
    completion marker (`COMPARED_KEYS`; the paths are for the reader only)."""
    return {
        **{key: getattr(config, key) for key in SIGNATURE_KEYS},
        "n_outputs": n_outputs,
        "sei_path": str(Path(config.sei_path).resolve()),
        "sei_sha256": file_sha256(config.sei_path),
        "target_names": str(Path(config.target_names).resolve()),
        "target_names_sha256": file_sha256(config.target_names),
        "data_file": str(Path(data_file).resolve()),
        "data_sha256": file_sha256(data_file),
    }


def write_feature_names(folder: Path, targets: SeiTargets) -> None:
    for fset in FEATURE_SETS:
        atomic_write_text(names_path(folder, fset),
                          "".join(f"{name}\n" for name in targets.feature_names(fset)))


def run_preprocess(config: PreprocessConfig, progress: bool = True) -> dict[str, str]:
    """Make the feature files of every split that is not complete on disk.

    Launched with several processes (`torchrun` / `accelerate launch`, one machine), the rows of
    each split are shared out: the main process checks the result folder and lays out the
    split's files, every process runs Sei over its `shard_range` of rows (on its own GPU, or the
    CPU) and writes them in place, and the main process finalises the split once all are done.
    The files are the same as those of one process, rows in the same order.

    Returns
    -------
    dict split -> "written" or "skipped"
    """
    device = choose_device(config.device)
    processes = process_state(cpu=device.type == "cpu")
    if processes.num_processes > 1 and device.type == "cuda":
        if device.index is not None:
            raise InputError(f"device {config.device!r} puts every process on the same GPU: with "
                             f"several processes set device to \"auto\" (each process uses the "
                             f"GPU of its local rank)")
        device = processes.device
    model = load_sei(config.sei_path, strand_average=config.strand_average)
    # the main process first: it may write the split files that the others then read
    data = main_first(processes, lambda: prepare(config, model.n_targets))
    folder = Path(config.result_path)

    def check_folder():  # once, on the main process (the SHA-256 of sei.pth takes seconds)
        folder.mkdir(parents=True, exist_ok=True)
        signature = signature_of(config, model.n_targets, data.data_file)
        signatures = {split: {**signature, "rows_sha256": rows_sha256(data.splits[split])}
                      for split in SPLITS}
        status = {split: split_status(folder, split, signatures[split],
                                      len(data.splits[split].labels), data.columns)
                  for split in SPLITS}
        return signatures, status

    checked = on_main(processes, check_folder)
    signatures = checked[0] if checked else None
    status = broadcast(processes, checked[1] if checked else None)
    counts = data.targets.counts()
    log.info(f"Sei: {model.n_targets:,} outputs (TF {counts['TF']:,}, HM {counts['HM']:,}, "
             f"accessibility {counts['ACC']:,}); input {config.sequence_length} bp; device "
             f"{device}" + (", bf16" if config.mixed_precision and device.type == "cuda" else "")
             + (f"; {processes.num_processes} processes share the rows"
                if processes.num_processes > 1 else ""))
    result = {}
    if all(s == "complete" for s in status.values()):
        log.info(f"every split is complete in {folder}; nothing to do")
        return {split: "skipped" for split in SPLITS}
    model.to(device)
    on_main(processes, lambda: write_feature_names(folder, data.targets))
    for split in SPLITS:
        if status[split] == "complete":
            log.info(f"{split}: {len(data.splits[split].labels):,} rows complete in {folder}, "
                     f"skipped")
            result[split] = "skipped"
            continue
        _write_split(processes, model, data, split, folder, status[split],
                     signatures[split] if signatures else None, config, device, progress)
        result[split] = "written"
    return result


def _write_split(processes, model: Sei, data: PreparedData, split: str, folder: Path, status: str,
                 signature: dict | None, config: PreprocessConfig, device: torch.device,
                 progress: bool) -> None:
    """One split, its rows shared out over the processes (see `run_preprocess`); `signature`
    is needed on the main process only."""
    started = time.perf_counter()
    n_rows = len(data.splits[split].labels)

    def lay_out() -> SplitWriter:
        if status == "redo":
            log.info(f"{split}: the files in {folder} are incomplete; making them again")
            discard_split(folder, split)
        return SplitWriter.create(folder, split, data.splits[split], data.columns)

    created = on_main(processes, lay_out)
    writer = together(processes, lambda: created or SplitWriter.open(folder, split, n_rows,
                                                                      data.columns))
    rows = shard_range(n_rows, processes.process_index, processes.num_processes)
    together(processes, lambda: extract_rows(model, data, split, writer, config, device,
                                             row_range=rows,
                                             progress=progress and processes.is_main_process))
    on_main(processes, lambda: writer.finalize(
        {**signature, "config": config_to_dict(config), "processes": processes.num_processes,
         "seconds": round(time.perf_counter() - started, 1)}))
    log.info(f"{split}: {n_rows:,} rows written to {folder} ({time.perf_counter() - started:.1f} s)"
             + (f" by {processes.num_processes} processes" if processes.num_processes > 1 else ""))
