"""The run record of a study run: what was run, on what, with what, and how long each step took.

`Reproduce.py` keeps one JSON file, `pipeline_record.json`, in the results folder and the report
("What was run") reads it. Each call of the pipeline is an *invocation* (its command line, the
environment, the inputs with their SHA-256 checksums); each step it meets is appended as a *step*
event (ran, done = skipped because its outputs were already there, failed, would run):

    {
      "format": "pipeline-record/1",
      "invocations": [
        {"id": 1, "command": "Reproduce.py --config demo", "started": "2025-...T12:00:00+00:00",
         "ended": "...", "seconds": 412.0, "status": "finished",
         "environment": {"python": "3.12.3", "platform": "Linux-6.1-x86_64",
                         "packages": {"torch": "2.13.0", ...}, "device": {...}, "cpu": {...},
                         "code": {"commit": "d827ebd...", "dirty": false}},
         "inputs": [{"path": "data/demo/final_data.csv", "role": "sequences", "bytes": 2163411,
                     "sha256": "...", "modified": "..."}]}
      ],
      "steps": [
        {"invocation": 1, "name": "FSei", "command": "FSei.py --json json/demo/FSei.json -n -t -e",
         "started": "...", "ended": "...", "seconds": 61.2, "status": "ran",
         "outputs": "results/demo/FSei/FSei_20250101-120000/predictions.csv"}
      ]
    }

Times are ISO 8601 with the UTC offset. The file is replaced atomically at each write, so a crash
never leaves half a record; a record that cannot be read is an `InputError` naming the file.

Calling sequence for a pipeline (`Reproduce.py`)::

    record = RecordWriter.start(results / RECORD_FILE, "Reproduce.py --config demo",
                                inputs={"sequences": "data/demo/final_data.csv",
                                        "config": ["json/demo/FSei.json", ...]})
    with record.step("FSei", ["FSei.py", "--json", ...]) as step:
        code = runner(command)              # an exception marks the step "failed"
        step.outputs = "results/demo/FSei/..."
    record.skipped("LR ALL", outputs="...")   # outputs already there
    record.finish("finished", inputs=...)     # or "failed", "interrupted"; inputs made by
                                              # the run (the demo's data) are checksummed now
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ..errors import InputError
from ..io import atomic_write_text
from ..io import file_sha256 as sha256_file

RECORD_FILE = "pipeline_record.json"
FORMAT = "pipeline-record/1"
# Distribution names (pip's) whose versions describe a run; a missing one is recorded as None.
PACKAGES = ("torch", "numpy", "pandas", "scipy", "scikit-learn", "lightgbm", "transformers",
            "tokenizers", "captum", "pyjaspar", "logomaker", "statsmodels", "matplotlib")
STEP_STATUSES = ("ran", "done", "failed", "would run", "interrupted")


def now() -> str:
    """The current local time, ISO 8601 with its UTC offset, to the second."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


# ------------------------------------------------------------------------------ checksums


def sha256_folder(path: str | Path) -> tuple[str, int, int]:
    """A checksum of a folder (a model snapshot, a feature folder): the SHA-256 of the sorted
    lines `<sha256 of the file>  <path relative to the folder>`, the `sha256sum` listing of the
    folder, so `find . -type f | sort | xargs sha256sum` reproduces it (paths with `./` dropped).

    Returns (checksum, number of files, total bytes). Hidden files and folders are left out.
    """
    root = Path(path)
    lines, total, count = [], 0, 0
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = file.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        lines.append(f"{sha256_file(file)}  {relative.as_posix()}\n")
        total += file.stat().st_size
        count += 1
    return hashlib.sha256("".join(lines).encode()).hexdigest(), count, total


