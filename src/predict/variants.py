"""Variants from a VCF, the introns whose windows hold them, and their alternative-allele windows.

Coordinates: VCF POS is 1-based and names the first base of REF, so a variant covers the 0-based
half-open genome range [POS - 1, POS - 1 + len(REF)). An insertion or deletion is written with an
anchor base (REF=A ALT=ATT inserts TT after the A; REF=ATT ALT=A deletes the TT after the A); the
alleles need not be normalised, since the whole REF range is replaced by ALT.

Which windows a variant is in: those (all L long, see `genome.window_bounds`) that contain its
whole REF range; one partly inside a window is not in it. Windows are sorted by start per
chromosome and found by binary search, so the cost per variant is O(log n + hits).

The alternative window keeps the length L (`apply_variant`)
-----------------------------------------------------------
In genome (plus-strand) coordinates the window keeps its left end: the bases left of the variant
stay where they are, REF is replaced by ALT, and the sequence is cut or extended at the right end:
an insertion of k bases pushes the window's last k bases out; a deletion of k bases pulls in the k
genome bases that follow the window (N past the chromosome's end). For a minus-strand intron the
same is done in genome coordinates and the result is then reverse-complemented, so the kept end is
the intron's 3'-side end of the window and the change of length shows at its 5' side.
An SNV or an MNV of equal length changes only its own bases.

Multi-allelic records are split into one variant per ALT. ALTs that are not sequences are skipped
and counted by reason: symbolic alleles (`<DEL>`, `<INS>`, ...), the spanning deletion `*`,
breakends (`G]17:198982]`), a missing ALT (`.`), and ALT equal to REF. FILTER, QUAL and INFO are
not used: every record is scored.
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..data.encoding import reverse_complement
from ..errors import InputError
from .genome import Genome, Window, make_window, window_bounds
from .sources import Interval, decode, read_lines

HEADER_COLUMNS = ("CHROM", "POS", "ID", "REF", "ALT")
_BASES = re.compile(r"[ACGTN]+")


@dataclass(frozen=True, slots=True)
class Variant:
    """One ALT allele of a VCF record.

    chrom : as written in the VCF; pos : 1-based POS; id : the ID column ('.' when none)
    ref, alt : upper-case alleles; allele : which ALT of the record (1-based); n_alts : how many
    ALTs the record had; path, line : where the record is
    """

    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    allele: int
    n_alts: int
    path: str
    line: int

    @property
    def start(self) -> int:
        """0-based first base of REF."""
        return self.pos - 1

    @property
    def end(self) -> int:
        """0-based end (exclusive) of REF."""
        return self.pos - 1 + len(self.ref)

    @property
    def kind(self) -> str:
        """'SNV', 'MNV', 'insertion', 'deletion' or 'complex' (a length-changing substitution)."""
        r, a = len(self.ref), len(self.alt)
        if r == a:
            return "SNV" if r == 1 else "MNV"
        if self.ref[0] == self.alt[0] and (self.alt.startswith(self.ref)
                                           or self.ref.startswith(self.alt)):
            return "insertion" if a > r else "deletion"
        return "complex"

    @property
    def where(self) -> str:
        return f"{self.path}, line {self.line}"

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return self.chrom, str(self.pos), self.id, self.ref, self.alt


class VcfReader:
    """Stream the variants of a VCF (plain, gzip or bgzip), one `Variant` per ALT allele.

    The header is checked on construction: `##` meta lines, then the `#CHROM POS ID REF ALT ...`
    line, must come before the first record. Skipped ALTs are counted in `skipped` (reason ->
    count) as the records are read.

    Raises
    ------
    InputError
        No `#CHROM` header line (or a record before it); a record with fewer than 5 tab-separated
        columns; POS not a positive integer; REF not of A/C/G/T/N; an ALT that is neither a
        sequence of A/C/G/T/N nor a symbolic, '*', '.' or breakend allele. Each names the line.
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        self.skipped: Counter = Counter()
        self.header_line = 0
        for line_no, raw in read_lines(self.path, "VCF file"):
            if raw.startswith(b"##"):
                continue
            text = decode(raw, self.path, line_no, "a VCF file")
            if not text.strip():
                continue
            if not text.startswith("#CHROM"):
                raise InputError(
                    f"{self.path}, line {line_no}: a record before the '#CHROM' header line; a "
                    f"VCF needs the tab-separated header line #CHROM POS ID REF ALT QUAL FILTER "
                    f"INFO before its records (add it, after any '##' lines)")
            columns = text[1:].split("\t")
            if tuple(c.strip() for c in columns[:5]) != HEADER_COLUMNS:
                raise InputError(f"{self.path}, line {line_no}: the header line starts "
                                 f"{'#' + ' '.join(columns[:5])!r}; it must start with the "
                                 f"tab-separated columns #CHROM POS ID REF ALT")
            self.header_line = line_no
            break
        if not self.header_line:
            raise InputError(f"{self.path} has no '#CHROM' header line (and no records): a VCF "
                             f"needs the header line #CHROM POS ID REF ALT QUAL FILTER INFO")

    def __iter__(self) -> Iterator[Variant]:
        for line_no, raw in read_lines(self.path, "VCF file"):
            if line_no <= self.header_line or not raw.strip() or raw.startswith(b"#"):
                continue
            text = decode(raw, self.path, line_no, "a VCF file")
            yield from self._parse(text, line_no)

    def _parse(self, text: str, line_no: int) -> Iterator[Variant]:
        where = f"{self.path}, line {line_no}"
        fields = text.split("\t")
        if len(fields) < 5:
            raise InputError(f"{where}: {len(fields)} tab-separated column(s); a VCF record needs "
                             f"at least CHROM, POS, ID, REF, ALT separated by tabs")
        chrom, pos_text, ident, ref, alts = (f.strip() for f in fields[:5])
        if not re.fullmatch(r"[0-9]+", pos_text) or int(pos_text) < 1:
            raise InputError(f"{where}: POS {pos_text!r} is not a positive integer (VCF "
                             f"positions are 1-based: the first base of a chromosome is POS 1)")
        ref = ref.upper()
        if not _BASES.fullmatch(ref):
            raise InputError(f"{where}: REF {ref!r} must be bases A, C, G, T or N")
        alleles = alts.split(",")
        for number, alt in enumerate(alleles, start=1):
            alt = alt.strip().upper()
            reason = _skip_reason(alt, ref)
            if reason is None and not _BASES.fullmatch(alt):
                raise InputError(f"{where}: ALT {alt!r} is neither a sequence of A, C, G, T, N "
                                 f"nor a symbolic ('<DEL>'), '*', '.' or breakend allele")
            if reason is not None:
                self.skipped[reason] += 1
                continue
            yield Variant(chrom, int(pos_text), ident, ref, alt, number, len(alleles),
                          self.path, line_no)


