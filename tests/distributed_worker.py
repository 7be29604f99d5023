"""One process of the 2-process job of test_distributed.py (started by `torchrun`).

    torchrun --standalone --nproc_per_node 2 tests/distributed_worker.py PLAN.json

The plan names the files (configs, folders); each step below runs in both processes, and each
process records what happened in `outcome_<rank>.json` beside the plan (written after every
step, so a step that fails leaves the earlier ones readable). The test checks the records.
The steps run in one launch because starting a job (two Python processes importing torch and
the project) costs 10 to 20 seconds on a busy 2-core machine.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

_STARTED = time.perf_counter()

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import LR  # noqa: E402
import Preprocess_data_to_numpy  # noqa: E402
import src.train.loop as training  # noqa: E402
from src.cli import run_cli  # noqa: E402
from src.config import LRConfig, load_config  # noqa: E402
from src.data.datasets import make_loader  # noqa: E402
from src.errors import InputError  # noqa: E402
from src.features.files import BalancedSampler, load_feature_datasets  # noqa: E402
from src.models import build_model  # noqa: E402
from src.train.loop import fit, make_accelerator, predict  # noqa: E402
from src.train.workflow import _new_run  # noqa: E402

# predict(): split sizes and batch sizes that leave every kind of remainder on 2 processes
PREDICT_SIZES = (1, 2, 3, 5, 17, 203)
PREDICT_BATCHES = (1, 4, 7, 64)
SAMPLER_ITEMS, SAMPLER_BATCH, SAMPLER_EPOCHS = 96, 8, 2


class Items(Dataset):
    """Items (x (5,), label, index) of a seeded random table, as the project's datasets give."""

    def __init__(self, n: int, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 5, generator=generator)
        self.labels = (self.x[:, 0] > 0).long().numpy()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.x[i], int(self.labels[i]), i


def predict_model() -> nn.Module:
    torch.manual_seed(5)
    return nn.Linear(5, 2)


def sampler_labels() -> np.ndarray:
    """Imbalanced labels (1 in 5 is positive) for the sampler step."""
    return (np.arange(SAMPLER_ITEMS) % 5 == 0).astype(np.int64)


def sampler_config(results: str) -> LRConfig:
    return LRConfig(features_path=".", results_path=results, seed=11, warmup_steps=0,
                    num_workers=0)


def step_train(plan, accelerator):
    LR.main(["--json", plan["lr_two"], "-n", "-t", "-e"])


def step_evaluate_one(plan, accelerator):
    """A checkpoint written by one process, evaluated by two."""
    LR.main(["--json", plan["lr_two"], "-m", plan["one_best"], "-e"])


def step_interrupted(plan, accelerator):
    """Both processes are stopped (Ctrl-C) when epoch 3 starts, after last.pt of epoch 2."""
    original = training._train_one_epoch

    def stopped_in_epoch_3(*args):
        if args[-1] == 2:
            args[4].wait_for_everyone()  # last.pt of epoch 2 is written
            raise KeyboardInterrupt
        return original(*args)

    training._train_one_epoch = stopped_in_epoch_3
    try:
        LR.main(["--json", plan["lr_cut"], "-n", "-t"])
    finally:
        training._train_one_epoch = original


def step_resume(plan, accelerator):
    folders = sorted(p for p in Path(plan["cut_results"]).iterdir() if p.is_dir())
    LR.main(["--resume", str(folders[0]), "-e"])


def step_preprocess(plan, accelerator):
    """Preprocess_data_to_numpy.py; returns the modification times of the split markers."""
    Preprocess_data_to_numpy.main(["--json", plan["preprocess_json"], "--no-progress"])
    folder = Path(plan["preprocess_result"])
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("sei_features_*.json")}


def step_preprocess_again(plan, accelerator):
    """A second run after one file of the valid split was lost: valid is made again, the
    complete train and test splits are skipped."""
    if accelerator.is_main_process:
        (Path(plan["preprocess_result"]) / "data_TF_valid.npy").unlink()
    accelerator.wait_for_everyone()
    return step_preprocess(plan, accelerator)


def step_predict(plan, accelerator):
    """`predict` (the validation and test path) on shards of every size: each process saves the
    gathered predictions it returns."""
    config = sampler_config(plan["scratch"])
    model = accelerator.prepare(predict_model())
    out = {}
    for n in PREDICT_SIZES:
        for batch in PREDICT_BATCHES:
            loader = accelerator.prepare(make_loader(Items(n), batch))
            result = predict(model, loader, accelerator, config)
            out[f"{n}_{batch}_indices"] = result.indices
            out[f"{n}_{batch}_probabilities"] = result.probabilities
            out[f"{n}_{batch}_loss"] = np.array(result.loss)
    np.savez(Path(plan["scratch"]) / f"predict_{accelerator.process_index}.npz", **out)


