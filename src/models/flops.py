"""Multiply-adds of a model's forward pass, counted from the layers it runs (forward hooks).

`count_macs(model, *inputs)` runs one forward pass with a hook on every module and adds up the
multiply-adds of the matrix products each layer computes, from the shapes it actually sees:

    Conv1d                 N x C_out x L_out x (C_in / groups) x kernel
    Linear                 (every leading dimension) x in_features x out_features
    AttentionPool          N x L x C x C  (the C x C projection of the attention logits)
    BSplineTransformation  N x C x P x degrees of freedom
    MultiheadAttention     projections N x T x E x (E + kdim + vdim) + E x E (out) and the
                           two attention products 2 x N x heads x T x S x head_dim
    self-attention module  2 x N x heads x T^2 x head_dim (q k^T and attention x v); any module
                           with `num_attention_heads` and `head_size` (or `attention_head_size`)
                           attributes, whose projections are Linear children counted as such

Element-wise work (activations, normalisation, softmax, pooling, residual sums) is not counted:
it is a few percent of these models' arithmetic and bound by memory, not by the matrix units.
FLOPs = 2 x multiply-adds. Run the count on the "meta" device to get it without computing
anything (`model.to("meta")` and meta inputs): shapes are all the hooks need.

Per step of the heavy jobs (`step_flops`): inference = forward; training = 3 x forward (the
backward pass computes gradients for activations and weights, each about a forward's work);
training with a frozen part = forward of everything + 2 x forward of the trained part; an
Integrated Gradients step = 2 x forward (forward, and a backward for activation gradients only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .layers import AttentionPool
from .sei import BSplineTransformation


@dataclass
class MacCount:
    """Multiply-adds by module (qualified name) and in total, for one forward pass."""

    by_module: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_module.values())

    @property
    def flops(self) -> int:
        return 2 * self.total

    def within(self, prefix: str) -> int:
        """Multiply-adds of the modules under `prefix` (e.g. "trunk")."""
        return sum(v for k, v in self.by_module.items()
                   if k == prefix or k.startswith(prefix + "."))

    def add(self, name: str, macs: int) -> None:
        self.by_module[name] = self.by_module.get(name, 0) + int(macs)


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def _attention_heads(module: nn.Module) -> tuple[int, int] | None:
    heads = getattr(module, "num_attention_heads", None)
    size = getattr(module, "head_size", getattr(module, "attention_head_size", None))
    if isinstance(heads, int) and isinstance(size, int) and not isinstance(
            module, nn.MultiheadAttention):
        return heads, size
    return None


def layer_macs(module: nn.Module, inputs: tuple, output) -> int | None:
    """Multiply-adds of one call of a counted layer (module docstring); None for other modules."""
    if isinstance(module, nn.Conv1d):
        n, c_out, l_out = output.shape
        return n * c_out * l_out * (module.in_channels // module.groups) * module.kernel_size[0]
    if isinstance(module, nn.Linear):
        return _prod(output.shape[:-1]) * module.in_features * module.out_features
    if isinstance(module, AttentionPool):
        n, c, length = inputs[0].shape
        return n * length * c * c
    if isinstance(module, BSplineTransformation):
        return _prod(inputs[0].shape) * module.degrees_of_freedom
    if isinstance(module, nn.MultiheadAttention):
        query, key = inputs[0], inputs[1] if len(inputs) > 1 else inputs[0]
        if module.batch_first:
            n, t, e = query.shape
            s = key.shape[1]
        else:
            t, n, e = query.shape
            s = key.shape[0]
        projections = n * t * e * e + n * s * e * (module.kdim + module.vdim) + n * t * e * e
        return projections + 2 * n * t * s * e  # heads x head_dim = e
    heads = _attention_heads(module)
    if heads is not None:
        hidden = inputs[0]
        if hidden.dim() == 2:  # tokens packed as (nnz, D): the batch's shape rides along
            shape = next((x for x in inputs[1:] if hasattr(x, "batch") and hasattr(x, "width")),
                         None)
            if shape is None:
                raise ValueError(f"{type(module).__name__}: packed (nnz, D) input without the "
                                 f"batch's (N, T) shape: cannot count its attention")
            n, t = shape.batch, shape.width
        else:
            n, t = hidden.shape[0], hidden.shape[1]
        return 2 * n * heads[0] * t * t * heads[1]
    return None


def count_macs(model: nn.Module, *inputs, **kwargs) -> MacCount:
    """Run `model(*inputs, **kwargs)` once (no gradients) and count its multiply-adds.

    A module counted as a whole (MultiheadAttention) is not looked into; a self-attention module
    (module docstring) counts its attention products and its Linear children count themselves.
    """
    count = MacCount()
    names = {module: name or type(module).__name__ for name, module in model.named_modules()}
    whole = [m for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
    inside_whole = {sub for m in whole for sub in m.modules() if sub is not m}

    def hook(module, args, output):
        if module in inside_whole:
            return
        macs = layer_macs(module, args, output)
        if macs:
            count.add(names[module], macs)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.no_grad():
            model(*inputs, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    return count


STEP_KINDS = ("inference", "training", "frozen", "integrated_gradients")


def step_flops(forward: int, kind: str, trained_forward: int | None = None) -> int:
    """FLOPs of one step per input from the forward FLOPs (module docstring).

    kind : "inference", "training", "frozen" (needs `trained_forward`, the forward FLOPs of the
        part that trains) or "integrated_gradients" (one path point)
    """
    if kind == "inference":
        return forward
    if kind == "training":
        return 3 * forward
    if kind == "frozen":
        if trained_forward is None:
            raise ValueError("a frozen step needs the forward FLOPs of the trained part")
        return forward + 2 * trained_forward
    if kind == "integrated_gradients":
        return 2 * forward
    raise ValueError(f"kind must be one of {', '.join(STEP_KINDS)}, not {kind!r}")
