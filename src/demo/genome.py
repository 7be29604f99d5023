"""A small synthetic genome with introns, planted motifs and variants: the inputs of Predict.py's
demo (`--bed --genome --vcf`), whose answers are known.

The genome is random sequence of intron-like base composition (the demo data's BACKGROUND). Introns
on both strands start with GT and end with AG (5'->3' on their strand). IR introns carry planted
IR motifs (ZNF274, REST, ZNF143: the demo data's IR_MOTIFS), non-IR introns non-IR motifs (TP53,
SRF, HNF4A), each instance sampled from its JASPAR matrix, on either strand, in the central part of
the intron that a centred model window of `window` bases sees, as in the demo training data.

A few IR introns are *targets*: they carry exactly one IR motif, written as its consensus (the
most likely base of every column), near their centre. The VCF breaks these sites:

- an SNV at the motif's most informative column (highest information content), to the base that
  column likes least;
- one record with two ALTs at such a column (multi-allelic: both ALTs are unlikely bases);
- a deletion of the 6 consecutive motif bases of highest total information content;

and adds neutral SNVs inside intron windows (IR and non-IR), at least `neutral_distance` bases
from every planted site and where no placement of any planted motif over the SNV scores above
30% of that motif's best log-odds, before or after the change (`_motif_free`), plus SNVs between
introns, outside every window. So a model that learned the IR motifs gives the breaking variants
the largest negative deltas. (Neutral indels are left out on purpose: shifting the rest of a
window moves a model's output a little even far from any motif, which would blur the demo's
ranking; the tests cover indels.)

Files written to the output folder (`generate_demo_genome`):
  genome.fa           chr1..chrN, 60 bases a line (Predict.py builds genome.fa.fai beside it)
  introns.bed         BED6, 0-based half-open, sorted
  variants.vcf.gz     VCF 4.2, sorted, compressed with bgzip (BGZF: `tabix -p vcf` indexes it)
  introns_truth.tsv   name, chrom, start, end, strand, label, motifs (matrix@offset/orientation,
                      the offset 0-based from the intron's 5' end, the orientation relative to
                      the intron's strand)
  variants_truth.tsv  one row per ALT: chrom, pos, id, ref, alt, intron, intron label, effect
                      ('breaks IR motif', 'neutral', 'outside windows'), matrix id, TF, motif
                      column (1-based, motif orientation), P(ref base) and P(alt base) in that
                      column (for SNVs)
Everything is drawn from one seeded generator: the same settings give the same files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .data import BACKGROUND, IR_MOTIFS, NON_IR_MOTIFS, planted_motifs

LETTERS = np.frombuffer(b"ACGT", dtype="S1")
GENOME_FASTA = "genome.fa"
INTRONS_BED = "introns.bed"
VARIANTS_VCF = "variants.vcf.gz"
INTRONS_TRUTH = "introns_truth.tsv"
VARIANTS_TRUTH = "variants_truth.tsv"
GENOME_FILES = (GENOME_FASTA, INTRONS_BED, VARIANTS_VCF, INTRONS_TRUTH, VARIANTS_TRUTH)
DELETION_LENGTH = 6
MOTIF_FREE_FRACTION = 0.3  # neutral SNVs: no motif-like placement over them scores higher


@dataclass
class DemoGenomeSettings:
    n_chromosomes: int = 2
    chromosome_length: int = 200_000
    introns_per_chromosome: int = 40
    window: int = 600  # the demo models' input length (json/demo sequence_length)
    min_intron: int = 250
    max_intron: int = 2400
    positive_fraction: float = 0.4
    n_broken: int = 8  # targets broken by one SNV each (two more: multi-allelic, deletion)
    n_neutral: int = 12  # neutral SNVs inside windows
    n_outside: int = 2  # SNVs between introns, outside every window
    neutral_distance: int = 40
    seed: int = 0


@dataclass
class _Intron:
    name: str
    chrom: str
    start: int
    end: int
    strand: str
    label: int
    sites: list  # (matrix_id, offset in intron orientation, orientation '+'/'-')
    target: bool = False
    target_number: int = 0

    @property
    def length(self) -> int:
        return self.end - self.start


def generate_demo_genome(out_dir: str | Path, settings: DemoGenomeSettings = DemoGenomeSettings(),
                         motifs: dict | None = None, force: bool = False) -> Path:
    """Write the demo genome, BED, VCF and truth tables to `out_dir` (see the module docstring).

    Parameters
    ----------
    out_dir : folder to write to (made if missing)
    settings : sizes and seed
    motifs : matrix id -> motif (with `.name` and `.probabilities`, shape (4, W), rows A, C, G,
        T) for every id of IR_MOTIFS and NON_IR_MOTIFS; default JASPAR 2024 from pyjaspar
    force : replace existing files

    Returns
    -------
    out_dir as a Path

    Raises
    ------
    InputError
        Files exist (without `force`), a motif is missing, or the settings do not fit (too few IR
        introns for the targets, introns that do not fit on the chromosomes).
    """
    out_dir = Path(out_dir)
    existing = [str(out_dir / f) for f in GENOME_FILES if (out_dir / f).exists()]
    if existing and not force:
        raise InputError(f"{', '.join(existing)} already exist(s): choose another folder or "
                         f"pass --force to replace the demo genome")
    motifs = planted_motifs(motifs)
    s = settings
    rng = np.random.default_rng(s.seed)
    chroms = {f"chr{i + 1}": rng.choice(4, size=s.chromosome_length, p=BACKGROUND).astype(np.int8)
              for i in range(s.n_chromosomes)}
    introns = _lay_out_introns(chroms, s, rng)
    for intron in introns:
        _write_intron(chroms[intron.chrom], intron, motifs, s, rng)
    records = _variants(chroms, introns, motifs, s, rng)
    out_dir.mkdir(parents=True, exist_ok=True)
    # written beside, then renamed in the order of GENOME_FILES (the truth tables last), so an
    # interrupted run never leaves a complete-looking folder (`is_complete`)
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=".staging-"))
    try:
        _write_fasta(staging / GENOME_FASTA, chroms)
        _write_bed(staging / INTRONS_BED, introns)
        _write_vcf(staging / VARIANTS_VCF, chroms, records)
        _write_truth(staging, introns, records, motifs)
        for name in GENOME_FILES:
            os.replace(staging / name, out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def is_complete(out_dir: str | Path) -> bool:
    """Every file of the demo genome is in `out_dir`."""
    return all((Path(out_dir) / name).is_file() for name in GENOME_FILES)


# ---------------------------------------------------------------------------------------------
# Layout and planting


def _lay_out_introns(chroms: dict, s: DemoGenomeSettings, rng) -> list[_Intron]:
    """Introns one after another with gaps of L..3L bases, so no window holds two introns'
    sites; labels drawn, then targets chosen among the IR introns."""
    introns = []
    for chrom, bases in chroms.items():
        position = s.window
        for _ in range(s.introns_per_chromosome):
            length = int(rng.integers(s.min_intron, s.max_intron + 1))
            if position + length + s.window > len(bases):
                raise InputError(f"{s.introns_per_chromosome} introns of up to {s.max_intron} bp "
                                 f"do not fit on chromosomes of {s.chromosome_length:,} bp: "
                                 f"lower introns_per_chromosome or raise chromosome_length")
            strand = "+" if rng.random() < 0.5 else "-"
            introns.append(_Intron("", chrom, position, position + length, strand, 0, []))
            position += length + int(rng.integers(s.window, 3 * s.window + 1))
    labels = rng.random(len(introns)) < s.positive_fraction
    for number, (intron, label) in enumerate(zip(introns, labels), start=1):
        intron.name, intron.label = f"intron_{number:03d}", int(label)
    positives = [i for i in introns if i.label]
    n_targets = s.n_broken + 2
    if len(positives) < n_targets:
        raise InputError(f"{len(positives)} IR introns are too few for {n_targets} target introns "
                         f"(n_broken + 2): raise positive_fraction or introns_per_chromosome")
    for number, index in enumerate(sorted(rng.choice(len(positives), size=n_targets,
                                                     replace=False))):
        positives[index].target, positives[index].target_number = True, number
    return introns


def _window_start(intron: _Intron, window: int) -> int:
    """Start of the centred window in intron coordinates (genome.window_bounds, 'centre')."""
    return -((window - intron.length) // 2)


def _write_intron(bases: np.ndarray, intron: _Intron, motifs: dict, s: DemoGenomeSettings,
                  rng) -> None:
    """Plant the intron's motifs (in intron orientation) and splice-site dinucleotides, then write
    it into the chromosome (reverse-complemented on '-')."""
    seq = _read_intron(bases, intron)
    seq[:2], seq[-2:] = (2, 3), (0, 2)  # GT ... AG
    lo = max(_window_start(intron, s.window), 0) + 10
    hi = min(_window_start(intron, s.window) + s.window, intron.length) - 10
    occupied = np.zeros(intron.length, dtype=bool)
    if intron.target:
        matrix_id = IR_MOTIFS[intron.target_number % len(IR_MOTIFS)]  # each IR motif in turn
        probabilities = np.asarray(motifs[matrix_id].probabilities)
        width = probabilities.shape[1]
        offset = intron.length // 2 - width // 2 + int(rng.integers(-40, 41))
        _plant(seq, occupied, offset, probabilities.argmax(axis=0), intron, matrix_id, rng)
    else:
        pool = IR_MOTIFS if intron.label else NON_IR_MOTIFS
        for _ in range(int(rng.integers(1, 4 if intron.label else 3))):
            matrix_id = pool[int(rng.integers(len(pool)))]
            probabilities = np.asarray(motifs[matrix_id].probabilities)
            width = probabilities.shape[1]
            free = [o for o in range(lo, hi - width + 1, 4) if not occupied[o:o + width].any()]
            if not free:
                break
            columns = [rng.choice(4, p=p / p.sum()) for p in probabilities.T]
            _plant(seq, occupied, int(rng.choice(free)), np.array(columns), intron, matrix_id,
                   rng)
    _write_back(bases, intron, seq)


def _plant(seq, occupied, offset, columns, intron, matrix_id, rng) -> None:
    orientation = "+" if rng.random() < 0.5 else "-"
    instance = np.asarray(columns, dtype=np.int8)
    if orientation == "-":
        instance = 3 - instance[::-1]
    seq[offset:offset + len(instance)] = instance
    occupied[offset:offset + len(instance)] = True
    intron.sites.append((matrix_id, offset, orientation))


def _read_intron(bases: np.ndarray, intron: _Intron) -> np.ndarray:
    """The intron's bases 5'->3' on its strand, as codes 0..3 (a copy)."""
    region = bases[intron.start:intron.end]
    return region.copy() if intron.strand == "+" else 3 - region[::-1]