def describe_inputs(inputs: Mapping[str, str | Path | Sequence[str | Path]] | Iterable,
                    previous: Iterable[dict] = ()) -> list[dict]:
    """Checksum the inputs of a run.

    Parameters
    ----------
    inputs : {role: path or list of paths} (e.g. {"sequences": "data/final_data.csv",
        "config": ["json/FSei.json", ...]}), or an iterable of paths (role "input")
    previous : entries of an earlier record: a file whose path, size and modification time are
        unchanged keeps its checksum instead of being read again (sei.pth is 3.5 GB)

    Returns
    -------
    One dict per path: path, role, kind ("file", "folder" or "missing"), bytes, files (folders),
    modified (ISO time), sha256 (None when missing).
    """
    if not isinstance(inputs, Mapping):
        inputs = {"input": list(inputs)}
    known = {(p.get("path"), p.get("bytes"), p.get("modified")): p.get("sha256")
             for p in previous if p.get("sha256")}
    described = []
    for role, paths in inputs.items():
        if isinstance(paths, (str, Path)):
            paths = [paths]
        for path in paths:
            path = Path(path)
            entry = {"path": str(path), "role": role}
            if path.is_file():
                stat = path.stat()
                modified = datetime.fromtimestamp(stat.st_mtime, timezone.utc).isoformat(
                    timespec="seconds")
                checksum = known.get((str(path), stat.st_size, modified)) or sha256_file(path)
                entry.update(kind="file", bytes=stat.st_size, modified=modified, sha256=checksum)
            elif path.is_dir():
                checksum, count, total = sha256_folder(path)
                entry.update(kind="folder", bytes=total, files=count, sha256=checksum)
            else:
                entry.update(kind="missing", bytes=None, sha256=None)
            described.append(entry)
    return described


# ---------------------------------------------------------------------------- environment


def package_versions(packages: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """Installed versions from the package metadata (nothing is imported, so this is fast)."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def describe_device(device: str | None = None) -> dict:
    """The accelerator PyTorch sees: {"type": "cuda"|"mps"|"cpu", "name", "count", "cuda",
    "cudnn"}; `device` (e.g. "cpu", "cuda:1") names the one used when the caller knows it.

    Imports torch (about a second); without torch the type is "cpu" and torch None.
    """
    info = {"type": "cpu", "name": cpu_name(), "count": 1, "cuda": None, "cudnn": None}
    try:
        import torch
    except ImportError:
        info["torch"] = None
        return info
    wanted = device or "auto"
    if torch.cuda.is_available() and not wanted.startswith("cpu"):
        index = int(wanted.split(":")[1]) if wanted.startswith("cuda:") else 0
        info.update(type="cuda", name=torch.cuda.get_device_name(index),
                    count=torch.cuda.device_count(), cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version())
    elif (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
          and wanted in ("auto", "mps")):
        info.update(type="mps", name="Apple GPU (MPS)")
    return info


def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux), or what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def code_version(root: str | Path = Path(__file__).resolve().parents[2]) -> dict:
    """The project's git commit and whether the working tree has changes, when `root` is a
    git checkout and git is installed: {"commit": ..., "dirty": bool}; else {}."""
    import subprocess

    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return {}
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                 "--untracked-files=no"], capture_output=True, text=True,
                                timeout=30)
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def describe_environment(packages: Iterable[str] = PACKAGES, device: str | None = None) -> dict:
    """Python, platform, CPU, package versions, the project's git commit and the accelerator."""
    environment = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpu": {"name": cpu_name(), "cores": os.cpu_count()},
        "packages": package_versions(packages),
        "code": code_version(),
    }
    environment["device"] = describe_device(device)
    return environment


# ------------------------------------------------------------------------- reading, writing


