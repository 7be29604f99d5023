"""Predict.py's inputs: readers, genome windows, variants, the resumable table.

Coordinates are checked against windows worked out by hand on a 30-base chromosome (literal
strings below, not computed by the code under test), and the interval index against a naive scan.
"""

from __future__ import annotations

import gzip
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from src.data.encoding import encode_codes, reverse_complement
from src.errors import InputError
from src.predict.genome import (
    Genome,
    chromosome_aliases,
    genome_windows,
    make_window,
    window_bounds,
)
from src.predict.output import ResumableTsv
from src.predict.sources import (
    Interval,
    SequenceCsv,
    chunked,
    fit_sequences,
    fit_to_length,
    read_bed,
    read_fasta,
)
from src.predict.variants import (
    Variant,
    VcfReader,
    WindowIndex,
    apply_variant,
    check_ref,
    variant_windows,
)

#          0         1         2
#          012345678901234567890123456789
CHR1 = "GATTACAGGCCTTAAGCATGCCCGGGAAAT"
VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def write_genome(folder: Path, chroms: dict[str, str], width: int = 10, name="genome.fa") -> Path:
    path = folder / name
    with open(path, "w") as out:
        for chrom, seq in chroms.items():
            out.write(f">{chrom} test\n" + "".join(seq[i:i + width] + "\n"
                                                  for i in range(0, len(seq), width)))
    return path


@pytest.fixture
def genome(tmp_path) -> Genome:
    with Genome(write_genome(tmp_path, {"chr1": CHR1, "chrM": "AACCGGTT"})) as g:
        yield g


def interval(start, end, strand, chrom="chr1", name="x", line=1) -> Interval:
    return Interval(chrom, start, end, name, "0", strand, "test.bed", line)


def variant(pos, ref, alt, chrom="chr1", line=3) -> Variant:
    return Variant(chrom, pos, ".", ref, alt, 1, 1, "test.vcf", line)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------------
# Windows: BED 0-based half-open, strands, anchors, crop/pad (hand-checked)


def test_bed_interval_is_zero_based_half_open_and_minus_is_reverse_complemented(tmp_path,
                                                                                  genome):
    bed = write(tmp_path / "a.bed", "track name=introns\nbrowser position chr1\n# comment\n"
                "chr1\t2\t8\tplus\t0\t+\n1\t2\t8\tminus\t.\t-\n")
    plus, minus = genome_windows(read_bed(bed), genome, 6)
    # 0-based half-open [2, 8) = bases 3..8 in 1-based terms = TTACAG
    assert (plus.start, plus.end, plus.sequence, plus.note) == (2, 8, "TTACAG", "")
    assert minus.sequence == "CTGTAA"
    assert minus.key == ("1", "2", "8", "minus", "-") and minus.chrom == "chr1"
    assert (plus.interval.line, minus.interval.line) == (4, 5)


@pytest.mark.parametrize("length, plus, minus, note", [
    (9, "ATTACAGGC", "CCTGTAATC", "intron 6 bp + 3 bp flanks"),  # 1 flank base 5', 2 on 3'
    (10, "GATTACAGGC", "GCCTGTAATC", "intron 6 bp + 4 bp flanks"),
    (4, "TACA", "TGTA", "intron 6 bp cropped to 4 bp"),
    (3, "ACA", "GTA", "intron 6 bp cropped to 3 bp"),  # odd excess: 2 cut 5', 1 cut 3'
])
def test_centred_windows_take_real_flanks_or_the_central_bases(genome, length, plus, minus,
                                                               note):
    for strand, expected in (("+", plus), ("-", minus)):
        window = make_window(genome, interval(2, 8, strand), "chr1", length)
        assert window.sequence == expected and window.note == note


def test_splice_site_anchored_windows_are_strand_aware(genome):
    # 5'ss with 2 exonic bases: '+' starts 2 bp before `start`; '-' 2 bp after `end` (its 5')
    assert window_bounds(2, 8, "+", 5, "5ss", 2) == (0, 5)
    assert window_bounds(2, 8, "-", 5, "5ss", 2) == (5, 10)
    assert make_window(genome, interval(2, 8, "+"), "chr1", 5, "5ss", 2).sequence == "GATTA"
    assert make_window(genome, interval(2, 8, "-"), "chr1", 5, "5ss", 2).sequence == "GCCTG"
    # 3'ss with 1 base past it: '+' ends at end + 1; '-' ends (3' side) at start - 1
    assert window_bounds(2, 8, "+", 4, "3ss", 1) == (5, 9)
    assert window_bounds(2, 8, "-", 4, "3ss", 1) == (1, 5)
    assert make_window(genome, interval(2, 8, "-"), "chr1", 4, "3ss", 1).sequence == "TAAT"
    with pytest.raises(InputError, match="--flank 3 applies to splice-site windows"):
        window_bounds(2, 8, "+", 4, "centre", 3)
    with pytest.raises(InputError, match="centre, 5ss, 3ss"):
        window_bounds(2, 8, "+", 4, "middle")


