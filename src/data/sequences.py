"""`final_data.csv`, the study's data file: columns `header,sequence,label` (label 1 = retained
intron), read and validated.

Every problem is an `InputError` that names the line and the fix: a missing or renamed column, a
label other than 0/1, an empty sequence, a character outside the IUPAC letters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .encoding import encode_codes

DATA_FILE = "final_data.csv"
REQUIRED_COLUMNS = ("header", "sequence", "label")


@dataclass
class SequenceTable:
    """The rows of `final_data.csv`, validated."""

    path: Path
    headers: np.ndarray  # (N,) object (str)
    sequences: list[str]
    labels: np.ndarray  # (N,) int64, 0 or 1

    def __len__(self) -> int:
        return len(self.labels)

    def describe_row(self, row: int) -> str:
        """Names a row the way a user finds it in the file: line, 0-based index and header."""
        return f"line {row + 2} (row {row}, header {self.headers[row]!r})"


def read_sequence_table(path: str | Path) -> SequenceTable:
    """Read and validate `final_data.csv`.

    Lowercase and IUPAC letters are accepted; a gzip-compressed file is read as it is (whatever
    its name). A missing or renamed column, a label other than 0/1, an empty sequence, a character
    outside IUPAC or another compression is an `InputError` naming the line and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} not found: put the study's final_data.csv there (columns "
                         f"header,sequence,label), set data_path in the JSON config, or run "
                         f"`python Make_demo_data.py` for the demo data")
    compression = compression_of(path)
    try:
        # header=None: the first line sets the field count, so a row with extra fields is an
        # error instead of being silently taken as an index column
        raw = pd.read_csv(path, header=None, dtype=str, keep_default_na=False,
                          compression=compression)
    except (OSError, EOFError) as err:  # a damaged or cut-off gzip stream
        if compression != "gzip":
            raise
        raise InputError(f"{path} is gzip-compressed but cannot be decompressed ({err}): copy it "
                         f"again, or decompress it with `gunzip -c`") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty: it needs a header line header,sequence,label "
                         f"and one row per sequence") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"{path} is not a readable CSV file ({err}); each line must be "
                         f"header,sequence,label") from None
    frame = raw.iloc[1:].reset_index(drop=True)
    frame.columns = [str(c).strip() for c in raw.iloc[0]]
    repeated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1}
                      & set(REQUIRED_COLUMNS))
    if repeated:
        raise InputError(f"{path}: the column(s) {', '.join(repeated)} appear more than once in "
                         f"the header line (line 1); keep one header,sequence,label column each")
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        renamed = {c.lower(): c for c in frame.columns}
        hints = [f"'{renamed[m]}' should be named '{m}'" for m in missing if m in renamed]
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(frame.columns)}. "
            + ("; ".join(hints) + ". " if hints else "")
            + "The first line must be header,sequence,label")
    if frame.empty:
        raise InputError(f"{path} has no rows: add one line per sequence after the header line")
    table = SequenceTable(path=path, headers=frame["header"].to_numpy(dtype=object),
                          sequences=[s.strip() for s in frame["sequence"]],
                          labels=np.zeros(len(frame), dtype=np.int64))
    table.labels[:] = _parse_labels(frame["label"], table)
    empty = [i for i, s in enumerate(table.sequences) if not s]
    if empty:
        raise InputError(f"{path}: {table.describe_row(empty[0])} has an empty sequence "
                         f"({len(empty)} such row(s)); fill them in or remove them")
    return table


# the first bytes of compressed files (pandas infers compression from the file name only)
_MAGIC = {b"\x1f\x8b": "gzip", b"PK\x03\x04": "zip", b"BZh": "bzip2",
          b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}


def compression_of(path: Path) -> str | None:
    """"gzip" for a gzip-compressed file (read as it is), None for plain text.

    Raises
    ------
    InputError
        Another compression (zip, bzip2, xz, zstd), whatever the file's name: decompress it.
    """
    with open(path, "rb") as handle:
        head = handle.read(6)
    kind = next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)
    if kind in (None, "gzip"):
        return kind
    raise InputError(f"{path} is {kind}-compressed, not a text CSV file: decompress it (e.g. "
                     f"`unzip`, `bunzip2`, `unxz`, `unzstd`) and keep the name {path.name}; "
                     f"gzip-compressed files are read as they are")


def _parse_labels(column: pd.Series, table: SequenceTable) -> np.ndarray:
    values = pd.to_numeric(column.str.strip(), errors="coerce").to_numpy(dtype=float)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(f"{table.path}: {table.describe_row(row)} has label "
                         f"{column.iloc[row]!r}; labels must be 0 (not retained) or 1 (retained) "
                         f"({int(bad.sum())} bad label(s) in all)")
    return values.astype(np.int64)


def check_sequences(table: SequenceTable, length: int, chunk: int = 20_000) -> None:
    """Validate every sequence of `table` (letters, length) without keeping an encoded copy."""
    for start in range(0, len(table), chunk):
        encode_codes(table.sequences[start:start + chunk], length, source=str(table.path),
                     describe_row=lambda r: table.describe_row(start + r))
