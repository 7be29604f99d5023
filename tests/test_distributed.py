"""Two processes (torchrun, gloo on the CPU) give the results of one process.

One job is launched, as a user would launch a script on two GPUs: `torchrun --standalone
--nproc_per_node 2 tests/distributed_worker.py`, whose steps call the scripts' `main` (one launch:
starting two processes that import torch and the project takes 10 to 20 s here):

* Preprocess_data_to_numpy.py on a tiny dataset and a small Sei: the feature files must equal
  those of one process, rows in the same order; run again, it skips the complete splits;
* LR.py: train + evaluate with the class-balancing sampler, evaluate a one-process checkpoint,
  an interrupted run and its --resume;
* `predict` on splits of every remainder, the per-process shards of the training loaders, and
  user errors raised in one process only.

The one-process references run in this process. LR has no BatchNorm and no dropout, so two
processes with batch_size 32 take exactly the steps of one process with 64 (DDP averages the
gradients of the two half batches); predictions must agree to rounding.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import distributed_worker as worker
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT, random_sequences, write_dataset
from sei_feature_fixtures import write_feature_folder

import LR
from src.config import PreprocessConfig
from src.data.datasets import make_loader
from src.data.encoding import one_hot_encode, reverse_complement
from src.data.splits import SPLITS
from src.features.extract import PARTIAL_DIR, run_preprocess
from src.features.files import MARKER, BalancedSampler
from src.models.sei import Sei, load_sei, write_official_checkpoint
from src.train.checkpoints import load_model, read_checkpoint
from src.train.loop import make_accelerator

pytestmark = [pytest.mark.distributed, pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="this PyTorch build has no torch.distributed gloo backend")]

LAUNCH_TIMEOUT = 300  # seconds: a job that hangs fails the test instead of blocking CI
SIZES = {"train": 640, "valid": 203, "test": 301}  # 640 = 10 steps of 64 (or 2 x 32)
SEI_NAMES = ["HepG2 | CTCF | ID:1", "K562 | H3K27ac | ID:2", "A549 | DNase | ID:3",
             "HeLa | REST | ID:4", "GM12878 | H3K4me3 | ID:5", "Liver | ATAC-seq | ID:6"]
SEI_LENGTH = 96


def launch(script_and_args: list[str], label: str) -> SimpleNamespace:
    """`torchrun --standalone --nproc_per_node 2 ...` on the CPU; output, exit code, seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
               "2", *script_and_args]
    start = time.perf_counter()
    job = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = job.communicate(timeout=LAUNCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        output, _ = job.communicate()
        pytest.fail(f"the 2-process {label} job hung (killed after {LAUNCH_TIMEOUT} s):\n"
                    f"{output[-4000:]}")
    return SimpleNamespace(rc=job.returncode, output=output,
                           seconds=time.perf_counter() - start)


def lr_config(path: Path, features: Path, results: Path, batch_size: int) -> str:
    path.write_text(json.dumps({
        "features_path": str(features), "feature_set": "ALL", "results_path": str(results),
        "optimizer_type": "adamw", "use_scheduler": True, "warmup_steps": 1,
        "warmup_begin_lr": 0.005, "max_lr": 0.05, "final_lr": 0.001, "weight_decay": 0.01,
        "max_epochs": 4, "batch_size": batch_size, "counter_for_early_stop_threshold": 10,
        "epochs_to_check_loss": 1, "imbalanced_data": True, "lazy_loading": True,
        "mixed_precision": False, "num_workers": 0, "seed": 7}))
    return str(path)


def preprocess_inputs(root: Path) -> None:
    """A tiny dataset (41 sequences of 30-80 bp; reverse complements of label 1 only, so the
    splits have odd row counts) in two copies without split files, and a small Sei."""
    rng = np.random.default_rng(4)
    sequences = [s[: int(rng.integers(30, 81))] for s in random_sequences(41, 80, seed=5)]
    labels = (rng.random(41) < 0.4).astype(int)
    for copy in ("data_one", "data_two"):
        write_dataset(root / copy, sequences, labels, headers=[f"intron{i}" for i in range(41)])
    torch.manual_seed(8)
    write_official_checkpoint(Sei((4, 6, 8), n_targets=len(SEI_NAMES)), root / "sei" / "sei.pth")
    (root / "sei" / "target.names").write_text("\n".join(SEI_NAMES) + "\n")


def preprocess_config(root: Path, data: str, result: str) -> PreprocessConfig:
    return PreprocessConfig(
        data_path=str(root / data), result_path=str(root / result),
        sei_path=str(root / "sei" / "sei.pth"), target_names=str(root / "sei" / "target.names"),
        sequence_length=SEI_LENGTH, batch_size=5, device="cpu",
        targets_for_reverse_complement=[1])


def run_folders(results: Path) -> list[Path]:
    return sorted(p for p in results.iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("distributed")
    features = write_feature_folder(root / "features", "ALL", sizes=SIZES)
    ns = SimpleNamespace(root=root, features=features)
    ns.lr_one = lr_config(root / "lr_one.json", features, root / "one", 64)
    ns.lr_two = lr_config(root / "lr_two.json", features, root / "two", 32)
    ns.lr_cut = lr_config(root / "lr_cut.json", features, root / "cut", 32)
    LR.main(["--json", ns.lr_one, "-n", "-t", "-e"])  # the one-process reference
    ns.one = run_folders(root / "one")[0]

    preprocess_inputs(root)
    run_preprocess(preprocess_config(root, "data_one", "features_one"), progress=False)
    two = preprocess_config(root, "data_two", "features_two")
    (root / "pre_two.json").write_text(json.dumps(two.model_dump()))

    plan = {"lr_two": ns.lr_two, "lr_cut": ns.lr_cut, "cut_results": str(root / "cut"),
            "one_best": str(ns.one / "best.pt"), "preprocess_json": str(root / "pre_two.json"),
            "preprocess_result": str(root / "features_two"), "scratch": str(root / "scratch")}
    (root / "scratch").mkdir()
    (root / "plan.json").write_text(json.dumps(plan))
    ns.worker = launch([str(Path(worker.__file__)), str(root / "plan.json")], "worker")
    ns.outcomes = [json.loads((root / f"outcome_{rank}.json").read_text())
                   if (root / f"outcome_{rank}.json").is_file() else {} for rank in (0, 1)]
    return ns


def step(job, name: str, rank: int = 0) -> dict:
    """The record of a worker step; a step that raised shows its traceback."""
    record = job.outcomes[rank].get(name)
    assert record is not None, f"step {name} did not run in process {rank}:\n" \
                               f"{job.worker.output[-4000:]}"
    assert record["exit"] != "exception", record["traceback"]
    return record


def trained_folder(job) -> Path:
    """The run folder of the 2-process LR training (LR_eval_* ones are evaluations)."""
    return next(p for p in run_folders(job.root / "two") if not p.name.startswith("LR_eval"))


def read_predictions(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "predictions.csv")


def test_the_job_ran_two_gloo_processes(job):
    for outcome in job.outcomes:
        assert outcome["processes"] == 2 and outcome["distributed_type"].endswith("MULTI_CPU")


def test_preprocess_features_equal_the_one_process_files_in_order(job):
    assert step(job, "preprocess")["exit"] == 0
    one, two = job.root / "features_one", job.root / "features_two"
    # the split files were made once, by the main process, as one process makes them
    for split in SPLITS:
        assert ((job.root / "data_two" / f"{split}_indices.txt").read_text()
                == (job.root / "data_one" / f"{split}_indices.txt").read_text())
    table = pd.read_csv(job.root / "data_one" / "final_data.csv")
    model = load_sei(job.root / "sei" / "sei.pth")
    odd = 0
    for split in SPLITS:
        headers = (two / f"headers_{split}.txt").read_text().splitlines()
        assert headers == (one / f"headers_{split}.txt").read_text().splitlines()
        odd += len(headers) % 2
        for fset in ("ALL", "TF", "HM"):
            a = np.load(one / f"data_{fset}_{split}.npy")
            b = np.load(two / f"data_{fset}_{split}.npy")
            assert b.shape == a.shape and b.dtype == np.float32
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(np.load(two / f"target_{fset}_{split}.npy"),
                                          np.load(one / f"target_{fset}_{split}.npy"))
        # independent of both runs: Sei on the one-hot strings, in the order of the headers
        sequences = [table["sequence"][int(h.removesuffix("_r")[6:])] for h in headers]
        sequences = [reverse_complement(s) if h.endswith("_r") else s
                     for s, h in zip(sequences, headers)]
        with torch.inference_mode():
            expected = model(torch.from_numpy(one_hot_encode(sequences, SEI_LENGTH))).numpy()
        np.testing.assert_allclose(np.load(two / f"data_ALL_{split}.npy"), expected, rtol=1e-5,
                                   atol=1e-6)
        marker = json.loads((two / MARKER.format(split=split)).read_text())
        assert marker["processes"] == 2 and marker["n_rows"] == len(headers)
    assert odd > 0  # some split is not cut evenly into two shards
    for fset in ("ALL", "TF", "HM"):
        assert (two / f"features_{fset}.txt").read_text() == (one / f"features_{fset}.txt").read_text()
    assert not (two / PARTIAL_DIR).exists()
    # only the main process reports: 2 runs, 3 + 1 splits written (the second run redoes valid)
    assert job.worker.output.count("Sei features in") == 2
    assert job.worker.output.count("rows written to") == 4


def test_preprocess_again_skips_complete_splits_and_redoes_a_damaged_one(job):
    """The worker deleted data_TF_valid.npy before the second run (the file comparison above
    reads the valid files made again)."""
    before = step(job, "preprocess")["value"]
    assert step(job, "preprocess_again")["exit"] == 0
    after = step(job, "preprocess_again")["value"]
    assert len(before) == 3 and set(after) == set(before)
    for split in ("train", "test"):
        assert after[MARKER.format(split=split)] == before[MARKER.format(split=split)]
    assert after[MARKER.format(split="valid")] > before[MARKER.format(split="valid")]
    assert job.worker.output.count("valid: the files in") == 1
    assert job.worker.output.count("rows complete in") == 2  # train and test, reported once


def test_lr_on_two_processes_equals_one_process_with_the_double_batch(job):
    assert step(job, "train")["exit"] == 0
    assert len(run_folders(job.root / "two")) == 2  # training and evaluate_one: none per process
    two = trained_folder(job)
    a, b = read_predictions(job.one), read_predictions(two)
    headers = (job.features / "headers_test.txt").read_text().splitlines()
    assert b["header"].tolist() == headers == a["header"].tolist()  # every row once, in order
    np.testing.assert_array_equal(b["label"], np.load(job.features / "target_ALL_test.npy"))
    np.testing.assert_allclose(b["probability"], a["probability"], rtol=0, atol=2e-5)
    loss_a, loss_b = pd.read_csv(job.one / "loss.csv"), pd.read_csv(two / "loss.csv")
    assert loss_b["epoch"].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(loss_b["valid_loss"], loss_a["valid_loss"], rtol=1e-5)
    np.testing.assert_allclose(loss_b["train_loss"], loss_a["train_loss"], rtol=1e-5)
    metrics = json.loads((two / "metrics.json").read_text())
    assert metrics["n"] == SIZES["test"]
    assert metrics["auroc"] == pytest.approx(json.loads((job.one / "metrics.json").read_text())
                                             ["auroc"], abs=1e-4)
    assert metrics["auroc"] > 0.8  # and it learned the planted signal
    weights_a = pd.read_csv(job.one / "importance.csv").sort_values("column")["weight"]
    weights_b = pd.read_csv(two / "importance.csv").sort_values("column")["weight"]
    np.testing.assert_allclose(weights_b, weights_a, atol=1e-4)
    results = pd.read_csv(job.root / "two" / "results.csv")
    assert (results["run"] == two.name).sum() == 1  # written once
    log = (two / "run.log").read_text()
    assert log.count("epoch 1/4") == 1 and "2 processes (batch_size 32 per process" in log


def test_checkpoints_load_in_either_mode(job):
    two = trained_folder(job)
    for name in ("best.pt", "last.pt"):
        payload = read_checkpoint(two / name, expected_model="LR")
        assert not any(key.startswith("module.") for key in payload["state_dict"])
    assert read_checkpoint(two / "last.pt")["training"]["processes"] == 2
    model, _ = load_model(two / "best.pt", expected_model="LR")  # one process
    data = torch.from_numpy(np.load(job.features / "data_ALL_test.npy"))
    with torch.no_grad():
        probabilities = model(data).softmax(dim=1)[:, 1].numpy()
    np.testing.assert_allclose(probabilities, read_predictions(two)["probability"], atol=1e-6)
    # ... and a one-process checkpoint evaluated by two processes
    assert step(job, "evaluate_one")["exit"] == 0
    evaluated = [p for p in run_folders(job.root / "two") if p.name.startswith("LR_eval")]
    assert len(evaluated) == 1
    np.testing.assert_allclose(read_predictions(evaluated[0])["probability"],
                               read_predictions(job.one)["probability"], atol=1e-6)


def test_resume_under_two_processes_continues_the_interrupted_run(job):
    assert step(job, "interrupted")["exit"] == 130
    assert step(job, "interrupted", rank=1)["exit"] == 130
    assert step(job, "resume")["exit"] == 0
    folders = run_folders(job.root / "cut")
    assert len(folders) == 1
    assert pd.read_csv(folders[0] / "loss.csv")["epoch"].tolist() == [1, 2, 3, 4]
    uninterrupted = trained_folder(job)
    np.testing.assert_allclose(read_predictions(folders[0])["probability"],
                               read_predictions(uninterrupted)["probability"], atol=1e-6)
    assert "resuming" in (folders[0] / "run.log").read_text()


def test_predict_gathers_every_row_once_whatever_the_remainder(job):
    step(job, "predict")
    model = worker.predict_model()
    results = [np.load(job.root / "scratch" / f"predict_{rank}.npz") for rank in (0, 1)]
    for n in worker.PREDICT_SIZES:
        items = worker.Items(n)
        with torch.no_grad():
            logits = model(items.x)
        expected = logits.softmax(dim=1)[:, 1].numpy()
        loss = float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(items.labels)))
        for batch in worker.PREDICT_BATCHES:
            for result in results:  # every process gets the whole split
                key = f"{n}_{batch}"
                np.testing.assert_array_equal(result[f"{key}_indices"], np.arange(n))
                np.testing.assert_allclose(result[f"{key}_probabilities"], expected, atol=1e-6)
                assert float(result[f"{key}_loss"]) == pytest.approx(loss, abs=1e-6)


