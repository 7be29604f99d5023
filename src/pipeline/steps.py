"""Steps of a sequence of script runs, and how they run: skipped when done, inputs checked first.

Each step is one of the project's scripts with its flags, the inputs it needs (checked before it
runs, with where to get each one) and a "done" test on its outputs, which asks the module that
writes those outputs (its `is_complete`). A step whose outputs are complete is skipped, so running
the sequence again continues where it stopped.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import InputError


@dataclass
class Need:
    """An input of a step. `check()` returns None when it is there, else what is wrong.

    made_by : the step that writes it (None: it comes from outside the project)
    """

    what: str
    check: Callable[[], str | None]
    made_by: str | None = None


@dataclass
class Step:
    """One script run of the sequence.

    args : the script's flags, or a function that makes them when the step runs (when they name
        the outputs of earlier steps, e.g. the FSei run that Attribute.py explains)
    done : None while the step still has to run, else a short description of its outputs
    resume : flags that continue an interrupted run (None: run `args` again from the start)
    group : the step this one repeats (e.g. "FSei" for "FSei seed 2"): `only=["FSei"]` selects
        both
    """

    name: str
    script: str
    args: list[str] | Callable[[], list[str]]
    needs: list[Need] = field(default_factory=list)
    done: Callable[[], str | None] = lambda: None
    resume: Callable[[], list[str] | None] = lambda: None
    group: str | None = None

    def command(self) -> list[str]:
        args = self.args() if callable(self.args) else self.args
        return [self.script, *args]


def file_need(path: str | Path, what: str, hint: str, made_by: str | None = None) -> Need:
    path = Path(path)

    def check():
        return None if path.is_file() else f"{path} not found: {hint}"

    return Need(what, check, made_by)


def subprocess_runner(command: list[str]) -> int:
    """Run a script with this Python, in the current folder; its output goes to the console."""
    return subprocess.run([sys.executable, *command]).returncode


def check_inputs(steps: list[Step], pending: list[Step]) -> None:
    """Before anything runs: every input of a pending step is there or made by an earlier
    pending step; otherwise one error that lists each missing input and how to get it."""
    will_run = {step.name for step in pending}
    problems: dict[str, list[str]] = {}  # problem -> steps that need it
    for step in pending:
        for need in step.needs:
            if need.made_by in will_run:
                continue
            problem = need.check()
            if problem:
                problems.setdefault(problem, []).append(step.name)
    if problems:
        raise InputError("missing inputs, nothing was run:\n" + "\n".join(
            f"- {problem} (needed by {', '.join(names)})" for problem, names in problems.items()))


def run_steps(steps: list[Step], only: list[str] | None = None, dry_run: bool = False,
              runner: Callable[[list[str]], int] = subprocess_runner, log=print,
              record=None) -> dict:
    """Run the steps that are not done (of `only`, when given), in order.

    record : a `src.report.record.RecordWriter` that notes each step (done, ran, failed) with
        its command and times, or None

    Returns {step name: "done" | "ran" | "would run" | "skipped (not selected)"}.

    Raises
    ------
    InputError
        An input is missing (before anything runs), a step fails (its exit status is given), or
        a step ends without writing the outputs its "done" test looks for.
    """
    names = [step.name for step in steps]
    unknown = [name for name in only or []
               if name not in names and not any(step.group == name for step in steps)]
    if unknown:
        raise InputError(f"unknown step(s) {', '.join(map(repr, unknown))}: the steps are "
                         + ", ".join(map(repr, names)))
    selected = [s for s in steps if not only or s.name in only or s.group in only]
    status = {step.name: "skipped (not selected)" for step in steps}
    pending = []
    for step in selected:
        outputs = step.done()
        if outputs:
            status[step.name] = "done"
            log(f"[{step.name}] done: {outputs}")
            if record is not None:
                record.skipped(step.name, outputs=outputs)
        else:
            pending.append(step)
    check_inputs(steps, pending)
    for index, step in enumerate(pending, start=1):
        resume = step.resume()
        if dry_run:
            flags = resume or (["<flags chosen when it runs>"] if callable(step.args)
                               else step.args)
            status[step.name] = "would run"
            log(f"[{step.name}] would run: python {' '.join([step.script, *flags])}")
            continue
        command = [step.script, *resume] if resume else step.command()
        for need in step.needs:  # made by an earlier step by now
            problem = need.check()
            if problem:
                raise InputError(f"step {step.name} needs {need.what}: {problem}")
        log(f"\n[{step.name}] ({index}/{len(pending)}) python {' '.join(command)}"
            + ("   (continuing the interrupted run)" if resume else ""))
        started = time.perf_counter()
        with (record.step(step.name, ["python", *command]) if record is not None
              else contextlib.nullcontext()) as noted:
            code = runner(command)
            if code != 0:
                raise InputError(f"step {step.name} failed (exit status {code}): see its "
                                 f"messages above. Fix the problem and run the same command "
                                 f"again; the steps already done are skipped")
            outputs = step.done()
            if not outputs:
                raise InputError(f"step {step.name} ended without its outputs: see its "
                                 f"messages above")
            if noted is not None:
                noted.outputs = outputs
        status[step.name] = "ran"
        log(f"[{step.name}] finished in {time.perf_counter() - started:.0f} s")
    return status
