"""Run folders: one per training or evaluation run, never overwritten.

    results_path/
      results.csv                 one row per evaluation: run, model, split, metrics
      <Model>_<YYYYmmdd-HHMMSS>/  a run
        config.json               the resolved config
        run.log                   everything printed
        best.pt, last.pt          best (lowest validation loss) and last checkpoints
        loss.csv, loss.png        per-epoch learning rate, train and validation loss
        predictions.csv           header, label, probability for the evaluated split
        metrics.json              the metrics of predictions.csv

Only the main process of a multi-process run writes.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import METRIC_NAMES

RESULTS_FILE = "results.csv"
RESULT_COLUMNS = ("run", "model", "split", "checkpoint", "n", "n_positive", *METRIC_NAMES, "date")


class Run:
    """A run folder and its outputs. With `is_main=False` every write is skipped."""

    def __init__(self, folder: str | Path, is_main: bool = True):
        self.folder = Path(folder)
        self.is_main = is_main
        self.log = _make_logger(self.folder, is_main)

    @classmethod
    def create(cls, results_path: str | Path, name: str, is_main: bool = True) -> "Run":
        """A new, empty folder `results_path/<name>_<timestamp>` (suffixed if that exists).

        `name` is a plain name (a model name): with a path separator or ".." the run folder
        could land outside `results_path`, so that is refused.
        """
        if not name or name in (".", "..") or Path(name).name != name or "\\" in name:
            raise ValueError(f"run name {name!r} must be a plain folder name")
        results_path = Path(results_path)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        if not is_main:
            return cls(results_path / f"{name}_{stamp}", is_main=False)
        results_path.mkdir(parents=True, exist_ok=True)
        for attempt in range(1000):
            folder = results_path / (f"{name}_{stamp}" + (f"_{attempt}" if attempt else ""))
            try:
                folder.mkdir()
                return cls(folder)
            except FileExistsError:
                continue
        raise RuntimeError(f"could not create a new run folder in {results_path}")

    def path(self, name: str) -> Path:
        return self.folder / name

    @property
    def results_csv(self) -> Path:
        return self.folder.parent / RESULTS_FILE

    def write_log_only(self, message: str) -> None:
        """A line in run.log that is not also printed (the caller prints it its own way)."""
        for handler in self.log.handlers:
            if isinstance(handler, logging.FileHandler):
                handler.emit(self.log.makeRecord(self.log.name, logging.ERROR, __file__, 0,
                                                 message, None, None))

    def write_json(self, name: str, obj) -> None:
        if self.is_main:
            atomic_write_text(self.path(name), json.dumps(obj, indent=2, sort_keys=True) + "\n")

    def write_table(self, name: str, frame: pd.DataFrame) -> None:
        if self.is_main:
            atomic_write_text(self.path(name), frame.to_csv(index=False))

    def write_predictions(self, headers, labels, probabilities, name="predictions.csv") -> Path:
        """`header,label,probability` (probability of class 1), one row per evaluated sequence."""
        frame = pd.DataFrame({"header": np.asarray(headers, dtype=object),
                              "label": np.asarray(labels, dtype=np.int64),
                              "probability": np.asarray(probabilities, dtype=np.float64)})
        self.write_table(name, frame)
        return self.path(name)

    def append_result(self, model: str, split: str, checkpoint: str | Path, metrics: dict) -> None:
        """Append one row to `results.csv` beside the run folders (header written once)."""
        if not self.is_main:
            return
        row = {"run": self.folder.name, "model": model, "split": split,
               "checkpoint": str(checkpoint), "date": datetime.now().isoformat(timespec="seconds"),
               **{k: metrics.get(k, "") for k in ("n", "n_positive", *METRIC_NAMES)}}
        append_csv_row(self.results_csv, RESULT_COLUMNS, row)


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Read a run's `predictions.csv` (header, label, probability), checked.

    Raises
    ------
    InputError
        The file cannot be read as CSV, lacks a column, is empty, or has a label other than 0/1
        or a probability outside [0, 1] (the message names the line).
    """
    from .errors import InputError

    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)  # as written, for messages
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"{path} is not a readable predictions table ({err}); it must be the "
                         f"predictions.csv (header,label,probability) that a run wrote") from None
    missing = [c for c in ("label", "probability") if c not in frame.columns]
    if missing:
        raise InputError(f"{path} lacks the column(s) {', '.join(missing)}: it must be the "
                         f"predictions.csv (header,label,probability) that a run wrote")
    if frame.empty:
        raise InputError(f"{path} has no rows: evaluate the run again (-e)")
    labels = pd.to_numeric(frame["label"], errors="coerce")
    probabilities = pd.to_numeric(frame["probability"], errors="coerce")
    bad = ~labels.isin((0, 1)) | ~probabilities.between(0, 1)  # NaN fails both
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise InputError(f"{path}, line {row + 2}: label {frame['label'].iloc[row]!r}, "
                         f"probability {frame['probability'].iloc[row]!r}; labels must be 0 or 1 "
                         f"and probabilities numbers in [0, 1] ({int(bad.sum())} bad row(s)). "
                         f"Evaluate the run again (-e) instead of editing the file")
    return frame.assign(label=labels.astype(np.int64), probability=probabilities.astype(float))