def test_each_process_trains_on_its_shard_of_the_one_process_order(job):
    """Process k takes batches k, k + 2, ... of the order one process would draw, so the two
    shards of a step are one batch of twice the size; the balanced draw stays balanced."""
    records = [step(job, "sampler", rank)["value"] for rank in (0, 1)]
    config = worker.sampler_config(str(job.root / "scratch"))
    accelerator = make_accelerator(config)
    labels = worker.sampler_labels()
    dataset = worker.Items(worker.SAMPLER_ITEMS)
    dataset.labels = labels
    for name, sampler in (("shuffle", None), ("balanced", BalancedSampler(labels, config.seed))):
        loader = accelerator.prepare(make_loader(dataset, 2 * worker.SAMPLER_BATCH, shuffle=True,
                                                 sampler=sampler))
        orders = []
        for epoch in range(worker.SAMPLER_EPOCHS):
            loader.set_epoch(epoch)
            one = [batch[2].tolist() for batch in loader]
            shards = [records[rank][name][epoch] for rank in (0, 1)]
            assert len(shards[0]) == len(shards[1]) == len(one)
            assert [a + b for a, b in zip(*shards)] == one
            drawn = np.concatenate(one)
            orders.append(drawn)
            if name == "shuffle":  # each item once per epoch, split between the processes
                assert sorted(drawn.tolist()) == list(range(worker.SAMPLER_ITEMS))
            else:  # 1 in 5 items is positive; the balanced draw is about half positive
                assert 0.35 < labels[drawn].mean() < 0.65
                for shard in shards:
                    assert 0.25 < labels[np.concatenate(shard)].mean() < 0.75
        assert not np.array_equal(orders[0], orders[1])  # set_epoch reaches the sampler


