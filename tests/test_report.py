"""report.html: sections from a results folder, the run record, and the page in a real browser.

The results folders here are written by the tests (tiny CSVs, small matplotlib PNGs) in the
formats the project's scripts write. The browser test needs a Chromium (`/usr/bin/chromium`,
`chromium-browser`, `google-chrome`, or $CHROMIUM) and is skipped without one; with
REPORT_SCREENSHOT=path it also saves its full-page screenshot there.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import Report
from src.errors import InputError
from src.report import html as report_html
from src.report import page as report_page
from src.report import record as rec
from src.report import sections as report_sections
from src.report.browser import find_chromium, inspect_page

SECTION_KEYS = [s.key for s in report_sections.SECTIONS]
ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- the fixtures


def png(path: Path, width_in: float = 3.0, height_in: float = 2.0, dpi: int = 60,
        label: str = "") -> Path:
    """A small matplotlib PNG (as the project's figures are made)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width_in, height_in))
    ax.plot([0, 1, 2], [0, 1, 0.5], label=label or path.stem)
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def write_run(folder: Path, config: dict, metrics: dict | None, seconds: int = 75,
              device: str = "cpu", seed: int = 0) -> Path:
    """A run folder as src.runs writes it: config.json, run.log, predictions, metrics, loss."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"seed": seed, **config}, indent=2))
    minutes, secs = divmod(seconds, 60)
    (folder / "run.log").write_text(
        f"2025-01-01 12:00:00 training: 1,000 trainable parameters, device {device}\n"
        f"2025-01-01 12:{minutes:02d}:{secs:02d} outputs in {folder}\n")
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 40)
    pd.DataFrame({"header": [f"s{i}" for i in range(40)], "label": labels,
                  "probability": rng.random(40)}).to_csv(folder / "predictions.csv", index=False)
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps({"split": "test", "n": 40, **metrics}))
    png(folder / "loss.png", 6.4, 4.0, 40)
    return folder


def enrichment_frame(n: int = 30, seed: int = 0, names=None) -> pd.DataFrame:
    """An enrichment.csv as Attribute.py writes it (ranked by difference)."""
    rng = np.random.default_rng(seed)
    ir, non = rng.random(n) * 0.5, rng.random(n) * 0.5
    frame = pd.DataFrame({
        "tf": names or [f"TF{i}" for i in range(n)],
        "matrix_id": [f"MA{i:04d}.1" for i in range(n)],
        "consensus": ["ACGTAC"] * n, "width": 6, "ir_hits": (ir * 100).astype(int),
        "non_ir_hits": (non * 400).astype(int), "ir_windows": 100, "non_ir_windows": 400,
        "ir_proportion": ir, "non_ir_proportion": non, "difference": ir - non,
        "z": (ir - non) * 10, "p_value": rng.random(n) ** 4, "p_bonferroni": 1.0,
        "p_bh": rng.random(n) ** 3})
    frame["enriched_in"] = np.where(frame["difference"] > 0, "IR", "non-IR")
    frame = frame.sort_values("difference", ascending=False).reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, n + 1))
    return frame


def intron_enrichment_frame(n: int = 30, seed: int = 1) -> pd.DataFrame:
    """An enrichment_per_intron.csv as Attribute.py writes it (`INTRON_COLUMNS`)."""
    from src.interpret.enrichment import INTRON_COLUMNS

    frame = enrichment_frame(n, seed).rename(columns={
        "ir_hits": "ir_introns_hit", "non_ir_hits": "non_ir_introns_hit",
        "ir_windows": "ir_introns", "non_ir_windows": "non_ir_introns"})
    frame["odds_ratio"] = np.exp(frame.pop("z") / 5)
    assert set(frame.columns) == set(INTRON_COLUMNS)
    return frame[list(INTRON_COLUMNS)]


COMPARISON = pd.DataFrame({
    "model": ["LR (TF)", "FSei", "Basset"], "n": 40, "n_positive": 9,
    "accuracy": [0.8, 0.85, 0.75], "auroc": [0.81, 0.86, 0.70],
    "auprc": [0.6, 0.7, 0.5], "auprc_trapezoid": [0.61, 0.69, 0.52],
    "published_auroc": [0.807, 0.815, 0.795], "published_auprc_trapezoid": [0.636, 0.654, 0.614]})


def make_results(root: Path, full: bool = True, record: bool = True) -> Path:
    """A results folder like `make demo` leaves (full: also the sections still to come)."""
    results = root / "results" / "demo"
    fsei = write_run(results / "FSei" / "FSei_20250101-120000",
                     {"data_path": "data/demo", "results_path": "results/demo/FSei"},
                     {"auroc": 0.86}, seconds=125, seed=100)
    write_run(results / "LR" / "TF" / "LR_20250101-120500",
              {"feature_set": "TF", "data_path": "data/demo"}, {"auroc": 0.81}, seconds=20)
    write_run(results / "Basset" / "Basset_20250101-121000", {"data_path": "data/demo"}, None,
              seconds=30)  # trained, not evaluated
    comparison = results / "comparison"
    comparison.mkdir(parents=True)
    COMPARISON.assign(run=[str(results / "LR/TF/LR_20250101-120500"), str(fsei),
                           str(results / "Basset/Basset_20250101-121000")]).to_csv(
        comparison / "comparison.csv", index=False)
    png(comparison / "comparison.png", 11, 4.8, 100)
    png(comparison / "importance_top20.png", 13, 6, 50)
    rows = [{"model": model, "rank": r + 1, "assay": f"{model}_A{r}", "cell_type": "HepG2",
             "name": f"HepG2 | A{r}", "value": (20 - r) * (1.0 if model == "LGBM" else -0.05)}
            for model in ("LR", "LGBM") for r in range(20)]
    pd.DataFrame(rows).to_csv(comparison / "importance_top20.csv", index=False)
    ig = fsei / "IG"
    ig.mkdir()
    enrichment_frame(30, names=["<script>alert(1)</script>"] + [f"TF{i}" for i in range(1, 30)]
                     ).to_csv(ig / "enrichment.csv", index=False)
    (ig / "integration.json").write_text(json.dumps({
        "counts": {"IR": {"considered": 90, "selected": 50, "with_hot_spots": 48, "windows": 100},
                   "non-IR": {"considered": 310, "selected": 200, "with_hot_spots": 190,
                              "windows": 400}},
        "window": 32, "ig_threshold": 0.7, "prediction_threshold": 0.7, "ig_steps": 10,
        "ig_method": "gausslegendre", "convergence_delta": {"median_relative": 1e-3,
                                                            "p95_relative": 1e-2}}))
    (ig / "nsites.txt").write_text("Model: x\nBackground probabilities (A C G T): 0.25 0.25 0.25 "
                                   "0.25\nMotifs: 30 from jaspar2024; hit: per-site p-value <= "
                                   "0.0001, either strand; pseudocount 0.1\n\nrank TF\n")
    png(ig / "top_tfs.png", 7, 5, 60)
    png(ig / "logos_IR.png", 13, 8, 50)
    png(ig / "logos_non_IR.png", 13, 8, 50)
    if full:
        intron_enrichment_frame(30, seed=1).to_csv(ig / "enrichment_per_intron.csv", index=False)
        seeds = pd.DataFrame([{"model": m, "metric": metric, "mean": mean, "sd": 0.01,
                               "n_seeds": 3, "seed_1": mean - 0.01, "seed_2": mean,
                               "seed_3": mean + 0.01}
                              for m, mean in (("FSei", 0.85), ("LR (TF)", 0.80))
                              for metric in ("auroc", "auprc_trapezoid")])
        seeds.to_csv(comparison / "comparison_seeds.csv", index=False)
        pd.DataFrame({"metric": ["auroc"], "model_a": ["FSei"], "model_b": ["LR (TF)"],
                      "mean_difference": [0.05], "statistic": [4.2], "p_value": [0.012],
                      "n_pairs": [3]}).to_csv(comparison / "paired_tests.csv", index=False)
        denovo = ig / "denovo"
        denovo.mkdir()
        pd.DataFrame({"pattern": ["pos_0", "neg_0"], "n_seqlets": [41, 17],
                      "best_match": ["REST", "HNF4A"], "q_value": [1e-6, 0.03]}).to_csv(
            denovo / "patterns.csv", index=False)
        png(denovo / "patterns.png", 8, 4, 60)
        (denovo / "denovo.md").write_text("# patterns\n")
        variants = results / "variants"
        variants.mkdir()
        pd.DataFrame({"chrom": ["chr1", "chr2", "chr3"], "pos": [12345, 2000000, 77],
                      "ref": ["A", "C", "G"], "alt": ["G", "T", "A"],
                      "intron": ["GENE1_i2", "GENE2_i1", "GENE3_i5"],
                      "ref_p_ir": [0.2, 0.5, 0.7], "alt_p_ir": [0.25, 0.1, 0.71],
                      "delta": [0.05, -0.4, 0.01], "log_odds_delta": [0.29, -2.2, 0.05]}).to_csv(
            variants / "variant_effects.tsv", sep="\t", index=False)
    if record:
        data = root / "data" / "final_data.csv"
        data.parent.mkdir(parents=True)
        data.write_text("header,sequence,label\ns0,ACGT,1\n")
        writer = rec.RecordWriter.start(results / rec.RECORD_FILE,
                                        ["Reproduce.py", "--config", "demo"],
                                        inputs={"sequences": data}, environment={
                                            "python": "3.12.0", "platform": "Linux",
                                            "packages": {"torch": "2.13.0", "captum": None},
                                            "device": {"type": "cpu", "name": "Test CPU",
                                                       "count": 1}})
        with writer.step("FSei", ["FSei.py", "--json", "json/demo/FSei.json", "-n", "-t"]) as s:
            s.outputs = str(fsei / "predictions.csv")
        writer.skipped("LR TF", outputs="results/demo/LR/TF")
        writer.finish()
    return results


@pytest.fixture(scope="module")
def full_results(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("full"))


@pytest.fixture(scope="module")
def full_page(full_results) -> tuple[Path, str]:
    out = report_html.write_report(full_results)
    return out, out.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- HTML helpers


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Page(HTMLParser):
    """Parses the page, checking that every element is closed in order, and keeps what the
    tests look at: sections, images, links, table rows."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors = [], []
        self.sections, self.images, self.urls, self.scripts = [], [], [], []
        self.tables: list[dict] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "section":
            self.sections.append({"id": attrs.get("id"), "status": attrs.get("data-status"),
                                  "text": ""})
        if tag == "img":
            self.images.append(attrs)
        for name in ("src", "href", "action"):
            if attrs.get(name):
                self.urls.append(attrs[name])
        if tag == "table":
            self.tables.append({"attrs": attrs, "rows": [], "section": self.sections[-1]["id"]
                                if self.sections else None})
        if tag == "tr" and self.tables:
            self.tables[-1]["rows"].append({"class": attrs.get("class", ""), "cells": []})
        if tag == "td" and self.tables:
            self.tables[-1]["rows"][-1]["cells"].append({"sort": attrs.get("data-sort"),
                                                         "text": ""})
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)
        if self.sections and "section" in self.stack:
            self.sections[-1]["text"] += data
        if self.tables and "td" in self.stack and self.tables[-1]["rows"]:
            cells = self.tables[-1]["rows"][-1]["cells"]
            if cells:
                cells[-1]["text"] += data


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def section_tables(page: Page, key: str) -> list[dict]:
    return [t for t in page.tables if t["section"] == key]


