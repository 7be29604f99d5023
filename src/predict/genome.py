"""A genome FASTA through pyfaidx, chromosome-name reconciliation, and model-input windows.

The index
---------
pyfaidx reads a FASTA (or a bgzip-compressed one) through its samtools-compatible index
`GENOME.fa.fai` (and `GENOME.fa.gz.gzi` for bgzip). When the index is missing, or older than the
FASTA, it is built beside the FASTA under a temporary name and renamed, so an interrupted build
never leaves a half index; nothing else is written. If the FASTA's folder is read-only the error
says how to proceed (index it where it is writable, or link the FASTA into a writable folder).

Chromosome names
----------------
A BED or VCF may name chromosomes `chr1` where the genome says `1` (UCSC/GENCODE vs Ensembl/NCBI
style). A name is looked up as given, then in the other style: `chrN` <-> `N`, and the
mitochondrion as any of `chrM`, `chrMT`, `MT`, `M`. A name found in neither style is an error
that lists how the genome names its sequences.

Windows (`window_bounds`)
-------------------------
A model with input length L sees a window of exactly L genome bases, placed in the intron's own
5'->3' coordinates (u = 0 is the intron's first transcribed base; the 5' splice site of a
minus-strand intron is its BED *end*):

- ``centre`` (default): u0 = -floor((L - S) / 2) for an intron of S bases, the crop/pad rule of
  `sources.placement_offset`; a short intron gets real flanking sequence instead of padding, a
  long one its central L bases (the odd extra base on the 3' side).
- ``5ss``: the window starts `flank` bases upstream of the 5' splice site (u0 = -flank), so it
  holds `flank` exonic bases and the first L - flank bases of the intron (and beyond, if short).
- ``3ss``: the window ends `flank` bases downstream of the 3' splice site (u0 = S + flank - L).

The window [u0, u0 + L) maps to the genome as [start + u0, start + u0 + L) on '+', and as
[end - u0 - L, end - u0) on '-', whose sequence is then reverse-complemented. Positions before the
chromosome's start or past its end (a window that runs off the chromosome; the intron itself must
lie inside it) are filled with N (0.25 per base in the one-hot encoding), and the window's note
says how many.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from ..data.encoding import reverse_complement
from ..errors import InputError
from .sources import GZIP_MAGIC, IUPAC_LETTERS, Interval, placement_offset

ANCHORS = ("centre", "5ss", "3ss")
MITOCHONDRION = ("chrM", "chrMT", "MT", "M")
_IUPAC_SET = IUPAC_LETTERS.encode()


def chromosome_aliases(name: str) -> list[str]:
    """The names a chromosome may have in a genome, the given one first:
    chr1 -> [chr1, 1]; 1 -> [1, chr1]; chrM / chrMT / MT / M -> all four."""
    if name in MITOCHONDRION:
        return [name, *(m for m in MITOCHONDRION if m != name)]
    if name.startswith("chr") and len(name) > 3:
        return [name, name[3:]]
    return [name, f"chr{name}"]


class Genome:
    """Random access to a genome FASTA (plain or bgzip) by 0-based half-open coordinates.

    Parameters
    ----------
    path : the genome FASTA
    index_path : the `.fai` to use or build; default `path` + ".fai" (beside the FASTA)

    Attributes
    ----------
    lengths : dict, sequence name -> length in bases, in the FASTA's order

    Raises
    ------
    InputError
        The file is missing; gzip but not bgzip; the index cannot be written (read-only folder);
        the FASTA cannot be indexed (lines of unequal width inside a record, text before the first
        '>', two sequences of one name).
    """

    def __init__(self, path: str | Path, index_path: str | Path | None = None):
        import pyfaidx

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"genome FASTA {self.path} not found: pass the genome of the "
                             f"assembly your coordinates use (e.g. GRCh38) with --genome")
        self.index_path = Path(index_path) if index_path else Path(f"{self.path}.fai")
        self.bgzip = _is_bgzip(self.path)
        self.gzi_path = Path(f"{self.path}.gzi") if self.bgzip else None
        if self._index_is_stale():
            self._build_index(pyfaidx)
        try:
            self._faidx = pyfaidx.Faidx(
                str(self.path), indexname=str(self.index_path),
                gzi_indexname=str(self.gzi_path) if self.bgzip else None, as_raw=True,
                sequence_always_upper=True, build_index=False, rebuild=False)
        except ValueError as err:  # pyfaidx: 'Duplicate key "chr1"'
            raise InputError(f"genome FASTA {self.path}: {err}; each sequence name (first word "
                             f"of a '>' line) must be unique") from None
        self.lengths = {name: record.rlen for name, record in self._faidx.index.items()}
        self._resolved: dict[str, str | None] = {}

    def close(self) -> None:
        self._faidx.close()

    def __enter__(self) -> "Genome":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- index ---------------------------------------------------------------------------------

    def _index_is_stale(self) -> bool:
        mtime = self.path.stat().st_mtime
        needed = [self.index_path] + ([self.gzi_path] if self.bgzip else [])
        return any(not p.exists() or p.stat().st_mtime < mtime for p in needed)

    def _build_index(self, pyfaidx) -> None:
        folder = self.index_path.parent
        if not os.access(folder, os.W_OK):
            raise InputError(
                f"genome FASTA {self.path} has no up-to-date index {self.index_path.name} and its "
                f"folder {folder} is read-only, so the index cannot be built there. Either build "
                f"it once where you may write (`samtools faidx {self.path}` as its owner), or link "
                f"the FASTA into a writable folder (`ln -s {self.path.resolve()} mydir/`) and "
                f"pass that link with --genome: the index is then built beside the link")
        tag = f".{os.getpid()}.tmp"
        tmp_fai = self.index_path.with_name(f".{self.index_path.name}{tag}")
        tmp_gzi = self.gzi_path.with_name(f".{self.gzi_path.name}{tag}") if self.bgzip else None
        try:
            pyfaidx.Faidx(str(self.path), indexname=str(tmp_fai),
                          gzi_indexname=str(tmp_gzi) if tmp_gzi else None,
                          build_index=True).close()
            if tmp_gzi is not None:
                os.replace(tmp_gzi, self.gzi_path)
            os.replace(tmp_fai, self.index_path)
        except pyfaidx.UnsupportedCompressionFormat:
            raise InputError(f"genome FASTA {self.path} is gzip-compressed but not with bgzip, so "
                             f"it cannot be read at random positions: decompress it (`gunzip -k "
                             f"{self.path}`) or recompress it with `bgzip` (htslib)") from None
        except pyfaidx.FastaIndexingError as err:
            raise InputError(f"genome FASTA {self.path} cannot be indexed: {err}") from None
        except ValueError as err:
            raise InputError(f"genome FASTA {self.path}: {err}; each sequence name (first word "
                             f"of a '>' line) must be unique") from None
        finally:
            for tmp in (tmp_fai, tmp_gzi):
                if tmp is not None:
                    tmp.unlink(missing_ok=True)

    # -- names ---------------------------------------------------------------------------------

    def try_resolve(self, chrom: str) -> str | None:
        """The genome's name for `chrom` (`chromosome_aliases`, first found), or None."""
        if chrom not in self._resolved:
            self._resolved[chrom] = next(
                (alias for alias in chromosome_aliases(chrom) if alias in self.lengths), None)
        return self._resolved[chrom]

    def resolve(self, chrom: str, where: str) -> str:
        """Like `try_resolve`, but a name in neither style is an `InputError` naming `where`
        (file, line) and both naming styles."""
        name = self.try_resolve(chrom)
        if name is None:
            raise InputError(self.unknown_chromosome_message([chrom], where))
        return name

    def unknown_chromosome_message(self, chroms: list[str], where: str) -> str:
        tried = ", ".join(repr(a) for a in chromosome_aliases(chroms[0]))
        names = list(self.lengths)
        shown = ", ".join(names[:8]) + (f", ... ({len(names)} sequences)" if len(names) > 8 else "")
        theirs = _naming_style(chroms[0])
        ours = _naming_style(next((n for n in names if _is_primary(n)), names[0]))
        return (f"{where}: chromosome {', '.join(repr(c) for c in chroms)} is not in the genome "
                f"{self.path} (tried {tried}). The genome names its sequences {shown}, {ours}; "
                f"your file uses {theirs}. Use the genome FASTA of the assembly your coordinates "
                f"come from, or remove the lines on chromosomes it does not have")

    # -- sequence ------------------------------------------------------------------------------

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Upper-case bases of [start, end) (0-based, half-open) of the genome's sequence `chrom`;
        positions before 0 or past the sequence's end come back as 'N'.

        Raises
        ------
        InputError
            The genome holds a character outside IUPAC in the range (the position is named).
        """
        length = self.lengths[chrom]
        lo = min(max(start, 0), length)
        hi = max(min(max(end, 0), length), lo)
        left = max(0, min(lo, end) - start)
        core = self._faidx.fetch(chrom, lo + 1, hi) if hi > lo else ""
        right = (end - start) - left - len(core)
        bad = core.encode().translate(None, _IUPAC_SET) if core else b""
        if bad:
            at = lo + core.index(bad[:1].decode())
            raise InputError(f"genome FASTA {self.path}: {chrom}:{at + 1} holds "
                             f"{bad[:1].decode()!r}, which is not a DNA letter (IUPAC)")
        return "N" * left + core + "N" * right

    def check_interval(self, interval: Interval) -> str:
        """The genome's name for the interval's chromosome, after checking that the interval lies
        on it: an unknown chromosome or an end past the chromosome's end is an `InputError`
        naming the BED line."""
        chrom = self.resolve(interval.chrom, interval.where)
        length = self.lengths[chrom]
        if interval.end > length:
            raise InputError(f"{interval.where}: {interval.chrom}:{interval.start}-{interval.end} "
                             f"ends past the end of {chrom} ({length:,} bp in {self.path}); is the "
                             f"BED made for another assembly than the genome?")
        return chrom


def _is_bgzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(16)
    # gzip with the FEXTRA flag and a 'BC' subfield: the BGZF block header (SAM spec 4.1)
    return (head[:2] == GZIP_MAGIC and len(head) == 16 and bool(head[3] & 4)
            and head[12:14] == b"BC")


def _is_primary(name: str) -> bool:
    bare = name[3:] if name.startswith("chr") else name
    return bare.isdigit() or bare in ("X", "Y")


def _naming_style(name: str) -> str:
    if name.startswith("chr"):
        return "the 'chr' style (UCSC/GENCODE: chr1, chrX, chrM)"
    if _is_primary(name) or name in MITOCHONDRION:
        return "the style without 'chr' (Ensembl/NCBI: 1, X, MT)"
    return f"names like {name!r}"


# ---------------------------------------------------------------------------------------------
# Windows


@dataclass(frozen=True, slots=True)
class Window:
    """An intron's model-input window.

    interval : the BED line
    chrom : the genome's name of its chromosome
    start, end : the window in genome coordinates, 0-based half-open, end - start = L; may reach
        before 0 or past the chromosome's end (those bases are N)
    sequence : the L bases, 5'->3' on the intron's strand (reverse-complemented on '-')
    note : "" or what the window is relative to the intron ("intron 5000 bp cropped to 600 bp",
        "intron 450 bp + 150 bp flanks", "...; 37 bp past the end of chr2 filled with N")
    """

    interval: Interval
    chrom: str
    start: int
    end: int
    sequence: str
    note: str

    @property
    def strand(self) -> str:
        return self.interval.strand

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return self.interval.key


def window_bounds(start: int, end: int, strand: str, length: int, anchor: str = "centre",
                  flank: int = 0) -> tuple[int, int]:
    """Genome coordinates [ws, we) of the length-`length` window of intron [start, end) on
    `strand` (rules in the module docstring).

    Parameters
    ----------
    start, end : the intron, 0-based half-open
    strand : '+' or '-'
    length : L, the model input length
    anchor : 'centre', '5ss' or '3ss'
    flank : for '5ss' / '3ss', exonic bases kept beyond the splice site (may be negative to start
        inside the intron); must be 0 for 'centre'

    Returns
    -------
    (ws, we) with we - ws == length
    """
    size = end - start
    if anchor == "centre":
        if flank:
            raise InputError(f"--flank {flank} applies to splice-site windows (--anchor 5ss or "
                             f"3ss); a centred window takes its flanks from the intron's length")
        u0 = -placement_offset(size, length)
    elif anchor == "5ss":
        u0 = -flank
    elif anchor == "3ss":
        u0 = size + flank - length
    else:
        raise InputError(f"--anchor {anchor!r}: choose one of {', '.join(ANCHORS)}")
    if strand == "+":
        return start + u0, start + u0 + length
    return end - u0 - length, end - u0


def make_window(genome: Genome, interval: Interval, chrom: str, length: int,
                anchor: str = "centre", flank: int = 0) -> Window:
    """The window of one interval whose chromosome is already resolved to `chrom` (see
    `Genome.check_interval`)."""
    ws, we = window_bounds(interval.start, interval.end, interval.strand, length, anchor, flank)
    bases = genome.fetch(chrom, ws, we)
    if interval.strand == "-":
        bases = reverse_complement(bases)
    return Window(interval, chrom, ws, we, bases,
                  _window_note(interval, ws, we, genome.lengths[chrom], chrom))


def genome_windows(intervals: Iterable[Interval], genome: Genome, length: int,
                   anchor: str = "centre", flank: int = 0) -> Iterator[Window]:
    """The window of each interval, lazily (one genome read each, constant memory).

    Raises
    ------
    InputError
        From `Genome.check_interval` (chromosome not in the genome, interval past its end), when
        the stream gets to that line.
    """
    window_bounds(0, 1, "+", length, anchor, flank)  # bad anchor/flank fail before any read
    for interval in intervals:
        chrom = genome.check_interval(interval)
        yield make_window(genome, interval, chrom, length, anchor, flank)


def _window_note(interval: Interval, ws: int, we: int, chrom_length: int, chrom: str) -> str:
    size, length = interval.length, we - ws
    inside = max(0, min(we, interval.end) - max(ws, interval.start))
    parts = []
    if inside < size and inside == length:
        parts.append(f"intron {size} bp cropped to {length} bp")
    elif inside < size:
        parts.append(f"{inside} of {size} intron bp + {length - inside} bp flank")
    elif length > size:
        parts.append(f"intron {size} bp + {length - size} bp flanks")
    if ws < 0:
        parts.append(f"{-ws} bp before the start of {chrom} filled with N")
    if we > chrom_length:
        parts.append(f"{we - chrom_length} bp past the end of {chrom} filled with N")
    return "; ".join(parts)
