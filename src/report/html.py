"""The study's results as one self-contained page: `report.html`.

The page is a list of sections, each made by a small function `collect(results_dir)` that finds
its files in a results folder and returns a `SectionData`: content blocks (tables, figures,
facts, text) or, when the step that writes those files did not run, a note that says so and
which command makes them. `render_report` renders the sections with the Jinja2 template
`templates/report.html.j2` (autoescaped): figures are embedded as PNG data URIs, tables carry
sort keys for the page's small script (click a column header to sort; long tables show their
top rows and a button for the rest), and nothing is fetched from the network.

    write_report("results/demo")                  # -> results/demo/report.html
    write_report("results", out="paper.html")

A results folder is what `Reproduce.py` writes (`results/` or `results/demo/`): run folders
`<Model>_<time>/` below it, `comparison/`, the explained run's `IG/`, and
`pipeline_record.json`; any folder holding some of these works, the rest is reported missing.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pandas as pd

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
from ..runs import METRICS_FILE as RUN_METRICS
from ..runs import PREDICTIONS_FILE as RUN_PREDICTIONS
from .comparison import COMPARISON_DIR
from .comparison import FIGURE_FILE as COMPARISON_FIGURE
from .comparison import TABLE_FILE as COMPARISON_CSV
from .record import RECORD_FILE
from .seeds import PAIRED_TESTS_FILE as PAIRED_TESTS_CSV
from .seeds import SEEDS_FIGURE_FILE as SEEDS_FIGURE
from .seeds import SEEDS_TABLE_FILE as SEEDS_CSV

# ---------------------------------------------------------------- file names the sections read
# (each imported from the module that writes the file; the rest come with their steps)
LOGO_FIGURES = ((LOGO_FILES["IR"], "IR"), (LOGO_FILES["non_IR"], "non-IR"))
IMPORTANCE_CSV = str(Path(IMPORTANCE_FIGURE).with_suffix(".csv"))  # beside the figure
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

# Page size: figures wider than this are scaled down (pixels), and one larger than
# MAX_IMAGE_BYTES after that is reduced to 256 colours (matplotlib figures lose nothing visible).
MAX_IMAGE_WIDTH = 1800
MAX_IMAGE_BYTES = 350_000
TOP_ROWS = 12
P_SIGNIFICANT = 0.05


# ----------------------------------------------------------------------------- page content


@dataclass
class Column:
    """A table column: its heading, a tooltip, whether it holds numbers (right-aligned), and a
    CSS class for its cells ("seq": sequences, checksums and commands in monospace)."""

    label: str
    title: str = ""
    numeric: bool = False
    css: str = ""


@dataclass
class Cell:
    """A table cell: the text shown, the value it sorts by (number or text), an optional link
    (a local path) and CSS class."""

    text: str
    sort: float | str | None = None
    href: Path | None = None
    css: str = ""


@dataclass
class Table:
    """A sortable table; rows past `show` are collapsed behind a button (None: all shown)."""

    columns: list[Column]
    rows: list[list[Cell]]
    caption: str = ""
    show: int | None = TOP_ROWS
    source: Path | None = None
    row_css: list[str] = field(default_factory=list)
    number: int | None = None
    kind: str = "table"


@dataclass
class Figure:
    """An embedded PNG: `src` is a data URI; `width` its display width in CSS pixels."""

    src: str
    width: int
    height: int
    alt: str
    caption: str = ""
    source: Path | None = None
    number: int | None = None
    kind: str = "figure"


@dataclass
class Facts:
    """Label / value pairs (a definition list)."""

    items: list[tuple[str, str]]
    kind: str = "facts"


@dataclass
class Text:
    """A paragraph of plain text; `css` "note" for a remark, "warning" for a caution."""

    text: str
    css: str = ""
    kind: str = "text"


@dataclass
class Code:
    """Preformatted text (commands, a file's header)."""

    text: str
    caption: str = ""
    kind: str = "code"


@dataclass
class Group:
    """Blocks side by side (two tables, a grid of small figures), or folded away (`fold`)."""

    blocks: list
    columns: int = 2
    fold: str = ""
    kind: str = "group"


Block = Table | Figure | Facts | Text | Code | Group


@dataclass
class SectionData:
    """What a section shows.

    status : "ok" (content), "missing" (the step did not run: `note` says why and what to run)
        or "error" (its files could not be read: `note` says which and why)
    lead : one or two sentences that state the result, shown under the heading
    sources : the files the section read (linked at its end)
    command : with "missing", the command that makes the section's files
    """

    key: str
    title: str
    status: str = "ok"
    lead: str = ""
    blocks: list = field(default_factory=list)
    note: str = ""
    sources: list[Path] = field(default_factory=list)
    command: str = ""


@dataclass
class Section:
    """A section of the page: its anchor, heading and the function that collects it."""

    key: str
    title: str
    collect: Callable[[Path], SectionData]


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


def find_runs(results_dir: Path) -> list[RunInfo]:
    """Every model run folder below `results_dir` (a folder with config.json and a
    metrics.json, predictions.csv or loss.csv), ordered by model then time."""
    from ..runs import run_label

    runs = []
    for config in results_dir.rglob(RUN_CONFIG):
        folder = config.parent
        if not any((folder / name).is_file() for name in (RUN_METRICS, RUN_PREDICTIONS,
                                                           "loss.csv")):
            continue
        started, ended, device = read_run_log(folder / RUN_LOG)
        runs.append(RunInfo(folder, run_label(folder), _read_json(config),
                            _read_json(folder / RUN_METRICS), started, ended, device))
    return sorted(runs, key=lambda r: (r.label, str(r.folder)))


def attribution_folder(results_dir: Path) -> Path | None:
    """The folder of the newest Attribute.py output (its enrichment.csv), the FSei run's first:
    the study explains FSei."""
    table = find_file(results_dir, ENRICHMENT_CSV, prefer=lambda p: "FSei" in p.parent.parent.name)
    return table.parent if table else None


# ------------------------------------------------------------------------------ formatting


def fmt_number(value, digits: int = 3) -> str:
    return "–" if _missing(value) else f"{float(value):.{digits}f}"


def fmt_signed(value, digits: int = 3) -> str:
    return "–" if _missing(value) else f"{float(value):+.{digits}f}"


def fmt_int(value) -> str:
    return "–" if _missing(value) else f"{int(round(float(value))):,}"


def fmt_percent(value, digits: int = 1) -> str:
    return "–" if _missing(value) else f"{100 * float(value):.{digits}f}%"


def fmt_p(value) -> str:
    """A p-value: 3 decimals down to 0.001, then scientific with two digits."""
    if _missing(value):
        return "–"
    value = float(value)
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def fmt_seconds(seconds) -> str:
    if _missing(seconds):
        return "–"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def fmt_bytes(size) -> str:
    if _missing(size):
        return "–"
    size = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return value == ""


def _sortable(value):
    """The sort key of a value: a float for numbers, else the text; missing values sort last."""
    if _missing(value):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def cell(value, formatter: Callable | None = None, href: Path | None = None,
         css: str = "") -> Cell:
    """A cell showing `formatter(value)` (or the value as text) and sorting by the value."""
    text = formatter(value) if formatter else ("–" if _missing(value) else str(value))
    return Cell(text, _sortable(value), href, css)


@dataclass
class Col:
    """How a DataFrame column becomes a table column (see `frame_table`); `row_fmt(row)`, when
    given, makes (text, sort value) from the whole row (a cell that shows two columns)."""

    name: str
    label: str
    fmt: Callable | None = None
    title: str = ""
    numeric: bool | None = None
    link: bool = False
    row_fmt: Callable[[pd.Series], tuple[str, object]] | None = None
    css: str = ""


def frame_table(frame: pd.DataFrame, cols: Sequence[Col], caption: str = "",
                show: int | None = TOP_ROWS, source: Path | None = None,
                row_css: Callable[[pd.Series], str] | None = None) -> Table:
    """A `Table` from the rows of `frame`, with the columns `cols` (absent ones left out)."""
    cols = [c for c in cols if c.name in frame.columns]
    columns = [Column(c.label, c.title, c.numeric if c.numeric is not None else
                      pd.api.types.is_numeric_dtype(frame[c.name]), c.css) for c in cols]
    rows, css = [], []
    for _, row in frame.iterrows():
        cells = []
        for c in cols:
            if c.row_fmt:
                text, sort = c.row_fmt(row)
                cells.append(Cell(text, _sortable(sort)))
            else:
                cells.append(cell(row[c.name], c.fmt, Path(str(row[c.name])) if c.link and not
                                  _missing(row[c.name]) else None))
        rows.append(cells)
        css.append(row_css(row) if row_css else "")
    return Table(columns, rows, caption, show if show and len(rows) > show + 2 else None, source,
                 css)


def guess_formatter(name: str, series: pd.Series) -> Callable | None:
    """A formatter for a column of a table whose format this module does not fix: p-values,
    integers, other numbers; None for text."""
    lower = name.lower()
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return None
    if lower in ("p", "q") or lower.startswith(("p_", "q_", "pval", "qval", "p-", "q-")) \
            or lower.endswith(("_p", "p_value", "pvalue", "q_value", "qvalue", "_fdr", "_bh")):
        return fmt_p
    values = series.dropna()
    if pd.api.types.is_integer_dtype(series) or (len(values) and (values % 1 == 0).all()
                                                 and values.abs().max() >= 10):
        return fmt_int
    return fmt_number


def generic_table(frame: pd.DataFrame, caption: str = "", show: int | None = TOP_ROWS,
                  source: Path | None = None, labels: dict | None = None,
                  formats: dict | None = None) -> Table:
    """Every column of `frame`, formatted by `guess_formatter` (or `formats[name]`)."""
    labels, formats = labels or {}, formats or {}
    cols = [Col(name, labels.get(name, str(name).replace("_", " ")),
                formats.get(name, guess_formatter(str(name), frame[name])))
            for name in frame.columns]
    return frame_table(frame, cols, caption, show, source)


def read_table(path: Path, required: Iterable[str] = (), sep: str | None = None) -> pd.DataFrame:
    """Read a CSV (TSV for .tsv) written by the project, checking the columns it must have.

    Raises
    ------
    InputError
        The file is empty, not a table, or lacks a required column (named, with the file).
    """
    sep = sep or ("\t" if path.suffix == ".tsv" else ",")
    try:
        frame = pd.read_csv(path, sep=sep)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty: run the step that writes it again") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"{path} is not a readable table ({err})") from None
    absent = [c for c in required if c not in frame.columns]
    if absent:
        raise InputError(f"{path} lacks the column(s) {', '.join(absent)} (it has "
                         f"{', '.join(map(str, frame.columns))}): it is not the file this section "
                         f"reads, or it was written by an older version; run its step again")
    return frame


# --------------------------------------------------------------------------------- figures


def embed_png(path: Path, caption: str = "", alt: str = "", max_width: int = MAX_IMAGE_WIDTH,
              max_bytes: int = MAX_IMAGE_BYTES, display_scale: float = 1.0) -> Figure:
    """A PNG as a `Figure` with a data URI, scaled down to `max_width` pixels and, when still
    larger than `max_bytes`, reduced to 256 colours.

    The display width is the figure's size as drawn (pixels x 96 / dpi, from the PNG's pHYs
    chunk; 2 pixels per CSS pixel when it has none) times `display_scale`; the page's CSS
    caps it at the column width.

    Raises
    ------
    InputError
        The file is not an image Pillow can read.
    """
    from PIL import Image, UnidentifiedImageError

    data = path.read_bytes()
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as err:
        raise InputError(f"{path} is not a readable image ({err}); draw the figure again") from None
    dpi = image.info.get("dpi", (192, 192))[0] or 192
    display = image.width * 96 / float(dpi)
    changed = image.format != "PNG"
    if image.width > max_width:
        height = round(image.height * max_width / image.width)
        image = image.resize((max_width, height), Image.LANCZOS)
        changed = True
    if changed:
        data = _png_bytes(image)
    if len(data) > max_bytes:
        rgb = image.convert("RGB")
        data = _png_bytes(rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=0))
    width = min(round(display * display_scale), image.width)
    height = round(width * image.height / image.width)
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return Figure(uri, width, height, alt or caption or path.name, caption, path)