def append_csv_row(path: Path, columns, row: dict) -> None:
    """Append one row in a single write (a crash leaves no half row); header on a new file."""
    new = not path.exists() or path.stat().st_size == 0
    line = _csv_line([row[c] for c in columns])
    with open(path, "a", newline="") as out:
        out.write((_csv_line(columns) if new else "") + line)
        out.flush()
        os.fsync(out.fileno())


def _csv_line(values) -> str:
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [f"{v:.6g}" if isinstance(v, float) else v for v in values])
    return buffer.getvalue()


def temporary_file_beside(path: Path) -> tuple[int, str]:
    """A new hidden temporary file in `path`'s folder (for write-then-rename), with the
    permissions an ordinary new file gets (mkstemp alone makes it private to the owner)."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(handle, 0o666 & ~umask)
    return handle, tmp


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write via a temporary file and a rename: readers see the old or the new file, never half."""
    path = Path(path)
    handle, tmp = temporary_file_beside(path)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def console_logger(name: str) -> logging.Logger:
    """A logger that prints messages (between progress bars) for code that runs before or
    without a run folder. In a job of several processes only the first one prints information;
    the others print warnings and errors."""
    from .distributed import launched_rank

    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = TqdmHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO if launched_rank() == 0 else logging.WARNING)
        logger.propagate = False
    return logger


class TqdmHandler(logging.StreamHandler):
    """Console handler that does not break tqdm progress bars."""

    def emit(self, record):
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never crash a run
            self.handleError(record)


def _make_logger(folder: Path, is_main: bool) -> logging.Logger:
    logger = logging.getLogger(f"ir_sei.run.{folder}")
    logger.setLevel(logging.INFO if is_main else logging.WARNING)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    console = TqdmHandler()
    console.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(console)
    if is_main and folder.is_dir():
        log_file = logging.FileHandler(folder / "run.log")
        log_file.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
        logger.addHandler(log_file)
    return logger


def close_logger(run: Run) -> None:
    for handler in list(run.log.handlers):
        run.log.removeHandler(handler)
        handler.close()


def elapsed(start: float) -> str:
    seconds = time.perf_counter() - start
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def newest_run(path: str | Path, required: str = "predictions.csv") -> Path:
    """`path` itself if it is a run folder holding `required`, else the newest run folder inside
    it (a `results_path`) that holds it."""
    path = Path(path)
    if (path / required).is_file():
        return path
    runs = sorted((p for p in path.glob("*/") if (p / required).is_file()),
                  key=lambda p: (p / required).stat().st_mtime) if path.is_dir() else []
    if not runs:
        from .errors import InputError

        raise InputError(f"{path}: no run folder with {required} found: pass a run folder "
                         f"(results/<Model>/<Model>_<time>) or its results folder, after the "
                         f"run has evaluated a split (-e)")
    return runs[-1]


def run_label(folder: str | Path) -> str:
    """A short name for a run: its model (the folder name before the timestamp), with the Sei
    feature set for LR/LGBM runs, e.g. "FSei", "LR (TF)"."""
    import re

    folder = Path(folder)
    model = re.sub(r"(_eval)?_\d{8}-\d{6}(_\d+)?$", "", folder.name)
    config_file = folder / "config.json"
    if config_file.is_file():
        config = json.loads(config_file.read_text())
        feature_set = None
        if config.get("train_data"):
            match = re.search(r"data_(ALL|TF|HM)_train", str(config["train_data"]))
            feature_set = match.group(1) if match else None
        elif "feature_set" in config:
            feature_set = config["feature_set"]
        if feature_set:
            model = f"{model} ({feature_set})"
    return model