def test_windows_running_off_a_chromosome_are_n_padded_and_say_so(genome):
    start = make_window(genome, interval(0, 2, "+"), "chr1", 6)
    assert (start.start, start.sequence) == (-2, "NNGATT")
    assert "2 bp before the start of chr1 filled with N" in start.note
    end = make_window(genome, interval(28, 30, "-"), "chr1", 6)
    assert end.sequence == "NNATTT" and "2 bp past the end of chr1 filled with N" in end.note


def test_crop_rule_by_hand_and_notes():
    assert fit_to_length("ACGTA", 3) == ("CGT", "cropped from 5 bp")
    assert fit_to_length("ACGTA", 4) == ("CGTA", "cropped from 5 bp")  # odd extra cut on the left
    assert fit_to_length("ACGTA", 2) == ("GT", "cropped from 5 bp")
    assert fit_to_length("ACG", 8) == ("ACG", "padded from 3 bp")
    assert fit_to_length("ACG", 3) == ("ACG", "")


def test_crop_and_pad_place_bases_as_the_study_encoder_and_the_genome_window(genome):
    """One rule: base i lands at i + floor((L - S) / 2). Padding: the encoder's centring; cropping:
    the FASTA of an intron cropped == the genome window of its BED line."""
    rng = np.random.default_rng(0)
    for size, length in [(3, 8), (4, 8), (5, 5), (7, 4), (8, 3), (2, 9)]:
        seq = "".join(rng.choice(list("ACGT"), size=size))
        fitted, _ = fit_to_length(seq, length)
        codes = encode_codes([fitted], length)[0]
        for i, base in enumerate(seq):
            j = i + (length - size) // 2
            if 0 <= j < length:
                assert codes[j] == encode_codes([base], 1)[0, 0]
        assert (codes != 0).sum() == min(size, length)
    for start, end in itertools.combinations(range(0, 31, 3), 2):
        for strand in "+-":
            stranded = CHR1[start:end] if strand == "+" else reverse_complement(CHR1[start:end])
            for length in range(1, end - start + 1):
                window = make_window(genome, interval(start, end, strand), "chr1", length)
                assert window.sequence == fit_to_length(stranded, length)[0]


def test_fit_sequences_streams_records_with_notes(tmp_path):
    fasta = write(tmp_path / "a.fa", ">a\nACGTACGT\n>b\nAC\n")
    fitted = list(fit_sequences(read_fasta(fasta), 4))
    assert [(f.key, f.sequence, f.note) for f in fitted] == [
        (("a",), "GTAC", "cropped from 8 bp"), (("b",), "AC", "padded from 2 bp")]


# ---------------------------------------------------------------------------------------------
# Readers


def test_fasta_any_headers_wrapping_case_and_gzip(tmp_path):
    text = ";comment\n>chr1:100-200(+) intron one\nacgt\nNNRY\n\n>id2\tdesc\nGATTACA\n"
    plain = write(tmp_path / "a.fa", text)
    packed = tmp_path / "a.fa.anything"
    packed.write_bytes(gzip.compress(text.replace("\n", "\r\n").encode()))
    for path in (plain, packed):
        records = list(read_fasta(path))
        assert [(r.id, r.sequence, r.line) for r in records] == [
            ("chr1:100-200(+)", "acgtNNRY", 2), ("id2", "GATTACA", 6)]


@pytest.mark.parametrize("text, message", [
    ("", "holds no FASTA record"),
    ("\n\n", "holds no FASTA record"),
    (">a\nACGT\n>b\nAC\n>a\nGG\n", r"line 5: the id 'a' was already used on line 1"),
    ("ACGT\n>a\nAC\n", "line 1: sequence text before the first '>'"),
    (">a\nACGT\n>\nAC\n", "line 3: a '>' header line without an id"),
    (">a\n>b\nAC\n", "line 1: record 'a' has no sequence"),
    (">a\nACGT\nAC-T\n", r"line 3, column 3: '-' is not a DNA letter"),
])
def test_fasta_errors_name_the_line(tmp_path, text, message):
    path = write(tmp_path / "bad.fa", text)
    with pytest.raises(InputError, match=message) as error:
        list(read_fasta(path))
    assert str(path) in str(error.value)