def column(table: dict, index: int, field: str = "text") -> list[str]:
    """The texts (or sort values: data-sort, else the text) of a table column."""
    values = []
    for row in table["rows"]:
        if row["cells"]:
            cell = row["cells"][index]
            value = cell["sort"] if field == "sort" and cell["sort"] is not None else cell["text"]
            values.append(value.strip())
    return values


# ------------------------------------------------------------------------------ the report


def test_every_section_present_in_order_and_valid(full_page):
    out, html = full_page
    page = parse(html)
    assert page.errors == [] and page.stack == []
    assert [s["id"] for s in page.sections] == SECTION_KEYS
    assert {s["status"] for s in page.sections} == {"ok"}, [
        (s["id"], s["text"][:200]) for s in page.sections if s["status"] != "ok"]
    assert "Did not run" not in html
    assert html.count("<h2>") == len(SECTION_KEYS)


def test_self_contained_no_external_urls(full_page):
    out, html = full_page
    page = parse(html)
    external = [u for u in page.urls if re.match(r"^[a-z][a-z0-9+.-]*:", u, re.I)
                and not u.startswith("data:image/png;base64,")]
    assert external == []
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert "@import" not in html and "url(" not in html
    assert "default-src 'none'" in html  # the page may not fetch anything
    # local links (run folders, source files) are relative to the page and exist
    local = [u for u in page.urls if not u.startswith(("data:", "#"))]
    assert local and all((out.parent / u).exists() for u in local), local
    anchors = {u[1:] for u in page.urls if u.startswith("#")}
    assert anchors == set(SECTION_KEYS)


