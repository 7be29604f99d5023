"""The one training loop for every PyTorch model of the project.

Runs through Hugging Face Accelerate, so the same code serves one CPU, one GPU, or several
processes under `accelerate launch` / `torchrun` (DistributedDataParallel): each process trains
on its shard, and validation loss, early stopping and metrics use the gathered predictions of the
whole split.

Per epoch: the learning rate follows `scheduled_lr`; batches are read in an order seeded by
(`seed`, epoch) and dropout is seeded the same way, so a run resumed from `last.pt` continues
exactly as the uninterrupted run would have. The validation loss is checked every
`epochs_to_check_loss` epochs; an improvement saves `best.pt`, and
`counter_for_early_stop_threshold` checks without one stop the run.

Several processes: `batch_size` is per process. Every process draws the same order of the whole
training split (shuffled, or `BalancedSampler`), and Accelerate deals its batches out in turn
(process k takes batches k, k + P, k + 2P, ...; the last round is filled from the start of the
order), so one optimizer step averages the gradients of P batches: P processes with
`batch_size` B / P take the same steps as one process with B (exactly, up to rounding, for models
without BatchNorm; BatchNorm normalises each process's own batch). Dropout masks are seeded per
process. Validation and test predictions are gathered from every process, with the padding
items of the last batches dropped; only the main process writes files.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd
import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.utils import InitProcessGroupKwargs
from torch import nn
from tqdm.auto import tqdm

from ..config import TrainingConfig, config_to_dict
from ..device import bf16_autocast
from ..distributed import COLLECTIVE_TIMEOUT_S, quiet_copy
from ..errors import InputError
from ..report.figures import plot_loss
from ..runs import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    LOSS_FIGURE,
    LOSS_FILE,
    Run,
    elapsed,
)
from .checkpoints import save_checkpoint

LOSS_COLUMNS = ("epoch", "lr", "train_loss", "valid_loss", "seconds")
_PROCESS_SEED_STRIDE = 1_000_003  # apart from any seed + epoch of another process


def scheduled_lr(epoch: int, config: TrainingConfig) -> float:
    """Learning rate of a 0-based epoch: linear warm-up, then cosine decay.

    Epoch 0 uses `warmup_begin_lr`, epoch `warmup_steps` reaches `max_lr`, and the rate falls along
    a half cosine to `final_lr` at epoch `max_epochs`. Without `use_scheduler`, always `max_lr`.
    """
    if not config.use_scheduler:
        return config.max_lr
    if epoch < config.warmup_steps:
        return config.warmup_begin_lr + (config.max_lr - config.warmup_begin_lr) * (
            epoch / config.warmup_steps)
    decay_epochs = config.max_epochs - config.warmup_steps
    progress = min(1.0, (epoch - config.warmup_steps) / decay_epochs)
    return config.final_lr + (config.max_lr - config.final_lr) * (1 + math.cos(math.pi * progress)) / 2


def build_optimizer(model: nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    """SGD (with momentum), AdamW or Adam (betas `adam_betas`) over the parameters that require
    gradients."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise InputError("the model has no trainable parameters (everything is frozen)")
    if config.optimizer_type == "sgd":
        return torch.optim.SGD(params, lr=config.max_lr, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    betas = tuple(config.adam_betas)
    if config.optimizer_type == "adamw":
        return torch.optim.AdamW(params, lr=config.max_lr, betas=betas,
                                 weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.max_lr, betas=betas,
                            weight_decay=config.weight_decay)


def make_accelerator(config: TrainingConfig) -> Accelerator:
    """The run's Accelerator: CUDA when present (one process per GPU when launched so), else CPU
    (`cpu=True` also makes `torchrun`/`accelerate launch` start gloo processes on CPU).

    Precision is the config's `mixed_precision` alone (bf16 autocast in `autocast`): Accelerate's
    own setting is off, so that `accelerate launch --mixed_precision bf16` or an `accelerate
    config` default cannot add a second autocast, or switch bf16 on where the JSON says fp32.
    """
    return Accelerator(
        cpu=not torch.cuda.is_available(),
        mixed_precision="no",
        # the other processes may wait minutes for the main one (data made on first use)
        kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(seconds=COLLECTIVE_TIMEOUT_S))],
        gradient_accumulation_steps=config.accumulation_steps,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=config.seed),
    )


