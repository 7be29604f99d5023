"""The predictions table, written as it goes and resumable after a kill.

Rules
-----
- Rows go to `OUT.partial` (beside `OUT`), a header line first, whole lines, flushed after each
  chunk; when every input has been scored, the file is closed, synced and renamed to `OUT`. So
  `OUT` only ever exists complete, and a killed run leaves `OUT.partial`, a valid prefix.
- `resume=True` continues `OUT.partial`: a trailing partial line (the kill came mid-write) is
  dropped, the header must be the same, and the rows already there must be the first rows the
  inputs produce again (`skip_written` checks their key columns one by one, in constant memory):
  a changed input is an error rather than a mixed table.
- A fresh run refuses to start when `OUT` exists (pass `force` to replace it; the old `OUT` stays
  until the new one is complete) or when `OUT.partial` exists (pass `resume`, or `force` to start
  over).
- A run that stops on an `InputError` removes the `OUT.partial` it created, so bad input leaves
  nothing behind; when it was resuming it leaves the partial file as it found it plus any rows it
  wrote (still a valid prefix). Any other stop (a bug, Ctrl-C, a kill) keeps the partial file for
  `resume`.

Values are written as text: str as is, int in decimal, float with 6 significant digits, None as
an empty field. A field holding a tab or a line break is refused (the readers never produce one).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from ..errors import InputError

T = TypeVar("T")


def format_value(value) -> str:
    """One TSV field: str as is, int in decimal, float to 6 significant digits, None empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if hasattr(value, "item") and not isinstance(value, str):  # NumPy scalars
        return format_value(value.item())
    return str(value)


PARTIAL_SUFFIX = ".partial"


def partial_path(path: Path) -> Path:
    """Where the rows of table `path` go until it is complete."""
    return path.with_name(path.name + PARTIAL_SUFFIX)


class ResumableTsv:
    """A tab-separated table written row by row (rules in the module docstring).

    Parameters
    ----------
    path : the finished table's path (OUT)
    columns : the header
    key_columns : the columns that identify a row (compared on resume)
    resume : continue OUT.partial
    force : replace an existing OUT, or discard an existing OUT.partial

    Attributes
    ----------
    rows_before : complete rows already in OUT.partial when resuming (0 on a fresh run)
    partial : the path rows are written to

    Use as a context manager: leaving the block normally finishes the table (rename to OUT).
    """

    def __init__(self, path: str | Path, columns: Sequence[str], key_columns: Sequence[str],
                 *, resume: bool = False, force: bool = False):
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.columns = tuple(columns)
        missing = [c for c in key_columns if c not in self.columns]
        if missing:
            raise ValueError(f"key column(s) {missing} not among the columns {self.columns}")
        self._key_at = [self.columns.index(c) for c in key_columns]
        self.rows_before = 0
        self.rows_written = 0
        self._created = False
        self._handle = None
        header = "\t".join(self.columns) + "\n"
        if resume and self.partial.exists():
            self.rows_before = self._recover(header)
        elif resume and self.path.exists() and not force:
            raise InputError(f"{self.path} is already complete (there is no {self.partial.name} "
                             f"to resume); pass --force to compute it again, or choose another "
                             f"output")
        else:
            self._check_fresh(force)
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            with open(self.partial, "w", encoding="utf-8", newline="\n") as out:
                out.write(header)
            self._created = True
        self._handle = open(self.partial, "a", encoding="utf-8", newline="\n")

    def _check_fresh(self, force: bool) -> None:
        if force:
            self.partial.unlink(missing_ok=True)
            return
        if self.partial.exists():
            raise InputError(f"{self.partial} is left from an interrupted run: pass --resume to "
                             f"continue it, or --force to start over")
        if self.path.exists():
            raise InputError(f"{self.path} exists: choose another output, or pass --force to "
                             f"replace it (the old file stays until the new one is complete)")

    def _recover(self, header: str) -> int:
        """Drop a trailing partial line of OUT.partial, check its header and rows; row count."""
        with open(self.partial, "r+b") as handle:
            size = handle.seek(0, os.SEEK_END)
            keep = size
            while keep > 0:  # back to just after the last newline, in blocks
                start = max(0, keep - 65536)
                handle.seek(start)
                block = handle.read(keep - start)
                newline = block.rfind(b"\n")
                if newline >= 0:
                    keep = start + newline + 1
                    break
                keep = start
            if keep < size:
                handle.truncate(keep)
        rows = 0
        with open(self.partial, encoding="utf-8", newline="\n") as handle:
            first = handle.readline()
            if first != header:
                raise InputError(
                    f"{self.partial} has the columns {first.rstrip().split(chr(9))!r}, not "
                    f"{list(self.columns)!r}: it was written by another kind of run; pass --force "
                    f"to start over instead of --resume")
            for line_no, line in enumerate(handle, start=2):
                if line.count("\t") != len(self.columns) - 1:
                    raise InputError(f"{self.partial}, line {line_no}: {line.count(chr(9)) + 1} "
                                     f"fields instead of {len(self.columns)}: the file was changed "
                                     f"by hand or damaged; pass --force to start over")
                rows += 1
        return rows

    def skip_written(self, items: Iterable[T], key: Callable[[T], Sequence]) -> Iterator[T]:
        """The items not yet written: the first `rows_before` items are checked against the rows
        already in OUT.partial (their key columns, formatted) and dropped; the rest are yielded.

        Raises
        ------
        InputError
            An item's key differs from the row written for it: the input changed since the
            interrupted run.
        """
        iterator = iter(items)
        if self.rows_before:
            with open(self.partial, encoding="utf-8", newline="\n") as done:
                done.readline()
                for row_no in range(1, self.rows_before + 1):
                    fields = done.readline().rstrip("\n").split("\t")
                    written = tuple(fields[i] for i in self._key_at)
                    try:
                        item = next(iterator)
                    except StopIteration:
                        raise InputError(f"{self.partial} has {self.rows_before} rows but the "
                                         f"inputs now give only {row_no - 1}: they changed since "
                                         f"the interrupted run; pass --force to start over"
                                         ) from None
                    expected = tuple(format_value(v) for v in key(item))
                    if expected != written:
                        raise InputError(
                            f"{self.partial}, row {row_no}: written for {written!r}, but the "
                            f"inputs' row {row_no} is now {expected!r}: the inputs changed since "
                            f"the interrupted run; pass --force to start over")
        yield from iterator

    def write(self, rows: Iterable[Sequence]) -> None:
        """Append rows (sequences of values in column order) as whole lines and flush."""
        lines = []
        for row in rows:
            if len(row) != len(self.columns):
                raise ValueError(f"a row of {len(row)} values for {len(self.columns)} columns")
            fields = [format_value(v) for v in row]
            for field in fields:
                if "\t" in field or "\n" in field or "\r" in field:
                    raise ValueError(f"a field holds a tab or line break: {field!r}")
            lines.append("\t".join(fields) + "\n")
        self._handle.write("".join(lines))
        self._handle.flush()
        self.rows_written += len(lines)

    def finish(self) -> Path:
        """Close, sync and rename OUT.partial to OUT; returns OUT."""
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self.partial, self.path)
        return self.path

    def close(self, input_error: bool = False) -> None:
        """Stop without finishing: keep OUT.partial for --resume, except that an `InputError` in
        a fresh run removes it."""
        if self._handle is not None and not self._handle.closed:
            self._handle.close()
        if input_error and self._created:
            self.partial.unlink(missing_ok=True)

    def __enter__(self) -> "ResumableTsv":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.finish()
        else:
            self.close(input_error=issubclass(kind, InputError))