def step_sampler(plan, accelerator):
    """The training loader of `run_model_script` (shuffled, or balanced), prepared by the run's
    Accelerator: each process records the item indices of its batches, per epoch."""
    config = sampler_config(plan["scratch"])
    accelerator = make_accelerator(config)
    labels = sampler_labels()
    dataset = Items(SAMPLER_ITEMS)
    dataset.labels = labels
    record = {}
    for name, sampler in (("shuffle", None), ("balanced", BalancedSampler(labels, config.seed))):
        loader = accelerator.prepare(make_loader(dataset, SAMPLER_BATCH, shuffle=True,
                                                 sampler=sampler))
        record[name] = []
        for epoch in range(SAMPLER_EPOCHS):
            loader.set_epoch(epoch)
            record[name].append([batch[2].tolist() for batch in loader])
    return record


def step_nonfinite(plan, accelerator):
    """Process 1 alone gets a NaN loss at its third training batch: both processes must stop
    there with the same error (neither may wait for the other in the gradient all-reduce)."""
    config = load_config(plan["lr_two"], LRConfig)
    config.results_path = plan["scratch"]
    accelerator = make_accelerator(config)
    datasets = load_feature_datasets(config, ("train", "valid"))
    model = build_model("LR", {"n_features": datasets["train"].data.shape[1]})
    calls = {"training": 0}

    def poison(module, inputs, output):
        if module.training:
            calls["training"] += 1
            if accelerator.process_index == 1 and calls["training"] == 3:
                return output * float("nan")
        return None

    model.register_forward_hook(poison)
    run = _new_run(config, "nonfinite", accelerator)
    try:
        fit(model, make_loader(datasets["train"], config.batch_size, shuffle=True),
            make_loader(datasets["valid"], config.batch_size), config, run, accelerator)
    except InputError as err:
        return {"message": str(err), "quiet": bool(getattr(err, "quiet", False)),
                "batches": calls["training"]}
    return {"message": None}


def step_shared_errors(plan, accelerator):
    """`together`: a user error of process 1 alone reaches process 0; `main_first`: a user error
    of the main process stops the others before their turn."""
    from src.distributed import main_first, together

    record = {}

    def fail_in_1():
        if accelerator.process_index == 1:
            raise InputError("bad row 7 (process 1)")
        return "ran"

    ran = []

    def fail_in_main():
        ran.append(accelerator.process_index)
        if accelerator.is_main_process:
            raise InputError("split files incomplete (main)")

    for name, helper, function in (("together", together, fail_in_1),
                                   ("main_first", main_first, fail_in_main)):
        try:
            helper(accelerator, function)
            record[name] = {"message": None}
        except InputError as err:
            record[name] = {"message": str(err), "quiet": bool(getattr(err, "quiet", False))}
    record["main_first_ran_in"] = ran
    return record


STEPS = [("preprocess", step_preprocess), ("train", step_train), ("evaluate_one", step_evaluate_one),
         ("interrupted", step_interrupted), ("resume", step_resume),
         ("preprocess_again", step_preprocess_again), ("predict", step_predict),
         ("sampler", step_sampler), ("nonfinite", step_nonfinite),
         ("shared_errors", step_shared_errors)]


def main():
    plan_path = Path(sys.argv[1])
    plan = json.loads(plan_path.read_text())
    accelerator = make_accelerator(sampler_config(plan["scratch"]))
    rank = accelerator.process_index
    outcome_path = plan_path.parent / f"outcome_{rank}.json"
    outcome = {"processes": accelerator.num_processes, "distributed_type":
               str(accelerator.distributed_type),
               "import_seconds": round(time.perf_counter() - _STARTED, 2)}
    for name, step in STEPS:
        started = time.perf_counter()
        try:
            value = step(plan, accelerator)
            outcome[name] = {"exit": 0, "value": value}
        except SystemExit as stop:  # run_cli: 2 = user error, 130 = interrupted
            outcome[name] = {"exit": stop.code}
        except Exception:  # noqa: BLE001 - recorded for the test, which then fails
            outcome[name] = {"exit": "exception", "traceback": traceback.format_exc()}
        outcome[name]["seconds"] = round(time.perf_counter() - started, 2)
        outcome_path.write_text(json.dumps(outcome))
        accelerator.wait_for_everyone()

    # Last: a user error in process 1 alone, while process 0 waits in a collective. The launcher
    # must stop process 0 and the job (it must not hang); the message is printed once.
    def fail_alone():
        if rank == 1:
            raise InputError("process 1 alone met a user error")
        torch.distributed.barrier()
        outcome["passed_barrier"] = True
        outcome_path.write_text(json.dumps(outcome))

    run_cli(fail_alone)


if __name__ == "__main__":
    main()