def test_images_embedded_and_decodable(full_results, full_page):
    from PIL import Image

    out, html = full_page
    page = parse(html)
    expected = [full_results / "comparison" / "comparison.png",
                full_results / "comparison" / "importance_top20.png"]
    ig = full_results / "FSei" / "FSei_20250101-120000" / "IG"
    expected += [ig / "top_tfs.png", ig / "logos_IR.png", ig / "logos_non_IR.png",
                 ig / "denovo" / "patterns.png"]
    loss = sorted(full_results.rglob("loss.png"))
    assert len(page.images) == len(expected) + len(loss)
    sources = {Image.open(p).size for p in expected + loss}
    for attrs in page.images:
        assert attrs["src"].startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(attrs["src"].split(",", 1)[1])))
        image.load()
        assert image.size in sources  # small figures are embedded as drawn
        assert int(attrs["width"]) > 0 and attrs["alt"]
    # the display width is the figure's drawn size: 11 in at 96 px/in
    comparison = next(a for a in page.images if a["alt"] == "ROC and precision-recall curves")
    assert int(comparison["width"]) == pytest.approx(11 * 96, abs=2)


def test_size_bound(full_page):
    out, html = full_page
    assert out.stat().st_size < 3_000_000
    assert len(html.encode()) == out.stat().st_size


