"""Streaming readers of the user's sequences and introns, and the crop/pad rule.

Every reader is a generator: it holds one record at a time, so a file of millions of records is
read in constant memory (`chunked` groups records into batches for the model). The one thing that
grows with the input is the duplicate-id check of FASTA and CSV (ids name the output rows): a
dict of id -> line, about 100 bytes per record (1 GB for 10 million records).

Files may be plain text or gzip-compressed (recognised by their first bytes, not their name; a
bgzip file is gzip). Every error is an `InputError` that names the file, the line and the fix.

Coordinates: BED is 0-based and half-open, so `chr1 100 200` is the 100 bases numbered 101..200 in
a 1-based genome browser. The strand column is required: a minus-strand intron is read on the
minus strand (reverse complement), 5' to 3' as it is transcribed.

The crop/pad rule (`fit_to_length`, `placement_offset`)
--------------------------------------------------------
One rule places a sequence of S bases in a model input of L positions: base i goes to position
i + floor((L - S) / 2). For S < L this is the study's encoder (`encode_codes`): the sequence is
centred and an odd extra padding position goes to the right. For S > L the same formula keeps
bases ceil((S - L) / 2) .. ceil((S - L) / 2) + L - 1: the centre L bases, the odd extra base cut
from the left. Because genome windows use the same offset (`genome.window_bounds`), cropping the
FASTA of an intron gives exactly the window that `--bed` takes from the genome.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

from ..data.encoding import LETTERS
from ..errors import InputError

IUPAC_LETTERS = LETTERS  # A C G T, then the IUPAC codes
_IUPAC_BYTES = (IUPAC_LETTERS + IUPAC_LETTERS.lower()).encode()
_INTEGER = re.compile(r"[0-9]+")
GZIP_MAGIC = b"\x1f\x8b"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SequenceRecord:
    """One sequence of a FASTA or CSV file.

    id : the FASTA header's first word, or the CSV `header` column
    sequence : the letters as given (IUPAC, any case), any length
    label : 0 or 1 from a CSV `label` column, else None
    path, line : where the record starts (FASTA header line; CSV: the line the row ends on)
    """

    id: str
    sequence: str
    label: int | None
    path: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}, line {self.line}"


@dataclass(frozen=True, slots=True)
class Interval:
    """One BED6 line: 0-based half-open [start, end) on `strand` ('+' or '-').

    chrom is the name as written in the BED (it is matched to the genome's names later); score is
    kept as text (BED files write '.', 0, or 0..1000).
    """

    chrom: str
    start: int
    end: int
    name: str
    score: str
    strand: str
    path: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}, line {self.line}"

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """The output's identifying columns: chrom, start, end, name, strand (as in the BED)."""
        return self.chrom, str(self.start), str(self.end), self.name, self.strand


@dataclass(frozen=True, slots=True)
class FittedSequence:
    """A given sequence fitted to the model input (see `fit_sequences`)."""

    record: SequenceRecord
    sequence: str  # at most L letters; shorter ones are centred in padding by the encoder
    note: str  # "", "cropped from 812 bp" or "padded from 450 bp"

    @property
    def key(self) -> tuple[str]:
        return (self.record.id,)


# ---------------------------------------------------------------------------------------------
# Opening files


def open_binary(path: str | Path, what: str):
    """Open a user's file for reading bytes, decompressing gzip (and bgzip) transparently.

    Raises
    ------
    InputError
        The file does not exist or is a folder.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} {path} not found: check the path")
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder: pass the file itself")
    with open(path, "rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def read_lines(path: str | Path, what: str) -> Iterator[tuple[int, bytes]]:
    """(line number, line without its end-of-line bytes) for each line of a plain or gzip file.

    Raises
    ------
    InputError
        A damaged or truncated gzip stream (the message names the last good line).
    """
    line_no = 0
    with open_binary(path, what) as handle:
        try:
            for line_no, raw in enumerate(handle, start=1):
                yield line_no, raw.rstrip(b"\r\n")
        except (EOFError, OSError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
            if not isinstance(handle, gzip.GzipFile):
                raise
            raise InputError(f"{path}: the gzip stream is damaged after line {line_no} ({err}); "
                             f"recompress the file, or pass it uncompressed") from None


def decode(raw: bytes, path, line_no: int, what: str) -> str:
    """One line as UTF-8 text (a byte-order mark on line 1 is dropped)."""
    try:
        return raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}, line {line_no}: byte {raw[err.start]:#04x} is not UTF-8 text; "
                         f"{what} must be a plain text file (save it as UTF-8 text)") from None


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last may be shorter), consuming `items` lazily."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


# ---------------------------------------------------------------------------------------------
# FASTA


def read_fasta(path: str | Path) -> Iterator[SequenceRecord]:
    """Stream the records of a FASTA file (plain or gzip).

    The id is the first word of the header line (`>id anything else`); sequence lines may be
    wrapped at any width, and blank lines are ignored; ';' comment lines are allowed before the
    first header.

    Yields
    ------
    SequenceRecord, in file order (label None)

    Raises
    ------
    InputError
        No record at all (empty file); text before the first '>'; a header without an id; an id
        used twice (both lines named); a record without sequence; a letter outside IUPAC (line and
        column named). The errors of later records are raised when the reader gets there.
    """
    path = str(path)
    first_line: dict[str, int] = {}
    ident, header_line, parts = None, 0, []
    for line_no, line in read_lines(path, "FASTA file"):
        if line.startswith(b">"):
            if ident is not None:
                yield _fasta_record(ident, parts, path, header_line)
            words = line[1:].split()
            if not words:
                raise InputError(f"{path}, line {line_no}: a '>' header line without an id; "
                                 f"write an id after '>' (e.g. >intron_1)")
            ident = decode(words[0], path, line_no, "a FASTA file")
            if ident in first_line:
                raise InputError(f"{path}, line {line_no}: the id {ident!r} was already used on "
                                 f"line {first_line[ident]}; ids name the output rows and must be "
                                 f"unique: rename one of the two records")
            first_line[ident] = header_line = line_no
            parts = []
            continue
        letters = b"".join(line.split())
        if not letters:
            continue
        if ident is None:
            if line.startswith(b";"):
                continue
            raise InputError(f"{path}, line {line_no}: sequence text before the first '>' header "
                             f"line; a FASTA record starts with '>id' (is this a FASTA file?)")
        bad = letters.translate(None, _IUPAC_BYTES)
        if bad:
            column = line.index(bad[:1]) + 1
            char = decode(line, path, line_no, "a FASTA file")[column - 1:column] or repr(bad[:1])
            raise InputError(f"{path}, line {line_no}, column {column}: {char!r} is not a DNA "
                             f"letter; use A, C, G, T or the IUPAC codes {IUPAC_LETTERS[4:]} "
                             f"(any case), e.g. N for an unknown base")
        parts.append(letters)
    if ident is not None:
        yield _fasta_record(ident, parts, path, header_line)
    if not first_line:
        raise InputError(f"{path} holds no FASTA record (it is empty, or has no '>' header "
                         f"line): give one '>id' line followed by its sequence per intron")


def _fasta_record(ident, parts, path, header_line) -> SequenceRecord:
    if not parts:
        raise InputError(f"{path}, line {header_line}: record {ident!r} has no sequence; add its "
                         f"sequence after the header line or remove the record")
    return SequenceRecord(ident, b"".join(parts).decode("ascii"), None, path, header_line)


# ---------------------------------------------------------------------------------------------
# The study's CSV


class SequenceCsv:
    """The study's `final_data.csv` format, streamed: columns `header,sequence` and, optionally,
    `label` (0 or 1); other columns are ignored. Plain or gzip.

    Reading the header line happens on construction (so `has_labels` is known before the first
    record); iterating reads the rows.

    Raises
    ------
    InputError
        Empty file; a missing `header` or `sequence` column (a differently-cased name is pointed
        out); a repeated column; a row with a different number of fields; an empty header or
        sequence; a header used twice (both lines named) or holding a tab; a letter outside IUPAC;
        a label other than 0/1 when the column exists.
    """

    REQUIRED = ("header", "sequence")

    def __init__(self, path: str | Path):
        self.path = str(path)
        rows = self._rows()
        try:
            _, names = next(rows)
        except StopIteration:
            raise InputError(f"{self.path} is empty: it needs a header line header,sequence "
                             f"(and label, optional) and one row per sequence") from None
        finally:
            rows.close()
        self.columns = [name.strip() for name in names]
        repeated = sorted({c for c in self.columns if self.columns.count(c) > 1}
                          & {*self.REQUIRED, "label"})
        if repeated:
            raise InputError(f"{self.path}, line 1: the column(s) {', '.join(repeated)} appear "
                             f"more than once; keep one of each")
        missing = [c for c in self.REQUIRED if c not in self.columns]
        if missing:
            lowered = {c.lower(): c for c in self.columns}
            hints = [f"'{lowered[m]}' should be named '{m}'" for m in missing if m in lowered]
            raise InputError(f"{self.path}, line 1: missing column(s) {', '.join(missing)}; found "
                             f"{', '.join(self.columns)}. " + ("; ".join(hints) + ". " if hints
                                                              else "")
                             + "The first line must be header,sequence (and label, optional)")
        self.has_labels = "label" in self.columns

    def __iter__(self) -> Iterator[SequenceRecord]:
        header_at = self.columns.index("header")
        sequence_at = self.columns.index("sequence")
        label_at = self.columns.index("label") if self.has_labels else None
        first_line: dict[str, int] = {}
        rows = self._rows()
        next(rows)
        for line_no, fields in rows:
            if len(fields) != len(self.columns):
                raise InputError(f"{self.path}, line {line_no}: {len(fields)} field(s) where the "
                                 f"header line has {len(self.columns)}; quote fields that contain "
                                 f"commas, and give every row the same columns")
            ident, sequence = fields[header_at].strip(), fields[sequence_at].strip()
            if not ident:
                raise InputError(f"{self.path}, line {line_no}: empty header (id); every row "
                                 f"needs an id in the header column")
            if any(c in ident for c in "\t\r\n"):
                raise InputError(f"{self.path}, line {line_no}: the header {ident!r} holds a tab "
                                 f"or line break, which the tab-separated output cannot hold; "
                                 f"rename it")
            if ident in first_line:
                raise InputError(f"{self.path}, line {line_no}: the header {ident!r} was already "
                                 f"used on line {first_line[ident]}; headers name the output rows "
                                 f"and must be unique: rename one of the two rows")
            first_line[ident] = line_no
            if not sequence:
                raise InputError(f"{self.path}, line {line_no}: row {ident!r} has an empty "
                                 f"sequence; fill it in or remove the row")
            _check_letters(sequence, f"{self.path}, line {line_no} (row {ident!r})")
            label = (_parse_label(fields[label_at], self.path, line_no)
                     if label_at is not None else None)
            yield SequenceRecord(ident, sequence, label, self.path, line_no)
        if not first_line:
            raise InputError(f"{self.path} has no rows: add one line per sequence after the "
                             f"header line")

    def _rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line number the row ends on, fields) for each CSV row; quoted fields handled."""
        import csv

        lines = (decode(raw, self.path, line_no, "a CSV file") + "\n"
                 for line_no, raw in read_lines(self.path, "CSV file"))
        reader = csv.reader(lines, strict=True)
        try:
            for fields in reader:
                if fields and not (len(fields) == 1 and not fields[0].strip()):  # blank line
                    yield reader.line_num, fields
        except csv.Error as err:
            raise InputError(f"{self.path}, line {reader.line_num}: not a readable CSV row "
                             f"({err}); each line must be header,sequence[,label], fields "
                             f"with commas or quotes in double quotes") from None


def _parse_label(text: str, path, line_no) -> int:
    try:
        value = float(text.strip())
    except ValueError:
        value = None
    if value not in (0.0, 1.0):
        raise InputError(f"{path}, line {line_no}: label {text!r}; labels must be 0 (not "
                         f"retained) or 1 (retained), or drop the label column to predict only")
    return int(value)


def _check_letters(sequence: str, where: str) -> None:
    try:
        raw = sequence.encode("ascii")
    except UnicodeEncodeError as err:
        raw = None
        position, char = err.start, sequence[err.start]
    if raw is not None:
        bad = raw.translate(None, _IUPAC_BYTES)
        if not bad:
            return
        position = raw.index(bad[:1])
        char = sequence[position]
    raise InputError(f"{where}: {char!r} at position {position + 1} is not a DNA letter; use A, "
                     f"C, G, T or the IUPAC codes {IUPAC_LETTERS[4:]} (any case), e.g. N")


# ---------------------------------------------------------------------------------------------
# BED6


def read_bed(path: str | Path) -> Iterator[Interval]:
    """Stream the intervals of a BED6 file (plain or gzip): chrom, start, end, name, score,
    strand; columns after the sixth (BED12) are ignored.

    Columns are separated by tabs (or, in a line without any tab, by spaces). Blank lines and
    `track`, `browser` and `#` lines are skipped. Coordinates are 0-based, half-open.

    Yields
    ------
    Interval, in file order

    Raises
    ------
    InputError
        Fewer than 6 columns; a start or end that is not a non-negative integer; start >= end; a
        strand other than '+' or '-'; no interval in the file. Each names the file and line.
    """
    path = str(path)
    count = 0
    for line_no, raw in read_lines(path, "BED file"):
        text = decode(raw, path, line_no, "a BED file")
        if not text.strip() or text.startswith("#") or text.split(None, 1)[0] in ("track",
                                                                                   "browser"):
            continue
        fields = text.split("\t") if "\t" in text else text.split()
        where = f"{path}, line {line_no}"
        if len(fields) < 6:
            raise InputError(f"{where}: {len(fields)} column(s); BED6 needs 6: chrom, start, end, "
                             f"name, score, strand (the strand decides which way the intron is "
                             f"read; write '.' for an unknown name or score)")
        chrom, start_text, end_text, name, score, strand = (f.strip() for f in fields[:6])
        start = _coordinate(start_text, "start (column 2)", where, count == 0)
        end = _coordinate(end_text, "end (column 3)", where, count == 0)
        if start >= end:
            raise InputError(f"{where}: start {start} >= end {end}; BED intervals are 0-based "
                             f"and half-open, so an intron of n bases has end = start + n "
                             f"(start < end)")
        if strand not in ("+", "-"):
            raise InputError(f"{where}: strand {strand!r} (column 6); an intron's strand must be "
                             f"'+' or '-' (its sequence is read 5' to 3' on that strand)")
        if not chrom:
            raise InputError(f"{where}: empty chromosome name (column 1)")
        count += 1
        yield Interval(chrom, start, end, name, score, strand, path, line_no)
    if count == 0:
        raise InputError(f"{path} holds no BED interval (empty, or only comment/track lines): "
                         f"give one line per intron: chrom, start, end, name, score, strand")


def _coordinate(text: str, column: str, where: str, first: bool) -> int:
    if _INTEGER.fullmatch(text):
        return int(text)
    hint = ""
    if text.startswith("-") and _INTEGER.fullmatch(text[1:]):
        hint = "; coordinates cannot be negative"
    elif re.fullmatch(r"[0-9.eE+,_]+", text):
        hint = "; write it as a plain whole number (no decimals, exponents or separators)"
    elif first:
        hint = "; if this is a line of column names, start it with '#' or remove it"
    raise InputError(f"{where}: {column} {text!r} is not a non-negative integer{hint}")


# ---------------------------------------------------------------------------------------------
# Fitting given sequences to the model input


def placement_offset(size: int, length: int) -> int:
    """Where base 0 of a `size`-base sequence goes in a `length`-position input:
    floor((length - size) / 2), negative when the sequence is cropped."""
    return (length - size) // 2


def fit_to_length(sequence: str, length: int) -> tuple[str, str]:
    """A sequence fitted to the model input length, and a note saying what was done.

    Longer sequences are centre-cropped by the module's rule (keep bases c .. c + length - 1 with
    c = -placement_offset); shorter ones are returned as they are, to be centred in padding by the
    encoder (`encode_codes(sequences, length)`), which applies the same rule.

    Returns
    -------
    (sequence, note) : note is "", "cropped from S bp" or "padded from S bp"
    """
    size = len(sequence)
    if size > length:
        cut = -placement_offset(size, length)
        return sequence[cut:cut + length], f"cropped from {size} bp"
    if size < length:
        return sequence, f"padded from {size} bp"
    return sequence, ""


def fit_sequences(records: Iterable[SequenceRecord], length: int) -> Iterator[FittedSequence]:
    """`fit_to_length` over a stream of records (lazily)."""
    for record in records:
        sequence, note = fit_to_length(record.sequence, length)
        yield FittedSequence(record, sequence, note)
