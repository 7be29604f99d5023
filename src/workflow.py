"""What every model script does, in one place: config, data, model, train, evaluate, outputs.

A script describes its model with a `ModelSpec` and hands its parsed flags to `run_model_script`:

    -n -t [-e]        new model, train, then evaluate the best checkpoint
    -m PATH -t [-e]   start from a checkpoint's weights, train in a new run folder
    -m PATH -e        evaluate a checkpoint (new run folder `<Model>_eval_<time>`)
    --resume RUN_DIR  continue an interrupted run from its last completed epoch
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from accelerate.utils import broadcast_object_list, set_seed
from torch import nn

from .checkpoints import load_model, model_from_checkpoint, read_checkpoint
from .config import TrainingConfig, load_config, save_config
from .data import make_loader
from .distributed import main_first
from .errors import InputError
from .metrics import binary_metrics
from .networks import build_model
from .runs import Run, close_logger
from .training import fit, make_accelerator, predict


@dataclass
class ModelSpec:
    """How a script builds its config, data and model.

    name : registry name of the model (checkpoint `model_name`)
    config_class : the script's pydantic config
    build_datasets : (config, splits) -> {split: Dataset with `.headers` and `.labels`}
    architecture : config -> constructor arguments of a new model
    new_model : (config, args) -> model; default `build_model(name, architecture(config))`
    check_args : (config, args) -> None; extra flag rules of the script
    checkpoint_extra : (config, datasets) -> dict saved in checkpoints
    sampler : (config, dataset) -> sampler for the training split, or None to shuffle
    prepare_model : (model, config, args) -> model; adjusts a new or loaded (-m) model before
        training or evaluation, e.g. freezing with -f (not on --resume: the checkpoint's
        architecture already records it)
    """

    name: str
    config_class: type[TrainingConfig]
    build_datasets: Callable[..., dict]
    architecture: Callable[[TrainingConfig], dict] | None = None
    new_model: Callable[[TrainingConfig, argparse.Namespace], nn.Module] | None = None
    check_args: Callable[[TrainingConfig, argparse.Namespace], None] | None = None
    checkpoint_extra: Callable[[TrainingConfig, dict], dict] | None = None
    sampler: Callable | None = None
    prepare_model: Callable[[nn.Module, TrainingConfig, argparse.Namespace], nn.Module] | None = None


def run_model_script(spec: ModelSpec, args: argparse.Namespace) -> Path:
    """Carry out the flags of a model script; returns the run folder."""
    config, resume_payload = _load_run_config(spec, args)
    if spec.check_args:
        spec.check_args(config, args)
    accelerator = make_accelerator(config)
    # a new model's initial weights are reproducible from the config's seed
    set_seed(config.seed)
    splits = ("train", "valid", args.split) if args.train else (args.split,)
    # the main process first: it may write the split files that the other processes then read
    datasets = main_first(accelerator,
                          lambda: spec.build_datasets(config, tuple(dict.fromkeys(splits))))
    extra = spec.checkpoint_extra(config, datasets) if spec.checkpoint_extra else {}

    if resume_payload is not None:
        model = model_from_checkpoint(resume_payload, Path(args.resume) / "last.pt")
        run = Run(Path(args.resume), is_main=accelerator.is_main_process)
        if run.is_main:  # what a kill in the middle of a write left (never under a final name)
            for stale in run.folder.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
        run.log.info(f"resuming {run.folder} after epoch {resume_payload['training']['epoch'] + 1}")
    else:
        # the model first: a bad checkpoint or weights file must not leave a run folder behind
        if args.model:
            model, _ = load_model(args.model, expected_model=spec.name)
        else:
            model = (spec.new_model(config, args) if spec.new_model
                     else build_model(spec.name, spec.architecture(config)))
        if spec.prepare_model:
            model = spec.prepare_model(model, config, args)
        run = _new_run(config, spec.name if args.train else f"{spec.name}_eval", accelerator)
        if args.model:
            run.log.info(f"loaded {args.model}")
        if run.is_main:
            save_config(config, run.path("config.json"))
    try:
        checkpoint = Path(args.model) if args.model else None
        if args.train:
            train_set = datasets["train"]
            sampler = spec.sampler(config, train_set) if spec.sampler else None
            train_loader = make_loader(train_set, config.batch_size, shuffle=True,
                                       num_workers=config.num_workers, sampler=sampler)
            valid_loader = make_loader(datasets["valid"], config.batch_size,
                                       num_workers=config.num_workers)
            state = fit(model, train_loader, valid_loader, config, run, accelerator,
                        resume_from=resume_payload, checkpoint_extra=extra)
            checkpoint = run.path("best.pt")
            if state.best_epoch < 0:
                raise InputError(f"no validation loss was computed, so {checkpoint} was not "
                                 f"written: check epochs_to_check_loss and max_epochs")
        if args.evaluate:
            if args.train:  # evaluate the best epoch, not the last
                model, _ = load_model(checkpoint, expected_model=spec.name)
            evaluate_model(model, datasets[args.split], config, run, accelerator, spec.name,
                           args.split, checkpoint)
        run.log.info(f"outputs in {run.folder}")
        return run.folder
    except (InputError, KeyboardInterrupt) as err:
        # the console gets the message from run_cli; the run's own log keeps why it stopped
        run.write_log_only(f"stopped: {err}" if str(err) else "stopped: interrupted")
        raise
    finally:
        close_logger(run)


def evaluate_model(model: nn.Module, dataset, config: TrainingConfig, run: Run, accelerator,
                   model_name: str, split: str, checkpoint) -> dict:
    """Predict a split; write predictions.csv, metrics.json and a results.csv row."""
    loader = make_loader(dataset, config.batch_size, num_workers=config.num_workers)
    prepared, loader = accelerator.prepare(model, loader)
    result = predict(prepared, loader, accelerator, config, desc=f"evaluating {split}")
    metrics = binary_metrics(result.labels, result.probabilities)
    metrics["loss"] = result.loss
    run.write_predictions(dataset.headers[result.indices], result.labels, result.probabilities)
    run.write_json("metrics.json", {"split": split, "checkpoint": str(checkpoint), **metrics})
    run.append_result(model_name, split, checkpoint, metrics)
    run.log.info(f"{model_name} on {split} ({metrics['n']:,} sequences): accuracy "
                 f"{metrics['accuracy']:.3f}  AUROC {metrics['auroc']:.3f}  AUPRC "
                 f"{metrics['auprc']:.3f}  AUPRC (trapezoid) {metrics['auprc_trapezoid']:.3f}")
    return metrics


def _load_run_config(spec: ModelSpec, args) -> tuple[TrainingConfig, dict | None]:
    if not args.resume:
        return load_config(args.json, spec.config_class), None
    folder = Path(args.resume)
    if not (folder / "config.json").is_file():
        raise InputError(f"{folder} is not a run folder (no config.json): pass the folder that "
                         f"holds config.json and last.pt")
    if not (folder / "last.pt").is_file():
        raise InputError(f"{folder} has no last.pt: the run ended before its first epoch "
                         f"finished; start it again with -n")
    # the checkpoint first: a run of another model gets "use <Model>.py", not config errors
    payload = read_checkpoint(folder / "last.pt", expected_model=spec.name)
    if not payload.get("training"):
        raise InputError(f"{folder / 'last.pt'} holds no training state; it cannot be resumed")
    config = load_config(folder / "config.json", spec.config_class)
    return config, payload


def _new_run(config: TrainingConfig, name: str, accelerator) -> Run:
    """Create the run folder on the main process and share its path with the others."""
    run = Run.create(config.results_path, name, is_main=accelerator.is_main_process)
    shared = broadcast_object_list([str(run.folder)]) if accelerator.num_processes > 1 else None
    if shared is not None and not accelerator.is_main_process:
        run = Run(Path(shared[0]), is_main=False)
    return run
