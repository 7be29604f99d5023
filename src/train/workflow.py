"""What every model script does, in one place: config, data, model, train, evaluate, outputs.

A script names its model's `ModelSpec` (`src.train.specs`) and hands its parsed flags to
`run_model_script`:

    -n -t [-e]        new model, train, then evaluate the best checkpoint
    -m PATH -t [-e]   start from a checkpoint's weights, train in a new run folder
    -m PATH -e        evaluate a checkpoint (new run folder `<Model>_eval_<time>`)
    --resume RUN_DIR  continue an interrupted run from its last completed epoch

A model that needs more than its config before the data are read (DNABERT-2: its tokenizer and
model folder) does that in `ModelSpec.prepare`, which returns a `Prepared` object; the workflow
passes that object explicitly to the spec's other functions.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from accelerate.utils import broadcast_object_list, set_seed
from torch import nn

from ..config import TrainingConfig, load_config, save_config
from ..data.datasets import make_loader
from ..distributed import main_first
from ..errors import InputError
from ..metrics import binary_metrics, require_both_classes
from ..models import build_model
from ..runs import (
    BEST_CHECKPOINT,
    CONFIG_FILE,
    EVALUATION_TAG,
    LAST_CHECKPOINT,
    Run,
    close_logger,
)
from .checkpoints import load_model, model_from_checkpoint, read_checkpoint
from .loop import fit, make_accelerator, predict


@dataclass
class Prepared:
    """What `ModelSpec.prepare` hands to the spec's other functions: any object with this
    attribute (a model adds its own fields, e.g. `src.train.dnabert2.DNABert2Prepared`).
    `allow_remote_code` is the user's permission for a model that runs its own code; it reaches
    `build_model` whenever a checkpoint of the run is rebuilt. `log_lines`: what the model's
    making found (e.g. every tensor loaded and newly initialised), written to a new run's log
    file only (the console gets a summary when the model is made)."""

    allow_remote_code: bool = False
    log_lines: list = field(default_factory=list)


@dataclass
class ModelSpec:
    """How a script builds its config, data and model.

    name : registry name of the model (checkpoint `model_name`)
    config_class : the script's pydantic config
    build_datasets : (config, splits, prepared) -> {split: Dataset with `.headers`, `.labels`}
    architecture : config -> constructor arguments of a new model
    new_model : (config, args, prepared) -> model; default `build_model(name, architecture(config))`
    check_args : (config, args) -> None; the script's own flag rules, checked first
    prepare : (config, args, checkpoint or None) -> Prepared; runs before any data is read
        (checkpoint: the dict of -m's or --resume's checkpoint)
    checkpoint_extra : (config, datasets, prepared) -> dict saved in checkpoints
    sampler : (config, dataset) -> sampler for the training split, or None to shuffle
    prepare_model : (model, config, args) -> model; adjusts a new or loaded (-m) model before
        training or evaluation, e.g. freezing with -f (not on --resume: the checkpoint's
        architecture already records it)
    also_reads : registry names of other models whose checkpoints the script reads (-m,
        --resume), e.g. DNABert2.py's HFSequenceClassifier
    """

    name: str
    config_class: type[TrainingConfig]
    build_datasets: Callable[..., dict]
    architecture: Callable[[TrainingConfig], dict] | None = None
    new_model: Callable[..., nn.Module] | None = None
    check_args: Callable[[TrainingConfig, argparse.Namespace], None] | None = None
    prepare: Callable[..., Prepared] | None = None
    checkpoint_extra: Callable[..., dict] | None = None
    sampler: Callable | None = None
    prepare_model: Callable[..., nn.Module] | None = None
    also_reads: tuple[str, ...] = ()

    @property
    def checkpoint_models(self) -> tuple[str, ...]:
        """Registry names of the checkpoints the script reads."""
        return (self.name, *self.also_reads)


def run_model_script(spec: ModelSpec, args: argparse.Namespace) -> Path:
    """Carry out the flags of a model script; returns the run folder."""
    config, checkpoint_payload = _load_run_config(spec, args)
    if spec.check_args:
        spec.check_args(config, args)
    if checkpoint_payload is None:  # -m (--resume's last.pt was read with its config)
        checkpoint_payload = _read_run_checkpoint(spec, args)
    prepared = (spec.prepare(config, args, checkpoint_payload) if spec.prepare else Prepared())
    accelerator = make_accelerator(config)
    # a new model's initial weights are reproducible from the config's seed
    set_seed(config.seed)
    splits = ("train", "valid", args.split) if args.train else (args.split,)
    # the main process first: it may write the split files that the other processes then read
    datasets = main_first(accelerator, lambda: spec.build_datasets(
        config, tuple(dict.fromkeys(splits)), prepared))
    if args.train:
        require_both_classes(datasets["train"].labels, "train", _data_source(config))
    extra = spec.checkpoint_extra(config, datasets, prepared) if spec.checkpoint_extra else {}
    remote = prepared.allow_remote_code

    if args.resume:
        model = model_from_checkpoint(checkpoint_payload, Path(args.resume) / LAST_CHECKPOINT,
                                      remote)
        run = Run(Path(args.resume), is_main=accelerator.is_main_process)
        if run.is_main:  # what a kill in the middle of a write left (never under a final name)
            for stale in run.folder.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
        run.log.info(f"resuming {run.folder} after epoch "
                     f"{checkpoint_payload['training']['epoch'] + 1}")
    else:
        # the model first: a bad checkpoint or weights file must not leave a run folder behind
        if args.model:
            model = model_from_checkpoint(checkpoint_payload, args.model, remote)
        else:
            model = (spec.new_model(config, args, prepared) if spec.new_model
                     else build_model(spec.name, spec.architecture(config)))
        if spec.prepare_model:
            model = spec.prepare_model(model, config, args)
        run = _new_run(config, spec.name if args.train else f"{spec.name}{EVALUATION_TAG}",
                       accelerator)
        if args.model:
            run.log.info(f"loaded {args.model}")
        for line in prepared.log_lines:  # the console had their summary already
            run.write_log_only(line)
        if run.is_main:
            save_config(config, run.path(CONFIG_FILE))
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
                        resume_from=checkpoint_payload if args.resume else None,
                        checkpoint_extra=extra)
            checkpoint = run.path(BEST_CHECKPOINT)
            if state.best_epoch < 0:
                raise InputError(f"no validation loss was computed, so {checkpoint} was not "
                                 f"written: check epochs_to_check_loss and max_epochs")
        if args.evaluate:
            if args.train:  # evaluate the best epoch, not the last
                model, _ = load_model(checkpoint, expected_model=spec.checkpoint_models,
                                      allow_remote_code=remote)
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
    run.write_evaluation(model_name, split, checkpoint, metrics, dataset.headers[result.indices],
                         result.labels, result.probabilities)
    return metrics


def _data_source(config: TrainingConfig) -> str:
    """Where a config's rows come from, for messages: the data folder or the feature files."""
    for key in ("data_path", "features_path", "train_data"):
        value = getattr(config, key, None)
        if value:
            return f"{key} {value}"
    return "the configured data"