def test_comparison_beside_published_numbers(full_page):
    page = parse(full_page[1])
    table = section_tables(page, "comparison")[0]
    models = column(table, 0)
    expected = COMPARISON.sort_values("auroc", ascending=False)
    assert models == expected["model"].tolist()  # best AUROC first
    # the columns: model n IR accuracy AUROC published delta AUPRC published delta AP run
    auroc, published, delta = (column(table, i, "sort") for i in (4, 5, 6))
    for row, (_, want) in enumerate(expected.iterrows()):
        assert float(auroc[row]) == pytest.approx(want["auroc"])
        assert float(published[row]) == pytest.approx(want["published_auroc"])
        assert float(delta[row]) == pytest.approx(want["auroc"] - want["published_auroc"])
    assert column(table, 6)[0] == f"{0.86 - 0.815:+.3f}"
    text = next(s["text"] for s in page.sections if s["id"] == "comparison")
    assert "Highest AUROC: FSei, 0.860 (published 0.815)" in text
    assert "synthetic demo data" in text  # data_path data/demo


def test_motif_tables_split_by_class_and_collapsed(full_results, full_page):
    page = parse(full_page[1])
    ir_table, non_table = section_tables(page, "motifs")
    frame = pd.read_csv(full_results / "FSei/FSei_20250101-120000/IG/enrichment.csv")
    ir = frame[frame["difference"] > 0].sort_values("difference", ascending=False)
    non = frame[frame["difference"] < 0].sort_values("difference")
    assert column(ir_table, 2) == ir["matrix_id"].tolist()
    assert column(non_table, 2) == non["matrix_id"].tolist()
    for table, rows in ((ir_table, ir), (non_table, non)):
        body = [r for r in table["rows"] if r["cells"]]
        bold = ["significant" in r["class"] for r in body]
        assert bold == (rows["p_bh"] < 0.05).tolist()
        hidden = ["extra" in r["class"] for r in body]
        show = report_page.TOP_ROWS
        if len(body) > show + 2:
            assert hidden == [i >= show for i in range(len(body))]
            assert "collapsed" in table["attrs"]["class"]
            assert int(table["attrs"]["data-show"]) == show
        else:
            assert not any(hidden)
    # the counts of integration.json and the hit rule of nsites.txt are stated
    text = next(s["text"] for s in page.sections if s["id"] == "motifs")
    assert "90 considered, 50 predicted correctly, 48 with hot spots, 100 windows" in text
    assert "per-site p-value <= 0.0001" in text