def test_a_user_error_in_one_process_stops_every_process(job):
    # the NaN loss of process 1: both processes stop at the same batch with its message
    records = [step(job, "nonfinite", rank)["value"] for rank in (0, 1)]
    assert records[0]["message"] == records[1]["message"]
    assert "training loss became nan at epoch 1, batch 3 in process 1 of 2" in records[0]["message"]
    assert [r["quiet"] for r in records] == [True, False]  # printed once, by process 1
    # the helpers of src/distributed.py: the error of one process is raised in both
    shared = [step(job, "shared_errors", rank)["value"] for rank in (0, 1)]
    for record, quiet in zip(shared, (True, False)):
        assert record["together"] == {"message": "bad row 7 (process 1)", "quiet": quiet}
    for record, quiet in zip(shared, (False, True)):
        assert record["main_first"] == {"message": "split files incomplete (main)",
                                        "quiet": quiet}
    assert [record["main_first_ran_in"] for record in shared] == [[0], []]
    # the last step: process 1 exits with a user error while process 0 waits in a barrier; the
    # launcher stops the job (no hang) and the message is printed once
    assert job.worker.rc != 0
    assert job.worker.output.count("error: process 1 alone met a user error") == 1
    assert "passed_barrier" not in job.outcomes[0]


def test_logs_and_progress_only_on_the_main_process(job):
    # 4 training runs in the worker (train, interrupted, resume, nonfinite), each logged once
    assert job.worker.output.count("training LR:") == 4
    assert job.worker.output.count("epoch 1/4") == 2  # train, interrupted (resume starts at 3)
    assert job.worker.output.count("interrupted: continue a training run") == 1



