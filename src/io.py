"""Reading and writing files safely: user text, atomic writes, appended CSV rows, PyTorch files.

Every write that replaces a file goes through a temporary file in the same folder and a rename,
so a reader (or a crash) sees the old file or the new one, never half of one. PyTorch files are
read with `torch.load(weights_only=True)`: tensors and plain containers only, never pickled code.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import tempfile
from pathlib import Path

from .errors import InputError


def read_text(path: str | Path, what: str = "the file") -> str:
    """The text of a user's file, decoded as UTF-8 (a byte-order mark is dropped).

    Raises
    ------
    InputError
        The file holds bytes that are not UTF-8 text (a spreadsheet or binary file, another
        encoding); the message names the line of the first such byte.
    """
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise InputError(f"{path}, line {line}: byte {data[err.start]:#04x} is not UTF-8 text; "
                         f"{what} must be a plain text file (save it as UTF-8 text)") from None


def require_files(paths, fix: str) -> None:
    """An `InputError` naming every one of `paths` that is not a file, then `fix` (which starts
    with its own punctuation: ": run ...")."""
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise InputError(f"{', '.join(missing)} not found{fix}")


def temporary_file_beside(path: Path) -> tuple[int, str]:
    """A new hidden temporary file in `path`'s folder (for write-then-rename), with the
    permissions an ordinary new file gets (mkstemp alone makes it private to the owner)."""
    handle, tmp = tempfile.mkstemp(dir=Path(path).parent, prefix=f".{Path(path).name}.",
                                   suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(handle, 0o666 & ~umask)
    return handle, tmp


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write via a temporary file and a rename: readers see the old or the new file, never half."""
    path = Path(path)
    handle, tmp = temporary_file_beside(path)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, write) -> None:
    """`write(temporary_path)` then rename to `path` (for writers that take a file name, such as
    `np.savez` or `torch.save`); the temporary file is removed if `write` fails."""
    path = Path(path)
    handle, tmp = temporary_file_beside(path)
    os.close(handle)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append_csv_row(path: Path, columns, row: dict) -> None:
    """Append one row in a single write (a crash leaves no half row); header on a new file."""
    new = not path.exists() or path.stat().st_size == 0
    line = csv_line([row[c] for c in columns])
    with open(path, "a", newline="") as out:
        out.write((csv_line(columns) if new else "") + line)
        out.flush()
        os.fsync(out.fileno())


def csv_line(values) -> str:
    """One CSV line (floats to 6 significant digits), newline included."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [f"{v:.6g}" if isinstance(v, float) else v for v in values])
    return buffer.getvalue()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in 16 MB blocks (a few seconds for the 3.5 GB sei.pth)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(16 * 2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_torch_save(obj, path: str | Path) -> None:
    """`torch.save` through a temporary file and a rename."""
    import torch

    atomic_write(path, lambda tmp: torch.save(obj, tmp))


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
    import torch

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
