"""The sections of the report page (`src.report.html`): each `collect_<section>(results_dir)`
finds its files in a results folder (by the names their writers export) and returns a
`SectionData` of blocks (`src.report.page`), or, when the step that writes those files did not
run, a note that says so and the command that makes them (`COMMANDS`). `SECTIONS` is the page's
order; `collect_sections` runs them, turning unreadable files into an error section."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from ..data.sequences import DATA_FILE
from ..errors import InputError
from ..features.importance import IMPORTANCE_FILE as RUN_IMPORTANCE
from ..features.importance import IMPORTANCE_PLOT as IMPORTANCE_FIGURE
from ..interpret.attribute import BARS_FIGURE as TOP_TFS_FIGURE
from ..interpret.attribute import ENRICHMENT_FILE as ENRICHMENT_CSV
from ..interpret.attribute import INTRON_ENRICHMENT_FILE as ENRICHMENT_PER_INTRON_CSV
from ..interpret.attribute import LOGO_FIGURES as LOGO_FILES
from ..interpret.attribute import NSITES_FILE as NSITES_TXT
from ..interpret.denovo import DENOVO_DIR  # <run>/<IG>/denovo/
from ..interpret.denovo import PATTERNS_FIGURE as DENOVO_FIGURE
from ..interpret.denovo import PATTERNS_FILE as DENOVO_CSV
from ..interpret.denovo import SUMMARY_FILE as DENOVO_MD
from ..interpret.windows import SUMMARY_FILE as INTEGRATION_JSON
from ..predict.workflow import VARIANTS_FILE as VARIANTS_TSV
from ..runs import CONFIG_FILE as RUN_CONFIG
from ..runs import LOG_FILE as RUN_LOG
from ..runs import LOSS_FIGURE as RUN_LOSS_FIGURE
from ..runs import LOSS_FILE as RUN_LOSS_FILE
from ..runs import METRICS_FILE as RUN_METRICS
from ..runs import PREDICTIONS_FILE as RUN_PREDICTIONS
from .comparison import COMPARISON_DIR
from .comparison import FIGURE_FILE as COMPARISON_FIGURE
from .comparison import TABLE_FILE as COMPARISON_CSV
from .page import (
    P_SIGNIFICANT,
    Block,
    Cell,
    Col,
    Column,
    Facts,
    Group,
    Section,
    SectionData,
    Table,
    Text,
    _missing,
    _sortable,
    cell,
    embed_png,
    figure_or_note,
    fmt_bytes,
    fmt_int,
    fmt_number,
    fmt_p,
    fmt_percent,
    fmt_seconds,
    fmt_signed,
    frame_table,
    generic_table,
    guess_formatter,
    read_table,
)
from .record import RECORD_FILE
from .seeds import PAIRED_TESTS_FILE as PAIRED_TESTS_CSV
from .seeds import SEEDS_FIGURE_FILE as SEEDS_FIGURE
from .seeds import SEEDS_TABLE_FILE as SEEDS_CSV

# ---------------------------------------------------------------- file names the sections read
# (each imported from the module that writes the file; the rest come with their steps)
LOGO_FIGURES = ((LOGO_FILES["IR"], "IR"), (LOGO_FILES["non_IR"], "non-IR"))
REPORT_FILE = "report.html"

# ------------------------------------------------- commands that make a missing section's files
# ("{results}" is the results folder; an empty command: the step is not part of the pipeline yet)
COMMANDS = {
    "pipeline": "python Reproduce.py --config demo    # or --config paper",
    "compare": "python Reproduce.py --only Compare    # or: python Compare.py RUN ... --out "
               "{results}/comparison",
    "importance": "python Reproduce.py --only 'importance plot'    # or: python "
                  "Plot_importance.py --lr LR_RUN --lgbm LGBM_RUN --out "
                  "{results}/comparison/importance_top20.png",
    "attribute": "python Reproduce.py --only Attribute    # or: python Attribute.py -m "
                 "FSEI_RUN/best.pt -i -b",
    "per_intron": "python Attribute.py -m FSEI_RUN/best.pt -b -r IG    # rescans the saved "
                  "windows; writes both tables",
    "seeds": "python Reproduce.py --config demo --seeds 3    # make demo SEEDS=3; or: python "
             "Compare.py --group RUN_SEED1 RUN_SEED2 ... --group ... --out {results}/comparison",
    "denovo": "python Reproduce.py --only Attribute    # or: python Attribute.py -m "
              "FSEI_RUN/best.pt -s -r IG (on the maps that -i saved)",
    "variants": "python Predict.py ... --vcf VARIANTS.vcf    # output folder inside {results}",
    "training": "",
}


def _command(name: str, results_dir: Path) -> str:
    return COMMANDS.get(name, "").format(results=results_dir)


def missing(key: str, title: str, note: str, command: str = "") -> SectionData:
    """A section whose step did not run: `note` says what is missing, `command` what makes it."""
    return SectionData(key, title, status="missing", note=note, command=command)


# --------------------------------------------------------------------------- finding files


def find_file(results_dir: Path, name: str, preferred: Sequence[str | Path] = (),
              prefer: Callable[[Path], bool] | None = None) -> Path | None:
    """A file called `name`: in one of the `preferred` folders (relative to `results_dir`) if it
    is there, else the newest one anywhere below `results_dir` (those for which `prefer` is true
    first). None when there is none."""
    for folder in preferred:
        candidate = results_dir / folder / name
        if candidate.is_file():
            return candidate
    found = [p for p in results_dir.rglob(name) if p.is_file()]
    if not found:
        return None
    return max(found, key=lambda p: (bool(prefer and prefer(p)), p.stat().st_mtime))


@dataclass
class RunInfo:
    """A run folder as the report sees it (see `src.runs`)."""

    folder: Path
    label: str
    config: dict
    metrics: dict
    started: datetime | None
    ended: datetime | None
    device: str | None

    @property
    def seconds(self) -> float | None:
        if self.started and self.ended:
            return (self.ended - self.started).total_seconds()
        return None


_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ")
_DEVICE = re.compile(r"\bdevice (\S+?)[,;)]?$")


def read_run_log(path: Path) -> tuple[datetime | None, datetime | None, str | None]:
    """First and last time stamps of a run.log and the device it names (or Nones)."""
    if not path.is_file():
        return None, None, None
    first = last = None
    device = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _LOG_TIME.match(line)
        if match:
            stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
            first = first or stamp
            last = stamp
        found = _DEVICE.search(line)
        if found and device is None:
            device = found.group(1)
    return first, last, device


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}, line {err.lineno}: not valid JSON ({err.msg})") from None
    return value if isinstance(value, dict) else {}


# While `collect_sections` runs, the sections share what they find in the results folder
# (run folders, the attribution folder) instead of each searching the tree again.
_RENDER_MEMO: dict | None = None


def _shared_per_render(function):
    """`function(results_dir)` computed once per `collect_sections` call (every call outside)."""
    @functools.wraps(function)
    def shared(results_dir):
        if _RENDER_MEMO is None:
            return function(results_dir)
        key = (function.__name__, Path(results_dir))
        if key not in _RENDER_MEMO:
            _RENDER_MEMO[key] = function(results_dir)
        return _RENDER_MEMO[key]
    return shared


@_shared_per_render
def find_runs(results_dir: Path) -> list[RunInfo]:
    """Every model run folder below `results_dir` (a folder with config.json and a
    metrics.json, predictions.csv or loss.csv), ordered by model then time."""
    from ..runs import run_label

    runs = []
    for config in results_dir.rglob(RUN_CONFIG):
        folder = config.parent
        if not any((folder / name).is_file() for name in (RUN_METRICS, RUN_PREDICTIONS,
                                                           RUN_LOSS_FILE)):
            continue
        started, ended, device = read_run_log(folder / RUN_LOG)
        runs.append(RunInfo(folder, run_label(folder), _read_json(config),
                            _read_json(folder / RUN_METRICS), started, ended, device))
    return sorted(runs, key=lambda r: (r.label, str(r.folder)))


@_shared_per_render
def attribution_folder(results_dir: Path) -> Path | None:
    """The folder of the newest Attribute.py output (its enrichment.csv), the FSei run's first:
    the study explains FSei."""
    table = find_file(results_dir, ENRICHMENT_CSV, prefer=lambda p: "FSei" in p.parent.parent.name)
    return table.parent if table else None



# ------------------------------------------------------------------------------- sections


def collect_what_was_run(results_dir: Path) -> SectionData:
    """Commands, configs, inputs with checksums, versions, device and time per step: from
    pipeline_record.json, else from the run folders (config.json, run.log)."""
    from .record import latest_steps, read_record

    section = SectionData("run", "What was run")
    runs = find_runs(results_dir)
    record_path = results_dir / RECORD_FILE
    if record_path.is_file():
        record = read_record(record_path)
        section.sources.append(record_path)
        _record_blocks(section, record, latest_steps(record))
    elif not runs:
        return missing(section.key, section.title,
                       f"No run folder (a folder with {RUN_CONFIG} and {RUN_METRICS}) and no "
                       f"{RECORD_FILE} below {results_dir}: run the study first, or point the "
                       f"report at its results folder.", _command("pipeline", results_dir))
    else:
        section.blocks.append(Text(
            f"No {RECORD_FILE} in this folder (the runs were made one by one, not by "
            f"Reproduce.py): the steps, devices and times below are read from each run's "
            f"{RUN_CONFIG} and {RUN_LOG}; package versions were not recorded.", "note"))
        devices = sorted({r.device for r in runs if r.device})
        section.blocks.append(Facts([
            ("runs", f"{len(runs)} run folders"),
            ("device", ", ".join(devices) or "not named in the run logs"),
            ("first run started", _time(min((r.started for r in runs if r.started),
                                            default=None))),
            ("last run ended", _time(max((r.ended for r in runs if r.ended), default=None))),
        ]))
        inputs = _inputs_from_runs(runs)
        if inputs:
            section.blocks.append(_inputs_table(
                inputs, "Inputs named in the runs' configs; checksums computed now, when the "
                        "report was made (the files may have changed since the runs)."))
    if runs:
        section.blocks.append(_runs_table(runs, results_dir))
        section.lead = section.lead or (
            f"{len(runs)} model runs in {results_dir}.")
    return section


def _time(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return str(value)


def _record_blocks(section: SectionData, record: dict, steps: list[dict]) -> None:
    invocations = record.get("invocations", [])
    last = invocations[-1] if invocations else {}
    environment = last.get("environment", {})
    device = environment.get("device") or {}
    cpu = environment.get("cpu") or {}
    code = environment.get("code") or {}
    ran = [s for s in steps if s.get("status") in ("ran", "done") and s.get("seconds")]
    total = sum(float(s["seconds"]) for s in ran)
    section.lead = (f"{len(steps)} steps recorded over {len(invocations)} invocation(s) of the "
                    f"pipeline; the steps took {fmt_seconds(total)} in all.")
    facts = [("command", "; ".join(dict.fromkeys(i.get("command", "") for i in invocations))),
             ("last started", _time(last.get("started"))),
             ("last ended", f"{_time(last.get('ended'))} ({last.get('status', '?')})")]
    if device:
        name = device.get("name") or ""
        count = device.get("count") or 1
        extra = f", CUDA {device['cuda']}" if device.get("cuda") else ""
        facts.append(("device", f"{device.get('type', '?')}: {name}"
                                + (f" x {count}" if count > 1 else "") + extra))
    if cpu:
        facts.append(("CPU", f"{cpu.get('name', '?')}, {cpu.get('cores', '?')} cores"))
    facts.append(("Python", f"{environment.get('python', '?')} on "
                            f"{environment.get('platform', '?')}"))
    packages = environment.get("packages") or {}
    if packages:
        facts.append(("packages", ", ".join(f"{name} {version or '(not installed)'}"
                                            for name, version in packages.items())))
    if code.get("commit"):
        facts.append(("code", code["commit"][:12] + (" (with uncommitted changes)"
                                                      if code.get("dirty") else "")))
    section.blocks.append(Facts(facts))
    frame = pd.DataFrame([{
        "name": s.get("name"), "status": _status_text(s), "command": s.get("command") or "",
        "started": _time(s.get("started")) if s.get("started") else "",
        "seconds": s.get("seconds")} for s in steps])
    if not frame.empty:
        section.blocks.append(frame_table(frame, [
            Col("name", "step", css="nowrap"), Col("status", "status", css="nowrap"),
            Col("command", "command", title="as the pipeline ran it", css="seq"),
            Col("started", "started", css="nowrap"), Col("seconds", "time", fmt_seconds)],
            "Steps of the pipeline, in order: the newest state of each; a step found done shows "
            "the time of the run that made its outputs.", show=None,
            row_css=lambda r: "failed" if str(r["status"]).startswith(("failed", "interr"))
            else ""))
    inputs = last.get("inputs") or []
    if inputs:
        section.blocks.append(_inputs_table(inputs, "Inputs of the last invocation with their "
                                                    "SHA-256 checksums (sha256sum)."))


def _status_text(step: dict) -> str:
    status = step.get("status", "?")
    if status == "done":
        return "done earlier" if step.get("ran_in") else "done (outputs found)"
    return status


def _inputs_table(inputs: list[dict], caption: str) -> Table:
    frame = pd.DataFrame([{
        "role": e.get("role", ""), "path": e.get("path", ""),
        "size": e.get("bytes"), "sha256": e.get("sha256") or
        ("missing" if e.get("kind") == "missing" else e.get("note", "–"))} for e in inputs])
    return frame_table(frame, [Col("role", "role"), Col("path", "path"),
                               Col("size", "size", fmt_bytes, numeric=True),
                               Col("sha256", "SHA-256", css="seq")], caption, show=None)


def _inputs_from_runs(runs: list[RunInfo], max_bytes: int = 512 * 2**20) -> list[dict]:
    """Data files and weights named in the runs' configs, with checksums made now (files over
    `max_bytes` are not read)."""
    from .record import sha256_file

    named = {}
    for run in runs:
        config = run.config
        if config.get("data_path"):
            named.setdefault(str(Path(config["data_path"]) / DATA_FILE), "sequences")
        for key, role in (("sei_path", "Sei weights"), ("train_data", "features (train)")):
            if config.get(key):
                named.setdefault(str(config[key]), role)
    entries = []
    for path, role in named.items():
        file = Path(path)
        entry = {"path": path, "role": role, "bytes": None, "sha256": None, "kind": "missing"}
        if file.is_file():
            size = file.stat().st_size
            entry.update(bytes=size, kind="file",
                         sha256=sha256_file(file) if size <= max_bytes else None,
                         note="not computed (large file)")
        entries.append(entry)
    return entries


def _runs_table(runs: list[RunInfo], results_dir: Path) -> Table:
    frame = pd.DataFrame([{
        "model": r.label, "folder": str(r.folder), "device": r.device or "",
        "started": _time(r.started) if r.started else "", "seconds": r.seconds,
        "split": r.metrics.get("split", "") if r.metrics else "not evaluated",
        "n": r.metrics.get("n"), "seed": r.config.get("seed"),
        "config": str(r.folder / RUN_CONFIG)} for r in runs])
    table = frame_table(frame, [
        Col("model", "model"), Col("folder", "run folder", link=True),
        Col("seed", "seed", fmt_int, numeric=True), Col("device", "device"),
        Col("started", "started", css="nowrap"), Col("seconds", "time", fmt_seconds, numeric=True,
                                       title="first to last line of run.log"),
        Col("split", "evaluated"), Col("n", "n", fmt_int, numeric=True),
        Col("config", "settings", lambda v: RUN_CONFIG, link=True)],
        f"Run folders below {results_dir} (config.json, run.log, checkpoints, predictions).",
        show=None)
    for row in table.rows:  # show the folder relative to the results folder
        try:
            row[1].text = str(Path(row[1].text).relative_to(results_dir))
        except ValueError:
            pass
    return table


# ------------------------------------------------------------------------- performance


COMPARISON_COLUMNS = ("model", "auroc", "auprc_trapezoid")


def collect_comparison(results_dir: Path) -> SectionData:
    """comparison.csv (Compare.py): AUROC and AUPRC beside the published numbers."""
    key, title = "comparison", "Prediction of intron retention"
    path = find_file(results_dir, COMPARISON_CSV, [COMPARISON_DIR, "."])
    if path is None:
        return missing(key, title, f"No {COMPARISON_CSV} in {results_dir / COMPARISON_DIR}: "
                                   f"the models were not compared (Compare.py).",
                       _command("compare", results_dir))
    frame = read_table(path, COMPARISON_COLUMNS)
    for metric in ("auroc", "auprc_trapezoid"):
        published = f"published_{metric}"
        if published in frame.columns:
            frame[f"delta_{metric}"] = frame[metric] - frame[published]
    section = SectionData(key, title, sources=[path])
    best = frame.loc[frame["auroc"].idxmax()] if frame["auroc"].notna().any() else None
    n = frame["n"].dropna() if "n" in frame.columns else pd.Series(dtype=float)
    positives = frame["n_positive"].dropna() if "n_positive" in frame.columns else n.iloc[:0]
    lead = []
    if len(n) and n.nunique() == 1:
        lead.append(f"Test split of {fmt_int(n.iloc[0])} sequences"
                    + (f", {fmt_int(positives.iloc[0])} retained "
                       f"({fmt_percent(positives.iloc[0] / n.iloc[0])})"
                       if len(positives) else "") + ".")
    if best is not None:
        text = f"Highest AUROC: {best['model']}, {best['auroc']:.3f}"
        if not _missing(best.get("published_auroc")):
            text += f" (published {best['published_auroc']:.3f})"
        lead.append(text + ".")
    section.lead = " ".join(lead)
    data_paths = {r.config.get("data_path") for r in find_runs(results_dir)} - {None}
    demo = [p for p in data_paths if "demo" in Path(p).parts or "demo" in Path(p).name]
    if demo:
        section.blocks.append(Text(
            f"These runs read the synthetic demo data ({', '.join(sorted(demo))}): the numbers "
            f"test the pipeline and are not comparable with the published ones, which were "
            f"measured on the study's data.", "warning"))
    frame = frame.sort_values("auroc", ascending=False, kind="stable")
    section.blocks.append(frame_table(frame, [
        Col("model", "model"),
        Col("n", "n", fmt_int, "test sequences"),
        Col("n_positive", "IR", fmt_int, "retained (label 1)"),
        Col("accuracy", "accuracy", fmt_number, "at probability 0.5"),
        Col("auroc", "AUROC", fmt_number),
        Col("published_auroc", "published", fmt_number, "AUROC published by the study"),
        Col("delta_auroc", "Δ", fmt_signed, "AUROC minus the published AUROC"),
        Col("auprc_trapezoid", "AUPRC", fmt_number,
            "area under the precision-recall curve, trapezoid rule (as published)"),
        Col("published_auprc_trapezoid", "published", fmt_number, "AUPRC published by the study"),
        Col("delta_auprc_trapezoid", "Δ", fmt_signed, "AUPRC minus the published AUPRC"),
        Col("auprc", "AP", fmt_number, "average precision (step-wise AUPRC)"),
        Col("run", "run", lambda v: Path(str(v)).name, link=True)],
        "Test-split performance of each model, best AUROC first, beside the numbers published "
        "by Daoud and Ben-Hur (2025). AUPRC is the trapezoidal area the study reports; AP is "
        "the average precision.", show=None, source=path))
    return section


METRIC_LABELS = {"auroc": "AUROC", "auprc_trapezoid": "AUPRC", "auprc": "AP",
                 "accuracy": "accuracy"}


def _published_numbers(results_dir: Path) -> dict[str, dict[str, float]]:
    """{model: {"auroc": ..., "auprc_trapezoid": ...}} from comparison.csv's published columns
    (Compare.py puts the study's numbers there); {} without it."""
    path = find_file(results_dir, COMPARISON_CSV, [COMPARISON_DIR, "."])
    if path is None:
        return {}
    frame = read_table(path, ("model",))
    numbers = {}
    for _, row in frame.iterrows():
        numbers[str(row["model"])] = {
            metric: float(row[f"published_{metric}"]) for metric in ("auroc", "auprc_trapezoid")
            if f"published_{metric}" in frame.columns and not _missing(row[f"published_{metric}"])}
    return numbers


def collect_seeds(results_dir: Path) -> SectionData:
    """comparison_seeds.csv (mean, SD over seeds per model and metric) and paired_tests.csv."""
    key, title = "seeds", "Variation over seeds"
    path = find_file(results_dir, SEEDS_CSV, [COMPARISON_DIR, "."])
    if path is None:
        return missing(key, title, f"No {SEEDS_CSV}: one run per model, the study was not run "
                                   f"over several seeds (mean ± SD and paired tests appear here "
                                   f"when it is).", _command("seeds", results_dir))
    frame = read_table(path, ("model", "metric"))
    section = SectionData(key, title, sources=[path])
    if {"mean", "sd"} <= set(frame.columns):
        n_seeds = frame["n_seeds"].max() if "n_seeds" in frame.columns else None
        wide = frame.pivot_table(index="model", columns="metric", values=["mean", "sd"],
                                 aggfunc="first", sort=False)
        metrics = list(dict.fromkeys(frame["metric"]))
        published = _published_numbers(results_dir)
        columns = [Column("model")]
        for metric in metrics:
            columns.append(Column(METRIC_LABELS.get(metric, metric), "mean ± SD over seeds",
                                  True))
            if any(metric in numbers for numbers in published.values()):
                columns.append(Column("published", f"{metric} published by the study", True))
        rows = []
        for model in dict.fromkeys(frame["model"]):
            row = [Cell(str(model), str(model))]
            for metric in metrics:
                mean, sd = wide.loc[model, ("mean", metric)], wide.loc[model, ("sd", metric)]
                text = "–" if _missing(mean) else f"{mean:.3f} ± {fmt_number(sd)}"
                row.append(Cell(text, _sortable(mean)))
                if any(metric in numbers for numbers in published.values()):
                    row.append(cell(published.get(model, {}).get(metric), fmt_number))
            rows.append(row)
        section.blocks.append(Table(
            columns, rows,
            f"Mean ± standard deviation over {fmt_int(n_seeds) + ' ' if n_seeds else ''}seeds "
            f"(test split), beside the published numbers.", show=None, source=path))
        section.lead = (f"{frame['model'].nunique()} models, each trained with "
                        f"{fmt_int(n_seeds) if n_seeds else 'several'} seeds.")
    else:
        section.blocks.append(generic_table(frame, "Metrics over seeds.", source=path))
    per_seed = [c for c in frame.columns if str(c).startswith("seed_")]
    if per_seed:
        section.blocks.append(Group([generic_table(
            frame[["model", "metric", *per_seed]], "Each seed's value.", show=None,
            source=path)], columns=1, fold="Each seed's value"))
    band = path.parent / SEEDS_FIGURE
    if band.is_file():
        section.blocks.append(embed_png(band, "Mean ROC and precision-recall curves over seeds, "
                                              "with a band of ± one standard deviation."))
        section.sources.append(band)
    tests = find_file(results_dir, PAIRED_TESTS_CSV, [path.parent.relative_to(results_dir)])
    if tests is None:
        section.blocks.append(Text(f"No {PAIRED_TESTS_CSV}: the models were not compared seed "
                                   f"by seed.", "note"))
    else:
        section.sources.append(tests)
        section.blocks.append(generic_table(read_table(tests), "Paired tests between models "
                                            "over the same seeds.", source=tests))
    return section


def collect_curves(results_dir: Path) -> SectionData:
    """comparison.png (Compare.py): ROC and precision-recall curves."""
    key, title = "curves", "ROC and precision-recall curves"
    path = find_file(results_dir, COMPARISON_FIGURE, [COMPARISON_DIR, "."])
    if path is None:
        return missing(key, title, f"No {COMPARISON_FIGURE} in {results_dir / COMPARISON_DIR}: "
                                   f"the models were not compared (Compare.py).",
                       _command("compare", results_dir))
    return SectionData(key, title, blocks=[embed_png(
        path, "ROC (left) and precision-recall (right) curves of every model on the test split; "
              "AUROC and AUPRC (trapezoid) in the legends.", "ROC and precision-recall curves")],
        sources=[path])


def collect_importance(results_dir: Path) -> SectionData:
    """importance_top20.png/.csv (Plot_importance.py), else the top rows of the LR and LightGBM
    runs' importance.csv."""
    key, title = "importance", "Sei features that predict retention"
    figure = find_file(results_dir, IMPORTANCE_FIGURE, [COMPARISON_DIR, "."])
    table_path = figure.with_suffix(".csv") if figure else None
    section = SectionData(key, title)
    if figure is not None:
        section.sources.append(figure)
        section.blocks.append(embed_png(
            figure, "The largest logistic-regression weights (signed) and LightGBM importances, "
                    "each bar a Sei output (assay target, cell type).",
            "Top Sei features of LR and LightGBM"))
    if table_path is not None and table_path.is_file():
        frame = read_table(table_path, ("model", "rank", "value"))
        section.sources.append(table_path)
        tables = []
        for model, rows in frame.groupby("model", sort=False):
            tables.append(frame_table(rows, [
                Col("rank", "rank", fmt_int), Col("assay", "assay"),
                Col("cell_type", "cell type"),
                Col("value", "weight" if model == "LR" else "importance",
                    guess_formatter("value", rows["value"]))],
                f"{model}: top features.", show=10, source=table_path))
        section.blocks.append(Group(tables, columns=len(tables)))
        leaders = [f"{model}: " + ", ".join(list(dict.fromkeys(
                       rows.sort_values("rank")["assay"].astype(str)))[:5]) for model, rows in
                   frame.groupby("model", sort=False) if "assay" in rows]
        section.lead = "Top features by " + "; ".join(leaders) + "." if leaders else ""
        return section
    runs = [r for r in find_runs(results_dir) if (r.folder / RUN_IMPORTANCE).is_file()]
    if figure is None and not runs:
        return missing(key, title, f"Neither the bar plot of Plot_importance.py "
                                   f"({IMPORTANCE_FIGURE}) nor an LR or LightGBM run with "
                                   f"{RUN_IMPORTANCE} below {results_dir}.",
                       _command("importance", results_dir))
    for run in runs:
        path = run.folder / RUN_IMPORTANCE
        frame = read_table(path)
        section.sources.append(path)
        section.blocks.append(generic_table(frame.head(50), f"{run.label}: the top features "
                                            f"of {run.folder.name}.", show=10, source=path))
    return section


# ----------------------------------------------------------------------------- attribution


ENRICHMENT_REQUIRED = ("tf", "matrix_id", "ir_proportion", "non_ir_proportion", "difference")


def enrichment_tables(frame: pd.DataFrame, path: Path, unit: str = "windows") -> list[Block]:
    """Two tables: motifs enriched in IR and in non-IR `unit`, most enriched first."""
    def hits(kind: str) -> Callable:
        def text(row) -> tuple[str, object]:
            # enrichment.csv: ir_hits; enrichment_per_intron.csv: ir_introns_hit
            count = row.get(f"{kind}_hits", row.get(f"{kind}_{unit}_hit"))
            share = row[f"{kind}_proportion"]
            shown = fmt_percent(share)
            return (shown if _missing(count) else f"{fmt_int(count)} ({shown})"), share
        return text

    cols = [Col("rank", "rank", fmt_int), Col("tf", "TF"), Col("matrix_id", "motif"),
            Col("consensus", "consensus", css="seq"),
            Col("ir_proportion", f"IR {unit} hit", title=f"IR {unit} with a hit (share)",
                numeric=True, row_fmt=hits("ir")),
            Col("non_ir_proportion", f"non-IR {unit} hit", numeric=True,
                title=f"non-IR {unit} with a hit (share)", row_fmt=hits("non_ir")),
            Col("difference", "difference", fmt_signed, "IR minus non-IR proportion"),
            # per window a two-proportion z-test, per intron Fisher's exact test
            (Col("odds_ratio", "odds ratio", lambda v: fmt_number(v, 2)) if "odds_ratio" in frame
             else Col("z", "z", lambda v: fmt_signed(v, 2))),
            Col("p_value", "p", fmt_p),
            Col("p_bh", "BH", fmt_p, "Benjamini-Hochberg adjusted p-value")]

    def significant(row) -> str:
        p = row.get("p_bh", row.get("p_value"))
        return "significant" if not _missing(p) and float(p) < P_SIGNIFICANT else ""

    ir = frame[frame["difference"] > 0].sort_values("difference", ascending=False)
    non_ir = frame[frame["difference"] < 0].sort_values("difference")
    return [frame_table(ir, cols, f"Motifs enriched in IR {unit} ({len(ir)}), most enriched "
                                  f"first; bold: BH p < {P_SIGNIFICANT}.", source=path,
                        row_css=significant),
            frame_table(non_ir, cols, f"Motifs enriched in non-IR {unit} ({len(non_ir)}), most "
                                      f"enriched first; bold: BH p < {P_SIGNIFICANT}.",
                        source=path, row_css=significant)]


def enrichment_lead(frame: pd.DataFrame, unit: str) -> str:
    p = frame["p_bh"] if "p_bh" in frame.columns else frame.get("p_value")
    sig = (p < P_SIGNIFICANT) if p is not None else pd.Series(True, index=frame.index)
    parts = [f"{len(frame)} motifs tested"]
    for name, rows in (("IR", frame[(frame["difference"] > 0) & sig]
                        .sort_values("difference", ascending=False)),
                       ("non-IR", frame[(frame["difference"] < 0) & sig]
                        .sort_values("difference"))):
        top = ", ".join(dict.fromkeys(rows["tf"].astype(str).head(5)))
        parts.append(f"{len(rows)} enriched in IR {unit} at BH p < {P_SIGNIFICANT}"
                     if name == "IR" else f"{len(rows)} in non-IR {unit}")
        if top:
            parts[-1] += f" ({top}{', ...' if len(rows) > 5 else ''})"
    return "; ".join(parts) + "."


def collect_motifs(results_dir: Path) -> SectionData:
    """Attribute.py's window-level enrichment: integration.json, nsites.txt header,
    enrichment.csv, top_tfs.png and the logo sheets."""
    key, title = "motifs", "Motifs in attribution hot spots (window level)"
    folder = attribution_folder(results_dir)
    if folder is None:
        return missing(key, title, f"No {ENRICHMENT_CSV} below {results_dir}: no model was "
                                   f"explained (Attribute.py).", _command("attribute", results_dir))
    path = folder / ENRICHMENT_CSV
    frame = read_table(path, ENRICHMENT_REQUIRED)
    section = SectionData(key, title, sources=[path], lead=enrichment_lead(frame, "windows"))
    summary = _read_json(folder / INTEGRATION_JSON)
    facts = [("explained run", str(folder.parent))]
    counts = summary.get("counts") or {}
    for name in ("IR", "non-IR"):
        c = counts.get(name)
        if c:
            facts.append((f"{name} sequences", f"{fmt_int(c.get('considered'))} considered, "
                          f"{fmt_int(c.get('selected'))} predicted correctly, "
                          f"{fmt_int(c.get('with_hot_spots'))} with hot spots, "
                          f"{fmt_int(c.get('windows'))} windows"))
    if summary:
        section.sources.append(folder / INTEGRATION_JSON)
        facts.append(("Integrated Gradients", f"{summary.get('ig_steps', '?')} steps "
                      f"({summary.get('ig_method', '?')}); hot spot: attribution ≥ "
                      f"{summary.get('ig_threshold', '?')} × the sequence maximum; windows of "
                      f"{summary.get('window', '?')} bp; sequences predicted correctly with "
                      f"probability > {summary.get('prediction_threshold', '?')}"))
        delta = summary.get("convergence_delta") or {}
        if delta:
            facts.append(("convergence delta", f"median {delta.get('median_relative', 0):.1e}, "
                          f"95th percentile {delta.get('p95_relative', float('nan')):.1e} of the "
                          f"logit change"))
    nsites = folder / NSITES_TXT
    if nsites.is_file():
        section.sources.append(nsites)
        for line in nsites.read_text(encoding="utf-8", errors="replace").splitlines()[:20]:
            if line.startswith("Motifs:"):
                facts.append(("motifs and hits", line.removeprefix("Motifs:").strip()))
            if line.startswith("Background probabilities"):
                facts.append(("background (A C G T)", line.split(":", 1)[1].strip()))
    section.blocks.append(Facts(facts))
    section.blocks.extend(enrichment_tables(frame, path))
    section.blocks.append(figure_or_note(
        folder / TOP_TFS_FIGURE, "The most enriched motifs of each class: difference of the "
        "percentage of IR and non-IR hot-spot windows hit (* BH p < 0.05).",
        f"{TOP_TFS_FIGURE} not found in {folder}.", alt="Top enriched motifs"))
    for name, label in LOGO_FIGURES:
        section.blocks.append(figure_or_note(
            folder / name, f"The motifs most enriched in {label} hot spots: the JASPAR motif, "
            f"the hot-spot sites that hit it (bits) and their mean attribution on the observed "
            f"bases.", f"{name} not found in {folder}.", alt=f"Logos of {label}-enriched motifs"))
    return section


def collect_motifs_per_intron(results_dir: Path) -> SectionData:
    """enrichment_per_intron.csv: one count per intron (windows and strands collapsed)."""
    key, title = "motifs-intron", "Motifs per intron"
    folder = attribution_folder(results_dir)
    path = folder / ENRICHMENT_PER_INTRON_CSV if folder else None
    if path is None or not path.is_file():
        path = find_file(results_dir, ENRICHMENT_PER_INTRON_CSV)
    if path is None:
        return missing(key, title, f"No {ENRICHMENT_PER_INTRON_CSV} beside {ENRICHMENT_CSV}: "
                                   f"the motifs were not counted once per intron (windows and "
                                   f"strands collapsed).", _command("per_intron", results_dir))
    frame = read_table(path, ENRICHMENT_REQUIRED)
    section = SectionData(key, title, sources=[path], lead=enrichment_lead(frame, "introns"))
    section.blocks.append(Text("Each intron counts once (a hit in any of its windows, on either "
                               "strand), so an intron with many hot spots does not weigh more "
                               "than one with a single hot spot.", ""))
    section.blocks.extend(enrichment_tables(frame, path, unit="introns"))
    return section


def collect_denovo(results_dir: Path) -> SectionData:
    """IG/denovo/patterns.csv, patterns.png and denovo.md."""
    key, title = "denovo", "De novo patterns"
    folder = attribution_folder(results_dir)
    path = (folder / DENOVO_DIR / DENOVO_CSV) if folder else None
    if path is None or not path.is_file():
        path = find_file(results_dir, DENOVO_CSV, prefer=lambda p: p.parent.name == DENOVO_DIR)
    if path is None:
        return missing(key, title, f"No {DENOVO_DIR}/{DENOVO_CSV} in the attribution folder: "
                                   f"no de novo search on the attribution maps.",
                       _command("denovo", results_dir))
    frame = read_table(path)
    section = SectionData(key, title, sources=[path],
                          lead=f"{len(frame)} patterns found in the attribution maps.")
    section.blocks.append(generic_table(frame, "Patterns and their best JASPAR matches.",
                                        source=path))
    figure = path.parent / DENOVO_FIGURE
    if figure.is_file():
        section.sources.append(figure)
        section.blocks.append(embed_png(figure, "The de novo patterns (contribution logos) and "
                                                "their JASPAR matches.", "De novo patterns"))
    if (path.parent / DENOVO_MD).is_file():
        section.sources.append(path.parent / DENOVO_MD)
    return section


def collect_variants(results_dir: Path) -> SectionData:
    """variant_effects.tsv (Predict.py with a VCF): largest |delta P(IR)| first."""
    key, title = "variants", "Variant effects"
    path = find_file(results_dir, VARIANTS_TSV)
    if path is None:
        return missing(key, title, f"No {VARIANTS_TSV} below {results_dir}: no variants were "
                                   f"scored (Predict.py with a VCF).",
                       _command("variants", results_dir))
    frame = read_table(path, ("delta",))
    frame = frame.reindex(frame["delta"].abs().sort_values(ascending=False).index)
    section = SectionData(key, title, sources=[path])
    if len(frame):
        top = frame.iloc[0]
        where = (f"{top['chrom']}:{top['pos']} {top['ref']}>{top['alt']}"
                 if {"chrom", "pos", "ref", "alt"} <= set(frame.columns) else "the first")
        section.lead = (f"{len(frame)} variants scored; the largest change of P(IR) is "
                        f"{top['delta']:+.3f} ({where}"
                        + (f", {top['intron']}" if "intron" in frame.columns else "") + ").")
    labels = {"ref_p_ir": "P(IR) ref", "alt_p_ir": "P(IR) alt", "delta": "Δ P(IR)",
              "log_odds_delta": "Δ log-odds", "pos": "position"}
    section.blocks.append(generic_table(
        frame, "Variants by the size of their effect on P(IR) (alt − ref).", source=path,
        labels=labels, formats={"pos": lambda v: "–" if _missing(v) else str(int(v)),
                                "delta": fmt_signed, "log_odds_delta": fmt_signed}))
    return section


def collect_training(results_dir: Path) -> SectionData:
    """Each run's loss.png (training and validation loss per epoch)."""
    key, title = "training", "Training curves"
    runs = [r for r in find_runs(results_dir) if (r.folder / RUN_LOSS_FIGURE).is_file()]
    if not runs:
        return missing(key, title, f"No run folder with {RUN_LOSS_FIGURE} below {results_dir}: "
                                   f"no model was trained here.", _command("training", results_dir))
    figures = [embed_png(r.folder / RUN_LOSS_FIGURE, f"{r.label} ({r.folder.name})",
                         f"Loss curves of {r.label}", max_width=800, max_bytes=40_000,
                         display_scale=0.75)
               for r in runs]
    return SectionData(key, title, lead=f"Training and validation loss per epoch of "
                                        f"{len(runs)} runs.",
                       blocks=[Group(figures, columns=2, fold=f"Loss curves of {len(runs)} runs")],
                       sources=[r.folder / RUN_LOSS_FIGURE for r in runs])


SECTIONS: list[Section] = [
    Section("run", "What was run", collect_what_was_run),
    Section("comparison", "Prediction of intron retention", collect_comparison),
    Section("seeds", "Variation over seeds", collect_seeds),
    Section("curves", "ROC and precision-recall curves", collect_curves),
    Section("importance", "Sei features that predict retention", collect_importance),
    Section("motifs", "Motifs in attribution hot spots (window level)", collect_motifs),
    Section("motifs-intron", "Motifs per intron", collect_motifs_per_intron),
    Section("denovo", "De novo patterns", collect_denovo),
    Section("variants", "Variant effects", collect_variants),
    Section("training", "Training curves", collect_training),
]

# Problems a section reports on the page instead of stopping the report: unreadable or
# malformed files. Anything else is a bug and propagates.
SECTION_ERRORS = (InputError, OSError, ValueError, KeyError)


def collect_sections(results_dir: str | Path, sections: Sequence[Section] = None,
                     warn: Callable[[str], None] | None = None) -> list[SectionData]:
    """Run every section's `collect`; a section whose files cannot be read becomes an "error"
    section with the reason (and `warn` is called with it)."""
    global _RENDER_MEMO
    results_dir = Path(results_dir)
    collected = []
    _RENDER_MEMO = {}
    try:
        for section in SECTIONS if sections is None else sections:
            try:
                data = section.collect(results_dir)
            except SECTION_ERRORS as err:
                message = (str(err) if isinstance(err, InputError)
                           else f"{type(err).__name__}: {err}")
                if warn:
                    warn(f"report section {section.title!r}: {message}")
                data = SectionData(section.key, section.title, status="error",
                                   note=f"Its files could not be read: {message}")
            data.key, data.title = section.key, data.title or section.title
            collected.append(data)
    finally:
        _RENDER_MEMO = None
    return collected

