"""Integrated Gradients of a sequence model, as pure functions on arrays (tangermeme's style).

Every function borrows the model and leaves its device and train/eval mode as it found them.
The model contract: (N, 4, L) one-hot float in, (N, 2) logits out.

`attribute_sequences` (what Attribute.py runs) uses `batched_integrated_gradients`: every
(sequence, path point) pair is one model input, so one forward/backward pass takes all the steps
of many sequences, sized to the device (to the free memory on a GPU), in bf16 on a GPU that has
it, with the completeness error measured against fp32 forward passes. Its points and weights are
captum's (`path_points`); `integrated_gradients` (captum itself) is kept as the reference the
tests compare with.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.encoding import codes_to_one_hot


class Borrowed:
    """Context manager: a model on `device` in eval mode, put back as it was afterwards."""

    def __init__(self, model: nn.Module, device: torch.device):
        self.model, self.device = model, device

    def __enter__(self):
        self.training = self.model.training
        first = next(self.model.parameters(), None)
        self.original = first.device if first is not None else torch.device("cpu")
        self.model.to(self.device).eval()
        return self.model

    def __exit__(self, *exc):
        self.model.to(self.original).train(self.training)
        return False


def predict_probabilities(model: nn.Module, codes: np.ndarray, device: torch.device,
                          batch_size: int = 256, progress: bool = True) -> np.ndarray:
    """Class probabilities of every sequence.

    Parameters
    ----------
    codes : np.ndarray, shape (N, L), uint8 base codes (`src.data.encoding`)

    Returns
    -------
    np.ndarray, shape (N, 2), float64: softmax of the logits (P(non-IR), P(IR)).
    """
    out = []
    with Borrowed(model, device), torch.no_grad():
        for start in tqdm(range(0, len(codes), batch_size), desc="predicting", leave=False,
                          disable=not progress or None):
            x = codes_to_one_hot(torch.from_numpy(codes[start:start + batch_size]).to(device))
            out.append(model(x).float().softmax(dim=1).cpu())
    return torch.cat(out).double().numpy() if out else np.zeros((0, 2))


def select_confident(labels: np.ndarray, probabilities: np.ndarray, threshold: float,
                     label: int) -> np.ndarray:
    """Rows of class `label` predicted as that class with probability above `threshold`.

    Both conditions are explicit: the row's label equals `label` (so label 0 is a class, not
    "false"), the predicted class is `label`, and P(label) > threshold.

    Returns
    -------
    np.ndarray of int64 row numbers, ascending.
    """
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities)
    correct = probabilities.argmax(axis=1) == label
    confident = probabilities[:, label] > threshold
    return np.nonzero((labels == label) & correct & confident)[0].astype(np.int64)


def uniform_baseline(x: torch.Tensor) -> torch.Tensor:
    """0.25 for each base where the input has a base, 0 in padding columns (which then get no
    attribution); for the study's fixed-length sequences this is the uniform 0.25 baseline."""
    return 0.25 * x.sum(dim=1, keepdim=True).expand_as(x)