# ---- the helpers of src/distributed.py in one process (no job needed) -----------------------


def test_one_process_helpers_only_run_the_function():
    from src.distributed import SingleProcess, broadcast, main_first, on_main, together
    from src.errors import InputError

    state = SingleProcess()
    assert on_main(state, lambda: 3) == 3 and main_first(state, lambda: 4) == 4
    assert together(state, lambda: 5) == 5 and broadcast(state, {"a": 1}) == {"a": 1}

    def fails():
        raise InputError("bad row 7")

    with pytest.raises(InputError, match="bad row 7") as caught:
        together(state, fails)
    assert not getattr(caught.value, "quiet", False)


def test_a_job_over_several_machines_is_refused_where_files_are_shared(monkeypatch):
    from src.distributed import process_state
    from src.errors import InputError

    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    with pytest.raises(InputError, match="one machine only.*4 processes of which 2"):
        process_state(cpu=True)


def test_console_messages_come_from_the_first_process_only(monkeypatch, capsys):
    from src.runs import console_logger

    monkeypatch.setenv("RANK", "1")
    other = console_logger("ir_sei.test_distributed.rank1")
    other.info("information")
    other.warning("a warning")
    monkeypatch.setenv("RANK", "0")
    first = console_logger("ir_sei.test_distributed.rank0")
    first.info("from the first process")
    err = capsys.readouterr().err
    assert "information" not in err and "a warning" in err and "from the first process" in err


def test_the_json_alone_decides_the_precision(monkeypatch):
    """`accelerate launch --mixed_precision bf16` (or an `accelerate config` default) sets this
    variable; the training loop must not add Accelerate's autocast on top of the JSON's."""
    from src.config import LRConfig

    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    config = LRConfig(features_path=".", results_path=".", warmup_steps=0)
    assert make_accelerator(config).mixed_precision == "no"
