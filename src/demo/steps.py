"""The demo's own steps around the study's (`Reproduce.py --config demo`): in front, they write the
synthetic data, the demo genome (introns and variants for Predict.py), a demo Sei and a tiny
DNABERT-2 stand-in to the paths the demo configs name; after, Predict.py scores the demo genome's
variants with the demo's ConvNet, and `predict_summary` shows the variant table beside the truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..pipeline.steps import Need, Step, file_need
from ..pipeline.study import MadeBy, Pipeline, load_study_configs, study_steps
from ..predict import workflow as predict
from ..runs import newest_evaluated_training_run
from . import data as demo_data
from . import dnabert2 as demo_dnabert2
from . import genome as demo_genome
from . import sei as demo_sei

# The model Predict.py runs on the demo genome: a sequence model, so that --explain draws per-base
# attributions of the strongest variants (docs/demo.md has its table and the other models' ranks).
PREDICT_MODEL = "ConvNet"
PREDICT_EXPLAIN = 3  # attribution figures of the strongest variant effects
GENOME_FOLDER = "genome"  # inside the demo data folder
PREDICT_FOLDER = "predict"  # beside the models' results folders


@dataclass
class DemoSizes:
    """Sizes of the demo's generated inputs (the tests make them tiny): the data (sequences,
    length, fraction retained) and the demo Sei's training sequences."""

    data: demo_data.DemoSettings = field(default_factory=demo_data.DemoSettings)
    demo_sei_sequences: int = 6000
    genome: demo_genome.DemoGenomeSettings = field(
        default_factory=demo_genome.DemoGenomeSettings)  # its window: the model's input length


def genome_folder(configs: dict) -> Path:
    """Where the demo genome goes: `genome/` in the demo data folder (`configs`: the demo's,
    `load_study_configs`)."""
    return Path(configs["FSei"].data_path) / GENOME_FOLDER


def predict_folder(configs: dict) -> Path:
    """Where Predict.py writes on the demo: `predict/` beside the models' results folders."""
    return Path(configs[PREDICT_MODEL].results_path).parent / PREDICT_FOLDER


def demo_input_steps(json_dir: str | Path, sizes: DemoSizes | None = None
                     ) -> tuple[list[Step], MadeBy]:
    """The steps that write the demo inputs, and which input each of them makes.

    Raises
    ------
    InputError
        The demo configs disagree on where the demo Sei is (FSei and Preprocess must name the
        same sei_path; target_names must be beside it).
    """
    j = Path(json_dir)
    sizes = sizes or DemoSizes()
    cfg = load_study_configs(j)
    fsei, pre, dnabert = cfg["FSei"], cfg["Preprocess"], cfg["DNABert2"]
    if Path(fsei.sei_path) != Path(pre.sei_path):
        raise InputError(f"{j / 'FSei.json'} loads the Sei trunk from {fsei.sei_path} but "
                         f"{j / 'Preprocess.json'} names {pre.sei_path}: the demo writes one "
                         f"demo Sei, so give both the same sei_path")
    sei_dir = Path(pre.sei_path).parent
    if Path(pre.target_names).parent != sei_dir:
        raise InputError(f"{j / 'Preprocess.json'}: the demo Sei's sei_path and target_names "
                         f"must be in one folder (the 'demo Sei' step writes both there)")
    data = Path(fsei.data_path)
    tiny = dnabert.model_name_or_path
    if cfg["DNABert2_original"].model_name_or_path != tiny:
        raise InputError(f"{j / 'DNABert2_original.json'} names the model "
                         f"{cfg['DNABert2_original'].model_name_or_path}, {j / 'DNABert2.json'} "
                         f"{tiny}: the demo writes one tiny DNABERT-2, so give both the same "
                         f"model_name_or_path")
    genome, g = genome_folder(cfg), sizes.genome
    steps = [
        Step("demo data", "Make_demo_data.py",
             ["--out", str(data), "-n", str(sizes.data.n_sequences), "--length",
              str(sizes.data.length), "--positive-fraction", str(sizes.data.positive_fraction)], [],
             lambda: str(data) if demo_data.is_complete(data) else None),
        Step("demo genome", "Make_demo_data.py",
             ["--genome", str(genome), "--window", str(cfg[PREDICT_MODEL].sequence_length),
              "--chromosome-length", str(g.chromosome_length), "--introns-per-chromosome",
              str(g.introns_per_chromosome), "--broken", str(g.n_broken), "--neutral",
              str(g.n_neutral), "--seed", str(g.seed)], [],
             lambda: str(genome) if demo_genome.is_complete(genome) else None),
        Step("demo Sei", "Preprocess_data_to_numpy.py",
             ["--json", str(j / "Preprocess.json"), "--make-demo-sei", str(sei_dir),
              "--demo-sei-sequences", str(sizes.demo_sei_sequences)], [],
             lambda: pre.sei_path if demo_sei.is_complete(sei_dir) else None),
        Step("tiny DNABERT-2", "DNABert2.py",
             ["--json", str(j / "DNABert2.json"), "--make-tiny-model", tiny],
             [file_need(data / demo_data.DATA_FILE, "the demo sequences",
                        "made by the 'demo data' step", "demo data")],
             lambda: tiny if demo_dnabert2.is_complete(tiny) else None),
    ]
    return steps, MadeBy(data="demo data", sei="demo Sei", dnabert2="tiny DNABERT-2")


