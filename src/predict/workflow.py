"""Predict.py's work: score introns (FASTA, the study's CSV, BED + genome) or variants (VCF), write
the tables as it goes, and the metrics, reliability plot and explanations.

Output folder (`--out`, default a new `predict_<time>/` inside the model's run folder):

    predict.json          the settings of the run (model, inputs, window rule); written first,
                          "finished" added when every output is written
    predictions.tsv       one row per sequence / intron (FASTA, CSV, BED)
    variant_effects.tsv   one row per (variant allele, intron window holding it) (--vcf)
    metrics.json          with --csv labels: metrics (per intron and the study's two-strand
                          rows) and calibration, beside the model's own test split
    reliability.png       with --csv labels: the reliability diagram
    explain/              with --explain N (src.predict.explain)

Tables are written row by row to `<table>.partial` and renamed when complete (`output`). A run
stopped by a kill or Ctrl-C continues with `--resume` (same flags; the rows already written are
checked against the inputs and skipped); `--force` starts over. A fresh run never replaces
outputs silently: an output folder that holds any of these files needs `--resume` or `--force`.
A run stopped by bad input (exit 2) removes what it wrote, and the folder if it made it.

Columns (P(IR) = probability of intron retention; `forward` = the sequence as given, for a BED
interval the intron's own strand 5'->3'; `reverse` = its reverse complement; `p_ir` = their
mean, the study's two-strand protocol):

    FASTA / CSV   id, [label], length, p_ir_forward, p_ir_reverse, p_ir, note
    BED           chrom, start, end, name, strand, window_start, window_end, p_ir_forward,
                  p_ir_reverse, p_ir, note
    variants      chrom, pos, id, ref, alt, kind, intron_chrom, intron_start, intron_end,
                  intron_name, intron_strand, window_position, ref_p_ir, alt_p_ir, delta,
                  log_odds_delta, note

`note` says what was done to fit the model input ("cropped from 812 bp", "padded from 450 bp",
"intron 450 bp + 150 bp flanks", N-filled bases past a chromosome end). For variants, ref_p_ir and
alt_p_ir are the two-strand means, delta = alt_p_ir - ref_p_ir and log_odds_delta =
logit(alt_p_ir) - logit(ref_p_ir); window_position is the 1-based position of the variant's first
REF base in the window, read 5'->3' on the intron's strand.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from .. import __version__
from ..data.splits import sequence_keys
from ..errors import InputError
from ..io import atomic_write_text
from ..runs import console_logger
from .output import PARTIAL_SUFFIX, ResumableTsv, partial_path
from .sources import SequenceCsv, chunked, fit_sequences, read_bed, read_fasta

SETTINGS_FILE = "predict.json"
PREDICTIONS_FILE = "predictions.tsv"
VARIANTS_FILE = "variant_effects.tsv"
METRICS_FILE = "metrics.json"
RELIABILITY_FIGURE = "reliability.png"
OUT_PREFIX = "predict_"

P_COLUMNS = ("p_ir_forward", "p_ir_reverse", "p_ir")
BED_COLUMNS = ("chrom", "start", "end", "name", "strand", "window_start", "window_end",
               *P_COLUMNS, "note")
BED_KEY = ("chrom", "start", "end", "name", "strand")
VARIANT_COLUMNS = ("chrom", "pos", "id", "ref", "alt", "kind", "intron_chrom", "intron_start",
                   "intron_end", "intron_name", "intron_strand", "window_position", "ref_p_ir",
                   "alt_p_ir", "delta", "log_odds_delta", "note")
VARIANT_KEY = ("chrom", "pos", "id", "ref", "alt", "intron_chrom", "intron_start", "intron_end",
               "intron_name", "intron_strand")
# settings that change the numbers: a run is resumed only with the same ones
COMPARED_SETTINGS = ("model", "model_sha256", "input", "inputs", "anchor", "flank", "window",
                     "explain", "motifs")
REF_CACHE_SIZE = 65536  # reference-window scores kept (a sorted VCF revisits few windows)

log = console_logger("ir_sei.predict")


def sequence_columns(labelled: bool) -> tuple[str, ...]:
    return ("id", *(("label",) if labelled else ()), "length", *P_COLUMNS, "note")


@dataclass
class PredictRequest:
    """Everything Predict.py was asked (its flags)."""

    model: str
    fasta: str | None = None
    csv: str | None = None
    bed: str | None = None
    genome: str | None = None
    vcf: str | None = None
    anchor: str = "centre"
    flank: int | None = None
    window: int | None = None
    out: str | None = None
    resume: bool = False
    force: bool = False
    batch_size: int = 256
    device: str = "auto"
    explain: int = 0
    motifs: str = "jaspar2024"
    features: str | None = None
    sei: str | None = None
    sei_names: str | None = None
    progress: bool = True

    @property
    def input_kind(self) -> str:
        return "fasta" if self.fasta else "csv" if self.csv else "bed"

    @property
    def outputs(self) -> list[str]:
        """The files this run writes (besides predict.json)."""
        from .explain import EXPLAIN_DIR, MOTIF_CHANGES_FILE

        names = [VARIANTS_FILE if self.vcf else PREDICTIONS_FILE]
        if self.csv and _csv_has_labels(self.csv):
            names += [METRICS_FILE, RELIABILITY_FIGURE]
        if self.explain:
            names.append(f"{EXPLAIN_DIR}/{MOTIF_CHANGES_FILE}")
        return names


def _csv_has_labels(path: str) -> bool:
    return SequenceCsv(path).has_labels


def check_request(req: PredictRequest) -> None:
    """The flag rules, as errors that say what to type instead (nothing is read yet)."""
    given = [flag for flag, value in (("--fasta", req.fasta), ("--csv", req.csv),
                                      ("--bed", req.bed)) if value]
    if len(given) != 1:
        raise InputError("give one input: --fasta FILE, --csv FILE, or --bed FILE --genome FASTA"
                         + (f" (got {' and '.join(given)})" if given else ""))
    if req.bed and not req.genome:
        raise InputError("--bed needs the genome the coordinates refer to: add --genome "
                         "GENOME.fa (plain or bgzip FASTA)")
    if req.genome and not req.bed:
        raise InputError("--genome is read for the introns of --bed: add --bed FILE, or drop "
                         "--genome")
    if req.vcf and not req.bed:
        raise InputError("--vcf scores variants inside introns: add --bed INTRONS.bed --genome "
                         "GENOME.fa")
    if req.explain and not req.vcf:
        raise InputError("--explain N explains the N strongest variant effects: add --vcf (with "
                         "--bed and --genome)")
    if req.explain < 0:
        raise InputError(f"--explain {req.explain}: give a number of variants (0 for none)")
    if not req.bed and (req.anchor != "centre" or req.flank is not None):
        raise InputError("--anchor and --flank place the window around a BED interval: use them "
                         "with --bed (sequences of --fasta / --csv are centred)")
    if req.anchor == "centre" and req.flank:
        raise InputError(f"--flank {req.flank} applies to splice-site windows (--anchor 5ss or "
                         f"3ss); a centred window takes its flanks from the intron's length")
    if req.batch_size < 1:
        raise InputError(f"--batch-size {req.batch_size}: give at least 1")
    if req.resume and req.force:
        raise InputError("--resume continues a run, --force starts it over: choose one")


def window_flank(req: PredictRequest) -> int:
    """--flank, or its default: 0 for centred windows, 50 bp of exon for splice-site windows."""
    if req.flank is not None:
        return req.flank
    return 0 if req.anchor == "centre" else 50


# ---------------------------------------------------------------------------------------------
# The output folder and the settings record


def output_folder(req: PredictRequest, run_folder: Path) -> tuple[Path, bool]:
    """The folder to write (and whether this run makes it).

    --out DIR as given; otherwise a new `predict_<time>/` in the model's run folder, or, with
    --resume, the newest `predict_*` folder there that holds an interrupted table.
    """
    if req.out:
        folder = Path(req.out)
        if folder.exists() and not folder.is_dir():
            raise InputError(f"--out {folder} is a file: give a folder")
        return folder, not folder.exists()
    if req.resume:
        candidates = sorted((p for p in run_folder.glob(f"{OUT_PREFIX}*") if p.is_dir()
                             and any(p.glob(f"*{PARTIAL_SUFFIX}"))),
                            key=lambda p: p.stat().st_mtime_ns)
        if not candidates:
            raise InputError(f"--resume: no interrupted run (a {OUT_PREFIX}* folder with a "
                             f"*{PARTIAL_SUFFIX} table) in {run_folder}: pass its folder with "
                             f"--out")
        return candidates[-1], False
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for attempt in range(1000):
        folder = run_folder / (f"{OUT_PREFIX}{stamp}" + (f"_{attempt}" if attempt else ""))
        if not folder.exists():
            return folder, True
    raise InputError(f"cannot find a new {OUT_PREFIX}<time> folder name in {run_folder}: pass "
                     f"--out")


def settings_record(req: PredictRequest, model_path: Path, scorer) -> dict:
    """predict.json: what the outputs were computed from (compared on --resume)."""
    from ..io import file_sha256

    inputs = {name: str(Path(path).resolve()) for name, path in
              (("fasta", req.fasta), ("csv", req.csv), ("bed", req.bed),
               ("genome", req.genome), ("vcf", req.vcf)) if path}
    return {"model": str(model_path.resolve()), "model_sha256": file_sha256(model_path),
            "model_name": scorer.model_name, "model_description": scorer.description,
            "input": req.input_kind, "inputs": inputs,
            "anchor": req.anchor if req.bed else None,
            "flank": window_flank(req) if req.bed else None, "window": scorer.window,
            "explain": req.explain, "motifs": req.motifs if req.explain else None,
            "outputs": req.outputs, "device": str(scorer.device), "version": __version__,
            "started": datetime.now().isoformat(timespec="seconds")}


def check_resumable(folder: Path, record: dict) -> None:
    """--resume: the interrupted run's settings must be this run's."""
    path = folder / SETTINGS_FILE
    if not path.is_file():
        raise InputError(f"--resume: {path} not found, so {folder} holds no run to continue: "
                         f"start a new run (drop --resume)")
    try:
        before = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise InputError(f"{path} is damaged: pass --force to start over") from None
    differ = [key for key in COMPARED_SETTINGS if before.get(key) != record.get(key)]
    if differ:
        detail = "; ".join(f"{key}: {before.get(key)!r} then, {record.get(key)!r} now"
                           for key in differ)
        raise InputError(f"--resume: the run in {folder} was started with other settings "
                         f"({detail}). Pass the same flags to continue it, or --force to start "
                         f"over")


def check_fresh(folder: Path, req: PredictRequest) -> None:
    """A fresh run without --force: no output of a former run may be in the folder."""
    if req.force or not folder.exists():
        return
    from .explain import EXPLAIN_DIR

    ours = [SETTINGS_FILE, PREDICTIONS_FILE, VARIANTS_FILE, METRICS_FILE, RELIABILITY_FIGURE,
            EXPLAIN_DIR]
    found = [name for name in ours if (folder / name).exists()]
    found += [p.name for p in folder.glob(f"*{PARTIAL_SUFFIX}")]
    if found:
        partial = any(name.endswith(PARTIAL_SUFFIX) for name in found)
        raise InputError(f"{folder} already holds {', '.join(sorted(set(found)))}: "
                         + ("pass --resume to continue the interrupted run, " if partial else "")
                         + "pass --force to replace them, or choose another --out")


def is_complete(folder: str | Path) -> bool:
    """A Predict.py run finished in `folder`: predict.json says so and lists outputs that are
    all there."""
    folder = Path(folder)
    try:
        record = json.loads((folder / SETTINGS_FILE).read_text())
    except (OSError, ValueError):
        return False
    return bool(record.get("finished")) and all((folder / name).exists()
                                                for name in record.get("outputs", []))


class _Undo:
    """What a fresh run made, removed again when it stops on an `InputError`."""

    def __init__(self, folder: Path, made_folder: bool, fresh: bool):
        self.folder, self.made_folder, self.fresh = folder, made_folder, fresh
        self.files: list[Path] = []

        self.replaced: dict[Path, bytes] = {}

    def created(self, path: Path) -> Path:
        """`path` is about to be written: removed on undo unless it was there before."""
        if not path.exists():
            self.files.append(path)
        return path

    def write_text(self, path: Path, text: str) -> None:
        """Write `path` atomically; undo removes it, or puts back the file it replaced."""
        if path.is_file() and path not in self.files:
            self.replaced.setdefault(path, path.read_bytes())
        else:
            self.created(path)
        atomic_write_text(path, text)

    def undo(self) -> None:
        if not self.fresh:
            return
        import shutil

        for path in reversed(self.files):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        for path, data in self.replaced.items():
            path.write_bytes(data)
        if self.made_folder and self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class PredictResult:
    folder: Path
    outputs: list[Path]
    counts: dict = field(default_factory=dict)


def run_predict(req: PredictRequest) -> PredictResult:
    """Everything Predict.py does (see the module docstring); returns the folder and outputs.

    Raises
    ------
    InputError
        Bad flags or input (exit 2): the file and line are named; a fresh run removes what it
        wrote.
    """
    import torch  # noqa: F401  (heavy imports happen here, after the flags are parsed)

    from ..device import choose_device
    from .scoring import FeatureOverrides, load_scorer, resolve_model

    check_request(req)
    source = resolve_model(req.model)
    _check_inputs_early(req)
    folder, made_folder = output_folder(req, source.run_folder)
    if not req.resume:
        check_fresh(folder, req)
    device = choose_device(req.device)
    started = time.perf_counter()
    scorer = load_scorer(source, device, req.batch_size, req.window,
                         FeatureOverrides(req.features, req.sei, req.sei_names))
    log.info(f"model {source.path}: {scorer.description}; device {device}")
    record = settings_record(req, source.path, scorer)
    undo = _Undo(folder, made_folder, fresh=not req.resume)
    try:
        if req.resume:
            check_resumable(folder, record)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            undo.write_text(folder / SETTINGS_FILE, json.dumps(record, indent=2) + "\n")
        counts = _score_inputs(req, scorer, folder, undo)
        outputs = [folder / (VARIANTS_FILE if req.vcf else PREDICTIONS_FILE)]
        if req.csv and _csv_has_labels(req.csv):
            outputs += write_metrics(folder, source, undo)
        if req.explain:
            from .explain import explain_variants

            outputs += explain_variants(folder, req, scorer, undo)
    except InputError:
        undo.undo()
        raise
    before = json.loads((folder / SETTINGS_FILE).read_text())
    record = {**before, "finished": datetime.now().isoformat(timespec="seconds"),
              "seconds": round(time.perf_counter() - started, 1),
              "counts": counts or before.get("counts", {})}
    atomic_write_text(folder / SETTINGS_FILE, json.dumps(record, indent=2) + "\n")
    log.info(f"outputs in {folder}: {', '.join(p.name for p in outputs)}")
    return PredictResult(folder, outputs, counts)


def _check_inputs_early(req: PredictRequest) -> None:
    """Before the model loads: the input files exist, and the CSV and VCF headers are right."""
    from .sources import open_binary
    from .variants import VcfReader

    for path, what in ((req.fasta, "FASTA file"), (req.csv, "CSV file"), (req.bed, "BED file"),
                       (req.vcf, "VCF file")):
        if path:
            open_binary(path, what).close()
    if req.csv:
        SequenceCsv(req.csv)
    if req.vcf:
        VcfReader(req.vcf)
    if req.genome and not Path(req.genome).is_file():
        raise InputError(f"genome FASTA {req.genome} not found: pass the genome of the "
                         f"assembly your coordinates use (e.g. GRCh38) with --genome")


def _score_inputs(req: PredictRequest, scorer, folder: Path, undo: _Undo) -> dict:
    """The table of the run (predictions or variants); returns counts for predict.json."""
    target = folder / (VARIANTS_FILE if req.vcf else PREDICTIONS_FILE)
    partial = partial_path(target)
    if req.resume and target.is_file() and not partial.exists():
        log.info(f"{target} is complete; continuing with what follows it")
        return {}
    undo.created(target)
    if req.vcf:
        return score_variants(req, scorer, target)
    return score_sequences(req, scorer, target)


def _progress(req: PredictRequest, unit: str, initial: int = 0):
    from tqdm.auto import tqdm

    return tqdm(desc="scoring", unit=f" {unit}", initial=initial, disable=not req.progress,
                dynamic_ncols=True, smoothing=0.1)


def score_sequences(req: PredictRequest, scorer, target: Path) -> dict:
    """predictions.tsv of a FASTA, CSV or BED input, in input order, written as it goes."""
    from .genome import Genome, genome_windows

    counts: Counter = Counter()
    genome = None
    if req.bed:
        genome = Genome(req.genome)
        items = genome_windows(read_bed(req.bed), genome, scorer.window, req.anchor,
                               window_flank(req))
        columns, key_columns, unit = BED_COLUMNS, BED_KEY, "introns"

        def row(item, p):
            return (*item.key, item.start, item.end, *p, item.note)
    else:
        records = read_fasta(req.fasta) if req.fasta else SequenceCsv(req.csv)
        labelled = bool(req.csv) and records.has_labels
        items = fit_sequences(records, scorer.window)
        columns, key_columns, unit = sequence_columns(labelled), ("id",), "sequences"

        def row(item, p):
            label = (item.record.label,) if labelled else ()
            return (item.record.id, *label, len(item.record.sequence), *p, item.note)

    try:
        with ResumableTsv(target, columns, key_columns, resume=req.resume,
                          force=req.force) as table:
            if table.rows_before:
                log.info(f"resuming {table.partial}: {table.rows_before:,} rows already written")
            bar = _progress(req, unit, table.rows_before)
            pending = table.skip_written(items, key=lambda item: item.key)
            for chunk in chunked(pending, req.batch_size):
                p = scorer.score([item.sequence for item in chunk])
                table.write([row(item, (p[i, 0], p[i, 1], (p[i, 0] + p[i, 1]) / 2))
                             for i, item in enumerate(chunk)])
                counts["scored"] += len(chunk)
                counts["fitted (see note)"] += sum(1 for item in chunk if item.note)
                bar.update(len(chunk))
            bar.close()
            counts["rows"] = table.rows_before + table.rows_written
    finally:
        if genome is not None:
            genome.close()
    log.info(f"{counts['rows']:,} rows in {target}"
             + (f"; {counts['fitted (see note)']:,} of the {counts['scored']:,} scored now were "
                f"cropped, padded or extended to the model's {scorer.window} bp (see the note "
                f"column)" if counts["fitted (see note)"] else ""))
    return dict(counts)


def score_variants(req: PredictRequest, scorer, target: Path) -> dict:
    """variant_effects.tsv: every variant allele inside an intron's window, ref vs alt."""
    from .genome import Genome
    from .scoring import logit
    from .variants import VcfReader, WindowIndex, variant_windows

    counts: Counter = Counter()
    with Genome(req.genome) as genome:
        index = WindowIndex(read_bed(req.bed), genome, scorer.window, req.anchor,
                            window_flank(req))
        log.info(f"{len(index):,} introns in {req.bed}: windows of {scorer.window} bp ("
                 + (f"{req.anchor}-anchored, flank {window_flank(req)} bp" if req.anchor !=
                    "centre" else "centred") + ")")
        reader = VcfReader(req.vcf)
        stream = variant_windows(reader, index, genome, counts)
        ref_cache: OrderedDict[int, np.ndarray] = OrderedDict()
        with ResumableTsv(target, VARIANT_COLUMNS, VARIANT_KEY, resume=req.resume,
                          force=req.force) as table:
            if table.rows_before:
                log.info(f"resuming {table.partial}: {table.rows_before:,} rows already written")
            bar = _progress(req, "variants", table.rows_before)
            for chunk in chunked(table.skip_written(stream, key=lambda vw: vw.key),
                                 req.batch_size):
                new = list(dict.fromkeys(vw.window_index for vw in chunk
                                         if vw.window_index not in ref_cache))
                if new:
                    first = {vw.window_index: vw for vw in reversed(chunk)}
                    scores = scorer.score([first[i].ref_sequence for i in new])
                    for i, p in zip(new, scores):
                        ref_cache[i] = p
                        if len(ref_cache) > REF_CACHE_SIZE:
                            ref_cache.popitem(last=False)
                alt = scorer.score([vw.alt_sequence for vw in chunk])
                rows = []
                for vw, p_alt in zip(chunk, alt):
                    ref_p = float(ref_cache[vw.window_index].mean())
                    alt_p = float(p_alt.mean())
                    rows.append((*vw.variant.key[:5], vw.variant.kind, *vw.window.key,
                                 vw.ref_span[0] + 1, ref_p, alt_p, alt_p - ref_p,
                                 float(logit(alt_p) - logit(ref_p)), variant_note(vw)))
                table.write(rows)
                bar.update(len(chunk))
            bar.close()
            counts["rows"] = table.rows_before + table.rows_written
    for reason, n in sorted(reader.skipped.items()):
        counts[f"ALT skipped: {reason}"] = n
    log.info(f"{counts['rows']:,} rows in {target}; variant alleles: "
             + ", ".join(f"{n:,} {what}" for what, n in sorted(counts.items()) if what != "rows"))
    if counts["rows"] == 0:
        log.warning(f"no variant of {req.vcf} lies inside a window of {req.bed}: the table is "
                    f"empty")
    return dict(counts)


