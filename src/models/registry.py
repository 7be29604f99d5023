"""The model registry: every project model can be rebuilt from its name and constructor arguments.

The model contract: input (N, 4, L) one-hot float (or, for token models, a dict of token tensors),
output (N, 2) logits (class 1 = retained intron). A checkpoint stores the registry name and the
constructor arguments (`architecture`), so it names its class and is rebuilt without pickled
code. The classes register themselves with `register_model`; importing `src.models` imports every
model module, so `build_model` knows them all.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from ..errors import InputError

MODEL_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    """Class decorator: make `build_model(name, architecture)` able to rebuild the class."""

    def decorate(cls):
        MODEL_BUILDERS[name] = cls
        cls.model_name = name
        return cls

    return decorate


def build_model(name: str, architecture: dict, allow_remote_code: bool = False) -> nn.Module:
    """Rebuild a registered model from its name and constructor arguments.

    allow_remote_code : permission, from the caller, for a model class that can run a Hugging
        Face model's own code (it declares `accepts_remote_code`); other classes ignore it. It
        is never part of `architecture`, so a checkpoint cannot grant it to itself.

    A class with a `from_architecture` classmethod is built by it (it may convert the stored
    arguments of earlier versions); `model.architecture` is the class's own record when it keeps
    one, else `architecture`.
    """
    if name not in MODEL_BUILDERS:
        raise InputError(f"unknown model type {name!r}; known: {', '.join(sorted(MODEL_BUILDERS))}")
    builder = MODEL_BUILDERS[name]
    options = ({"allow_remote_code": allow_remote_code}
               if getattr(builder, "accepts_remote_code", False) else {})
    # a class may read stored architectures itself (e.g. those of earlier versions)
    model = getattr(builder, "from_architecture", builder)(**architecture, **options)
    if getattr(model, "architecture", None) is None:  # a class may record its own
        model.architecture = dict(architecture)
    return model
