"""Predict.py end to end: every input kind, both strands, coordinates checked by hand, the crop/pad
notes, resume after SIGKILL, LR / LightGBM through Sei features computed on the fly, DNABERT-2,
bad input (exit 2, nothing left behind), and the planted-variant effect on a tiny demo genome.

Two test-only models make the numbers checkable by hand: `LinearOneHot` (P(IR) = sigmoid(sum of
W * one-hot + b), so any window's P(IR) follows from its letters) and `MotifScore` (the IR motifs'
log-odds as convolution filters, so breaking a planted IR motif must lower P(IR) and a variant
far from any motif must leave it unchanged).
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT, random_sequences, write_dataset
from torch import nn

import Predict
from src.models import build_model
from src.models.registry import register_model
from src.train.checkpoints import save_checkpoint

BASES = {"A": [1, 0, 0, 0], "C": [0, 1, 0, 0], "G": [0, 0, 1, 0], "T": [0, 0, 0, 1],
         "N": [0.25] * 4}
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")
TINY_BASSET = {"CNN1filters": 8, "CNN1filterSize": 9, "CNN1poolSize": 4, "CNN1padding": 4,
               "CNN2filters": 8, "CNN2filterSize": 5, "CNN2poolSize": 1, "CNN2padding": 2,
               "CNN3filters": 4, "CNN3filterSize": 4, "CNN3poolSize": 2, "CNN3padding": 2,
               "FC1inputSize": 152, "FC1outputSize": 16, "FC2outputSize": 8, "numClasses": 2}
#                  0         1         2         3
#                  0123456789012345678901234567890123456789
CHR1 = "GATTACACCGTAGGCTTAACGCGTATGCCAGTTACGGATC"
CHR2 = "TTTTCCCCAAAAGGGGTTTTCCCCAAAAGGGG"


@register_model("TestLinearOneHot")
class LinearOneHot(nn.Module):
    """P(IR) = sigmoid(sum(W * x) + b) over a one-hot (N, 4, L) input."""

    def __init__(self, sequence_length: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(4, sequence_length))
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        z = (x * self.weight).sum(dim=(1, 2)) + self.bias
        return torch.stack([torch.zeros_like(z), z], dim=1)


@register_model("TestMotifScore")
class MotifScore(nn.Module):
    """logit = sum over motifs of relu(best site score - bias) / 4 - 2, sites on both strands."""

    def __init__(self, widths: list, sequence_length: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(4, 2, w) for w in widths)

    def forward(self, x):
        z = 0.25 * sum(torch.relu(conv(x).amax(dim=(1, 2))) for conv in self.convs) - 2.0
        return torch.stack([torch.zeros_like(z), z], dim=1)


# ---------------------------------------------------------------------------------------------
# Helpers: an independent encoding, the script's exit code, the tables


def rc(sequence: str) -> str:
    return sequence.translate(COMPLEMENT)[::-1]


def hand_p(weight: np.ndarray, bias: float, sequence: str) -> float:
    """P(IR) of LinearOneHot for `sequence` centred in L = weight.shape[1] columns (base i at
    column i + floor((L - S) / 2))."""
    length = weight.shape[1]
    offset = (length - len(sequence)) // 2
    x = np.zeros((4, length))
    for i, letter in enumerate(sequence.upper()):
        x[:, offset + i] = BASES[letter]
    return float(1 / (1 + np.exp(-((weight * x).sum() + bias))))


def run(argv, capsys=None) -> int:
    try:
        Predict.main([str(a) for a in argv])
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1
    return 0


def table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"id": str, "chrom": str, "intron_chrom": str},
                       keep_default_na=False)


@pytest.fixture(scope="module")
def linear_model(tmp_path_factory) -> tuple[Path, np.ndarray, float]:
    """A run folder with a LinearOneHot checkpoint of input length 10 (random weights)."""
    run_dir = tmp_path_factory.mktemp("runs") / "TestLinearOneHot_x"
    run_dir.mkdir()
    torch.manual_seed(1)
    model = build_model("TestLinearOneHot", {"sequence_length": 10})
    with torch.no_grad():
        model.weight.normal_(0, 1)
        model.bias.fill_(-0.3)
    save_checkpoint(run_dir / "best.pt", model, {"sequence_length": 10})
    return run_dir, model.weight.detach().numpy().astype(np.float64), -0.3


@pytest.fixture(scope="module")
def small_genome(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("genome")
    (folder / "genome.fa").write_text(f">chr1 test\n{CHR1[:25]}\n{CHR1[25:]}\n>chr2\n{CHR2}\n")
    return folder / "genome.fa"


def copy_genome(small_genome: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "genome.fa"
    target.write_bytes(small_genome.read_bytes())
    return target


# ---------------------------------------------------------------------------------------------
# The script


def test_help_is_instant_and_imports_nothing_heavy():
    code = ("import sys, Predict\ntry:\n    Predict.main(['--help'])\nexcept SystemExit:\n"
            "    pass\nprint('HEAVY' if {'torch', 'numpy', 'pandas'} & set(sys.modules) else "
            "'LIGHT')")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("LIGHT")
    assert "--bed" in result.stdout and "--resume" in result.stdout
    assert time.perf_counter() - started < 20


# ---------------------------------------------------------------------------------------------
# FASTA and CSV: both strands, crop and pad, by hand


def test_fasta_both_strands_crop_and_pad_by_hand(tmp_path, linear_model):
    run_dir, weight, bias = linear_model
    sequences = {"exact": "ACGTTGCAAC", "short": "GATTACA", "odd_short": "GGC",
                 "long": "TTTTACGTACGTACGAAAA", "iupac": "ACGTNNACGT"}
    fasta = tmp_path / "in.fa.gz"
    with gzip.open(fasta, "wt") as out:
        for name, seq in sequences.items():
            out.write(f">{name} some description\n{seq[:6]}\n{seq[6:]}\n")
    assert run(["-m", run_dir, "--fasta", fasta, "--out", tmp_path / "out", "--no-progress"]) == 0
    rows = table(tmp_path / "out" / "predictions.tsv").set_index("id")
    assert list(rows.index) == list(sequences)
    assert list(rows.columns) == ["length", "p_ir_forward", "p_ir_reverse", "p_ir", "note"]
    for name, seq in sequences.items():
        # the crop keeps bases ceil((S - L) / 2) onwards: "TTTTACGTACGTACGAAAA" (19) -> 10 from 5
        fitted = seq[(len(seq) - 10 + 1) // 2:][:10] if len(seq) > 10 else seq
        row = rows.loc[name]
        assert row["p_ir_forward"] == pytest.approx(hand_p(weight, bias, fitted), abs=2e-6)
        assert row["p_ir_reverse"] == pytest.approx(hand_p(weight, bias, rc(fitted)), abs=2e-6)
        assert row["p_ir"] == pytest.approx((row["p_ir_forward"] + row["p_ir_reverse"]) / 2,
                                            abs=2e-6)
        assert row["length"] == len(seq)
    assert "TTTTACGTACGTACGAAAA"[5:15] == "CGTACGTACG"
    assert rows.loc["long", "note"] == "cropped from 19 bp"
    assert rows.loc["short", "note"] == "padded from 7 bp"
    assert rows.loc["exact", "note"] == "" and rows.loc["iupac", "note"] == ""
    record = json.loads((tmp_path / "out" / "predict.json").read_text())
    assert record["finished"] and record["window"] == 10 and record["input"] == "fasta"


def test_csv_with_labels_writes_metrics_and_a_reliability_plot(tmp_path, linear_model):
    from sklearn.metrics import roc_auc_score

    run_dir, weight, bias = linear_model
    run_copy = tmp_path / "run"
    run_copy.mkdir()
    (run_copy / "best.pt").write_bytes((run_dir / "best.pt").read_bytes())
    sequences = random_sequences(60, 10, seed=2)
    labels = [int(hand_p(weight, bias, s) > 0.4) ^ int(i % 7 == 0) for i, s in
              enumerate(sequences)]
    write_dataset(tmp_path / "data", sequences, labels)
    # the model's own test split: 30 introns on both strands ("_r" rows)
    test_p = np.linspace(0.05, 0.95, 30)
    pd.DataFrame({"header": [f"t{i}" for i in range(30)] + [f"t{i}_r" for i in range(30)],
                  "label": [i % 2 for i in range(30)] * 2,
                  "probability": np.r_[test_p, test_p + 0.02]}).to_csv(
        run_copy / "predictions.csv", index=False)
    csv_file = tmp_path / "data" / "final_data.csv"
    assert run(["-m", run_copy, "--csv", csv_file, "--no-progress"]) == 0
    (out,) = run_copy.glob("predict_*")
    rows = table(out / "predictions.tsv")
    assert rows["label"].tolist() == labels
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["per_intron"]["auroc"] == pytest.approx(roc_auc_score(labels, rows["p_ir"]))
    assert metrics["two_strand_rows"]["n"] == 120
    assert metrics["two_strand_rows"]["auroc"] == pytest.approx(roc_auc_score(
        labels + labels, np.r_[rows["p_ir_forward"], rows["p_ir_reverse"]]))
    calibration = metrics["calibration"]
    assert calibration["prevalence"] == pytest.approx(np.mean(labels))
    assert calibration["brier"] == pytest.approx(np.mean((rows["p_ir"] - labels) ** 2))
    test = metrics["model_test_split"]
    assert test["n"] == 30 and test["mean_probability"] == pytest.approx(test_p.mean() + 0.01)
    import matplotlib.image

    assert matplotlib.image.imread(out / "reliability.png").ndim == 3


def test_reliability_bins_and_ece_by_hand():
    from src.predict.calibration import expected_calibration_error, reliability_bins

    bins = reliability_bins(np.array([0, 0, 1, 1, 1]), np.array([0.05, 0.15, 0.15, 0.95, 1.0]))
    assert bins["n"].tolist() == [1, 2, 2]
    assert bins["mean_probability"].tolist() == pytest.approx([0.05, 0.15, 0.975])
    assert bins["fraction_positive"].tolist() == [0, 0.5, 1]
    assert expected_calibration_error(bins) == pytest.approx((0.05 + 2 * 0.35 + 2 * 0.025) / 5)


# ---------------------------------------------------------------------------------------------
# BED + genome: 0-based half-open, strands, chromosome names, anchors, by hand


def test_bed_windows_by_hand_on_both_strands(tmp_path, linear_model, small_genome):
    run_dir, weight, bias = linear_model
    genome = copy_genome(small_genome, tmp_path / "g")
    bed = tmp_path / "introns.bed"
    # BED names chromosome "1"; the genome says "chr1" (reconciled). [10, 16) is 6 bases.
    bed.write_text("track name=introns\n1\t10\t16\tplus\t0\t+\n1\t10\t16\tminus\t0\t-\n"
                   "chr2\t4\t30\tlong\t.\t+\n")
    assert run(["-m", run_dir, "--bed", bed, "--genome", genome, "--out", tmp_path / "o",
                "--no-progress"]) == 0
    assert (tmp_path / "g" / "genome.fa.fai").is_file()  # built beside the genome
    rows = table(tmp_path / "o" / "predictions.tsv").set_index("name")
    # centred: window start = start - floor((10 - 6) / 2) = 8, end 18, on both strands
    assert rows.loc["plus", ["chrom", "start", "end", "window_start", "window_end"]].tolist() \
        == ["1", 10, 16, 8, 18]
    assert rows.loc["minus", ["window_start", "window_end"]].tolist() == [8, 18]
    window = CHR1[8:18]
    assert window == "CGTAGGCTTA"
    expected = {"plus": window, "minus": rc(window),
                # 26 bp intron: the centre 10, odd base cut on the 3' side: [4 + 8, 4 + 18)
                "long": CHR2[12:22]}
    for name, seq in expected.items():
        assert rows.loc[name, "p_ir_forward"] == pytest.approx(hand_p(weight, bias, seq),
                                                               abs=2e-6)
        assert rows.loc[name, "p_ir_reverse"] == pytest.approx(hand_p(weight, bias, rc(seq)),
                                                               abs=2e-6)
    assert rows.loc["plus", "note"] == "intron 6 bp + 4 bp flanks"
    assert rows.loc["long", "note"] == "intron 26 bp cropped to 10 bp"
    # splice-site anchored: 5'ss of the minus intron is its BED end (16); 2 exonic bases
    assert run(["-m", run_dir, "--bed", bed, "--genome", genome, "--anchor", "5ss", "--flank",
                "2", "--out", tmp_path / "o5", "--no-progress"]) == 0
    anchored = table(tmp_path / "o5" / "predictions.tsv").set_index("name")
    assert anchored.loc["plus", ["window_start", "window_end"]].tolist() == [8, 18]
    assert anchored.loc["minus", ["window_start", "window_end"]].tolist() == [8, 18]
    assert anchored.loc["long", ["window_start", "window_end"]].tolist() == [2, 12]
    assert anchored.loc["long", "p_ir_forward"] == pytest.approx(
        hand_p(weight, bias, CHR2[2:12]), abs=2e-6)
    assert run(["-m", run_dir, "--bed", bed, "--genome", genome, "--anchor", "3ss", "--flank",
                "1", "--out", tmp_path / "o3", "--no-progress"]) == 0
    three = table(tmp_path / "o3" / "predictions.tsv").set_index("name")
    # 3'ss of "+" is its end: the window ends 1 base past it; of "-" its start: begins 1 before
    assert three.loc["plus", ["window_start", "window_end"]].tolist() == [7, 17]
    assert three.loc["minus", ["window_start", "window_end"]].tolist() == [9, 19]
    assert three.loc["minus", "p_ir_forward"] == pytest.approx(
        hand_p(weight, bias, rc(CHR1[9:19])), abs=2e-6)


def test_vcf_one_based_snv_and_indels_by_hand(tmp_path, linear_model, small_genome):
    run_dir, weight, bias = linear_model
    genome = copy_genome(small_genome, tmp_path / "g")
    bed = tmp_path / "introns.bed"
    bed.write_text("chr1\t10\t16\tplus\t0\t+\nchr1\t10\t16\tminus\t0\t-\n")
    # POS 13 (1-based) is CHR1[12] = "G"; window [8, 18) holds it at 0-based offset 4.
    assert CHR1[12] == "G" and CHR1[15:17] == "TT"
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   "1\t13\tsnv\tG\tA,T\t.\t.\t.\n"        # multi-allelic: two rows per intron
                   "1\t13\tins\tG\tGCC\t.\t.\t.\n"
                   "1\t15\tdel\tCTT\tC\t.\t.\t.\n"
                   "1\t3\tfar\tT\tA\t.\t.\t.\n"            # outside every window
                   "1\t13\tsym\tG\t<DEL>\t.\t.\t.\n")      # symbolic: skipped
    assert run(["-m", run_dir, "--bed", bed, "--genome", genome, "--vcf", vcf, "--out",
                tmp_path / "o", "--no-progress"]) == 0
    rows = table(tmp_path / "o" / "variant_effects.tsv")
    assert len(rows) == 8 and set(rows["id"]) == {"snv", "ins", "del"}

    def p2(seq):
        return (hand_p(weight, bias, seq) + hand_p(weight, bias, rc(seq))) / 2

    ref_plus = CHR1[8:18]
    alts_plus = {("snv", "A"): CHR1[8:12] + "A" + CHR1[13:18],
                 ("snv", "T"): CHR1[8:12] + "T" + CHR1[13:18],
                 ("ins", "GCC"): (CHR1[8:13] + "CC" + CHR1[13:18])[:10],
                 ("del", "C"): CHR1[8:15] + CHR1[17:20]}
    for row in rows.itertuples():
        alt_plus = alts_plus[(row.id, row.alt)]
        ref, alt = (ref_plus, alt_plus) if row.intron_strand == "+" else (rc(ref_plus),
                                                                           rc(alt_plus))
        assert row.ref_p_ir == pytest.approx(p2(ref), abs=2e-6), row
        assert row.alt_p_ir == pytest.approx(p2(alt), abs=2e-6), row
        assert row.delta == pytest.approx(row.alt_p_ir - row.ref_p_ir, abs=2e-6)
        lo = np.log(row.alt_p_ir / (1 - row.alt_p_ir)) - np.log(row.ref_p_ir / (1 - row.ref_p_ir))
        assert row.log_odds_delta == pytest.approx(lo, abs=1e-4)
        offset = int(row.pos) - 1 - 8  # 0-based position of REF's first base in the window
        # on "-" the window is read from its other end: REF's first base there is its last here
        expected = offset + 1 if row.intron_strand == "+" else 10 - offset - len(row.ref) + 1
        assert row.window_position == expected
    notes = dict(zip(zip(rows["id"], rows["intron_strand"]), rows["note"]))
    assert ("2 bp inserted: the window's last 2 bases at its 3' end pushed out"
            in notes[("ins", "+")])
    assert "at its 5' end" in notes[("ins", "-")]
    assert "2 bp deleted: 2 genome bases added at the window's 3' end" in notes[("del", "+")]
    assert rows["kind"].tolist().count("insertion") == 2
    counts = json.loads((tmp_path / "o" / "predict.json").read_text())["counts"]
    assert counts["not wholly inside any window"] == 1
    assert counts["ALT skipped: symbolic ALT (<...>)"] == 1


# ---------------------------------------------------------------------------------------------
# Outputs are never replaced silently; resume


def test_outputs_are_never_overwritten_silently(tmp_path, linear_model, capsys):
    run_dir, _, _ = linear_model
    fasta = tmp_path / "a.fa"
    fasta.write_text(">a\nACGT\n")
    out = tmp_path / "out"
    assert run(["-m", run_dir, "--fasta", fasta, "--out", out, "--no-progress"]) == 0
    before = (out / "predictions.tsv").read_text()
    fasta.write_text(">b\nGGGG\n")
    assert run(["-m", run_dir, "--fasta", fasta, "--out", out, "--no-progress"]) == 2
    assert "pass --force to replace them" in capsys.readouterr().err
    assert (out / "predictions.tsv").read_text() == before
    assert run(["-m", run_dir, "--fasta", fasta, "--out", out, "--force", "--no-progress"]) == 0
    assert table(out / "predictions.tsv")["id"].tolist() == ["b"]
    assert run(["-m", run_dir, "--fasta", fasta, "--out", out, "--resume", "--no-progress"]) == 0
    assert "is complete" in capsys.readouterr().err
    # --resume with other settings is refused
    other = tmp_path / "b.fa"
    other.write_text(">b\nGGGG\n")
    partial = out / "predictions.tsv.partial"
    partial.write_text("id\tlength\tp_ir_forward\tp_ir_reverse\tp_ir\tnote\n")
    assert run(["-m", run_dir, "--fasta", other, "--out", out, "--resume", "--no-progress"]) == 2
    assert "started with other settings (inputs" in capsys.readouterr().err
    assert run(["-m", run_dir, "--fasta", fasta, "--out", out, "--resume", "--force"]) == 2


def _child(argv: list, log: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    torch.set_num_threads(1)
    Predict.main([str(a) for a in argv])


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL")
                    or "fork" not in multiprocessing.get_all_start_methods(),
                    reason="needs POSIX fork and SIGKILL")
def test_resume_after_sigkill_gives_the_uninterrupted_table(tmp_path):
    torch.manual_seed(0)
    run_dir = tmp_path / "Basset_x"
    run_dir.mkdir()
    save_checkpoint(run_dir / "best.pt", build_model("Basset", {**TINY_BASSET,
                                                                "sequence_length": 300}),
                    {"sequence_length": 300})
    fasta = tmp_path / "many.fa"
    with open(fasta, "w") as out:
        for i, seq in enumerate(random_sequences(6000, 320, seed=9)):
            out.write(f">s{i}\n{seq[:200 + i % 150]}\n")
    argv = ["-m", run_dir, "--fasta", fasta, "--batch-size", "4", "--no-progress"]
    partial = tmp_path / "killed" / "predictions.tsv.partial"
    process = multiprocessing.get_context("fork").Process(
        target=_child, args=(argv + ["--out", tmp_path / "killed"], str(tmp_path / "log")))
    process.start()
    deadline = time.monotonic() + 120
    while not (partial.is_file() and partial.read_text().count("\n") > 40):
        assert process.is_alive(), (tmp_path / "log").read_text()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.join(timeout=30)
    assert process.exitcode == -signal.SIGKILL
    assert not (tmp_path / "killed" / "predictions.tsv").exists()
    written = partial.read_text().count("\n") - 1
    assert 0 < written < 6000
    with open(partial, "a") as handle:  # as if the kill came in the middle of a line
        handle.write("s99999\t3")
    assert run(argv + ["--out", tmp_path / "killed", "--resume"]) == 0
    assert run(argv + ["--out", tmp_path / "whole"]) == 0
    resumed = (tmp_path / "killed" / "predictions.tsv").read_text()
    assert resumed == (tmp_path / "whole" / "predictions.tsv").read_text()
    assert not partial.exists() and resumed.count("\n") == 6001


# ---------------------------------------------------------------------------------------------
# Bad input: exit 2, the file and line named, nothing left behind


def _bad_cases(tmp: Path, genome: Path) -> dict:
    good_bed = "chr1\t10\t16\ta\t0\t+\nchr1\t12\t18\tb\t0\t-\n"
    header = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    files = {
        "model.pt": b"not a checkpoint at all",
        "empty.fa": b"",
        "dup.fa": b">a\nACGT\n>b\nACGT\n>a\nGGGG\n",
        "start_end.bed": (good_bed + "chr1\t20\t10\tc\t0\t+\n").encode(),
        "float.bed": (good_bed + "chr1\t10.5\t20\tc\t0\t+\n").encode(),
        "unknown_chrom.bed": (good_bed + "chr9\t10\t20\tc\t0\t+\n").encode(),
        "past_end.bed": (good_bed + "chr2\t10\t40\tc\t0\t+\n").encode(),
        "no_header.vcf": b"chr1\t13\t.\tG\tA\t.\t.\t.\n",
        "ref_mismatch.vcf": (header + "chr1\t13\tok\tG\tA\t.\t.\t.\nchr1\t14\tbad\tA\tC\t.\t.\t"
                             ".\n").encode(),
        "good.bed": good_bed.encode(),
    }
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    bed = ["--bed", tmp / "good.bed", "--genome", genome]
    return {
        "unknown model file": ([], ["--fasta", tmp / "dup.fa"], "model.pt",
                               "is not a checkpoint of this project|cannot be read"),
        "empty FASTA": ([], ["--fasta", tmp / "empty.fa"], None, "empty.fa holds no FASTA record"),
        "duplicate ids": ([], ["--fasta", tmp / "dup.fa"], None,
                          "dup.fa, line 5: the id 'a' was already used on line 1"),
        "start >= end": ([], ["--bed", tmp / "start_end.bed", "--genome", genome], None,
                         "start_end.bed, line 3: start 20 >= end 10"),
        "non-integer coordinate": ([], ["--bed", tmp / "float.bed", "--genome", genome], None,
                                   "float.bed, line 3: start \\(column 2\\) '10.5' is not a "
                                   "non-negative integer"),
        "unknown chromosome": ([], ["--bed", tmp / "unknown_chrom.bed", "--genome", genome], None,
                               "unknown_chrom.bed, line 3: chromosome 'chr9' is not in the genome"),
        "past the chromosome end": ([], ["--bed", tmp / "past_end.bed", "--genome", genome], None,
                                    "past_end.bed, line 3: chr2:10-40 ends past the end of chr2"),
        "VCF without #CHROM": ([], [*bed, "--vcf", tmp / "no_header.vcf"], None,
                               "no_header.vcf, line 1: a record before the '#CHROM' header"),
        "REF mismatch": ([], [*bed, "--vcf", tmp / "ref_mismatch.vcf"], None,
                         "ref_mismatch.vcf, line 4: REF 'A' at chr1:14 but the genome"),
    }


@pytest.mark.parametrize("case", ["unknown model file", "empty FASTA", "duplicate ids",
                                  "start >= end", "non-integer coordinate", "unknown chromosome",
                                  "past the chromosome end", "VCF without #CHROM",
                                  "REF mismatch"])
def test_bad_input_exits_2_naming_file_and_line_and_leaves_nothing(tmp_path, linear_model,
                                                                    small_genome, capsys, case):
    import re

    run_dir, _, _ = linear_model
    genome = copy_genome(small_genome, tmp_path / "g")
    _, argv, model, message = _bad_cases(tmp_path, genome)[case]
    model_path = tmp_path / model if model else run_dir
    out = tmp_path / "out"
    code = run(["-m", model_path, *argv, "--out", out, "--batch-size", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert re.search(message, err), err
    assert "Traceback" not in err
    assert not out.exists()  # the rows written before the bad line are gone, and the folder


def test_flag_errors(tmp_path, linear_model, capsys):
    run_dir, _, _ = linear_model
    for argv, message in [
        ([], "give one input"),
        (["--fasta", "a.fa", "--csv", "b.csv"], "got --fasta and --csv"),
        (["--bed", "a.bed"], "--bed needs the genome"),
        (["--fasta", "a.fa", "--vcf", "v.vcf"], "--vcf scores variants inside introns"),
        (["--fasta", "a.fa", "--anchor", "5ss"], "use them with --bed"),
        (["--bed", "a.bed", "--genome", "g.fa", "--flank", "5"], "--flank 5 applies to"),
        (["--fasta", tmp_path / "missing.fa"], "missing.fa not found"),
    ]:
        assert run(["-m", run_dir, *argv]) == 2
        assert message in capsys.readouterr().err
    assert run(["-m", tmp_path / "nothing", "--fasta", "a.fa"]) == 2
    assert "model not found" in capsys.readouterr().err
    (tmp_path / "empty_run").mkdir()
    assert run(["-m", tmp_path / "empty_run", "--fasta", "a.fa"]) == 2
    assert "holds neither best.pt nor model.txt" in capsys.readouterr().err
    fasta = tmp_path / "a.fa"
    fasta.write_text(">a\nACGT\n")
    assert run(["-m", run_dir, "--fasta", fasta, "--resume"]) == 2
    assert "no interrupted run" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# LR and LightGBM: Sei features on the fly match the features Preprocess wrote


SEI_NAMES = ["HepG2 | CTCF | ID:1", "K562 | H3K27ac | ID:2", "A549 | DNase | ID:3",
             "HeLa | REST | ID:4", "GM12878 | H3K4me3 | ID:5", "Liver | ATAC-seq | ID:6",
             "HepG2 | ZNF274 | ID:7", "K562 | H2A.Z | ID:8", "HeLa | CENPA | ID:9",
             "GM12878 | TP53 | ID:10"]


@pytest.fixture(scope="module")
def sei_features(tmp_path_factory) -> Path:
    """Data (50 sequences of 60 bp), a tiny Sei and its feature files from Preprocess."""
    from src.config import PreprocessConfig
    from src.data.splits import write_split_indices
    from src.features.extract import run_preprocess
    from src.models.sei import Sei, write_official_checkpoint

    root = tmp_path_factory.mktemp("seifeatures")
    sequences = random_sequences(50, 60, seed=12)
    labels = [i % 3 == 0 for i in range(50)]
    write_dataset(root / "data", sequences, [int(x) for x in labels])
    write_split_indices(root / "data", 50, seed=100)
    torch.manual_seed(3)
    write_official_checkpoint(Sei((4, 6, 8), n_targets=len(SEI_NAMES)), root / "sei" / "sei.pth")
    (root / "sei" / "target.names").write_text("\n".join(SEI_NAMES) + "\n")
    run_preprocess(PreprocessConfig(
        data_path=str(root / "data"), result_path=str(root / "features"),
        sei_path=str(root / "sei" / "sei.pth"), target_names=str(root / "sei" / "target.names"),
        sequence_length=96, batch_size=16, device="cpu",
        targets_for_reverse_complement=[0, 1]), progress=False)  # both strands of every row
    return root


def _features_by_header(folder: Path, fset: str, split: str) -> dict[str, np.ndarray]:
    data = np.load(folder / f"data_{fset}_{split}.npy")
    headers = (folder / f"headers_{split}.txt").read_text().splitlines()
    return dict(zip(headers, data))


def test_lr_scores_sei_features_on_the_fly(tmp_path, sei_features):
    features = sei_features / "features"
    names = (features / "features_TF.txt").read_text().splitlines()
    torch.manual_seed(5)
    model = build_model("LR", {"n_features": len(names)})
    with torch.no_grad():
        model.linear.weight.normal_(0, 3)
        model.linear.bias.fill_(0.2)
    run_dir = tmp_path / "LR_x"
    run_dir.mkdir()
    save_checkpoint(run_dir / "best.pt", model, {"feature_set": "TF"},
                    extra={"feature_names": names, "feature_set": "TF",
                           "features_source": str(features)})
    assert run(["-m", run_dir / "best.pt", "--csv", sei_features / "data" / "final_data.csv",
                "--out", tmp_path / "o", "--no-progress"]) == 0
    rows = table(tmp_path / "o" / "predictions.tsv").set_index("id")
    w = model.linear.weight.detach().numpy()[0].astype(np.float64)
    by_header = _features_by_header(features, "TF", "test")
    checked = 0
    for header, x in by_header.items():
        p = 1 / (1 + np.exp(-(x @ w + 0.2)))
        column = "p_ir_reverse" if header.endswith("_r") else "p_ir_forward"
        assert rows.loc[header.removesuffix("_r"), column] == pytest.approx(p, abs=1e-5)
        checked += 1
    assert checked >= 8
    assert (rows["note"] == "").all()  # the window is the training sequences' 60 bp
    # another Sei than the features were made with is refused
    other = tmp_path / "other.pth"
    other.write_bytes((sei_features / "sei" / "sei.pth").read_bytes() + b"\0")
    assert run(["-m", run_dir, "--csv", sei_features / "data" / "final_data.csv", "--sei", other,
                "--out", tmp_path / "o2"]) == 2
    assert not (tmp_path / "o2").exists()
    (tmp_path / "bare").mkdir()
    assert run(["-m", run_dir, "--csv", sei_features / "data" / "final_data.csv", "--features",
                tmp_path / "bare", "--out", tmp_path / "o3"]) == 2


def test_lightgbm_scores_sei_features_on_the_fly(tmp_path, sei_features, planted, capsys):
    import lightgbm

    features = sei_features / "features"
    train = np.load(features / "data_HM_train.npy")
    labels = np.load(features / "target_HM_train.npy")
    booster = lightgbm.train({"objective": "binary", "verbosity": -1, "min_data_in_leaf": 3,
                              "num_leaves": 4, "seed": 1}, lightgbm.Dataset(train, label=labels),
                             num_boost_round=5)
    run_dir = tmp_path / "LGBM_x"
    run_dir.mkdir()
    booster.save_model(str(run_dir / "model.txt"))
    (run_dir / "config.json").write_text(json.dumps({
        "features_path": str(features), "feature_set": "HM",
        "results_path": str(tmp_path)}))
    assert run(["-m", run_dir, "--csv", sei_features / "data" / "final_data.csv", "--out",
                tmp_path / "o", "--no-progress"]) == 0
    rows = table(tmp_path / "o" / "predictions.tsv").set_index("id")
    by_header = _features_by_header(features, "HM", "valid")
    expected = booster.predict(np.stack(list(by_header.values())))
    for (header, _), p in zip(by_header.items(), expected):
        column = "p_ir_reverse" if header.endswith("_r") else "p_ir_forward"
        assert rows.loc[header.removesuffix("_r"), column] == pytest.approx(p, abs=1e-5)
    record = json.loads((tmp_path / "o" / "predict.json").read_text())
    assert record["model_name"] == "LGBM" and record["window"] == 60
    assert "Sei features computed on the fly" in record["model_description"]
    # variants and --explain: no one-hot input, so the motif table without figures
    genome = tmp_path / "genome.fa"
    genome.write_text(">chr1\n" + random_sequences(1, 200, seed=6)[0] + "\n")
    (tmp_path / "i.bed").write_text("chr1\t70\t130\tx\t0\t-\n")
    base = genome.read_text().split("\n")[1][99]
    alt = "A" if base != "A" else "C"
    (tmp_path / "v.vcf").write_text("#CHROM\tPOS\tID\tREF\tALT\n"
                                    f"chr1\t100\tv1\t{base}\t{alt}\n")
    assert run(["-m", run_dir, "--bed", tmp_path / "i.bed", "--genome", genome, "--vcf",
                tmp_path / "v.vcf", "--explain", "1", "--motifs", planted[2], "--out",
                tmp_path / "v", "--no-progress"]) == 0
    assert len(table(tmp_path / "v" / "variant_effects.tsv")) == 1
    assert (tmp_path / "v" / "explain" / "motif_changes.tsv").is_file()
    assert not list((tmp_path / "v" / "explain").glob("*.png"))
    assert "no one-hot input" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# DNABERT-2 through its checkpoint (tokenizer stored inside)


def test_dnabert2_checkpoint_scores_with_its_own_tokenizer(tmp_path):
    from src.data.tokens import load_tokenizer, tokenizer_files
    from src.demo.dnabert2 import make_tiny_model
    from src.models import dnabert2

    folder = make_tiny_model(tmp_path / "bert", random_sequences(100, 80, seed=3), vocab_size=48,
                             hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=32)
    torch.manual_seed(0)
    model = dnabert2.load_snapshot(folder)[0].eval()
    tokenizer = load_tokenizer(folder)
    data = write_dataset(tmp_path / "data", random_sequences(5, 80, seed=4), [0, 1, 0, 1, 0])
    run_dir = tmp_path / "DNABert2_x"
    run_dir.mkdir()
    save_checkpoint(run_dir / "best.pt", model, {"data_path": str(data), "max_length": 40},
                    extra={"tokenizer_files": tokenizer_files(tokenizer),
                           "max_length": 40})
    sequences = {"a": random_sequences(1, 80, seed=7)[0], "b": "acgtacgtnacgt",
                 "c": random_sequences(1, 120, seed=8)[0]}
    fasta = tmp_path / "x.fa"
    fasta.write_text("".join(f">{k}\n{v}\n" for k, v in sequences.items()))
    assert run(["-m", run_dir, "--fasta", fasta, "--out", tmp_path / "o", "--no-progress"]) == 0
    rows = table(tmp_path / "o" / "predictions.tsv").set_index("id")
    assert rows.loc["c", "note"] == "cropped from 120 bp"  # to the training data's 80 bp
    for name, seq in sequences.items():
        fitted = seq[20:100] if len(seq) > 80 else seq
        for text, column in ((fitted.upper(), "p_ir_forward"), (rc(fitted.upper()),
                                                                "p_ir_reverse")):
            encoded = tokenizer([text], padding="max_length", truncation=True, max_length=40,
                                return_tensors="pt")
            with torch.no_grad():
                logits = model(**{k: v for k, v in encoded.items()
                                  if k in ("input_ids", "attention_mask", "token_type_ids")})
            expected = float(torch.softmax(logits, dim=1)[0, 1])
            assert rows.loc[name, column] == pytest.approx(expected, abs=1e-5), (name, column)


# ---------------------------------------------------------------------------------------------
# The planted-variant effect on a tiny demo genome


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A tiny demo genome (windows of 300 bp) and a MotifScore checkpoint built from the IR
    motifs' log-odds (threshold: 60% of each motif's best score)."""
    from src.demo.data import BACKGROUND, IR_MOTIFS, NON_IR_MOTIFS
    from src.demo.genome import DemoGenomeSettings, generate_demo_genome
    from src.interpret.motifs import load_jaspar, write_meme
    from src.interpret.scanning import log_odds_matrix

    root = tmp_path_factory.mktemp("planted")
    motifs = {m.matrix_id: m for m in load_jaspar("JASPAR2024")}
    settings = DemoGenomeSettings(chromosome_length=60_000, introns_per_chromosome=12,
                                  n_broken=4, n_neutral=6, window=300, seed=3)
    genome = generate_demo_genome(root / "genome", settings, motifs)
    from src.predict.genome import Genome

    Genome(genome / "genome.fa").close()  # the index now, so that no test writes it here
    write_meme([motifs[i] for i in IR_MOTIFS + NON_IR_MOTIFS], root / "planted.meme",
               background=BACKGROUND)
    widths = [motifs[i].width for i in IR_MOTIFS]
    model = build_model("TestMotifScore", {"widths": widths, "sequence_length": 300})
    with torch.no_grad():
        for conv, matrix_id in zip(model.convs, IR_MOTIFS):
            log_odds = log_odds_matrix(motifs[matrix_id].probabilities, BACKGROUND)
            conv.weight[0] = torch.from_numpy(log_odds)
            conv.weight[1] = torch.from_numpy(log_odds[::-1, ::-1].copy())
            conv.bias.fill_(-0.6 * float(log_odds.max(axis=0).sum()))
    run_dir = root / "MotifScore_x"
    run_dir.mkdir()
    save_checkpoint(run_dir / "best.pt", model, {"sequence_length": 300})
    return genome, run_dir, root / "planted.meme", settings


