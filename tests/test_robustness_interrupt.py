"""Interrupted runs: real processes killed with SIGKILL (no chance to clean up), then continued.

* Basset.py training is killed in the epoch after its first completed one; `--resume` continues
  after the last completed epoch and the run ends with the configured number of epochs, each
  epoch once, with loadable checkpoints and one results.csv row.
* Preprocess_data_to_numpy.py is killed while it writes a split; the split never looks complete
  (no completion marker, no file under its final name), the complete split before it is kept,
  and running the command again gives exactly the files of an uninterrupted run.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import random_sequences, write_dataset
from robustness_fixtures import SEI_NAMES, TINY_BASSET, run_main

import Basset
import Preprocess_data_to_numpy as Preprocess
from src.data.splits import SPLITS
from src.features.extract import PARTIAL_DIR
from src.features.files import MARKER, feature_paths
from src.train.checkpoints import read_checkpoint

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not hasattr(signal, "SIGKILL") or "fork" not in multiprocessing.get_all_start_methods(),
    reason="needs POSIX fork and SIGKILL")]


def _run_script(script, argv: list, log: str) -> None:
    """The child: the script's main() with its output in `log` (then the child exits)."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    script.main([str(a) for a in argv])


def start(script, argv: list, log: Path):
    """The script in a process of its own, forked from this one: the same code as
    `python Script.py ...`, without paying the import of torch and scikit-learn (5-10 s on a
    busy 2-core machine) a second time."""
    process = multiprocessing.get_context("fork").Process(target=_run_script,
                                                          args=(script, argv, str(log)))
    process.start()
    return process


def wait_for(condition, process, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if not process.is_alive():
            pytest.fail(f"the process ended (code {process.exitcode}) before it could be "
                        f"interrupted:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out waiting for the process:\n{log.read_text()[-3000:]}")
        time.sleep(0.01)


def kill(process) -> None:
    """SIGKILL: the process gets no chance to clean up (no finally, no atexit)."""
    assert process.is_alive(), "the process had already ended"
    os.kill(process.pid, signal.SIGKILL)
    process.join(timeout=30)
    assert process.exitcode == -signal.SIGKILL


def completed_epochs(path: Path) -> int:
    """Epochs recorded by last.pt (0 while it is absent or being replaced)."""
    try:
        return read_checkpoint(path)["training"]["epoch"] + 1
    except Exception:  # noqa: BLE001 - absent, or not yet renamed into place
        return 0


def hidden_temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp"))


# --- training -----------------------------------------------------------------------------------

EPOCHS = 3


def test_training_killed_mid_epoch_resumes_after_the_last_completed_epoch(tmp_path):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, size=300).tolist()
    data = write_dataset(tmp_path / "data", random_sequences(300, 300, seed=3), labels)
    config = tmp_path / "basset.json"
    config.write_text(json.dumps({
        "data_path": str(data), "results_path": str(tmp_path / "results"),
        "sequence_length": 300, "max_epochs": EPOCHS, "warmup_steps": 1, "batch_size": 8,
        "optimizer_type": "adamw", "max_lr": 0.003, "num_workers": 0,
        "counter_for_early_stop_threshold": EPOCHS, "model_architecture": TINY_BASSET}))
    log = tmp_path / "killed.log"
    process = start(Basset, ["--json", config, "-n", "-t", "-e"], log)
    runs = tmp_path / "results"

    def one_epoch_saved() -> bool:
        folders = [p for p in runs.glob("Basset_*") if p.is_dir()] if runs.is_dir() else []
        # loss.png comes after last.pt and loss.csv: epoch 1 is saved, epoch 2 is training
        return bool(folders) and (folders[0] / "loss.png").is_file() \
            and completed_epochs(folders[0] / "last.pt") >= 1

    wait_for(one_epoch_saved, process, log)
    time.sleep(0.2)  # into the next epoch's batches
    kill(process)
    (run,) = [p for p in runs.glob("Basset_*") if p.is_dir()]
    done = completed_epochs(run / "last.pt")
    assert 1 <= done < EPOCHS, f"killed after {done} epochs: not mid-run"
    # what the killed process left: checkpoints that load, nothing half-written under a final
    # name, no results row; temporaries (if the kill hit a write) are hidden *.tmp files
    best = read_checkpoint(run / "best.pt", "Basset")
    assert best["model_name"] == "Basset"
    assert all(name.startswith(".") for name in hidden_temporaries(run))
    assert not (runs / "results.csv").exists() and not (run / "predictions.csv").exists()
    history_before = pd.read_csv(run / "loss.csv")
    assert len(history_before) in (done - 1, done)  # loss.csv follows last.pt

    # as a kill during a checkpoint write leaves it (the name of temporary_file_beside)
    (run / ".last.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")
    assert run_main(Basset, ["--resume", run, "-e"]) == 0
    assert hidden_temporaries(run) == []  # cleared by --resume
    last = read_checkpoint(run / "last.pt", "Basset")
    assert last["training"]["epoch"] + 1 == EPOCHS and not last["training"]["stopped_early"]
    history = pd.read_csv(run / "loss.csv")
    assert history["epoch"].tolist() == list(range(1, EPOCHS + 1))  # each epoch exactly once
    # the completed epochs were kept, not trained again
    pd.testing.assert_frame_equal(history.iloc[:len(history_before)], history_before)
    assert f"resuming {run} after epoch {done}" in (run / "run.log").read_text()
    results = pd.read_csv(runs / "results.csv")
    assert len(results) == 1 and results["run"].iloc[0] == run.name
    assert len(pd.read_csv(run / "predictions.csv")) == 2 * 30  # test rows + reverse complements
    read_checkpoint(run / "best.pt", "Basset")


