"""The building blocks of the report page (`src.report.html`): content blocks (tables,
figures, facts, text, groups), number formatting, tables from data frames with sort keys, and
PNG figures embedded as data URIs, scaled and quantised to keep the page small."""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pandas as pd

from ..errors import InputError

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
class Group:
    """Blocks side by side (two tables, a grid of small figures), or folded away (`fold`)."""

    blocks: list
    columns: int = 2
    fold: str = ""
    kind: str = "group"


Block = Table | Figure | Facts | Text | Group


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