def _skip_reason(alt: str, ref: str) -> str | None:
    if alt.startswith("<"):
        return "symbolic ALT (<...>)"
    if alt == "*":
        return "spanning deletion ALT '*'"
    if "[" in alt or "]" in alt or (len(alt) > 1 and (alt[0] == "." or alt[-1] == ".")):
        return "breakend ALT"
    if alt in (".", ""):
        return "no ALT ('.')"
    if alt == ref:
        return "ALT equal to REF"
    return None


def check_ref(genome: Genome, chrom: str, variant: Variant) -> None:
    """REF must match the genome at POS (N on either side matches anything).

    Raises
    ------
    InputError
        REF runs past the chromosome's end, or differs from the genome; the message names the VCF
        line, and says so when the genome matches one base further on (0-based positions).
    """
    length = genome.lengths[chrom]
    if variant.end > length:
        raise InputError(f"{variant.where}: {variant.chrom}:{variant.pos} REF {variant.ref!r} "
                         f"runs past the end of {chrom} ({length:,} bp); is the VCF for another "
                         f"assembly than the genome?")
    found = genome.fetch(chrom, variant.start, variant.end)
    if _alleles_match(variant.ref, found):
        return
    shifted = genome.fetch(chrom, variant.start + 1, variant.end + 1)
    hint = (" It matches one base further on: were the positions written 0-based? VCF POS is "
            "1-based." if _alleles_match(variant.ref, shifted) else
            " Is the VCF for another assembly than the genome?")
    raise InputError(f"{variant.where}: REF {variant.ref!r} at {variant.chrom}:{variant.pos} but "
                     f"the genome {genome.path} has {found!r} there.{hint}")


def _alleles_match(ref: str, found: str) -> bool:
    return len(ref) == len(found) and all(a == b or "N" in (a, b) for a, b in zip(ref, found))


def apply_variant(genome: Genome, window: Window,
                  variant: Variant) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """The window with ALT in place of REF, still L bases (the rule in the module docstring).

    Parameters
    ----------
    genome : the genome the window was taken from
    window : a window that contains the variant's whole REF range
    variant : an ALT allele whose REF matches the genome (`check_ref`)

    Returns
    -------
    alt_sequence : str, L bases, 5'->3' on the intron's strand, like `window.sequence`
    ref_span : (a, b), the REF bases' positions [a, b) in `window.sequence`
    alt_span : (a, b), the ALT bases' positions [a, b) in `alt_sequence`, clipped to the window
        (the inserted bases of an insertion near the window's cut end may be pushed out)
    """
    length = window.end - window.start
    k = variant.start - window.start
    if k < 0 or variant.end > window.end:
        raise ValueError(f"{variant.where}: the variant is not inside the window "
                         f"{window.chrom}:{window.start}-{window.end}")
    r, a = len(variant.ref), len(variant.alt)
    plus = genome.fetch(window.chrom, window.start, window.end + max(0, r - a))
    alt_plus = (plus[:k] + variant.alt + plus[k + r:])[:length]
    if window.strand == "+":
        return alt_plus, (k, k + r), (k, min(k + a, length))
    return (reverse_complement(alt_plus), (length - k - r, length - k),
            (max(length - k - a, 0), length - k))