def variant_note(vw) -> str:
    """The window's note, and how an indel kept the window's length (`variants.apply_variant`)."""
    parts = [vw.window.note] if vw.window.note else []
    r, a = len(vw.variant.ref), len(vw.variant.alt)
    far = "3'" if vw.window.strand == "+" else "5'"
    if a > r:
        parts.append(f"{a - r} bp inserted: the window's last {a - r} bases at its {far} end "
                     f"pushed out")
    elif r > a:
        parts.append(f"{r - a} bp deleted: {r - a} genome bases added at the window's {far} end")
    if vw.alt_span[1] - vw.alt_span[0] < a:
        parts.append("part of the inserted bases fall outside the window")
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# Metrics and calibration (--csv with labels)


def write_metrics(folder: Path, source, undo: _Undo) -> list[Path]:
    """metrics.json and reliability.png from the finished predictions.tsv (so a resumed run
    counts every row), beside the model's own test-split calibration."""
    import pandas as pd

    from ..metrics import binary_metrics
    from .calibration import calibration_summary, plot_reliability, reliability_bins
    from .scoring import model_test_predictions

    table = pd.read_csv(folder / PREDICTIONS_FILE, sep="\t", usecols=["label", *P_COLUMNS])
    labels = table["label"].to_numpy(dtype=np.int64)
    mean = table["p_ir"].to_numpy()
    both = np.concatenate([table["p_ir_forward"], table["p_ir_reverse"]])
    metrics = {"per_intron": binary_metrics(labels, mean),
               "two_strand_rows": binary_metrics(np.concatenate([labels, labels]), both),
               "calibration": calibration_summary(labels, mean)}
    curves = {"your sequences": reliability_bins(labels, mean)}
    note = ("P(IR) is the mean over both strands. Calibrated predictions follow the diagonal; "
            "class weighting in training (LightGBM's is_unbalance) moves a model off it, and so "
            "does a share of retained introns unlike the training data's (AUROC holds).")
    test = model_test_predictions(source)
    if test is not None:
        test_labels, test_mean = strand_means_of_predictions(test)
        metrics["model_test_split"] = {"predictions": str(test),
                                       **calibration_summary(test_labels, test_mean)}
        curves["model's test split"] = reliability_bins(test_labels, test_mean)
        t = metrics["model_test_split"]
        note = (f"Model's test split ({t['n']:,} introns, {t['prevalence']:.0%} retained): ECE "
                f"{t['ece']:.3f}, Brier {t['brier']:.3f}. " + note)
    metrics["note"] = note
    per = metrics["per_intron"]
    log.info(f"metrics of {len(labels):,} labelled sequences (mean of both strands): AUROC "
             f"{per['auroc']:.3f}, AUPRC {per['auprc']:.3f}, accuracy {per['accuracy']:.3f}; "
             f"ECE {metrics['calibration']['ece']:.3f}")
    path = folder / METRICS_FILE
    undo.write_text(path, json.dumps(metrics, indent=2) + "\n")
    figure = undo.created(folder / RELIABILITY_FIGURE)
    tmp = figure.with_name(f".{figure.stem}.tmp.png")
    plot_reliability(curves, tmp, title=f"Reliability of P(IR): {len(labels):,} labelled "
                                        f"sequences", note=note)
    os.replace(tmp, figure)
    return [path, figure]


def strand_means_of_predictions(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Labels and two-strand mean P(IR) of a run's predictions.csv: a row `h` and its reverse
    complement `h_r` become one intron (rows without a partner stay as they are)."""
    from ..runs import read_predictions

    frame = read_predictions(path)
    grouped = frame.assign(intron=sequence_keys(frame["header"])).groupby("intron", sort=False)
    return (grouped["label"].first().to_numpy(dtype=np.int64),
            grouped["probability"].mean().to_numpy())


def request_from_args(args) -> PredictRequest:
    """A `PredictRequest` from Predict.py's parsed flags."""
    fields_ = PredictRequest.__dataclass_fields__
    values = {name: getattr(args, name) for name in fields_ if hasattr(args, name)}
    return PredictRequest(**values)