def test_planted_motif_breaking_variants_have_the_largest_negative_deltas(tmp_path, planted):
    genome, run_dir, meme, settings = planted
    out = tmp_path / "o"
    assert run(["-m", run_dir, "--bed", genome / "introns.bed", "--genome", genome / "genome.fa",
                "--vcf", genome / "variants.vcf.gz", "--explain", "3", "--motifs", meme,
                "--out", out, "--no-progress"]) == 0
    rows = table(out / "variant_effects.tsv")
    truth = pd.read_csv(genome / "variants_truth.tsv", sep="\t", dtype=str, keep_default_na=False)
    effect = dict(zip(zip(truth["pos"], truth["alt"]), truth["effect"]))
    rows["effect"] = [effect[(str(p), a)] for p, a in zip(rows["pos"], rows["alt"])]
    breaking = rows[rows["effect"] == "breaks IR motif"]
    neutral = rows[rows["effect"] == "neutral"]
    assert len(breaking) == settings.n_broken + 3 and len(neutral) == settings.n_neutral
    assert (breaking["delta"] < -0.01).all(), breaking
    assert neutral["delta"].abs().max() < 1e-5
    ranked = rows.sort_values("delta")
    assert set(ranked.head(len(breaking))["effect"]) == {"breaks IR motif"}
    # a motif-symmetric model scores both strands alike: the two-strand path is consistent
    predictions = json.loads((out / "predict.json").read_text())
    assert predictions["counts"]["not wholly inside any window"] == settings.n_outside
    changes = pd.read_csv(out / "explain" / "motif_changes.tsv", sep="\t", keep_default_na=False)
    assert changes["rank"].nunique() == 3
    top = ranked.reindex(ranked["delta"].abs().sort_values(ascending=False).index).head(3)
    truth_motif = dict(zip(zip(truth["pos"], truth["alt"]), truth["matrix_id"]))
    for rank, row in enumerate(top.itertuples(), start=1):
        matrix_id = truth_motif[(str(row.pos), row.alt)]
        mine = changes[(changes["rank"] == rank) & (changes["matrix_id"] == matrix_id)]
        assert set(mine["effect"]) <= {"breaks", "weakens"} and len(mine) == 1, changes
        figure = out / "explain" / mine["figure"].iloc[0]
        assert figure.is_file()
