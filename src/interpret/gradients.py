"""Integrated Gradients of a sequence model, as pure functions on arrays (tangermeme's style).

Every function borrows the model and leaves its device and train/eval mode as it found them.
The model contract: (N, 4, L) one-hot float in, (N, 2) logits out.
"""

from __future__ import annotations

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
    delta : (N,) completeness error of each sequence
    change : (N,) logit change F(x) - F(baseline) of each sequence
    """

    attributions: np.ndarray
    delta: np.ndarray
    change: np.ndarray


def attribute_sequences(model: nn.Module, codes: np.ndarray, targets: np.ndarray,
                        device: torch.device, steps: int = 50, method: str = "gausslegendre",
                        batch_size: int = 256, progress: bool = True) -> Attributions:
    """Integrated Gradients of many sequences, `max(1, batch_size // steps)` at a time.

    Parameters
    ----------
    codes : (N, L) uint8 base codes; targets : (N,) int class whose logit is explained
    batch_size : model inputs per forward/backward pass (steps x sequences)
    """
    per_call = max(1, batch_size // steps)
    parts = []
    bar = tqdm(total=len(codes), desc="integrated gradients", unit="seq", leave=False,
               disable=not progress or None)
    with Borrowed(model, device):
        for begin in range(0, len(codes), per_call):
            x = codes_to_one_hot(torch.from_numpy(codes[begin:begin + per_call]).to(device))
            target = torch.from_numpy(np.asarray(targets[begin:begin + per_call])).to(device)
            parts.append([t.cpu().numpy() for t in integrated_gradients(model, x, target, steps,
                                                                        method)])
            bar.update(len(x))
    bar.close()
    if not parts:
        length = codes.shape[1] if codes.ndim == 2 else 0
        return Attributions(np.zeros((0, 4, length), np.float32), np.zeros(0, np.float32),
                            np.zeros(0, np.float32))
    return Attributions(*(np.concatenate(p) for p in zip(*parts)))


def relative_delta(delta: np.ndarray, change: np.ndarray) -> np.ndarray:
    """|completeness error| in proportion to the logit change; a change near zero is measured
    against a tenth of the typical change instead, so that it does not blow the ratio up."""
    scale = np.maximum(np.abs(change), 0.1 * np.median(np.abs(change)) + 1e-6)
    return np.abs(delta) / scale