def test_values_are_escaped(full_page):
    html = full_page[1]
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert len(parse(html).scripts) == 1  # the page's own script only


def test_sections_to_come_render_their_files(full_page):
    page = parse(full_page[1])
    text = {s["id"]: s["text"] for s in page.sections}
    seeds = section_tables(page, "seeds")[0]
    assert column(seeds, 0) == ["FSei", "LR (TF)"]
    assert column(seeds, 1)[0] == "0.850 ± 0.010"
    assert column(seeds, 2) == ["0.815", "0.807"]  # published AUROC, from comparison.csv
    assert column(seeds, 4) == ["0.654", "0.636"]  # published AUPRC
    assert "2 models, each trained with 3 seeds" in text["seeds"]
    tests = section_tables(page, "seeds")[-1]
    assert column(tests, 5) == ["0.012"]  # p_value formatted as a p-value
    variants = section_tables(page, "variants")[0]
    assert column(variants, 4) == ["GENE2_i1", "GENE1_i2", "GENE3_i5"]  # by |delta|
    assert column(variants, 1) == ["2000000", "12345", "77"]
    assert "largest change of P(IR) is -0.400 (chr2:2000000 C>T, GENE2_i1)" in text["variants"]
    assert "REST" in text["denovo"] and "2 patterns" in text["denovo"]
    assert "each intron counts once" in text["motifs-intron"].lower()
    assert "odds ratio" in text["motifs-intron"] and "IR introns hit" in text["motifs-intron"]


def test_missing_steps_say_so(tmp_path):
    results = make_results(tmp_path, full=False, record=False)
    shutil.rmtree(results / "comparison")
    shutil.rmtree(results / "FSei/FSei_20250101-120000/IG")
    page = parse(report_html.render_report(results))
    status = {s["id"]: s for s in page.sections}
    assert [s["id"] for s in page.sections] == SECTION_KEYS
    for key in ("comparison", "seeds", "curves", "motifs", "motifs-intron", "denovo",
                "variants"):
        assert status[key]["status"] == "missing", key
        assert "Did not run." in status[key]["text"]
    assert "python Reproduce.py --only Compare" in status["comparison"]["text"]
    assert "python Reproduce.py --only Attribute" in status["motifs"]["text"]
    # no record: the runs tell what was run; times from run.log, device from its first line
    assert status["run"]["status"] == "ok"
    assert "No pipeline_record.json" in status["run"]["text"]
    runs = section_tables(page, "run")[-1]
    assert column(runs, 0) == ["Basset", "FSei", "LR (TF)"]
    assert column(runs, 5) == ["30 s", "2.1 min", "20 s"]
    assert column(runs, 6) == ["not evaluated", "test", "test"]
    assert set(column(runs, 3)) == {"cpu"}
    # importance falls back to nothing here (no LR importance.csv, no bar plot): missing
    assert status["importance"]["status"] == "missing"


def test_empty_folder(tmp_path):
    page = parse(report_html.render_report(tmp_path))
    assert [s["id"] for s in page.sections] == SECTION_KEYS
    assert {s["status"] for s in page.sections} == {"missing"}


def test_unreadable_file_is_reported_not_fatal(tmp_path):
    results = make_results(tmp_path, full=False)
    (results / "comparison" / "comparison.csv").write_text("model,whatever\nFSei,1\n")
    (results / "comparison" / "comparison.png").write_bytes(b"not a png")
    warnings = []
    page = parse(report_html.render_report(results, warn=warnings.append))
    status = {s["id"]: s for s in page.sections}
    assert status["comparison"]["status"] == "error"
    assert "lacks the column(s) auroc, auprc_trapezoid" in status["comparison"]["text"]
    assert "comparison.csv" in status["comparison"]["text"]
    assert status["curves"]["status"] == "error"
    assert "not a readable image" in status["curves"]["text"]
    assert status["motifs"]["status"] == "ok"
    assert len(warnings) == 2