def test_csv_with_and_without_labels(tmp_path):
    labelled = write(tmp_path / "l.csv", 'header,sequence,label\ns1,ACGT,1\n"s,2",acgn,0.0\n\n')
    reader = SequenceCsv(labelled)
    assert reader.has_labels
    assert [(r.id, r.sequence, r.label, r.line) for r in reader] == [
        ("s1", "ACGT", 1, 2), ("s,2", "acgn", 0, 3)]
    unlabelled = SequenceCsv(write(tmp_path / "u.csv", "extra,sequence,header\nx,ACGT,s1\n"))
    assert not unlabelled.has_labels
    assert [(r.id, r.label) for r in unlabelled] == [("s1", None)]


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("header,Sequence\na,ACGT\n", "missing column.*'Sequence' should be named 'sequence'"),
    ("header,sequence,label\na,ACGT,2\n", "line 2: label '2'"),
    ("header,sequence\na,ACGT\nb,AC\na,GG\n", "line 4: the header 'a' was already used on line 2"),
    ("header,sequence\na,ACGT,x\n", "line 2: 3 field"),
    ("header,sequence\na,AC T\n", r"line 2 \(row 'a'\): ' ' at position 3"),
    ("header,sequence\na,\n", "line 2: row 'a' has an empty sequence"),
    ("header,sequence\n", "has no rows"),
])
def test_csv_errors_name_the_line(tmp_path, text, message):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(InputError, match=message):
        list(SequenceCsv(path))


def test_bed_reads_bed12_spaces_and_gzip(tmp_path):
    text = "chr1 2 8 a 0 +\n"
    (tmp_path / "a.bed.gz").write_bytes(gzip.compress(
        ("chr1\t2\t8\ta b\t960\t-\t2\t8\t0\t1\t6,\t0,\n" + text).encode()))
    got = list(read_bed(tmp_path / "a.bed.gz"))
    assert [(i.chrom, i.start, i.end, i.name, i.score, i.strand) for i in got] == [
        ("chr1", 2, 8, "a b", "960", "-"), ("chr1", 2, 8, "a", "0", "+")]