def _write_back(bases: np.ndarray, intron: _Intron, seq: np.ndarray) -> None:
    bases[intron.start:intron.end] = seq if intron.strand == "+" else 3 - seq[::-1]


def _to_genome(intron: _Intron, q: int) -> int:
    """0-based genome position of intron-orientation offset q."""
    return intron.start + q if intron.strand == "+" else intron.end - 1 - q


def _column_position(intron: _Intron, site, column: int, width: int) -> int:
    """Intron-orientation offset of motif column `column` of a planted site."""
    _, offset, orientation = site
    return offset + (column if orientation == "+" else width - 1 - column)


def _information(probabilities: np.ndarray) -> np.ndarray:
    p = np.clip(probabilities, 1e-9, 1)
    return 2 + (p * np.log2(p)).sum(axis=0)


# ---------------------------------------------------------------------------------------------
# Variants


def _variants(chroms, introns, motifs, s: DemoGenomeSettings, rng) -> list[dict]:
    """VCF records (dicts with chrom, pos, id, ref, alts and one truth row per ALT), sorted."""
    records = []
    targets = [i for i in introns if i.target]
    for number, intron in enumerate(targets, start=1):
        site = intron.sites[0]
        probabilities = np.asarray(motifs[site[0]].probabilities)
        width = probabilities.shape[1]
        if number <= s.n_broken + 1:
            column = int(np.argmax(_information(probabilities)))
            q = _column_position(intron, site, column, width)
            g = _to_genome(intron, q)
            current = _motif_base(chroms[intron.chrom][g], intron, site)
            order = [b for b in np.argsort(probabilities[:, column], kind="stable")
                     if b != current]
            alts = order[:2] if number == s.n_broken + 1 else order[:1]
            ident = "multi1" if len(alts) == 2 else f"brk{number}"
            records.append(_record(
                intron.chrom, g, ident, [_genome_base(int(b), intron, site) for b in alts],
                chroms, [dict(intron=intron, effect="breaks IR motif", matrix_id=site[0],
                              column=column + 1, p_ref=probabilities[current, column],
                              p_alt=probabilities[b, column]) for b in alts]))
        else:
            information = _information(probabilities)
            sums = np.convolve(information, np.ones(DELETION_LENGTH), mode="valid")
            first = int(np.argmax(sums))
            q_lo = min(_column_position(intron, site, first, width),
                       _column_position(intron, site, first + DELETION_LENGTH - 1, width))
            g_lo = min(_to_genome(intron, q_lo), _to_genome(intron, q_lo + DELETION_LENGTH - 1))
            anchor = g_lo - 1
            bases = chroms[intron.chrom]
            records.append(dict(
                chrom=intron.chrom, pos=anchor + 1, id="del1",
                ref=_letters(bases[anchor:g_lo + DELETION_LENGTH]),
                alts=[_letters(bases[anchor:anchor + 1])],
                truth=[dict(intron=intron, effect="breaks IR motif", matrix_id=site[0],
                            column=first + 1, p_ref=None, p_alt=None)]))
    records += _neutral_variants(chroms, introns, motifs, s, rng)
    order = {chrom: i for i, chrom in enumerate(chroms)}
    records.sort(key=lambda r: (order[r["chrom"]], r["pos"]))
    return records