def demo_final_steps(json_dir: str | Path) -> list[Step]:
    """After the study: Predict.py on the demo genome's introns and variants with the newest
    `PREDICT_MODEL` run (its variant table, and the figures of the strongest effects)."""
    cfg = load_study_configs(json_dir)
    results = cfg[PREDICT_MODEL].results_path
    genome, out = genome_folder(cfg), predict_folder(cfg)

    def model_run() -> Path:
        run = newest_evaluated_training_run(results)
        if run is None:
            raise InputError(f"no evaluated {PREDICT_MODEL} run in {results}: run the "
                             f"{PREDICT_MODEL} step first")
        return run

    def args() -> list[str]:
        return ["-m", str(model_run()), "--bed", str(genome / demo_genome.INTRONS_BED),
                "--genome", str(genome / demo_genome.GENOME_FASTA), "--vcf",
                str(genome / demo_genome.VARIANTS_VCF), "--explain", str(PREDICT_EXPLAIN),
                "--out", str(out), "--no-progress"]

    def resume() -> list[str] | None:
        interrupted = out.is_dir() and any(out.glob(f"*{predict.PARTIAL_SUFFIX}"))
        return [*args(), "--resume"] if interrupted else None

    def model_need() -> str | None:
        return None if newest_evaluated_training_run(results) else (
            f"no evaluated run in {results}: run the {PREDICT_MODEL} step first")

    return [Step("Predict", "Predict.py", args,
                 [Need(f"a {PREDICT_MODEL} run", model_need, made_by=PREDICT_MODEL),
                  file_need(genome / demo_genome.VARIANTS_TRUTH, "the demo genome",
                            "made by the 'demo genome' step", "demo genome")],
                 lambda: (str(out / predict.VARIANTS_FILE) if predict.is_complete(out)
                          else None), resume)]


def demo_study(json_dir: str | Path, seeds: int = 1, out: str | Path | None = None
               ) -> tuple[list[Step], Pipeline]:
    """Every step of `Reproduce.py --config demo` in order: the demo inputs, the study's steps
    (each trained model `seeds` times, `src.pipeline.seeds`), then Predict.py; and the study's
    `Pipeline` (its configs and comparison folder)."""
    from ..pipeline.seeds import with_seeds

    inputs, made_by = demo_input_steps(json_dir)
    pipeline = with_seeds(study_steps(json_dir, made_by=made_by, out=out), seeds)
    return inputs + pipeline.steps + demo_final_steps(json_dir), pipeline


def predict_summary(json_dir: str | Path, rows: int = 14) -> str:
    """The top of the demo's variant table beside the truth of the demo genome, and where the
    motif-breaking variants rank.

    Rows are ranked by log-odds delta: P(IR) near 0 or 1 squeezes `delta` (0.998 -> 0.996 is a
    delta of -0.002 but a log-odds delta of -0.63), the log-odds does not.
    """
    import pandas as pd

    cfg = load_study_configs(json_dir)
    out, genome = predict_folder(cfg), genome_folder(cfg)
    table_path = out / predict.VARIANTS_FILE
    truth_path = genome / demo_genome.VARIANTS_TRUTH
    if not (table_path.is_file() and truth_path.is_file()):
        return ""
    table = pd.read_csv(table_path, sep="\t", dtype={"pos": str}, keep_default_na=False)
    truth = pd.read_csv(truth_path, sep="\t", dtype=str, keep_default_na=False)
    effect = dict(zip(zip(truth["chrom"], truth["pos"], truth["alt"]),
                      truth["effect"] + truth["tf"].map(lambda tf: f" ({tf})" if tf else "")))
    table["truth"] = [effect.get(key, "") for key in zip(table["chrom"], table["pos"],
                                                        table["alt"])]
    breaks = table["truth"].str.startswith("breaks")
    lines = ["", f"Variant effects ({table_path}; truth from {truth_path.name}), most negative "
                 f"log-odds delta first:", ""]
    ranked = table.sort_values("log_odds_delta", kind="stable").reset_index(drop=True)
    shown = ranked.head(rows)[["chrom", "pos", "id", "ref", "alt", "intron_name", "ref_p_ir",
                               "alt_p_ir", "delta", "log_odds_delta", "truth"]]
    lines.append(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if breaks.any():
        for column in ("log_odds_delta", "delta"):
            order = table.sort_values(column, kind="stable").reset_index(drop=True)
            where = order.index[order["truth"].str.startswith("breaks")].to_numpy() + 1
            lines.append(f"by {column}, the {int(breaks.sum())} motif-breaking variant alleles "
                         f"rank {', '.join(map(str, where))} of {len(table)}")
        lines.insert(len(lines) - 2, "")
    figures = sorted((out / "explain").glob("*.png"))
    if figures:
        lines += ["", "Variant figures (the largest |delta|):", *(f"  {f}" for f in figures)]
    return "\n".join(lines)