def read_record(path: str | Path) -> dict:
    """Read and check a `pipeline_record.json`.

    Raises
    ------
    InputError
        The file is not JSON, or not a record of this format (the message names the file).
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}, line {err.lineno}: not valid JSON ({err.msg}); the pipeline "
                         f"writes this file: move it away and run the pipeline again") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise InputError(f"{path} is not a pipeline record (format {FORMAT!r}); it is written "
                         f"by Reproduce.py: move it away to make a report without it")
    for key in ("invocations", "steps"):
        if not isinstance(record.get(key), list):
            raise InputError(f"{path}: {key!r} must be a list; move the file away and run the "
                             f"pipeline again")
    return record


def _write(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def command_text(command: str | Sequence[str]) -> str:
    """A command as one shell-quoted line."""
    return command if isinstance(command, str) else shlex.join(str(c) for c in command)


def append_step(path: str | Path, name: str, command: str | Sequence[str], status: str,
                started: str | None = None, ended: str | None = None,
                seconds: float | None = None, outputs: str | None = None,
                invocation: int | None = None) -> dict:
    """Append one step event to the record at `path` (created when absent) and return it.

    status : "ran", "done" (skipped: outputs already there), "failed", "would run",
        "interrupted"
    invocation : the invocation id (default: the record's latest, or 0 without one)
    """
    if status not in STEP_STATUSES:
        raise ValueError(f"step status {status!r}: choose one of {', '.join(STEP_STATUSES)}")
    path = Path(path)
    record = read_record(path) if path.is_file() else {"format": FORMAT, "invocations": [],
                                                         "steps": []}
    if invocation is None:
        invocation = record["invocations"][-1]["id"] if record["invocations"] else 0
    event = {"invocation": invocation, "name": name, "command": command_text(command),
             "started": started, "ended": ended,
             "seconds": None if seconds is None else round(float(seconds), 3),
             "status": status, "outputs": outputs}
    record["steps"].append(event)
    _write(path, record)
    return event


@dataclass
class StepHandle:
    """What the body of `RecordWriter.step` may set: the outputs it wrote."""

    outputs: str | None = None


@dataclass
class RecordWriter:
    """Writes one invocation of a pipeline into a record file (see the module docstring)."""

    path: Path
    invocation: int
    started_clock: float = field(default_factory=time.perf_counter)

    @classmethod
    def start(cls, path: str | Path, command: str | Sequence[str],
              inputs: Mapping | Iterable = (), device: str | None = None,
              environment: dict | None = None) -> "RecordWriter":
        """Open (or create) the record and append a new invocation with the environment and
        the checksummed inputs (unchanged files keep their earlier checksums)."""
        path = Path(path)
        record = read_record(path) if path.is_file() else {"format": FORMAT, "invocations": [],
                                                             "steps": []}
        previous = [entry for inv in record["invocations"] for entry in inv.get("inputs", [])]
        invocation = {
            "id": max((inv["id"] for inv in record["invocations"]), default=0) + 1,
            "command": command_text(command), "started": now(), "ended": None,
            "seconds": None, "status": "running",
            "environment": environment or describe_environment(device=device),
            "inputs": describe_inputs(inputs, previous),
        }
        record["invocations"].append(invocation)
        _write(path, record)
        return cls(path, invocation["id"])

    @contextmanager
    def step(self, name: str, command: str | Sequence[str]):
        """Time the body as step `name`: "ran" when it returns, "failed" when it raises
        (KeyboardInterrupt: "interrupted"); the exception is raised again."""
        handle = StepHandle()
        started, clock = now(), time.perf_counter()
        status = "failed"
        try:
            yield handle
            status = "ran"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            append_step(self.path, name, command, status, started=started, ended=now(),
                        seconds=time.perf_counter() - clock, outputs=handle.outputs,
                        invocation=self.invocation)

    def skipped(self, name: str, command: str | Sequence[str] = "", outputs: str | None = None,
                status: str = "done") -> None:
        """A step that did not run now: "done" (its outputs exist) or "would run" (dry run)."""
        append_step(self.path, name, command, status, outputs=outputs, invocation=self.invocation)

    def finish(self, status: str = "finished", inputs: Mapping | Iterable | None = None) -> None:
        """Close the invocation: end time, seconds and status ("finished", "failed",
        "interrupted"); with `inputs`, describe them again (inputs that steps of this
        invocation made, as the demo makes its data, get their checksums now)."""
        record = read_record(self.path)
        for invocation in record["invocations"]:
            if invocation["id"] == self.invocation:
                invocation.update(ended=now(), status=status,
                                  seconds=round(time.perf_counter() - self.started_clock, 3))
                if inputs is not None:
                    invocation["inputs"] = describe_inputs(inputs, invocation.get("inputs", []))
        _write(self.path, record)


def latest_steps(record: dict) -> list[dict]:
    """One line per step name, in the order the steps were first met: the newest event, with the
    time of the newest run that did the work ("ran" or "failed") when the newest is "done".

    Returns dicts with name, status, command, started, ended, seconds, outputs, invocation and
    `ran_in` (the invocation whose timing is shown).
    """
    order, newest, worked = [], {}, {}
    for event in record.get("steps", []):
        name = event.get("name")
        if name not in newest:
            order.append(name)
        newest[name] = event
        if event.get("status") in ("ran", "failed", "interrupted"):
            worked[name] = event
    rows = []
    for name in order:
        event = dict(newest[name])
        timing = worked.get(name)
        if event.get("status") == "done" and timing is not None:
            for key in ("started", "ended", "seconds"):
                event[key] = timing.get(key)
            event["command"] = event.get("command") or timing.get("command")
            event["ran_in"] = timing.get("invocation")
        else:
            event["ran_in"] = event.get("invocation") if event.get("seconds") is not None else None
        rows.append(event)
    return rows