# --- Preprocess_data_to_numpy.py ---------------------------------------------------------------

def _preprocess_inputs(root: Path) -> Path:
    from src.models.sei import Sei, write_official_checkpoint

    sequences = random_sequences(300, 200, seed=8)
    labels = (np.arange(300) % 3 == 0).astype(int).tolist()
    data = write_dataset(root / "data", sequences, labels)
    # a long validation split, so that the kill lands inside it: 30 / 240 / 30 rows
    order = np.random.default_rng(0).permutation(300)
    for split, rows in (("train", order[:30]), ("valid", order[30:270]), ("test", order[270:])):
        (data / f"{split}_indices.txt").write_text("".join(f"{i}\n" for i in rows))
    torch.manual_seed(2)
    write_official_checkpoint(Sei((4, 6, 8), n_targets=len(SEI_NAMES)), root / "sei" / "sei.pth")
    (root / "sei" / "target.names").write_text("\n".join(SEI_NAMES) + "\n")
    config = root / "preprocess.json"
    config.write_text(json.dumps({
        "data_path": str(data), "sei_path": str(root / "sei" / "sei.pth"),
        "target_names": str(root / "sei" / "target.names"), "sequence_length": 300,
        "batch_size": 2, "device": "cpu"}))
    return config


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith("sei_features_")}


def test_preprocess_killed_mid_split_leaves_no_complete_looking_split(tmp_path):
    config = _preprocess_inputs(tmp_path)
    result = tmp_path / "features"
    log = tmp_path / "killed.log"
    process = start(Preprocess, ["--json", config, "--result", result, "--no-progress"], log)
    wait_for(lambda: (result / MARKER.format(split="train")).is_file()
             and (result / PARTIAL_DIR / "headers_valid.txt").is_file(), process, log)
    time.sleep(0.05)
    kill(process)

    markers = {split: (result / MARKER.format(split=split)).is_file() for split in SPLITS}
    assert markers["train"] and not markers["test"]
    for split in SPLITS:
        finals = [p.name for p in feature_paths(result, split).values() if p.exists()]
        if not markers[split]:  # files reach their final names only after the marker
            assert finals == [], f"{split}: {finals} without a completion marker"
    assert not markers["valid"], "the kill came too late: valid was already complete"
    assert list((result / PARTIAL_DIR).glob("*valid*")), "the valid split was not in progress"

    # the same command again: the complete split is kept, the others are made
    before = (result / "data_ALL_train.npy").stat().st_mtime_ns
    assert run_main(Preprocess, ["--json", config, "--result", result, "--no-progress"]) == 0
    assert (result / "data_ALL_train.npy").stat().st_mtime_ns == before
    assert not (result / PARTIAL_DIR).exists()
    assert run_main(Preprocess, ["--json", config, "--result", tmp_path / "clean",
                                 "--no-progress"]) == 0
    assert _files(result) == _files(tmp_path / "clean")


def test_preprocess_remakes_a_complete_split_whose_file_was_damaged_later(tmp_path):
    """A data file of a finished split whose header was overwritten (a disk or copy problem):
    the split no longer counts as complete and is made again, the others are kept."""
    config = _preprocess_inputs(tmp_path)
    result = tmp_path / "features"
    argv = ["--json", config, "--result", result, "--no-progress"]
    assert run_main(Preprocess, argv) == 0
    good = _files(result)
    kept = (result / "data_ALL_valid.npy").stat().st_mtime_ns
    damaged = result / "data_TF_train.npy"
    damaged.write_bytes(b"\x93NUMPY\x01\x00\x08\x00(      \n" + damaged.read_bytes()[16:])
    assert run_main(Preprocess, argv) == 0
    assert _files(result) == good
    assert (result / "data_ALL_valid.npy").stat().st_mtime_ns == kept