def _png_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def figure_or_note(path: Path | None, caption: str, missing_note: str, **kwargs) -> Block:
    """The figure at `path`, or a note that it is missing."""
    if path is None or not path.is_file():
        return Text(missing_note, "note")
    return embed_png(path, caption, **kwargs)


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
            named.setdefault(str(Path(config["data_path"]) / "final_data.csv"), "sequences")
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
    tests = find_file(results_dir, PAIRED_TESTS_CSV, [path.parent.relative_to(results_dir)
                                                       if path.parent != results_dir else "."])
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
    results_dir = Path(results_dir)
    collected = []
    for section in SECTIONS if sections is None else sections:
        try:
            data = section.collect(results_dir)
        except SECTION_ERRORS as err:
            message = str(err) if isinstance(err, InputError) else f"{type(err).__name__}: {err}"
            if warn:
                warn(f"report section {section.title!r}: {message}")
            data = SectionData(section.key, section.title, status="error",
                               note=f"Its files could not be read: {message}")
        data.key, data.title = section.key, data.title or section.title
        collected.append(data)
    return collected


# ------------------------------------------------------------------------------- rendering


def _number_blocks(sections: list[SectionData]) -> None:
    """Figure 1, 2, ... and Table 1, 2, ... in page order."""
    counters = {"figure": 0, "table": 0}

    def visit(block):
        if isinstance(block, Group):
            for inner in block.blocks:
                visit(inner)
        elif isinstance(block, (Figure, Table)):
            counters[block.kind] += 1
            block.number = counters[block.kind]

    for section in sections:
        for block in section.blocks:
            visit(block)


