"""The one exception type for problems a user can fix (bad input, missing file, wrong flag).

Scripts turn an `InputError` into a one-paragraph message and exit code 2; any other exception is a
bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """A problem with the user's input: the message names the file (line/key) and the fix."""


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