def test_embed_png_downscales_large_figures(tmp_path):
    from PIL import Image

    path = png(tmp_path / "wide.png", 20, 6, 200)  # 4000 x 1200 pixels
    figure = report_page.embed_png(path, "wide")
    image = Image.open(io.BytesIO(base64.b64decode(figure.src.split(",", 1)[1])))
    assert image.size == (report_page.MAX_IMAGE_WIDTH, 540)
    # drawn 20 in wide: 1920 CSS pixels, capped at the pixels kept (the page caps it again)
    assert figure.width == report_page.MAX_IMAGE_WIDTH
    assert len(base64.b64decode(figure.src.split(",", 1)[1])) <= report_page.MAX_IMAGE_BYTES
    with pytest.raises(InputError, match="not a readable image"):
        (tmp_path / "bad.png").write_text("x")
        report_page.embed_png(tmp_path / "bad.png")


def test_formatters():
    assert report_page.fmt_p(0.0123) == "0.012" and report_page.fmt_p(1.2e-7) == "1.2e-07"
    assert report_page.fmt_p(float("nan")) == "–"
    assert report_page.fmt_seconds(5) == "5.0 s" and report_page.fmt_seconds(150) == "2.5 min"
    assert report_page.fmt_seconds(9000) == "2.5 h"
    assert report_page.fmt_percent(0.1234) == "12.3%"
    assert report_page.fmt_bytes(2048) == "2.0 KB"


# ------------------------------------------------------------------------------ the record


def test_checksums_match_hashlib_and_sha256sum_listing(tmp_path):
    data = os.urandom(3_000_000)  # more than one read of 1 MiB
    (tmp_path / "a.bin").write_bytes(data)
    assert rec.sha256_file(tmp_path / "a.bin") == hashlib.sha256(data).hexdigest()
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "w.bin").write_bytes(b"\x00\x01")
    (folder / ".cache").mkdir()
    (folder / ".cache" / "x").write_text("ignored")
    listing = "".join(f"{hashlib.sha256(content).hexdigest()}  {name}\n" for name, content in
                      sorted([("config.json", b"{}"), ("sub/w.bin", b"\x00\x01")]))
    checksum, count, size = rec.sha256_folder(folder)
    assert checksum == hashlib.sha256(listing.encode()).hexdigest()
    assert (count, size) == (2, 4)
    if shutil.which("sha256sum"):
        made = subprocess.run("find . -type f -not -path './.*' | sed 's|^\\./||' | sort | "
                              "xargs sha256sum", shell=True, cwd=folder, capture_output=True,
                              text=True, check=True).stdout
        assert made == listing


def test_describe_inputs_reuses_unchanged_checksums(tmp_path, monkeypatch):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    first = rec.describe_inputs({"sequences": tmp_path / "x.csv",
                                 "config": [tmp_path / "missing.json"]})
    assert first[0]["sha256"] == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert first[1] == {"path": str(tmp_path / "missing.json"), "role": "config",
                        "kind": "missing", "bytes": None, "sha256": None}
    monkeypatch.setattr(rec, "sha256_file", lambda path: pytest.fail("read again"))
    again = rec.describe_inputs({"sequences": tmp_path / "x.csv"}, previous=first)
    assert again[0]["sha256"] == first[0]["sha256"]


