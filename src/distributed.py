"""Several processes of one job (`accelerate launch` / `torchrun`): who writes, who waits, and
user errors that stop every process instead of leaving the others waiting.

A collective operation (a barrier, a gradient all-reduce) waits for every process. If one process
stops on an `InputError` while the others wait in a collective, they hang until the launcher
notices (torchrun does, and stops them) or the collective times out (`COLLECTIVE_TIMEOUT_S`). The
helpers here make the processes agree on the outcome of a step first: when any process met a user
error, every process raises it, so all of them exit with code 2 at the same point. The message is
printed once, by the lowest-numbered process that met the error (the others raise a copy marked
`quiet`, which `src.cli.run_cli` does not print).

Every helper takes a `state` with `num_processes`, `process_index` and `is_main_process`: an
`accelerate.Accelerator`, an `accelerate.PartialState`, or `SingleProcess`. With one process they
cost nothing and only run the function.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, TypeVar

import torch

from .device import launched_processes
from .errors import InputError

T = TypeVar("T")
COLLECTIVE_TIMEOUT_S = 3600  # a process waits this long for the others in a collective


@dataclass(frozen=True)
class SingleProcess:
    """The state of a run that was not launched with several processes."""

    num_processes: int = 1
    process_index: int = 0
    is_main_process: bool = True
    device: torch.device | None = None

    def wait_for_everyone(self) -> None:
        pass


def process_state(cpu: bool):
    """`accelerate.PartialState` when launched with several processes, else `SingleProcess`.

    cpu : bool, processes that compute on the CPU (gloo); otherwise each process takes the GPU of
        its local rank (NCCL), as `accelerate launch` / `torchrun` expect.

    Raises
    ------
    InputError
        The processes span several machines (nodes): the callers write shared files from every
        process, which needs one file system cache (one machine).
    """
    if launched_processes() == 1:
        return SingleProcess()
    local = os.environ.get("LOCAL_WORLD_SIZE")
    if local is not None and local.isdigit() and int(local) != launched_processes():
        raise InputError(f"this step runs on one machine only (its processes write to the same "
                         f"files), but it was launched on {launched_processes()} processes of "
                         f"which {local} on this machine: launch it on one node, e.g. "
                         f"torchrun --standalone --nproc_per_node N ...")
    from accelerate import PartialState

    # the others may wait minutes for the main process (hashing sei.pth, syncing a 10 GB split)
    return PartialState(cpu=cpu, timeout=timedelta(seconds=COLLECTIVE_TIMEOUT_S))


def quiet_copy(message: str) -> InputError:
    """An `InputError` that `run_cli` does not print (another process prints the message)."""
    error = InputError(message)
    error.quiet = True
    return error


def share_outcome(state, error: InputError | None) -> None:
    """Collective: every process says whether it met a user error; if any did, all raise.

    Must be called by every process at the same point. The lowest-numbered process that failed
    raises its own error (printed); every other process raises a quiet copy of that message.
    """
    if state.num_processes == 1:
        if error is not None:
            raise error
        return
    messages: list = [None] * state.num_processes
    torch.distributed.all_gather_object(messages, None if error is None else str(error))
    failed = [rank for rank, message in enumerate(messages) if message is not None]
    if not failed:
        return
    if state.process_index == failed[0]:
        raise error
    raise quiet_copy(messages[failed[0]]) from None


def together(state, function: Callable[[], T]) -> T:
    """Every process runs `function`; a user error in any of them is raised in all of them."""
    error, result = None, None
    try:
        result = function()
    except InputError as err:
        error = err
    share_outcome(state, error)
    return result


def on_main(state, function: Callable[[], T]) -> T | None:
    """The main process runs `function` (e.g. writes files) while the others wait; returns its
    result in the main process and None elsewhere. A user error of the main process is raised in
    every process."""
    return together(state, function if state.is_main_process else (lambda: None))


def main_first(state, function: Callable[[], T]) -> T:
    """The main process runs `function` first (it may write files that the others then read, such
    as split files made on first use), then every other process runs it. A user error of either
    turn is raised in every process."""
    result = on_main(state, function)
    if state.is_main_process:
        together(state, lambda: None)  # the others' turn
        return result
    return together(state, function)


def broadcast(state, value: T) -> T:
    """The main process's `value`, in every process (any picklable object)."""
    if state.num_processes == 1:
        return value
    box = [value if state.is_main_process else None]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]
