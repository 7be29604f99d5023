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

It is loaded with `torch.load(weights_only=True)`, which refuses arbitrary pickled objects.
`safe_torch_load` is the one place where the project reads a PyTorch file (checkpoints, sei.pth,
a Hugging Face `pytorch_model.bin`): only tensors and plain containers are ever unpickled, and a
damaged file is an `InputError`, whatever part of the unpickler it breaks.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from . import __version__
from .errors import InputError
from .networks import build_model
from .runs import temporary_file_beside

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


def atomic_torch_save(obj, path: str | Path) -> None:
    path = Path(path)
    handle, tmp = temporary_file_beside(path)
    os.close(handle)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def safe_torch_load(path: str | Path, fix: str, what: str = "checkpoint",
                    mmap: bool | None = False):
    """`torch.load(path, map_location="cpu", weights_only=True)`: tensors and plain containers
    only, never arbitrary pickled objects (code).

    Parameters
    ----------
    path : the file (checkpoint, sei.pth, pytorch_model.bin)
    fix : what the user should do when the file cannot be read (ends the error message)
    what : how the message names the file ("checkpoint", "weights")
    mmap : memory-map the tensors (zip format only: little memory until they are used); None
        tries a memory map first and reads the file normally when its format does not allow one

    Raises
    ------
    InputError
        "<what> <path> cannot be read (<first line of the cause>): <fix>", for any way the file
        fails to load (truncated, damaged, foreign, or holding objects other than tensors).
    """
    path = Path(path)
    problem: BaseException | None = None
    for use_mmap in ((True, False) if mmap is None else (bool(mmap),)):
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=use_mmap)
        except MemoryError:
            raise InputError(f"not enough memory to read {what} {path}: free memory or use a "
                             f"machine with more") from None
        # A damaged file breaks the (weights-only) unpickler in many ways: RuntimeError,
        # UnpicklingError, EOFError, OSError, BadZipFile, but also KeyError, TypeError,
        # AttributeError, AssertionError, UnicodeDecodeError (seen by fuzzing truncated and
        # bit-flipped checkpoints). Nothing is executed, so any of them just means "unusable".
        except Exception as err:  # noqa: BLE001
            problem = err
    text = str(problem).strip()
    first_line = text.splitlines()[0] if text else type(problem).__name__
    raise InputError(f"{what} {path} cannot be read ({first_line}): {fix}")


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
    expected = (expected_model,) if isinstance(expected_model, str) else expected_model
    if expected and payload["model_name"] not in expected:
        raise InputError(f"{path} is a {payload['model_name']} checkpoint, but this script "
                         f"needs a {' or '.join(expected)} checkpoint: use "
                         f"{payload['model_name']}.py -m {path} or pass a matching checkpoint")
    return payload


def load_model(path: str | Path, expected_model: str | tuple[str, ...] | None = None
               ) -> tuple[nn.Module, dict]:
    """Rebuild the model stored in a checkpoint, with its weights; returns (model, checkpoint)."""
    payload = read_checkpoint(path, expected_model)
    model = model_from_checkpoint(payload, path)
    return model, payload


def model_from_checkpoint(payload: dict, path: str | Path = "checkpoint") -> nn.Module:
    model = build_model(payload["model_name"], payload["architecture"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise InputError(f"{path}: the weights do not fit a {payload['model_name']} with the "
                         f"stored architecture ({str(err).splitlines()[0]})") from None
    return model