def _load_run_config(spec: ModelSpec, args) -> tuple[TrainingConfig, dict | None]:
    """The JSON config, or with --resume the run's own config.json (after its last.pt is
    checked: a run of another model gets "use <Model>.py", not config errors); and with
    --resume that last.pt's dict (None otherwise), so that it is read once."""
    if not args.resume:
        return load_config(args.json, spec.config_class), None
    folder = Path(args.resume)
    if not (folder / CONFIG_FILE).is_file():
        raise InputError(f"{folder} is not a run folder (no config.json): pass the folder that "
                         f"holds config.json and last.pt")
    if not (folder / LAST_CHECKPOINT).is_file():
        raise InputError(f"{folder} has no last.pt: the run ended before its first epoch "
                         f"finished; start it again with -n")
    payload = _read_run_checkpoint(spec, args)
    return load_config(folder / CONFIG_FILE, spec.config_class), payload


def _read_run_checkpoint(spec: ModelSpec, args) -> dict | None:
    """The checkpoint dict of -m, or of --resume's last.pt (None with -n)."""
    if args.model:
        return read_checkpoint(args.model, expected_model=spec.checkpoint_models)
    if not args.resume:
        return None
    path = Path(args.resume) / LAST_CHECKPOINT
    payload = read_checkpoint(path, expected_model=spec.checkpoint_models)
    if not payload.get("training"):
        raise InputError(f"{path} holds no training state; it cannot be resumed")
    return payload


def _new_run(config: TrainingConfig, name: str, accelerator) -> Run:
    """Create the run folder on the main process and share its path with the others."""
    run = Run.create(config.results_path, name, is_main=accelerator.is_main_process)
    shared = broadcast_object_list([str(run.folder)]) if accelerator.num_processes > 1 else None
    if shared is not None and not accelerator.is_main_process:
        run = Run(Path(shared[0]), is_main=False)
    return run