def _motif_base(genome_base, intron, site) -> int:
    """Genome base -> the base in the motif's orientation."""
    flips = (intron.strand == "-") != (site[2] == "-")
    return int(3 - genome_base if flips else genome_base)


def _genome_base(motif_base: int, intron, site) -> int:
    flips = (intron.strand == "-") != (site[2] == "-")
    return 3 - motif_base if flips else motif_base


def _record(chrom, g, ident, alt_bases, chroms, truth) -> dict:
    return dict(chrom=chrom, pos=g + 1, id=ident, ref=_letters(chroms[chrom][g:g + 1]),
                alts=[_letters(np.array([b])) for b in alt_bases], truth=truth)


def _neutral_variants(chroms, introns, motifs, s: DemoGenomeSettings, rng) -> list[dict]:
    records = []
    scorers = _planted_scorers(motifs)
    chosen = rng.choice(len(introns), size=s.n_neutral, replace=s.n_neutral > len(introns))
    for number, index in enumerate(chosen, start=1):
        intron = introns[int(index)]
        lo = max(_window_start(intron, s.window), 0) + 5
        hi = min(_window_start(intron, s.window) + s.window, intron.length) - 10
        near = np.zeros(intron.length, dtype=bool)
        for matrix_id, offset, _ in intron.sites:
            width = np.asarray(motifs[matrix_id].probabilities).shape[1]
            near[max(0, offset - s.neutral_distance):offset + width + s.neutral_distance] = True
        near[:2] = near[-2:] = True
        free = [q for q in range(lo, hi) if not near[q]]
        bases = chroms[intron.chrom]
        for q in rng.permutation(free):  # the first position where the SNV looks like no motif
            g = _to_genome(intron, int(q))
            alt_base = (int(bases[g]) + int(rng.integers(1, 4))) % 4
            if _motif_free(bases, g, alt_base, scorers):
                break
        else:
            raise InputError(f"{intron.name}: no motif-free position for a neutral variant")
        truth = [dict(intron=intron, effect="neutral", matrix_id=None, column=None, p_ref=None,
                      p_alt=None)]
        ref = _letters(bases[g:g + 1])
        alt = _letters(np.array([alt_base]))
        records.append(dict(chrom=intron.chrom, pos=g + 1, id=f"neu{number}", ref=ref,
                            alts=[alt], truth=truth))
    by_chrom = {}
    for intron in introns:
        by_chrom.setdefault(intron.chrom, []).append(intron)
    pairs = [(a, b) for group in by_chrom.values() for a, b in zip(group, group[1:])]
    for number, index in enumerate(rng.choice(len(pairs), size=s.n_outside, replace=False),
                                   start=1):
        left, right = pairs[int(index)]
        g = (left.end + right.start) // 2  # gap >= L, windows reach < L/2 past an intron
        bases = chroms[left.chrom]
        records.append(dict(chrom=left.chrom, pos=g + 1, id=f"out{number}",
                            ref=_letters(bases[g:g + 1]),
                            alts=[_letters(np.array([(bases[g] + 2) % 4]))],
                            truth=[dict(intron=None, effect="outside windows", matrix_id=None,
                                        column=None, p_ref=None, p_alt=None)]))
    return records