def autocast(accelerator: Accelerator, config: TrainingConfig):
    """bf16 autocast on CUDA when `mixed_precision` is on; fp32 elsewhere. Wraps forward + loss."""
    return bf16_autocast(accelerator.device, config.mixed_precision)


def model_forward(model: nn.Module, inputs) -> torch.Tensor:
    """Call a model on a batch's inputs: a tensor (N, 4, L) or a dict of tensors (tokenised)."""
    return model(**inputs) if isinstance(inputs, dict) else model(inputs)


@dataclass
class TrainingState:
    """What `last.pt` records beyond the weights, to resume after the last completed epoch."""

    epoch: int = -1  # last completed epoch
    best_valid_loss: float = math.inf
    best_epoch: int = -1
    checks_without_improvement: int = 0
    history: list = field(default_factory=list)
    stopped_early: bool = False

    def to_dict(self) -> dict:
        return {"epoch": self.epoch, "best_valid_loss": self.best_valid_loss,
                "best_epoch": self.best_epoch,
                "checks_without_improvement": self.checks_without_improvement,
                "history": self.history, "stopped_early": self.stopped_early}


@dataclass
class Predictions:
    """Gathered predictions of a whole split, in dataset order."""

    indices: np.ndarray  # (N,) item index in the dataset
    labels: np.ndarray  # (N,) int
    probabilities: np.ndarray  # (N,) probability of class 1
    loss: float  # mean cross-entropy


