"""Where the work runs: the device of one process, and the processes a launcher started.

The one place a device is chosen (`choose_device`); nothing else in the project names "cuda".
`launched_processes` / `launched_rank` read the launcher's environment (torchrun, accelerate
launch) without importing PyTorch, so scripts can use them before their heavy imports.
"""

from __future__ import annotations

import os

from .errors import InputError


def choose_device(name: str = "auto"):
    """"auto" is CUDA when PyTorch sees a GPU, else the CPU; "cpu", "cuda" or "cuda:N" as given
    (for code that runs outside Accelerate).

    Returns torch.device.
    """
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} was asked for, but PyTorch sees no GPU: use \"auto\" "
                         f"or \"cpu\" (or install the CUDA build of PyTorch)")
    return device


def bf16_autocast(device, enabled: bool = True):
    """bf16 autocast on a CUDA device when `enabled`; a no-op context elsewhere (CPUs run fp32).
    Wrap forward passes (and the loss) only, never backward or the optimiser step."""
    import contextlib

    import torch

    if enabled and torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def launched_processes() -> int:
    """Number of processes the launcher started (`WORLD_SIZE`; 1 when run as a plain script)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def launched_rank() -> int:
    """This process's number among those the launcher started (`RANK`; 0 for a plain script)."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0