def integrated_gradients(model: nn.Module, x: torch.Tensor, targets: torch.Tensor,
                         steps: int = 50, method: str = "gausslegendre"
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integrated Gradients of the target logit, from the uniform baseline (captum).

    Parameters
    ----------
    model : in eval mode, on the device of `x`
    x : torch.Tensor, shape (B, 4, L), one-hot
    targets : torch.Tensor, shape (B,), int64 class of each sequence (the true label)

    Returns
    -------
    attributions : (B, 4, L) float32
    delta : (B,) completeness error, sum(attributions) - (F(x) - F(baseline)) of the target logit
    change : (B,) F(x) - F(baseline) of the target logit, to put `delta` in proportion
    """
    from captum.attr import IntegratedGradients

    ig = IntegratedGradients(model)
    attributions, delta = ig.attribute(x, baselines=uniform_baseline(x), target=targets,
                                       n_steps=steps, method=method,
                                       return_convergence_delta=True)
    attributions = attributions.detach().float()
    delta = delta.detach().float()
    change = attributions.sum(dim=(1, 2)) - delta
    return attributions, delta, change


@dataclass
class Attributions:
    """Integrated Gradients of N sequences.

    attributions : (N, 4, L) float32
    delta : (N,) completeness error of each sequence, against fp32 forward passes
    change : (N,) logit change F(x) - F(baseline) of each sequence (fp32 forward passes)
    seconds : wall time of the attribution; inputs_per_pass : model inputs per forward/backward
    precision : "fp32" or "bf16" (the gradients; `change` is always fp32)
    """

    attributions: np.ndarray
    delta: np.ndarray
    change: np.ndarray
    seconds: float = float("nan")
    inputs_per_pass: int = 0
    precision: str = "fp32"

    @property
    def sequences_per_second(self) -> float:
        n = len(self.delta)
        return n / self.seconds if self.seconds and self.seconds > 0 else float("nan")


IG_METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right",
              "riemann_middle")


def path_points(steps: int, method: str = "gausslegendre") -> tuple[np.ndarray, np.ndarray]:
    """Where on the straight path from the baseline to the input the gradient is taken (alphas
    in [0, 1]) and the weight of each point in the path integral, as captum's
    `approximation_parameters` gives them (same numbers, so results match captum's).

    Returns
    -------
    alphas, weights : np.ndarray, shape (steps,), float64

    Raises
    ------
    ValueError
        An unknown method, or fewer than 2 steps for a Riemann rule.
    """
    if method == "gausslegendre":
        if steps < 1:
            raise ValueError("Integrated Gradients needs at least one step")
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return 0.5 * (1 + nodes), 0.5 * weights
    if method not in IG_METHODS:
        raise ValueError(f"unknown Integrated Gradients method {method!r}: one of "
                         f"{', '.join(IG_METHODS)}")
    if steps < 2:
        raise ValueError("a Riemann rule needs at least 2 steps")
    weights = np.full(steps, 1.0 / steps)
    rule = method.split("_")[1]
    if rule == "trapezoid":  # captum's: end points halved, the sum is 1 - 1/steps
        weights[0] /= 2
        weights[-1] /= 2
        alphas = torch.linspace(0, 1, steps)
    elif rule == "left":
        alphas = torch.linspace(0, 1 - 1 / steps, steps)
    elif rule == "middle":
        alphas = torch.linspace(1 / (2 * steps), 1 - 1 / (2 * steps), steps)
    else:
        alphas = torch.linspace(1 / steps, 1, steps)
    return alphas.double().numpy(), weights


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto": bf16 on a CUDA device that supports it, else fp32; "fp32" / "bf16" as given."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, not {precision!r}")
    if precision != "auto":
        return precision
    device = torch.device(device)
    return ("bf16" if device.type == "cuda" and torch.cuda.is_available()
            and torch.cuda.is_bf16_supported() else "fp32")


def _autocast(device: torch.device, precision: str):
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16,
                          enabled=precision == "bf16")


def target_logits(model: nn.Module, x: torch.Tensor, targets: torch.Tensor,
                  inputs_per_pass: int) -> torch.Tensor:
    """The target logit of each input, fp32 and without autocast, `inputs_per_pass` at a time."""
    out = []
    with torch.no_grad(), torch.autocast(device_type=x.device.type, enabled=False):
        for begin in range(0, len(x), inputs_per_pass):
            chunk = x[begin:begin + inputs_per_pass].float()
            logits = model(chunk).float()
            out.append(logits.gather(1, targets[begin:begin + inputs_per_pass, None]).squeeze(1))
    return torch.cat(out) if out else torch.zeros(0, device=x.device)


def batched_integrated_gradients(model: nn.Module, x: torch.Tensor, targets: torch.Tensor,
                                 steps: int = 50, method: str = "gausslegendre",
                                 inputs_per_pass: int = 256, precision: str = "fp32"
                                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integrated Gradients of the target logit from the uniform baseline, every (sequence,
    step) pair of the batch flattened and cut into passes of `inputs_per_pass` model inputs, so
    that one forward/backward covers all steps of many sequences (or part of the steps of one,
    when steps > inputs_per_pass).

    attribution = (x - baseline) * sum_k w_k dF(baseline + a_k (x - baseline))/dx, with the
    points a_k and weights w_k of `path_points` (captum's numbers). With precision "bf16" the
    passes run under bf16 autocast; the gradients are summed in fp32 and the completeness error
    is measured against fp32 forward passes at the two ends of the path, so `delta` shows what
    bf16 costs.

    Parameters
    ----------
    model : in eval mode, on the device of `x`; samples must not interact (eval BatchNorm)
    x : (B, 4, L) one-hot; targets : (B,) int64 class whose logit is explained

    Returns
    -------
    attributions : (B, 4, L) float32; delta : (B,) sum(attributions) - change;
    change : (B,) F(x) - F(baseline) of the target logit, fp32
    """
    device = x.device
    alphas, weights = (torch.as_tensor(a, dtype=torch.float32, device=device)
                       for a in path_points(steps, method))
    x = x.float()
    baseline = uniform_baseline(x)
    difference = x - baseline
    gradient_sum = torch.zeros_like(x)
    total = len(x) * steps
    begin = 0
    while begin < total:
        pairs = torch.arange(begin, min(begin + inputs_per_pass, total), device=device)
        sequence, step = pairs // steps, pairs % steps
        points = (baseline[sequence] + alphas[step, None, None] * difference[sequence])
        points.requires_grad_(True)
        with _autocast(device, precision):
            logits = model(points)
        selected = logits.float().gather(1, targets[sequence, None]).sum()
        (gradient,) = torch.autograd.grad(selected, points)
        gradient_sum.index_add_(0, sequence, gradient.float() * weights[step, None, None])
        begin += len(pairs)
    attributions = (gradient_sum * difference).detach()
    change = (target_logits(model, x, targets, inputs_per_pass)
              - target_logits(model, baseline, targets, inputs_per_pass))
    delta = attributions.sum(dim=(1, 2)) - change
    return attributions, delta, change


def inputs_per_pass_for_memory(model: nn.Module, length: int, device: torch.device,
                               precision: str = "fp32", fraction: float = 0.6,
                               probe: int = 32, largest: int = 1 << 16) -> int:
    """How many model inputs of length `length` one IG forward/backward can take on a CUDA
    device: the peak memory of a probe pass of `probe` inputs, scaled to `fraction` of the
    memory free now (at least `probe`, at most `largest`). Not for the CPU (returns `probe`)."""
    device = torch.device(device)
    if device.type != "cuda":
        return probe
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    x = torch.full((probe, 4, length), 0.25, device=device, requires_grad=True)
    with _autocast(device, precision):
        logits = model(x)
    torch.autograd.grad(logits.float()[:, -1].sum(), x)
    per_input = max(1, torch.cuda.max_memory_allocated(device) - before) / probe
    del x, logits
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info(device)
    return int(min(largest, max(probe, fraction * free // per_input)))


def _is_out_of_memory(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err)


def attribute_sequences(model: nn.Module, codes: np.ndarray, targets: np.ndarray,
                        device: torch.device, steps: int = 50, method: str = "gausslegendre",
                        batch_size: int = 256, progress: bool = True, *,
                        precision: str = "auto", fit_memory: bool = True,
                        memory_fraction: float = 0.6) -> Attributions:
    """Integrated Gradients of many sequences (`batched_integrated_gradients`), all steps of
    many sequences in each forward/backward pass.

    Parameters
    ----------
    codes : (N, L) uint8 base codes; targets : (N,) int class whose logit is explained
    batch_size : model inputs per forward/backward pass (steps x sequences) on the CPU, and on
        CUDA with `fit_memory=False`
    precision : "auto" (bf16 autocast on a CUDA device with bf16, else fp32), "fp32" or "bf16"
    fit_memory : on CUDA, size the passes to `memory_fraction` of the free GPU memory
        (`inputs_per_pass_for_memory`) instead of `batch_size`; a pass that still runs out of
        memory is retried at half the size

    Returns
    -------
    Attributions, with the wall time (`sequences_per_second`), the pass size and the precision.
    """
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    length = codes.shape[1] if codes.ndim == 2 else 0
    started = time.perf_counter()
    parts = []
    with Borrowed(model, device):
        per_pass = batch_size
        if fit_memory and device.type == "cuda" and len(codes):
            per_pass = inputs_per_pass_for_memory(model, length, device, precision,
                                                  memory_fraction)
        # sequences per block: enough for several full passes, the last one partial at most
        block = max(1, -(-8 * per_pass // steps))
        bar = tqdm(total=len(codes), desc="integrated gradients", unit="seq", leave=False,
                   disable=not progress or None)
        begin = 0
        while begin < len(codes):
            x = codes_to_one_hot(torch.from_numpy(codes[begin:begin + block]).to(device))
            target = torch.from_numpy(np.asarray(targets[begin:begin + block],
                                                 dtype=np.int64)).to(device)
            try:
                result = batched_integrated_gradients(model, x, target, steps, method, per_pass,
                                                      precision)
            except (RuntimeError, torch.cuda.OutOfMemoryError) as err:
                if device.type != "cuda" or not _is_out_of_memory(err) or per_pass == 1:
                    raise
                per_pass //= 2
                torch.cuda.empty_cache()
                continue
            parts.append([t.cpu().numpy() for t in result])
            bar.update(len(x))
            begin += len(x)
        bar.close()
    seconds = time.perf_counter() - started
    if not parts:
        return Attributions(np.zeros((0, 4, length), np.float32), np.zeros(0, np.float32),
                            np.zeros(0, np.float32), seconds, per_pass, precision)
    return Attributions(*(np.concatenate(p) for p in zip(*parts)), seconds=seconds,
                        inputs_per_pass=per_pass, precision=precision)


def relative_delta(delta: np.ndarray, change: np.ndarray) -> np.ndarray:
    """|completeness error| in proportion to the logit change; a change near zero is measured
    against a tenth of the typical change instead, so that it does not blow the ratio up."""
    scale = np.maximum(np.abs(change), 0.1 * np.median(np.abs(change)) + 1e-6)
    return np.abs(delta) / scale
