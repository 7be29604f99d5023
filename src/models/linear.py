"""Logistic regression on Sei features (LR.py), trained by the shared training loop.

The model keeps the project's one output contract, (N, F) -> (N, 2) logits, with the logit of
class 0 fixed at 0 and the logit of class 1 = w . x + b. Softmax over (0, z) is sigmoid(z) and
cross-entropy over it is the logistic loss, so this is exactly logistic regression: one weight per
feature, each the change in log-odds of retention per unit of that Sei output. (A free 2-row
linear layer would only be identifiable through w[1] - w[0], and weight decay would shrink the
two rows instead of the log-odds weights.)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .registry import register_model


@register_model("LR")
class LogisticRegression(nn.Module):
    """Logistic regression: input (N, F) float, output (N, 2) logits `[0, w . x + b]`.

    Weights and bias start at zero; `initialise(model, "default")` gives them PyTorch's
    `nn.Linear` initialisation instead, as the study's code had (LR.py's `initial_weights`).
    """

    def __init__(self, n_features: int):
        super().__init__()
        self.linear = nn.Linear(n_features, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)  # (N, 1) log-odds of class 1
        return torch.cat([torch.zeros_like(z), z], dim=1)

    def feature_weights(self) -> np.ndarray:
        """(F,) log-odds weight of each feature (float64 copy on the CPU)."""
        return self.linear.weight.detach().double().cpu().numpy()[0]

    @property
    def intercept(self) -> float:
        return float(self.linear.bias.detach().double().cpu()[0])


INITIAL_WEIGHTS = ("default", "zeros")


def initialise(model: LogisticRegression, rule: str) -> LogisticRegression:
    """Set the starting weights of a new model in place (and return it).

    rule : "default" = PyTorch's `nn.Linear.reset_parameters` (weights and bias uniform in
        +-1/sqrt(F), drawn from torch's global generator), the study's start; "zeros" = all 0,
        so that a feature the data never moves keeps weight 0 and runs need no seed
    """
    if rule not in INITIAL_WEIGHTS:
        raise ValueError(f"unknown initial_weights {rule!r}; use one of {INITIAL_WEIGHTS}")
    if rule == "default":
        model.linear.reset_parameters()
    else:
        nn.init.zeros_(model.linear.weight)
        nn.init.zeros_(model.linear.bias)
    return model
