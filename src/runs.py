"""Run folders: one per training or evaluation run, never overwritten, and the one rule for
finding them again.

    results_path/
      results.csv                 one row per evaluation: run, model, split, metrics
      <Model>_<YYYYmmdd-HHMMSS>/  a run ("<Model>_eval_<time>" for an evaluation only)
        config.json               the resolved config
        run.log                   everything printed
        best.pt, last.pt          best (lowest validation loss) and last checkpoints
        loss.csv, loss.png        per-epoch learning rate, train and validation loss
        predictions.csv           header, label, probability for the evaluated split
        metrics.json              the metrics of predictions.csv

This module owns those names. "The newest run" always means the run folder created last (its
config.json, written when the folder is made, is the newest), among those that hold what the
caller needs (`newest_run`). Only the main process of a multi-process run writes.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .errors import InputError
from .io import append_csv_row, atomic_write_text
from .metrics import METRIC_NAMES

CONFIG_FILE = "config.json"
LOG_FILE = "run.log"
LIGHTGBM_MODEL_FILE = "model.txt"  # LGBM.py's booster (src.train.boosting)
BEST_CHECKPOINT = "best.pt"
LAST_CHECKPOINT = "last.pt"
LOSS_FILE = "loss.csv"
LOSS_FIGURE = "loss.png"
PREDICTIONS_FILE = "predictions.csv"
METRICS_FILE = "metrics.json"
RESULTS_FILE = "results.csv"
RESULT_COLUMNS = ("run", "model", "split", "checkpoint", "n", "n_positive", *METRIC_NAMES, "date")
EVALUATION_TAG = "_eval"  # "<Model>_eval_<time>": a run that only evaluated a checkpoint


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

    def write_predictions(self, headers, labels, probabilities) -> Path:
        """`header,label,probability` (probability of class 1), one row per evaluated sequence."""
        frame = pd.DataFrame({"header": np.asarray(headers, dtype=object),
                              "label": np.asarray(labels, dtype=np.int64),
                              "probability": np.asarray(probabilities, dtype=np.float64)})
        self.write_table(PREDICTIONS_FILE, frame)
        return self.path(PREDICTIONS_FILE)

    def write_evaluation(self, model: str, split: str, checkpoint: str | Path, metrics: dict,
                         headers, labels, probabilities) -> None:
        """predictions.csv, metrics.json and a results.csv row: what makes a run evaluated."""
        self.write_predictions(headers, labels, probabilities)
        self.write_json(METRICS_FILE, {"split": split, "checkpoint": str(checkpoint), **metrics})
        self.append_result(model, split, checkpoint, metrics)
        self.log.info(f"{model} on {split} ({metrics['n']:,} sequences): accuracy "
                      f"{metrics['accuracy']:.3f}  AUROC {metrics['auroc']:.3f}  AUPRC "
                      f"{metrics['auprc']:.3f}  AUPRC (trapezoid) "
                      f"{metrics['auprc_trapezoid']:.3f}")

    def append_result(self, model: str, split: str, checkpoint: str | Path, metrics: dict) -> None:
        """Append one row to `results.csv` beside the run folders (header written once)."""
        if not self.is_main:
            return
        row = {"run": self.folder.name, "model": model, "split": split,
               "checkpoint": str(checkpoint), "date": datetime.now().isoformat(timespec="seconds"),
               **{k: metrics.get(k, "") for k in ("n", "n_positive", *METRIC_NAMES)}}
        append_csv_row(self.results_csv, RESULT_COLUMNS, row)


# ------------------------------------------------------------------------- finding runs again

def run_folders(results_path: str | Path) -> list[Path]:
    """The run folders directly in `results_path` (folders holding config.json), oldest first."""
    folder = Path(results_path)
    if not folder.is_dir():
        return []
    runs = [p for p in folder.iterdir() if p.is_dir() and (p / CONFIG_FILE).is_file()]
    return sorted(runs, key=lambda p: ((p / CONFIG_FILE).stat().st_mtime_ns, p.name))


def is_training_run(folder: str | Path) -> bool:
    """A run that trained (not a `<Model>_eval_<time>` evaluation of a checkpoint)."""
    return f"{EVALUATION_TAG}_" not in Path(folder).name


def evaluated_split(folder: str | Path) -> str | None:
    """The split a run evaluated (predictions.csv and metrics.json present), else None."""
    folder = Path(folder)
    if not ((folder / PREDICTIONS_FILE).is_file() and (folder / METRICS_FILE).is_file()):
        return None
    try:
        return json.loads((folder / METRICS_FILE).read_text()).get("split", "test")
    except (OSError, ValueError, AttributeError):
        return None


def is_evaluated(folder: str | Path, split: str = "test") -> bool:
    """The run has predictions and metrics for `split`."""
    return evaluated_split(folder) == split


def newest_run(path: str | Path, required: str = PREDICTIONS_FILE,
               where: Callable[[Path], bool] | None = None) -> Path | None:
    """`path` itself when it is a run folder holding `required` (and passing `where`), else the
    newest run folder in `path` (a `results_path`) that does; None when there is none."""
    path = Path(path)

    def fits(run: Path) -> bool:
        return (run / required).is_file() and (where is None or where(run))

    if fits(path):
        return path
    for run in reversed(run_folders(path)):
        if fits(run):
            return run
    return None


def find_run(path: str | Path, required: str = PREDICTIONS_FILE) -> Path:
    """`newest_run` for a path the user gave: an `InputError` when there is no such run."""
    run = newest_run(path, required)
    if run is None:
        raise InputError(f"{path}: no run folder with {required} found: pass a run folder "
                         f"(results/<Model>/<Model>_<time>) or its results folder, after the "
                         f"run has {_made_by(required)}")
    return run


def _made_by(required: str) -> str:
    return "evaluated a split (-e)" if required == PREDICTIONS_FILE else f"written {required}"


def newest_evaluated_training_run(results_path: str | Path, split: str = "test") -> Path | None:
    """The newest training run of `results_path` that evaluated `split` (what the study uses)."""
    return newest_run(results_path, PREDICTIONS_FILE,
                      where=lambda run: is_training_run(run) and is_evaluated(run, split))


def interrupted_run(results_path: str | Path) -> Path | None:
    """The newest training run, when it has a last.pt but no predictions (to `--resume`)."""
    runs = [run for run in run_folders(results_path) if is_training_run(run)]
    if runs and (runs[-1] / LAST_CHECKPOINT).is_file() \
            and not (runs[-1] / PREDICTIONS_FILE).is_file():
        return runs[-1]
    return None


def newer_than(target: str | Path, runs, name: str) -> bool:
    """`target` exists and is at least as new as the file `name` of every run folder in `runs`
    (a None among them: not newer)."""
    target = Path(target)
    return target.is_file() and all(
        run is not None and (run / name).is_file()
        and target.stat().st_mtime >= (run / name).stat().st_mtime for run in runs)


def run_label(folder: str | Path) -> str:
    """A short name for a run: its model (the folder name before the timestamp), with the Sei
    feature set for LR/LGBM runs, e.g. "FSei", "LR (TF)", and "(original load)" for a DNABERT-2
    run with the original study's load."""
    folder = Path(folder)
    model = re.sub(r"(_eval)?_\d{8}-\d{6}(_\d+)?$", "", folder.name)
    config_file = folder / CONFIG_FILE
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
        if config.get("load") == "original_study":  # DNABert2.py's original-study load
            model = f"{model} (original load)"
    return model


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Read a run's `predictions.csv` (header, label, probability), checked.

    Raises
    ------
    InputError
        The file cannot be read as CSV, lacks a column, is empty, or has a label other than 0/1
        or a probability outside [0, 1] (the message names the line).
    """
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


# ---------------------------------------------------------------------------------- logging

def console_logger(name: str) -> logging.Logger:
    """A logger that prints messages (between progress bars) for code that runs before or
    without a run folder. In a job of several processes only the first one prints information;
    the others print warnings and errors."""
    from .device import launched_rank

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
        log_file = logging.FileHandler(folder / LOG_FILE)
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