def _environment(out_dir: Path):
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True)

    def relative(path) -> str:
        path = Path(path)
        try:
            text = os.path.relpath(path.resolve(), out_dir.resolve())
        except ValueError:  # another drive (Windows)
            text = str(path.resolve())
        return Path(text).as_posix()

    def sort_key(value) -> str:
        return "" if value is None else (f"{value:.9g}" if isinstance(value, float)
                                         else str(value))

    env.filters["relative"] = relative
    env.filters["sort_key"] = sort_key
    return env


def render_report(results_dir: str | Path, out: str | Path | None = None,
                  title: str | None = None, sections: Sequence[Section] = None,
                  warn: Callable[[str], None] | None = None) -> str:
    """The HTML of the report of `results_dir` (links relative to `out`'s folder)."""
    results_dir = Path(results_dir)
    out = Path(out) if out else results_dir / REPORT_FILE
    collected = collect_sections(results_dir, sections, warn)
    _number_blocks(collected)
    template = _environment(out.parent).get_template("report.html.j2")
    return template.render(
        title=title or "Intron retention from chromatin state: results",
        results_dir=str(results_dir), generated=datetime.now().strftime("%Y-%m-%d %H:%M"),
        sections=collected, counts={status: sum(s.status == status for s in collected)
                                    for status in ("ok", "missing", "error")})


def write_report(results_dir: str | Path, out: str | Path | None = None,
                 title: str | None = None, warn: Callable[[str], None] | None = None) -> Path:
    """Write the report of `results_dir` to `out` (default `<results_dir>/report.html`).

    Raises
    ------
    InputError
        `results_dir` is not a folder.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise InputError(f"{results_dir} is not a folder: give the results folder of a study "
                         f"run (e.g. results/demo after `make demo`)")
    out = Path(out) if out else results_dir / REPORT_FILE
    html = render_report(results_dir, out, title, warn=warn)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out