def test_record_steps_and_latest_state(tmp_path):
    path = tmp_path / "results" / rec.RECORD_FILE
    env = {"python": "3", "packages": {}}
    writer = rec.RecordWriter.start(path, "Reproduce.py --config demo", environment=env)
    with writer.step("FSei", ["FSei.py", "--json", "a b.json"]) as step:
        step.outputs = "run/predictions.csv"
    with pytest.raises(RuntimeError):
        with writer.step("LGBM", ["LGBM.py"]):
            raise RuntimeError("boom")
    (tmp_path / "made.csv").write_text("x\n")  # made by a step of the run
    writer.finish("failed", inputs={"sequences": tmp_path / "made.csv"})
    second = rec.RecordWriter.start(path, "Reproduce.py --config demo", environment=env)
    second.skipped("FSei", outputs="run/predictions.csv")
    with second.step("LGBM", ["LGBM.py"]):
        pass
    second.finish()
    record = rec.read_record(path)
    assert [i["id"] for i in record["invocations"]] == [1, 2]
    assert [i["status"] for i in record["invocations"]] == ["failed", "finished"]
    assert record["invocations"][0]["inputs"][0]["sha256"] == hashlib.sha256(b"x\n").hexdigest()
    assert record["invocations"][1]["inputs"] == []
    assert [(s["name"], s["status"], s["invocation"]) for s in record["steps"]] == [
        ("FSei", "ran", 1), ("LGBM", "failed", 1), ("FSei", "done", 2), ("LGBM", "ran", 2)]
    assert record["steps"][0]["command"] == "FSei.py --json 'a b.json'"
    latest = rec.latest_steps(record)
    assert [(s["name"], s["status"], s["ran_in"]) for s in latest] == [
        ("FSei", "done", 1), ("LGBM", "ran", 2)]
    assert latest[0]["seconds"] == record["steps"][0]["seconds"]  # the time of the real run
    assert latest[0]["command"] == "FSei.py --json 'a b.json'"
    with pytest.raises(ValueError, match="step status"):
        rec.append_step(path, "x", "x.py", "finished")


def test_read_record_errors(tmp_path):
    bad = tmp_path / rec.RECORD_FILE
    bad.write_text('{"format": "pipeline-record/1",\n "steps": [}')
    with pytest.raises(InputError, match=r"pipeline_record.json, line 2: not valid JSON"):
        rec.read_record(bad)
    bad.write_text('{"format": "other"}')
    with pytest.raises(InputError, match="is not a pipeline record"):
        rec.read_record(bad)


def test_environment_names_versions_and_device():
    import numpy

    environment = rec.describe_environment(packages=("numpy", "no-such-package-xyz"))
    assert environment["packages"] == {"numpy": numpy.__version__, "no-such-package-xyz": None}
    assert environment["device"]["type"] in ("cpu", "cuda", "mps")
    assert environment["python"] == ".".join(map(str, sys.version_info[:3]))


def test_what_was_run_from_the_record(full_results, full_page):
    page = parse(full_page[1])
    text = next(s["text"] for s in page.sections if s["id"] == "run")
    assert "Reproduce.py --config demo" in text
    assert "torch 2.13.0" in text and "captum (not installed)" in text
    assert "cpu: Test CPU" in text
    steps, inputs = section_tables(page, "run")[:2]
    assert column(steps, 0) == ["FSei", "LR TF"]
    assert column(steps, 1) == ["ran", "done (outputs found)"]
    assert column(steps, 2)[0] == "FSei.py --json json/demo/FSei.json -n -t"
    data = full_results.parents[1] / "data" / "final_data.csv"
    assert column(inputs, 3) == [hashlib.sha256(data.read_bytes()).hexdigest()]


# --------------------------------------------------------------------------------- scripts


def test_report_script(full_results, tmp_path, capsys):
    out = tmp_path / "elsewhere" / "page.html"
    with pytest.raises(SystemExit) as stop:
        Report.main([str(full_results), "--out", str(out), "--title", "Run <3>"])
        raise SystemExit(0)
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"report: {out}"
    html = out.read_text()
    assert "<title>Run &lt;3&gt;</title>" in html
    page = parse(html)
    local = [u for u in page.urls if not u.startswith(("data:", "#"))]
    assert local and all((out.parent / u).exists() for u in local)  # relative to --out
    with pytest.raises(SystemExit) as stop:
        Report.main([str(tmp_path / "nowhere")])
    assert stop.value.code == 2
    assert "is not a folder" in capsys.readouterr().err


# --------------------------------------------------------------------------------- browser

CHROMIUM = find_chromium()

