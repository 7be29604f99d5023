"""Self-describing checkpoints, written atomically and loaded without unpickling code.

A checkpoint is a dict of plain types and tensors:

    format        "ir-sei-checkpoint/1"
    model_name    registry name ("Basset", "ConvNet", "FSei", ...)
    architecture  constructor keyword arguments (`build_model(model_name, architecture)`)
    state_dict    model weights
    config        the run's resolved config
    extra         anything else a model needs to be used later (feature names, tokenizer files)
    training      optimiser state, epoch, best validation loss, early-stop counter (last.pt only)
    version       package version that wrote it

It is loaded with `src.io.safe_torch_load` (`torch.load(weights_only=True)`), which refuses
arbitrary pickled objects: a damaged file is an `InputError`, whatever part of the unpickler it
breaks.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from .. import __version__
from ..errors import InputError
from ..io import atomic_torch_save, safe_torch_load
from ..models import build_model

FORMAT = "ir-sei-checkpoint/1"


def save_checkpoint(path: str | Path, model: nn.Module, config: dict, extra: dict | None = None,
                    training: dict | None = None) -> None:
    """Write `model` (rebuilt later by `load_model`) to `path` via a temporary file and a rename,
    so a crash never leaves a half-written file under the final name."""
    payload = {
        "format": FORMAT,
        "model_name": model.model_name,
        "architecture": dict(model.architecture),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": config,
        "extra": extra or {},
        "training": training,
        "version": __version__,
    }
    atomic_torch_save(payload, path)


def read_checkpoint(path: str | Path, expected_model: str | tuple[str, ...] | None = None) -> dict:
    """Load a checkpoint dict safely and check that it is one of ours (and of the expected model).

    Raises
    ------
    InputError
        Missing, truncated or foreign file, or a checkpoint of another model type.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} not found: pass the best.pt of a run folder with -m")
    payload = safe_torch_load(path, fix="the file is truncated, damaged or not a checkpoint saved "
                                        "by this project; use another checkpoint (each run folder "
                                        "has best.pt and last.pt) or retrain")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{path} is not a checkpoint of this project (no '{FORMAT}' marker); "
                         f"weights from elsewhere (e.g. sei.pth) are loaded through the config "
                         f"instead")
    damaged = _structure_problem(payload)
    if damaged:
        raise InputError(f"checkpoint {path} is damaged ({damaged}): use another checkpoint "
                         f"(each run folder has best.pt and last.pt) or retrain")
    expected = (expected_model,) if isinstance(expected_model, str) else expected_model
    if expected and payload["model_name"] not in expected:
        raise InputError(f"{path} is a {payload['model_name']} checkpoint, but this script "
                         f"needs a {' or '.join(expected)} checkpoint: use "
                         f"{payload['model_name']}.py -m {path} or pass a matching checkpoint")
    return payload


def _structure_problem(payload: dict) -> str | None:
    """What is wrong with the entries of a checkpoint dict, or None."""
    import torch

    expected = {"model_name": str, "architecture": dict, "state_dict": dict, "config": dict,
                "extra": dict}
    for key, kind in expected.items():
        if not isinstance(payload.get(key), kind):
            return f"its '{key}' entry is missing or not a {kind.__name__}"
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor)
               for k, v in payload["state_dict"].items()):
        return "its state_dict holds something other than named tensors"
    if payload.get("training") is not None and not isinstance(payload["training"], dict):
        return "its 'training' entry is not a dict"
    return None


def load_model(path: str | Path, expected_model: str | tuple[str, ...] | None = None,
               allow_remote_code: bool = False) -> tuple[nn.Module, dict]:
    """Rebuild the model stored in a checkpoint, with its weights; returns (model, checkpoint).

    allow_remote_code : the caller's permission (from the user's config, never from the file)
        for a Hugging Face model that runs its own code
    """
    payload = read_checkpoint(path, expected_model)
    model = model_from_checkpoint(payload, path, allow_remote_code)
    return model, payload


def model_from_checkpoint(payload: dict, path: str | Path = "checkpoint",
                          allow_remote_code: bool = False) -> nn.Module:
    """The model of a checkpoint dict (`read_checkpoint`), with its weights."""
    model = build_model(payload["model_name"], payload["architecture"], allow_remote_code)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise InputError(f"{path}: the weights do not fit a {payload['model_name']} with the "
                         f"stored architecture ({str(err).splitlines()[0]})") from None
    return model