def _planted_scorers(motifs: dict) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(log-odds, its reverse complement, best attainable score) of each planted motif against
    the demo background (`src.interpret.scanning`, pseudocount 0.1), for `_motif_free`."""
    from ..interpret.scanning import (
        best_attainable_score,
        log_odds_matrix,
        reverse_complement_matrix,
    )

    scorers = []
    for matrix_id in IR_MOTIFS + NON_IR_MOTIFS:
        log_odds = log_odds_matrix(np.asarray(motifs[matrix_id].probabilities, dtype=float),
                                   BACKGROUND, 0.1)
        scorers.append((log_odds, reverse_complement_matrix(log_odds),
                        best_attainable_score(log_odds)))
    return scorers


def _motif_free(bases: np.ndarray, g: int, alt_base: int, scorers,
                fraction: float = MOTIF_FREE_FRACTION) -> bool:
    """True when no placement of any planted motif (`_planted_scorers`, either strand) over
    genome position g scores above `fraction` of the motif's best attainable log-odds, with the
    reference base or with `alt_base` there: the SNV neither breaks nor makes anything
    motif-like."""
    for log_odds, reverse, best in scorers:
        width = log_odds.shape[1]
        lo, hi = max(g - width + 1, 0), min(g + width, len(bases))
        for base in (int(bases[g]), alt_base):
            region = np.array(bases[lo:hi], dtype=np.int64)
            region[g - lo] = base
            for matrix in (log_odds, reverse):
                for o in range(len(region) - width + 1):
                    score = matrix[region[o:o + width], np.arange(width)].sum()
                    if score > fraction * best:
                        return False
    return True


def _letters(codes) -> str:
    return LETTERS[np.asarray(codes, dtype=np.int64)].tobytes().decode()


# ---------------------------------------------------------------------------------------------
# Files


def _write_fasta(path: Path, chroms: dict) -> None:
    with open(path, "w") as out:
        for chrom, bases in chroms.items():
            text = _letters(bases)
            out.write(f">{chrom} synthetic demo chromosome\n")
            out.write("".join(text[i:i + 60] + "\n" for i in range(0, len(text), 60)))


def _write_bed(path: Path, introns: list[_Intron]) -> None:
    with open(path, "w") as out:
        out.write("# synthetic demo introns: chrom start end name score strand (0-based)\n")
        for i in introns:
            out.write(f"{i.chrom}\t{i.start}\t{i.end}\t{i.name}\t0\t{i.strand}\n")


def _write_vcf(path: Path, chroms: dict, records: list[dict]) -> None:
    from Bio import bgzf

    lines = ["##fileformat=VCFv4.2", "##source=src.demo.genome (synthetic demo variants)"]
    lines += [f"##contig=<ID={c},length={len(b)}>" for c, b in chroms.items()]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    lines += [f"{r['chrom']}\t{r['pos']}\t{r['id']}\t{r['ref']}\t{','.join(r['alts'])}\t.\tPASS\t."
              for r in records]
    writer = bgzf.BgzfWriter(str(path), "wb")
    writer.write(("\n".join(lines) + "\n").encode())
    writer.close()


def _write_truth(out_dir: Path, introns, records, motifs) -> None:
    with open(out_dir / INTRONS_TRUTH, "w") as out:
        out.write("name\tchrom\tstart\tend\tstrand\tlabel\ttarget\tmotifs\n")
        for i in introns:
            sites = ";".join(f"{m}@{offset}{orientation}" for m, offset, orientation in i.sites)
            out.write(f"{i.name}\t{i.chrom}\t{i.start}\t{i.end}\t{i.strand}\t{i.label}\t"
                      f"{int(i.target)}\t{sites}\n")
    with open(out_dir / VARIANTS_TRUTH, "w") as out:
        out.write("chrom\tpos\tid\tref\talt\tintron\tintron_label\teffect\tmatrix_id\ttf\t"
                  "motif_column\tp_ref\tp_alt\n")
        for r in records:
            for alt, t in zip(r["alts"], r["truth"]):
                intron = t["intron"]
                fields = [r["chrom"], r["pos"], r["id"], r["ref"], alt,
                          intron.name if intron else "", intron.label if intron else "",
                          t["effect"], t["matrix_id"] or "",
                          motifs[t["matrix_id"]].name if t["matrix_id"] else "",
                          t["column"] or "", _number(t["p_ref"]), _number(t["p_alt"])]
                out.write("\t".join(map(str, fields)) + "\n")


def _number(value) -> str:
    return "" if value is None else f"{float(value):.4f}"