CLICKS = """
(() => {
  const section = document.getElementById("comparison");
  const table = section.querySelector("table.data");
  const heads = Array.from(table.tHead.rows[0].cells);
  const auroc = heads.find((th) => th.textContent.trim() === "AUROC");
  const models = () => Array.from(table.tBodies[0].rows).map((r) => r.cells[0].textContent.trim());
  auroc.querySelector("button").click();
  const ascending = models();
  auroc.querySelector("button").click();
  const descending = models();
  const motifs = document.getElementById("motifs").querySelector("table.data");
  const visible = () => Array.from(motifs.tBodies[0].rows)
    .filter((r) => r.offsetParent !== null).length;
  const before = visible();
  motifs.closest("figure").querySelector("button.toggle").click();
  const after = visible();
  return {ascending, descending, before, after, total: motifs.tBodies[0].rows.length,
          sort: auroc.getAttribute("aria-sort")};
})()
"""


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install chromium, or set "
                                             "CHROMIUM to a Chromium/Chrome executable)")
def test_report_in_a_real_browser(full_page, tmp_path):
    out, html = full_page
    shot = tmp_path / "report.png"
    check = inspect_page(out, screenshot=shot, executable=CHROMIUM, script=CLICKS)
    assert [s["id"] for s in check.sections] == SECTION_KEYS
    headings = [s["heading"] for s in check.sections]
    assert headings == [f"{i} {s.title}" for i, s in enumerate(report_sections.SECTIONS, 1)]
    assert all(s["visible"] for s in check.sections)
    assert check.images and all(i["decoded"] and i["natural_width"] > 0 for i in check.images)
    assert len(check.images) == html.count("<img ")
    assert check.requests == [] and check.errors == []
    clicks = check.extra
    assert clicks["ascending"] == ["Basset", "LR (TF)", "FSei"]
    assert clicks["descending"] == ["FSei", "LR (TF)", "Basset"]
    assert clicks["sort"] == "descending"
    assert clicks["before"] == report_page.TOP_ROWS < clicks["total"] == clicks["after"]
    from PIL import Image

    with Image.open(shot) as image:
        assert image.width == 1280 and image.height >= check.height > 2000  # clicks grew it
    wanted = os.environ.get("REPORT_SCREENSHOT")
    if wanted:
        Path(wanted).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, wanted)


def test_code_version(tmp_path):
    assert rec.code_version(tmp_path) == {}  # not a git checkout
    if shutil.which("git") and (ROOT / ".git").exists():
        version = rec.code_version(ROOT)
        assert re.fullmatch(r"[0-9a-f]{40}", version["commit"])
        assert isinstance(version["dirty"], bool)


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install chromium, or set "
                                             "CHROMIUM to a Chromium/Chrome executable)")
def test_screenshot_helper_cuts_at_a_section(full_page, tmp_path, capsys):
    from PIL import Image

    from src.report import browser

    shot = tmp_path / "top.png"
    browser.main([str(full_page[0]), "--screenshot", str(shot), "--until", "importance",
                  "--width", "1000"])
    printed = capsys.readouterr().out
    assert "10 sections" in printed and f"screenshot: {shot}" in printed
    assert "problem" not in printed
    with Image.open(shot) as image:
        width, height = image.size
    assert width == 1000 and 1000 < height < 6000
    with pytest.raises(browser.BrowserError, match="no element with id 'nowhere'"):
        browser.inspect_page(full_page[0], tmp_path / "x.png", until="nowhere")


def test_a_browser_that_does_not_start_is_an_error(tmp_path):
    from src.report import browser

    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 3\n")
    fake.chmod(0o755)
    profiles = Path(browser.tempfile.gettempdir()).glob
    before = set(profiles("report-chromium-*"))
    with pytest.raises(browser.BrowserError, match="exit status 3.*cannot open display"):
        with browser.Chromium(str(fake), timeout=20):
            pass
    assert set(profiles("report-chromium-*")) <= before  # its profile folder is removed


def test_find_chromium_honours_the_environment(tmp_path, monkeypatch):
    from src.report import browser

    fake = tmp_path / "my-chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CHROMIUM", str(fake))
    assert browser.find_chromium() == str(fake)
    monkeypatch.setenv("CHROMIUM", str(tmp_path / "absent"))
    assert browser.find_chromium() is None
