"""The study's results as one self-contained page: `report.html`.

The page is a list of sections (`src.report.sections`), each made by a small function
`collect(results_dir)` that finds its files in a results folder and returns a `SectionData`:
content blocks (`src.report.page`: tables, figures, facts, text) or, when the step that writes
those files did not run, a note that says so and which command makes them. `render_report` renders the sections with the Jinja2 template
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

import os
from datetime import datetime
from pathlib import Path
from typing import Callable, Sequence

from ..errors import InputError
from ..io import atomic_write
from .page import Figure, Group, Section, SectionData, Table
from .sections import REPORT_FILE, collect_sections


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
    atomic_write(out, lambda tmp: Path(tmp).write_text(html, encoding="utf-8"))
    return out