@pytest.mark.parametrize("text, message", [
    ("chr1\t5\t5\ta\t0\t+\n", r"line 1: start 5 >= end 5"),
    ("chr1\t9\t5\ta\t0\t+\n", r"line 1: start 9 >= end 5"),
    ("chr1\t1\t5\ta\t0\t+\nchr1\t1.5\t5\ta\t0\t+\n", r"line 2: start \(column 2\) '1.5' is not a "
     r"non-negative integer; write it as a plain whole number"),
    ("chr1\t1\t1e3\ta\t0\t+\n", r"end \(column 3\) '1e3'"),
    ("chr1\t-1\t5\ta\t0\t+\n", "coordinates cannot be negative"),
    ("chrom\tstart\tend\tname\tscore\tstrand\n", "a line of column names"),
    ("chr1\t1\t5\ta\t0\t.\n", r"line 1: strand '.' \(column 6\)"),
    ("chr1\t1\t5\n", "line 1: 3 column"),
    ("# nothing\n", "holds no BED interval"),
])
def test_bed_errors_name_the_line(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        list(read_bed(write(tmp_path / "bad.bed", text)))


def test_readers_stream_lazily(tmp_path):
    """Records come one at a time: the first ones are usable before a bad last record is read,
    and `chunked` takes batches from an endless stream."""
    fasta = write(tmp_path / "a.fa", "".join(f">s{i}\nACGT\n" for i in range(1000)) + ">z\nA!\n")
    assert [r.id for r in itertools.islice(read_fasta(fasta), 3)] == ["s0", "s1", "s2"]
    with pytest.raises(InputError):
        list(read_fasta(fasta))
    bed = write(tmp_path / "a.bed", "chr1\t1\t5\ta\t0\t+\n" * 1000 + "chr1\t5\t1\tb\t0\t+\n")
    assert len(list(itertools.islice(read_bed(bed), 10))) == 10
    first = next(chunked(itertools.count(), 4))
    assert first == [0, 1, 2, 3]


def test_genome_windows_stream_in_constant_memory(tmp_path):
    """Peak Python memory while streaming windows does not grow with the number of introns."""
    rng = np.random.default_rng(1)
    chrom = "".join(rng.choice(list("ACGT"), size=50_000))
    fasta = write_genome(tmp_path, {"chr1": chrom}, width=60)
    peaks = []
    for n in (1_000, 10_000):
        starts = rng.integers(0, 49_000, size=n)
        bed = write(tmp_path / f"{n}.bed", "".join(
            f"chr1\t{s}\t{s + 400}\ti{k}\t0\t{'+-'[k % 2]}\n" for k, s in enumerate(starts)))
        with Genome(fasta) as genome:
            tracemalloc.start()
            count = 0
            for chunk in chunked(genome_windows(read_bed(bed), genome, 600), 256):
                count += len(chunk)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        assert count == n
    assert peaks[1] < 1.5 * peaks[0] + 200_000, peaks  # 10x the introns, about the same peak


# ---------------------------------------------------------------------------------------------
# Genome and chromosome names


def test_fai_is_built_beside_the_genome_and_rebuilt_when_stale(tmp_path):
    path = write_genome(tmp_path, {"chr1": CHR1})
    with Genome(path) as genome:
        assert genome.lengths == {"chr1": 30}
    fai = Path(f"{path}.fai")
    assert fai.read_text() == "chr1\t30\t11\t10\t11\n"  # samtools faidx's layout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["genome.fa", "genome.fa.fai"]
    write_genome(tmp_path, {"chr1": CHR1 + "ACGT"})
    os.utime(fai, (1, 1))  # older than the FASTA
    with Genome(path) as genome:
        assert genome.lengths == {"chr1": 34}


def test_read_only_genome_folder_is_explained(tmp_path, monkeypatch):
    path = write_genome(tmp_path, {"chr1": CHR1})
    monkeypatch.setattr("src.predict.genome.os.access", lambda *_: False)
    with pytest.raises(InputError, match="read-only.*samtools faidx.*ln -s"):
        Genome(path)
    assert not Path(f"{path}.fai").exists()


def test_bgzip_genome_reads_and_plain_gzip_is_refused(tmp_path):
    from Bio import bgzf

    text = ">chr1\n" + "".join(CHR1[i:i + 10] + "\n" for i in range(0, 30, 10))
    with bgzf.BgzfWriter(str(tmp_path / "g.fa.gz"), "wb") as out:
        out.write(text.encode())
    with Genome(tmp_path / "g.fa.gz") as genome:
        assert genome.fetch("chr1", 2, 8) == "TTACAG"
    (tmp_path / "p.fa.gz").write_bytes(gzip.compress(text.encode()))
    with pytest.raises(InputError, match="not with bgzip.*gunzip -k"):
        Genome(tmp_path / "p.fa.gz")


def test_genome_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        Genome(tmp_path / "missing.fa")
    bad = write(tmp_path / "ragged.fa", ">chr1\nACGTACGT\nAC\nACGTACGT\n")
    with pytest.raises(InputError, match="cannot be indexed"):
        Genome(bad)
    assert not list(tmp_path.glob(".*tmp"))  # no half index left behind


def test_chromosome_names_are_reconciled(genome):
    assert chromosome_aliases("chr1") == ["chr1", "1"]
    assert chromosome_aliases("MT") == ["MT", "chrM", "chrMT", "M"]
    assert genome.try_resolve("1") == "chr1" and genome.try_resolve("chr1") == "chr1"
    assert genome.try_resolve("MT") == "chrM" and genome.try_resolve("M") == "chrM"
    assert genome.try_resolve("chr2") is None


def test_unknown_chromosome_lists_both_naming_styles(tmp_path):
    path = write_genome(tmp_path, {"1": CHR1, "2": CHR1, "MT": "ACGT"})
    bed = write(tmp_path / "a.bed", "chr1\t2\t8\ta\t0\t+\nchr7\t2\t8\tb\t0\t+\n")
    with Genome(path) as genome:
        windows = genome_windows(read_bed(bed), genome, 6)
        assert next(windows).chrom == "1"
        with pytest.raises(InputError) as error:
            next(windows)
    message = str(error.value)
    assert "a.bed, line 2: chromosome 'chr7' is not in the genome" in message
    assert "tried 'chr7', '7'" in message
    assert "without 'chr' (Ensembl/NCBI" in message and "'chr' style (UCSC/GENCODE" in message


def test_interval_past_the_chromosome_end_names_the_line(tmp_path, genome):
    bed = write(tmp_path / "a.bed", "chr1\t2\t8\ta\t0\t+\nchr1\t20\t31\tb\t0\t-\n")
    with pytest.raises(InputError, match=r"a.bed, line 2: chr1:20-31 ends past the end of chr1"):
        list(genome_windows(read_bed(bed), genome, 6))


# ---------------------------------------------------------------------------------------------
# VCF


def test_vcf_is_one_based_and_multi_allelic_records_are_split(tmp_path, genome):
    vcf = write(tmp_path / "a.vcf", VCF_HEADER
                + "chr1\t6\trs1\tC\tT,g,<DEL>,*\t50\tPASS\t.\n"
                + "chr1\t3\t.\tT\tG[chr2:5[,.\t.\t.\t.\n"
                + "chr1\t10\t.\tc\tC\t.\t.\t.\n")
    reader = VcfReader(vcf)
    variants = list(reader)
    assert [(v.pos, v.id, v.ref, v.alt, v.allele, v.n_alts, v.line) for v in variants] == [
        (6, "rs1", "C", "T", 1, 4, 3), (6, "rs1", "C", "G", 2, 4, 3)]
    assert (variants[0].start, variants[0].end) == (5, 6)  # POS 6 is 0-based base 5: C
    check_ref(genome, "chr1", variants[0])
    assert reader.skipped == Counter({"symbolic ALT (<...>)": 1, "spanning deletion ALT '*'": 1,
                                      "breakend ALT": 1, "no ALT ('.')": 1,
                                      "ALT equal to REF": 1})


def test_bgzip_vcf_is_read(tmp_path):
    from Bio import bgzf

    with bgzf.BgzfWriter(str(tmp_path / "a.vcf.gz"), "wb") as out:
        out.write((VCF_HEADER + "".join(f"1\t{p}\t.\tA\tC\t.\t.\t.\n" for p in range(1, 5000)))
                  .encode())
    assert [v.pos for v in VcfReader(tmp_path / "a.vcf.gz")] == list(range(1, 5000))


@pytest.mark.parametrize("text, message", [
    ("chr1\t6\t.\tC\tT\n", r"line 1: a record before the '#CHROM' header line"),
    ("##fileformat=VCFv4.2\n", "has no '#CHROM' header line"),
    ("#CHROM POS ID REF ALT\n", "must start with the tab-separated columns"),
    (VCF_HEADER + "chr1\t0\t.\tC\tT\n", r"line 3: POS '0' is not a positive integer"),
    (VCF_HEADER + "chr1\t6\t.\tC\n", "line 3: 4 tab-separated column"),
    (VCF_HEADER + "chr1\t6\t.\tC\tTX\n", r"line 3: ALT 'TX'"),
])
def test_vcf_errors_name_the_line(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        list(VcfReader(write(tmp_path / "bad.vcf", text)))


def test_ref_mismatch_names_the_vcf_line(tmp_path, genome):
    with pytest.raises(InputError, match=r"test.vcf, line 7: REF 'G' at chr1:6 but the genome "
                                         r".* has 'C' there\. Is the VCF for another assembly"):
        check_ref(genome, "chr1", variant(6, "G", "T", line=7))
    # POS written 0-based: base C is 0-based 5, written as POS 5
    with pytest.raises(InputError, match="one base further on: were the positions written 0-based"):
        check_ref(genome, "chr1", variant(5, "C", "T"))
    with pytest.raises(InputError, match="runs past the end of chr1"):
        check_ref(genome, "chr1", variant(29, "ATN", "A"))
    check_ref(genome, "chr1", variant(6, "N", "T"))  # N matches anything


# ---------------------------------------------------------------------------------------------
# Variant application: window length kept (hand-checked)


@pytest.mark.parametrize("var, plus, minus, spans_plus, spans_minus", [
    # window of intron [2, 8) at L=10 is genome [0, 10) = GATTACAGGC (minus: GCCTGTAATC)
    (variant(6, "C", "T"), "GATTATAGGC", "GCCTATAATC", ((5, 6), (5, 6)), ((4, 5), (4, 5))),
    # insertion after base 0-based 3 (T): the last two bases (GC) are pushed out
    (variant(4, "T", "TGG"), "GATTGGACAG", "CTGTCCAATC", ((3, 4), (3, 6)), ((6, 7), (4, 7))),
    # deletion of AC (0-based 4, 5): genome bases 10, 11 (CT) are pulled in
    (variant(4, "TAC", "T"), "GATTAGGCCT", "AGGCCTAATC", ((3, 6), (3, 4)), ((4, 7), (6, 7))),
])
def test_indels_keep_the_window_length_by_the_right_end_in_genome_coordinates(
        genome, var, plus, minus, spans_plus, spans_minus):
    for strand, expected, spans in (("+", plus, spans_plus), ("-", minus, spans_minus)):
        window = make_window(genome, interval(2, 8, strand), "chr1", 10)
        alt, ref_span, alt_span = apply_variant(genome, window, var)
        assert (alt, (ref_span, alt_span)) == (expected, spans)
        a, b = ref_span
        assert window.sequence[a:b] == (var.ref if strand == "+" else reverse_complement(var.ref))


def test_deletion_at_the_chromosome_end_pulls_in_n(genome):
    window = make_window(genome, interval(24, 28, "+"), "chr1", 6)
    assert window.sequence == "GGGAAA"
    assert apply_variant(genome, window, variant(27, "AAA", "A"))[0] == "GGGATN"


def test_alt_windows_of_both_strands_are_reverse_complements(tmp_path):
    rng = np.random.default_rng(3)
    chrom = "".join(rng.choice(list("ACGT"), size=400))
    with Genome(write_genome(tmp_path, {"chr1": chrom})) as genome:
        for _ in range(200):
            start = int(rng.integers(0, 380))
            end = start + int(rng.integers(1, 20))
            length = int(rng.integers(5, 40))
            ws, we = window_bounds(start, end, "+", length)
            if ws < 0 or we > 390:
                continue
            pos0 = int(rng.integers(ws, we))
            r = int(rng.integers(1, min(4, we - pos0) + 1))
            alt = chrom[pos0] + "".join(rng.choice(list("ACGT"), size=int(rng.integers(0, 4))))
            var = variant(pos0 + 1, chrom[pos0:pos0 + r], alt)
            plus = make_window(genome, interval(start, end, "+"), "chr1", length)
            minus = Interval("chr1", start, end, "m", "0", "-", "t", 1)
            minus_window = make_window(genome, minus, "chr1", length)
            if (minus_window.start, minus_window.end) != (plus.start, plus.end):
                continue  # odd excess: the two strands' windows differ by one base
            alt_plus = apply_variant(genome, plus, var)[0]
            alt_minus = apply_variant(genome, minus_window, var)[0]
            assert len(alt_plus) == length and alt_minus == reverse_complement(alt_plus)


def test_window_index_matches_a_naive_scan(tmp_path):
    rng = np.random.default_rng(5)
    chroms = {"chr1": "".join(rng.choice(list("ACGT"), size=3000)),
              "chr2": "".join(rng.choice(list("ACGT"), size=2000))}
    lines = []
    for k in range(300):
        chrom = "chr1" if k % 3 else "2"
        size = len(chroms["chr1" if chrom == "chr1" else "chr2"])
        start = int(rng.integers(0, size - 60))
        lines.append(f"{chrom}\t{start}\t{start + int(rng.integers(1, 60))}\ti{k}\t0\t"
                     f"{'+-'[int(rng.integers(2))]}\n")
    bed = write(tmp_path / "a.bed", "".join(lines))
    with Genome(write_genome(tmp_path, chroms)) as genome:
        index = WindowIndex(read_bed(bed), genome, 50)
        windows = [window_bounds(i.start, i.end, i.strand, 50) for i in read_bed(bed)]
        for _ in range(500):
            chrom = "chr1" if rng.random() < 0.6 else "chr2"
            start = int(rng.integers(0, len(chroms[chrom]) - 5))
            end = start + int(rng.integers(1, 5))
            naive = [k for k, (i, (ws, we)) in enumerate(zip(index.intervals, windows))
                     if genome.try_resolve(i.chrom) == chrom and ws <= start and end <= we]
            assert index.containing(chrom, start, end) == naive


def test_variant_windows_pairs_skips_and_counts(tmp_path, genome):
    bed = write(tmp_path / "a.bed",
                "chr1\t2\t8\tp\t0\t+\n1\t4\t8\tm\t0\t-\nchr1\t20\t24\tq\t0\t+\n")
    vcf = write(tmp_path / "a.vcf", VCF_HEADER + "1\t6\t.\tC\tT,A\t.\t.\t.\n"
                + "chrUn_x\t3\t.\tA\tG\t.\t.\t.\n" + "chr1\t19\t.\tT\tG\t.\t.\t.\n"
                + "chr1\t29\t.\tA\tG\t.\t.\t.\n")
    counts = Counter()
    index = WindowIndex(read_bed(bed), genome, 10)
    rows = list(variant_windows(VcfReader(vcf), index, genome, counts))
    assert [(r.variant.alt, r.window.interval.name, r.window_index) for r in rows] == [
        ("T", "p", 0), ("T", "m", 1), ("A", "p", 0), ("A", "m", 1), ("G", "q", 2)]
    assert rows[0].key == ("1", "6", ".", "C", "T", "chr1", "2", "8", "p", "+")
    assert counts == Counter({"in a window": 3, "chromosome not in the genome": 1,
                              "not wholly inside any window": 1})
    bad = write(tmp_path / "b.vcf", VCF_HEADER + "chr1\t6\t.\tG\tT\t.\t.\t.\n")
    with pytest.raises(InputError, match="b.vcf, line 3: REF 'G'"):
        list(variant_windows(VcfReader(bad), index, genome))
    elsewhere = write(tmp_path / "c.vcf", VCF_HEADER + "NC_000001.11\t6\t.\tC\tT\t.\t.\t.\n")
    with pytest.raises(InputError, match="c.vcf, line 3: chromosome 'NC_000001.11' is not in"):
        list(variant_windows(VcfReader(elsewhere), index, genome))


# ---------------------------------------------------------------------------------------------
# The resumable table


def _rows(records):
    """A stand-in scorer: the GC fraction of each sequence, as a probability."""
    return [(r.id, sum(c in "GC" for c in r.sequence) / len(r.sequence), len(r.sequence))
            for r in records]


def _run(fasta, out, chunk=7, stop_after=None, **flags):
    """What Predict.py does with a writer: skip what is written, score the rest by chunks."""
    with ResumableTsv(out, ("id", "p_ir", "length"), ("id",), **flags) as table:
        for n, chunk_records in enumerate(chunked(table.skip_written(read_fasta(fasta),
                                                                     lambda r: (r.id,)), chunk)):
            if stop_after is not None and n == stop_after:
                raise KeyboardInterrupt
            table.write(_rows(chunk_records))
    return out


@pytest.fixture
def fasta(tmp_path) -> Path:
    rng = np.random.default_rng(2)
    return write(tmp_path / "in.fa", "".join(
        f">r{i}\n{''.join(rng.choice(list('ACGT'), size=int(rng.integers(5, 30))))}\n"
        for i in range(60)))


def test_resume_after_an_interruption_mid_line_gives_the_uninterrupted_file(tmp_path, fasta):
    reference = _run(fasta, tmp_path / "ref.tsv").read_bytes()
    assert reference.count(b"\n") == 61 and reference.startswith(b"id\tp_ir\tlength\nr0\t")
    out = tmp_path / "out.tsv"
    with pytest.raises(KeyboardInterrupt):
        _run(fasta, out, stop_after=3)
    partial = tmp_path / "out.tsv.partial"
    assert not out.exists() and partial.read_bytes() == reference[:len(partial.read_bytes())]
    with open(partial, "ab") as handle:  # a kill in the middle of writing a line
        handle.write(b"r21\t0.4")
    with pytest.raises(InputError, match="pass --resume to continue it"):
        _run(fasta, out)
    _run(fasta, out, resume=True)
    assert out.read_bytes() == reference and not partial.exists()
    with pytest.raises(InputError, match="already complete"):
        _run(fasta, out, resume=True)


def test_resume_after_a_real_kill(tmp_path, fasta):
    reference = _run(fasta, tmp_path / "ref.tsv").read_bytes()
    out = tmp_path / "out.tsv"
    child = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        from src.predict.output import ResumableTsv
        from src.predict.sources import chunked, read_fasta
        table = ResumableTsv({str(out)!r}, ("id", "p_ir", "length"), ("id",))
        for n, chunk in enumerate(chunked(read_fasta({str(fasta)!r}), 7)):
            if n == 4:
                table._handle.write("r28\\t0.5")  # half a line reaches the file, then the kill
                table._handle.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            table.write([(r.id, sum(c in "GC" for c in r.sequence) / len(r.sequence),
                          len(r.sequence)) for r in chunk])
    """)
    result = subprocess.run([sys.executable, "-c", child], capture_output=True)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    table = ResumableTsv(out, ("id", "p_ir", "length"), ("id",), resume=True)
    assert table.rows_before == 28
    table.close()
    _run(fasta, out, resume=True)
    assert out.read_bytes() == reference


def test_resume_refuses_changed_inputs_and_columns(tmp_path, fasta):
    out = tmp_path / "out.tsv"
    with pytest.raises(KeyboardInterrupt):
        _run(fasta, out, stop_after=2)
    other = write(tmp_path / "other.fa", fasta.read_text().replace(">r3\n", ">r3b\n"))
    with pytest.raises(InputError, match=r"row 4: written for \('r3',\), but the inputs' row 4 is "
                                         r"now \('r3b',\)"):
        _run(other, out, resume=True)
    with pytest.raises(InputError, match="written by another kind of run"):
        ResumableTsv(out, ("id", "p"), ("id",), resume=True)
    _run(other, out, force=True)
    assert out.read_text().count("r3b") == 1


def test_a_fresh_run_keeps_existing_results_and_bad_input_leaves_nothing(tmp_path, fasta):
    out = _run(fasta, tmp_path / "out.tsv")
    before = out.read_bytes()
    with pytest.raises(InputError, match="exists: choose another output, or pass --force"):
        _run(fasta, out)
    bad = write(tmp_path / "bad.fa", fasta.read_text() + ">r0\nACGT\n")  # duplicate id at the end
    with pytest.raises(InputError, match="already used on line 1"):
        _run(bad, out, force=True)
    assert out.read_bytes() == before  # the old table stays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.fa", "in.fa", "out.tsv"]
    with pytest.raises(InputError, match="holds no FASTA record"):
        _run(write(tmp_path / "empty.fa", ""), tmp_path / "new.tsv")
    assert not (tmp_path / "new.tsv").exists() and not (tmp_path / "new.tsv.partial").exists()


def test_table_values_are_formatted_and_fields_checked(tmp_path):
    table = ResumableTsv(tmp_path / "t.tsv", ("a", "b", "c", "d"), ("a",))
    table.write([("x", 0.123456789, np.float32(0.5), None), ("y", 1, np.int64(2), "")])
    with pytest.raises(ValueError, match="tab or line break"):
        table.write([("x\ty", 1, 2, 3)])
    table.finish()
    assert (tmp_path / "t.tsv").read_text() == "a\tb\tc\td\nx\t0.123457\t0.5\t\ny\t1\t2\t\n"


# ---------------------------------------------------------------------------------------------
# The demo genome (src/demo/genome.py)


def _log_odds_best(sequence: str, probabilities: np.ndarray, background) -> float:
    """Naive best log-odds score of a motif over a sequence, both strands."""
    p = np.asarray(probabilities, dtype=float)
    b = np.asarray(background, dtype=float)[:, None]
    log_odds = np.log2((p + 0.1 * b) / 1.1 / b)
    codes = ["ACGT".index(c) if c in "ACGT" else -1 for c in sequence]
    best = -np.inf
    width = p.shape[1]
    for matrix in (log_odds, log_odds[::-1, ::-1]):
        for o in range(len(codes) - width + 1):
            if min(codes[o:o + width]) < 0:
                continue
            best = max(best, sum(matrix[codes[o + j], j] for j in range(width)))
    return best


@pytest.fixture(scope="module")
def demo_genome(tmp_path_factory):
    from src.demo import genome as module

    settings = module.DemoGenomeSettings(chromosome_length=60_000, introns_per_chromosome=12,
                                         n_broken=4, n_neutral=6, seed=3)
    out = module.generate_demo_genome(tmp_path_factory.mktemp("demo_genome"), settings)
    return module, settings, out


def test_demo_genome_variants_break_the_planted_ir_motifs(demo_genome):
    import pandas as pd

    module, settings, out = demo_genome
    from src.interpret.motifs import load_jaspar

    motifs = {m.matrix_id: m for m in load_jaspar("JASPAR2024")}
    truth = pd.read_csv(out / "variants_truth.tsv", sep="\t", dtype=str, keep_default_na=False)
    introns = pd.read_csv(out / "introns_truth.tsv", sep="\t", dtype=str).set_index("name")
    reader = VcfReader(out / "variants.vcf.gz")
    variants = list(reader)
    assert [(v.pos, v.alt) for v in variants] == [(int(p), a) for p, a in
                                                  zip(truth["pos"], truth["alt"])]
    assert reader.skipped == Counter() and max(v.n_alts for v in variants) == 2
    positions = [(v.chrom, v.pos) for v in variants]
    assert positions == sorted(positions, key=lambda cp: (int(cp[0][3:]), cp[1]))
    counts = Counter()
    with Genome(out / "genome.fa") as genome:
        index = WindowIndex(read_bed(out / "introns.bed"), genome, settings.window)
        rows = list(variant_windows(variants, index, genome, counts))
    assert counts["not wholly inside any window"] == settings.n_outside
    assert len(rows) == len(variants) - settings.n_outside  # each in exactly one window
    at = list(zip(truth["chrom"], truth["pos"].astype(int)))
    effects = dict(zip([(c, p, a) for (c, p), a in zip(at, truth["alt"])], truth["effect"]))
    intron_at = dict(zip(at, truth["intron"]))
    broken = 0
    for row in rows:
        v = row.variant
        effect = effects[(v.chrom, v.pos, v.alt)]
        assert effect != "outside windows"
        name = row.window.interval.name
        planted = {site.split("@")[0] for site in introns.loc[name, "motifs"].split(";")}
        assert intron_at[(v.chrom, v.pos)] == name
        for matrix_id in planted:
            p = motifs[matrix_id].probabilities
            ref = _log_odds_best(row.ref_sequence, p, module.BACKGROUND)
            alt = _log_odds_best(row.alt_sequence, p, module.BACKGROUND)
            if effect == "breaks IR motif":
                assert introns.loc[name, "label"] == "1" and ref - alt > 1.0, (v, matrix_id)
                broken += 1
            else:
                assert alt == pytest.approx(ref), (v, matrix_id)
    assert broken == settings.n_broken + 3  # SNVs, the two ALTs of one record, the deletion


def test_demo_genome_is_deterministic_and_bgzip(demo_genome, tmp_path):
    from Bio import bgzf

    module, settings, out = demo_genome
    again = module.generate_demo_genome(tmp_path, settings)
    for name in module.GENOME_FILES:
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
    with bgzf.BgzfReader(str(out / "variants.vcf.gz"), "rb") as handle:
        assert handle.read(20).decode() == "##fileformat=VCFv4.2"
    # BGZF ends with the empty EOF block of the SAM specification (section 4.1.2)
    eof = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
    assert (out / "variants.vcf.gz").read_bytes().endswith(eof)
    with pytest.raises(InputError, match="already exist"):
        module.generate_demo_genome(tmp_path, settings)