def fit(model: nn.Module, train_loader, valid_loader, config: TrainingConfig, run: Run,
        accelerator: Accelerator, resume_from: dict | None = None,
        checkpoint_extra: dict | None = None) -> TrainingState:
    """Train `model` with early stopping; writes best.pt, last.pt, loss.csv, loss.png in `run`.

    Parameters
    ----------
    resume_from : the dict of a `last.pt` (its `training` entry restores optimiser and progress)
    checkpoint_extra : saved in every checkpoint (e.g. feature names, tokenizer files)

    Returns the final `TrainingState`; the weights of `model` are those of the last epoch.
    """
    optimizer = build_optimizer(model, config)
    state = TrainingState()
    if resume_from is not None:
        training = resume_from["training"]
        optimizer.load_state_dict(training["optimizer"])
        state = TrainingState(**{k: training[k] for k in TrainingState().to_dict()})
        before = training.get("processes", 1)
        if before != accelerator.num_processes and accelerator.is_main_process:
            run.log.warning(f"this run was trained by {before} process(es) and now continues on "
                            f"{accelerator.num_processes}: batch_size {config.batch_size} is per "
                            f"process, so each step now averages "
                            f"{config.batch_size * accelerator.num_processes} sequences instead "
                            f"of {config.batch_size * before}")
    prepared, optimizer, train_loader, valid_loader = accelerator.prepare(
        model, optimizer, train_loader, valid_loader)
    loss_function = nn.CrossEntropyLoss()
    config_dict = config_to_dict(config)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    run.log.info(f"training {model.model_name}: {n_trainable:,} trainable parameters, "
                 f"{len(train_loader.dataset):,} training and {len(valid_loader.dataset):,} "
                 f"validation sequences, device {accelerator.device}"
                 + (f" x {accelerator.num_processes} processes (batch_size {config.batch_size} "
                    f"per process: {config.batch_size * accelerator.num_processes} sequences per "
                    f"step)" if accelerator.num_processes > 1 else ""))
    if state.stopped_early:
        run.log.info(f"run already stopped early after epoch {state.epoch + 1}; nothing to resume")
        return state
    for epoch in range(state.epoch + 1, config.max_epochs):
        start = time.perf_counter()
        lr = scheduled_lr(epoch, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        # dropout: reproducible per epoch (resume), different in each process (process 0 keeps
        # the one-process seed)
        torch.manual_seed(config.seed + epoch + _PROCESS_SEED_STRIDE * accelerator.process_index)
        train_loader.set_epoch(epoch)
        train_loss = _train_one_epoch(prepared, train_loader, optimizer, loss_function, accelerator,
                                      config, epoch)
        valid_loss = float("nan")
        checked = (epoch + 1) % config.epochs_to_check_loss == 0 or epoch == config.max_epochs - 1
        if checked:
            valid_loss = predict(prepared, valid_loader, accelerator, config,
                                 desc=f"epoch {epoch + 1} validation").loss
            if not math.isfinite(valid_loss):
                raise InputError(
                    f"the validation loss became {valid_loss} after epoch {epoch + 1}: training "
                    f"stopped before writing a broken model ({_KEPT}). Lower max_lr, or check "
                    f"the input data")
            if valid_loss < state.best_valid_loss:
                state.best_valid_loss, state.best_epoch = valid_loss, epoch
                state.checks_without_improvement = 0
                if run.is_main:
                    save_checkpoint(run.path(BEST_CHECKPOINT), accelerator.unwrap_model(prepared),
                                    config_dict, checkpoint_extra)
            else:
                state.checks_without_improvement += 1
        _check_finite_weights(prepared, epoch)
        state.epoch = epoch
        state.history.append({"epoch": epoch + 1, "lr": lr, "train_loss": train_loss,
                              "valid_loss": valid_loss,
                              "seconds": round(time.perf_counter() - start, 2)})
        state.stopped_early = state.checks_without_improvement >= config.counter_for_early_stop_threshold
        _save_progress(run, accelerator, prepared, optimizer, state, config_dict, checkpoint_extra,
                       plot=checked)
        run.log.info(f"epoch {epoch + 1}/{config.max_epochs}  lr {lr:.3g}  train loss "
                     f"{train_loss:.4f}" + (f"  validation loss {valid_loss:.4f}" if checked else "")
                     + f"  ({elapsed(start)})")
        if state.stopped_early:
            run.log.info(f"early stop: no better validation loss in "
                         f"{config.counter_for_early_stop_threshold} checks; best epoch "
                         f"{state.best_epoch + 1} (validation loss {state.best_valid_loss:.4f})")
            break
    accelerator.wait_for_everyone()
    return state


_KEPT = ("best.pt keeps the best model so far and last.pt the last completed epoch, when "
         "there are any")


def _check_finite_weights(model: nn.Module, epoch: int) -> None:
    """The last optimiser step of an epoch can make weights inf/NaN without any loss showing it
    yet; such weights are never saved as last.pt. One device sync per epoch."""
    named = list(model.named_parameters())
    if not named:
        return
    finite = torch.stack([torch.isfinite(p.detach()).all() for _, p in named])
    if bool(finite.all()):
        return
    for (name, _), ok in zip(named, finite.tolist()):
        if not ok:
            raise InputError(
                f"the weights ({name}) became inf or NaN in epoch {epoch + 1}: training stopped "
                f"before writing a broken model ({_KEPT}). Lower max_lr, or check the input data")


def _train_one_epoch(model, loader, optimizer, loss_function, accelerator, config, epoch) -> float:
    model.train()
    total = torch.zeros((), device=accelerator.device)
    count = 0
    bar = tqdm(loader, desc=f"epoch {epoch + 1} training", leave=False,
               disable=None if accelerator.is_local_main_process else True)
    for batch_index, (inputs, labels, _) in enumerate(bar):
        with accelerator.accumulate(model):
            with autocast(accelerator, config):
                loss = loss_function(model_forward(model, inputs).float(), labels)
            _check_finite_loss(loss, accelerator, epoch, batch_index)
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        total += loss.detach() * len(labels)
        count += len(labels)
    bar.close()
    # mean over every process's samples
    sums = accelerator.reduce(torch.stack([total, torch.tensor(float(count), device=total.device)]),
                              reduction="sum")
    return float(sums[0] / sums[1])


def _check_finite_loss(loss: torch.Tensor, accelerator: Accelerator, epoch: int,
                       batch_index: int) -> None:
    """Stop on a NaN/inf training loss. With several processes the losses of the step are
    gathered first, so every process stops at the same batch (a process that stopped alone would
    leave the others waiting in the gradient all-reduce); the lowest process with a bad loss
    prints the message, the others stop quietly."""
    if accelerator.num_processes == 1:
        if not torch.isfinite(loss):
            raise InputError(_nonfinite_loss_message(loss.item(), epoch, batch_index, ""))
        return
    losses = accelerator.gather(loss.detach().float().reshape(1))
    bad = (~torch.isfinite(losses)).nonzero().flatten().tolist()
    if bad:
        message = _nonfinite_loss_message(losses[bad[0]].item(), epoch, batch_index,
                                          f" in process {bad[0]} of {accelerator.num_processes}")
        raise InputError(message) if accelerator.process_index == bad[0] else quiet_copy(message)


def _nonfinite_loss_message(value: float, epoch: int, batch_index: int, where: str) -> str:
    return (f"the training loss became {value} at epoch {epoch + 1}, batch {batch_index + 1}"
            f"{where}: training stopped before writing a broken model ({_KEPT}). Lower max_lr, "
            f"or check the input data")


@torch.no_grad()
def predict(model: nn.Module, loader, accelerator: Accelerator, config: TrainingConfig,
            desc: str = "predicting") -> Predictions:
    """Predictions and mean loss over the whole (possibly sharded) loader.

    The model's train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    logits, labels, indices = [], [], []
    for inputs, batch_labels, batch_indices in tqdm(
            loader, desc=desc, leave=False, disable=None if accelerator.is_local_main_process else True):
        with autocast(accelerator, config):
            out = model_forward(model, inputs).float()
        out, batch_labels, batch_indices = accelerator.gather_for_metrics(
            (out, batch_labels, batch_indices))
        logits.append(out.cpu())
        labels.append(batch_labels.cpu())
        indices.append(batch_indices.cpu())
    model.train(was_training)
    logits, labels, indices = torch.cat(logits), torch.cat(labels), torch.cat(indices)
    _check_every_item_once(indices, loader)
    loss = float(nn.functional.cross_entropy(logits, labels))
    order = torch.argsort(indices)
    return Predictions(indices=indices[order].numpy(), labels=labels[order].numpy(),
                       probabilities=logits[order].softmax(dim=1)[:, 1].numpy(), loss=loss)


def _check_every_item_once(indices: torch.Tensor, loader) -> None:
    """The gathered item indices must be 0..N-1, each once: a split sharded over processes
    (whose last batches Accelerate pads with repeated items) must come back whole, so that the
    loss, early stopping and metrics are those of the whole split."""
    try:
        n_items = len(loader.dataset)
    except TypeError:  # a dataset without a length: nothing to compare with
        return
    counts = torch.bincount(indices.long(), minlength=n_items)
    if len(indices) != n_items or len(counts) != n_items or bool((counts != 1).any()):
        raise RuntimeError(f"predictions of {len(indices)} items gathered for a split of "
                           f"{n_items}: some items are missing or repeated")


def _save_progress(run, accelerator, model, optimizer, state, config_dict, extra,
                   plot: bool) -> None:
    """last.pt and loss.csv every epoch; loss.png only with a new validation loss (drawing takes
    a fraction of a second, which matters for a 1,000-epoch logistic regression)."""
    if not run.is_main:
        return
    training = {**state.to_dict(), "optimizer": optimizer.state_dict(),
                "processes": accelerator.num_processes}
    save_checkpoint(run.path(LAST_CHECKPOINT), accelerator.unwrap_model(model), config_dict, extra,
                    training=training)
    history = pd.DataFrame(state.history, columns=list(LOSS_COLUMNS))
    run.write_table(LOSS_FILE, history)
    if plot:
        plot_loss(history, run.path(LOSS_FIGURE), title=run.folder.name)