@dataclass(frozen=True, slots=True)
class VariantWindow:
    """One (variant allele, intron window) pair: one row of the variant table.

    window_index : the interval's 0-based position in the BED (same for every variant in that
        intron's window: cache the REF score by it)
    ref_span, alt_span : see `apply_variant`
    """

    variant: Variant
    window: Window
    window_index: int
    alt_sequence: str
    ref_span: tuple[int, int]
    alt_span: tuple[int, int]

    @property
    def ref_sequence(self) -> str:
        return self.window.sequence

    @property
    def key(self) -> tuple[str, ...]:
        """Variant (chrom, pos, id, ref, alt) then intron (chrom, start, end, name, strand)."""
        return self.variant.key + self.window.key


class WindowIndex:
    """The windows of a BED's introns, by chromosome, to find those that hold a variant.

    Parameters
    ----------
    intervals : the BED's intervals (all read now; each is checked against the genome: an
        unknown chromosome or an interval past its chromosome's end is an `InputError` naming the
        BED line, before any scoring)
    genome : the genome
    length, anchor, flank : the window rule (`genome.window_bounds`)
    cache_size : how many windows' sequences to keep (a sorted VCF visits one intron's variants
        together)

    Memory: the intervals (about 200 bytes each) and two int64 per interval.
    """

    def __init__(self, intervals: Iterable[Interval], genome: Genome, length: int,
                 anchor: str = "centre", flank: int = 0, cache_size: int = 4096):
        self.genome, self.length, self.anchor, self.flank = genome, length, anchor, flank
        self.intervals: list[Interval] = []
        self.chroms: list[str] = []
        by_chrom: dict[str, tuple[list[int], list[int]]] = {}
        for interval in intervals:
            chrom = genome.check_interval(interval)
            ws, _ = window_bounds(interval.start, interval.end, interval.strand, length, anchor,
                                  flank)
            starts, members = by_chrom.setdefault(chrom, ([], []))
            starts.append(ws)
            members.append(len(self.intervals))
            self.intervals.append(interval)
            self.chroms.append(chrom)
        self._by_chrom = {}
        for chrom, (starts, members) in by_chrom.items():
            starts_array = np.asarray(starts, dtype=np.int64)
            order = np.argsort(starts_array, kind="stable")
            self._by_chrom[chrom] = (starts_array[order], np.asarray(members, np.int64)[order])
        self._cache: OrderedDict[int, Window] = OrderedDict()
        self._cache_size = cache_size

    def __len__(self) -> int:
        return len(self.intervals)

    def containing(self, chrom: str, start: int, end: int) -> list[int]:
        """Positions (in BED order) of the intervals whose window holds [start, end) entirely;
        `chrom` is the genome's name."""
        if chrom not in self._by_chrom:
            return []
        starts, members = self._by_chrom[chrom]
        lo = np.searchsorted(starts, end - self.length, side="left")
        hi = np.searchsorted(starts, start, side="right")
        return sorted(members[lo:hi].tolist())

    def window(self, i: int) -> Window:
        """The window of interval `i` (cached)."""
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        window = make_window(self.genome, self.intervals[i], self.chroms[i], self.length,
                             self.anchor, self.flank)
        self._cache[i] = window
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return window


def variant_windows(variants: Iterable[Variant], index: WindowIndex, genome: Genome,
                    counts: Counter | None = None) -> Iterator[VariantWindow]:
    """Each variant allele with each intron window that holds it, lazily, in VCF order then BED
    order.

    Every variant on a chromosome of the genome has its REF checked (`check_ref`), inside a
    window or not. Variants on chromosomes the genome lacks (in either naming style) are skipped
    and counted; if no variant at all is on a genome chromosome, that is an `InputError` listing
    the names, at the end of the stream. `counts` (if given) gets 'chromosome not in the genome',
    'not wholly inside any window' and 'in a window' (variant alleles) added.
    """
    counts = counts if counts is not None else Counter()
    unknown: dict[str, str] = {}
    on_genome = 0
    for variant in variants:
        chrom = genome.try_resolve(variant.chrom)
        if chrom is None:
            counts["chromosome not in the genome"] += 1
            unknown.setdefault(variant.chrom, variant.where)
            continue
        on_genome += 1
        check_ref(genome, chrom, variant)
        hits = index.containing(chrom, variant.start, variant.end)
        if not hits:
            counts["not wholly inside any window"] += 1
            continue
        counts["in a window"] += 1
        for i in hits:
            window = index.window(i)
            alt, ref_span, alt_span = apply_variant(genome, window, variant)
            yield VariantWindow(variant, window, i, alt, ref_span, alt_span)
    if unknown and not on_genome:
        names = list(unknown)
        raise InputError(genome.unknown_chromosome_message(names[:5], unknown[names[0]]))
