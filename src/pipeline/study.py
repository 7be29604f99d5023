"""The study end to end: one list of steps, used by `make paper` and `make demo` (Reproduce.py).

Each step is one of the project's scripts with its flags, the inputs it needs and a "done" test
that asks the module owning its outputs (`src.pipeline.steps`). Paths come from the JSON configs
themselves (`data_path`, `results_path`, `sei_path`, ...), so editing a config moves the step's
inputs and outputs with it. An interrupted training run is continued with `--resume`, and
Preprocess_data_to_numpy.py keeps the splits it finished.

    FSei, Preprocess, LR (ALL, TF, HM), LGBM (+ bar plot), Basset, ConvNet, DNABERT-2,
    DNABERT-2 (original load), Attribute (on FSei), Compare

For the demo, `src.demo.steps` puts the steps that write the demo inputs in front.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import (
    AttributeConfig,
    BassetConfig,
    ConvNetConfig,
    DNABert2Config,
    FSeiConfig,
    LGBMConfig,
    LRConfig,
    PreprocessConfig,
    load_config,
)
from ..data.sequences import DATA_FILE
from ..data.splits import split_paths
from ..errors import InputError
from ..features import files as feature_files
from ..features.importance import IMPORTANCE_FILE, IMPORTANCE_PLOT
from ..interpret import attribute, denovo, maps, windows
from ..interpret.motifs import JASPAR_RELEASE_PATTERN
from ..models.huggingface import download_hint, model_folder_problem
from ..report import comparison
from ..runs import (
    BEST_CHECKPOINT,
    PREDICTIONS_FILE,
    interrupted_run,
    newer_than,
    newest_evaluated_training_run,
)
from .steps import Need, Step, file_need

DATA_HINT = ("the study's data (75,992 sequences and the three split files) come with the "
             "publication (doi 10.1371/journal.pcbi.1012755, data availability statement); see "
             "README, 'Data'")
SEI_HINT = ("download sei.pth from Zenodo record 4906996 (`wget https://zenodo.org/record/4906997"
            "/files/sei_model.tar.gz && tar -xzf sei_model.tar.gz`, then move model/sei.pth); "
            "see README, 'Sei weights and target names'")
SPLITS_HINT = ("the study's fixed split files come with its data (see README, 'Data'); without "
               "them the scripts would draw new splits and the numbers would not be the paper's")
NAMES_HINT = ("save model/target.names of https://github.com/FunctionLab/sei-framework (21,907 "
              "lines); see README, 'Sei weights and target names'")
MOTIFS_HINT = ("the study's motif database is data/jaspar.meme.txt of the original repository "
               "(GitHub Addaoud/IntronRetention, the data/ folder that also holds the study's "
               "data): copy it there, or set \"database\": \"jaspar2024\" in Attribute.json; "
               "see README, 'Data'")


@dataclass
class MadeBy:
    """Steps that write the study's outside inputs (the demo's), by input; None: the user
    brings them (the paper), and the study's fixed split files are then required too."""

    data: str | None = None
    sei: str | None = None
    dnabert2: str | None = None


@dataclass
class Pipeline:
    """The steps, and the folder of the comparison figure, tables and importance bar plot."""

    steps: list[Step]
    out: Path
    configs: dict = field(default_factory=dict)


# The steps that train a model -> the key of their config in `Pipeline.configs`, in the order of
# the comparison (Compare's runs; the seeded steps of src.pipeline.seeds)
TRAINED_STEPS = {"FSei": "FSei", "LR ALL": "LR ALL", "LR TF": "LR TF", "LR HM": "LR HM",
                 "LGBM": "LGBM", "Basset": "Basset", "ConvNet": "ConvNet",
                 "DNABERT-2": "DNABert2", "DNABERT-2 (original load)": "DNABert2_original"}
# Every JSON of a study config folder (json/, json/improved/, json/demo/), by file stem
LR_CONFIG_FILES = {"ALL": "LR", "TF": "LR_TF", "HM": "LR_HM"}  # LR's feature set -> file stem
CONFIG_FILES = {"FSei": FSeiConfig, "Preprocess": PreprocessConfig, "Basset": BassetConfig,
                "ConvNet": ConvNetConfig, "DNABert2": DNABert2Config,
                "DNABert2_original": DNABert2Config, "LGBM": LGBMConfig,
                "Attribute": AttributeConfig, **{name: LRConfig for name in LR_CONFIG_FILES.values()}}


def load_study_configs(json_dir: str | Path) -> dict:
    """Every config the study uses, by step name (the LR configs as "LR ALL", "LR TF", "LR HM").

    Raises
    ------
    InputError
        A config is missing or invalid, or an LR config names another feature set than its file.
    """
    j = Path(json_dir)
    configs = {name: load_config(j / f"{name}.json", cls) for name, cls in CONFIG_FILES.items()
               if cls is not LRConfig}
    for fset, name in LR_CONFIG_FILES.items():
        config = load_config(j / f"{name}.json", LRConfig)
        if config.feature_set != fset:
            raise InputError(f"{j / f'{name}.json'}: feature_set is {config.feature_set!r}; this "
                             f"file is the LR run on the {fset} set, so set it to {fset!r}")
        configs[f"LR {fset}"] = config
    return configs


def study_steps(json_dir: str | Path = "json", made_by: MadeBy | None = None,
                out: str | Path | None = None) -> Pipeline:
    """The study's sequence of steps with the configs of `json_dir`.

    Parameters
    ----------
    made_by : the steps that write the data, Sei and DNABERT-2 inputs (the demo), or None
    out : folder of the comparison figure and tables and the importance bar plot (default
        `comparison/` beside the FSei results folder)
    """
    j = Path(json_dir)
    made_by = made_by or MadeBy()
    cfg = load_study_configs(j)
    fsei, pre, dnabert, lgbm = cfg["FSei"], cfg["Preprocess"], cfg["DNABert2"], cfg["LGBM"]
    lr_cfg = {fset: cfg[f"LR {fset}"] for fset in ("ALL", "TF", "HM")}
    lr_json = {fset: j / f"{name}.json" for fset, name in LR_CONFIG_FILES.items()}
    out = (Path(out) if out is not None
           else Path(fsei.results_path).parent / comparison.COMPARISON_DIR)

    def made(what: str | None, hint: str) -> str:
        return f"made by the '{what}' step" if what else hint

    def data_needs(folder) -> list[Need]:
        """final_data.csv, and for the study its fixed split files (new ones would be drawn)."""
        needs = [file_need(Path(folder) / DATA_FILE, "the sequences", made(made_by.data, DATA_HINT),
                           made_by.data)]
        if not made_by.data:
            needs += [file_need(path, "the study's split files", SPLITS_HINT)
                      for path in split_paths(folder).values()]
        return needs

    def sei_needs(config) -> list[Need]:
        return [file_need(config.sei_path, "the pretrained Sei weights",
                          made(made_by.sei, SEI_HINT), made_by.sei)]

    steps = [Step("FSei", "FSei.py", ["--json", str(j / "FSei.json"), "-n", "-p", "-t", "-e"],
                  [*data_needs(fsei.data_path), *sei_needs(fsei)], _run_done(fsei.results_path),
                  _run_resume(fsei.results_path))]
    steps.append(Step(
        "Preprocess", "Preprocess_data_to_numpy.py", ["--json", str(j / "Preprocess.json")],
        [*data_needs(pre.data_path), *sei_needs(pre),
         file_need(pre.target_names, "Sei's target names", made(made_by.sei, NAMES_HINT),
                   made_by.sei)],
        lambda: (f"{pre.result_path}/ (every split)" if feature_files.is_complete(pre.result_path)
                 else None)))

    def features_need(config) -> Need:
        folder = config.features_path or pre.result_path
        path = feature_files.feature_paths(folder, "train")[f"data_{config.feature_set}"]
        return file_need(path, f"the {config.feature_set} Sei features",
                         "made by the 'Preprocess' step", "Preprocess")

    for fset, config in lr_cfg.items():
        steps.append(Step(f"LR {fset}", "LR.py", ["--json", str(lr_json[fset]), "-n", "-t", "-e"],
                          [features_need(config)], _run_done(config.results_path),
                          _run_resume(config.results_path)))
    # the study's fixed parameters, without the search: the path of its LGBM.py that ran and
    # produced the published importances (its --optimize path could not run)
    steps.append(Step("LGBM", "LGBM.py", ["--json", str(j / "LGBM.json")],
                      [features_need(lgbm)], _run_done(lgbm.results_path)))
    # the paper's bar plot: LR and LightGBM on the same feature set
    lr_for_plot = lr_cfg.get(lgbm.feature_set, lr_cfg["ALL"])
    plot = out / IMPORTANCE_PLOT

    def plot_done():
        runs = [newest_evaluated_training_run(lr_for_plot.results_path),
                newest_evaluated_training_run(lgbm.results_path)]
        return str(plot) if newer_than(plot, runs, IMPORTANCE_FILE) else None

    steps.append(Step(
        "importance plot", "Plot_importance.py",
        ["--lr", lr_for_plot.results_path, "--lgbm", lgbm.results_path, "--out", str(plot)],
        [_needs_run(lr_for_plot.results_path, f"LR {lr_for_plot.feature_set}", "an LR run"),
         _needs_run(lgbm.results_path, "LGBM", "a LightGBM run")], plot_done))
    for name in ("Basset", "ConvNet"):
        config = cfg[name]
        steps.append(Step(name, f"{name}.py", ["--json", str(j / f"{name}.json"), "-n", "-t", "-e"],
                          data_needs(config.data_path), _run_done(config.results_path),
                          _run_resume(config.results_path)))
    steps.append(Step(
        "DNABERT-2", "DNABert2.py", ["--json", str(j / "DNABert2.json"), "-n", "-t", "-e"],
        [*data_needs(dnabert.data_path),
         _model_folder_need(dnabert.model_name_or_path,
                            made(made_by.dnabert2, download_hint()), made_by.dnabert2)],
        _run_done(dnabert.results_path), _run_resume(dnabert.results_path)))
    # the original study's load of the same snapshot (its own JSON and results folder)
    original = cfg["DNABert2_original"]
    if original.load != "original_study" or original.results_path == dnabert.results_path:
        raise InputError(f"{j / 'DNABert2_original.json'} is the run with the original study's "
                         f"load: set \"load\": \"original_study\" and a results_path of its own")
    steps.append(Step(
        "DNABERT-2 (original load)", "DNABert2.py",
        ["--json", str(j / "DNABert2_original.json"), "-n", "-t", "-e"],
        [*data_needs(original.data_path),
         _model_folder_need(original.model_name_or_path,
                            made(made_by.dnabert2, download_hint()), made_by.dnabert2)],
        _run_done(original.results_path), _run_resume(original.results_path)))
    steps.append(_attribute_step(j, cfg["Attribute"], fsei.results_path,
                                 made_by.data if Path(cfg["Attribute"].database).parent
                                 == Path(fsei.data_path) else None))
    compared = [(step, cfg[key].results_path) for step, key in TRAINED_STEPS.items()]

    def compare_runs() -> list[Path | None]:
        return [newest_evaluated_training_run(path) for _, path in compared]

    steps.append(Step("Compare", "Compare.py",
                      lambda: [*(str(r) for r in compare_runs()), "--out", str(out)],
                      [_needs_run(path, step, f"the {step} run") for step, path in compared],
                      lambda: (str(out / comparison.TABLE_FILE)
                               if comparison.is_complete(out, compare_runs()) else None)))
    return Pipeline(steps, out, cfg)


def study_inputs(json_dir: str | Path, pipeline: Pipeline) -> dict:
    """The study's outside inputs, by role, for the run record: the data and split files of
    each model, Sei's weights and target names, the DNABERT-2 model folder, the configs."""
    cfg = pipeline.configs
    data = sorted({Path(config.data_path) for config in cfg.values()
                   if getattr(config, "data_path", None)})
    inputs = {"sequences": [folder / DATA_FILE for folder in data],
              "splits": [path for folder in data for path in split_paths(folder).values()],
              "Sei weights": sorted({Path(cfg["FSei"].sei_path), Path(cfg["Preprocess"].sei_path)}),
              "Sei target names": Path(cfg["Preprocess"].target_names),
              "configs": sorted(Path(json_dir).glob("*.json"))}
    model = Path(cfg["DNABert2"].model_name_or_path)
    if model.is_dir():  # a hub id in the cache is named by the config, not checksummed
        inputs["DNABERT-2"] = model
    return inputs


def _attribute_step(j: Path, config: AttributeConfig, fsei_results: str,
                    database_made_by: str | None = None) -> Step:
    """Attribute.py on the newest FSei run: -i -b -s, or -b -s alone when its windows and
    attribution maps are saved (windows without maps, from an older version: -i --force).

    database_made_by : the step that writes a motif file named by `database` (the demo's data
        step writes its planted motifs), None when the user brings it
    """

    def explained_run() -> Path:
        run = newest_evaluated_training_run(fsei_results)
        if run is None:
            raise InputError(f"no evaluated FSei run in {fsei_results}: run the FSei step first")
        return run

    def args() -> list[str]:
        run = explained_run()
        folder = run / config.result
        flags = (["-b", "-s"] if windows.is_complete(folder) and maps.is_complete(folder) else
                 ["-i", "--force", "-b", "-s"] if windows.is_complete(folder) else
                 ["-i", "-b", "-s"])
        return ["--json", str(j / "Attribute.json"), "-m", str(run / BEST_CHECKPOINT), *flags]

    def done():
        run = newest_evaluated_training_run(fsei_results)
        folder = run / config.result if run else None
        return (str(folder / attribute.NSITES_FILE) if folder and attribute.is_complete(folder)
                and denovo.is_complete(folder) else None)

    needs = [_needs_run(fsei_results, "FSei", "an FSei run")]
    if not JASPAR_RELEASE_PATTERN.match(config.database):
        needs.append(file_need(config.database, "the motif database", MOTIFS_HINT,
                               database_made_by))
    return Step("Attribute", "Attribute.py", args, needs, done)


def _run_done(results_path) -> Callable[[], str | None]:
    def done():
        run = newest_evaluated_training_run(results_path)
        return str(run / PREDICTIONS_FILE) if run else None

    return done


def _run_resume(results_path) -> Callable[[], list[str] | None]:
    def resume():
        run = interrupted_run(results_path)
        return ["--resume", str(run), "-e"] if run else None

    return resume


def _needs_run(results_path, step: str, what: str) -> Need:
    def check():
        if newest_evaluated_training_run(results_path) is None:
            return (f"no evaluated run in {results_path}: run the {step} step first "
                    f"(Reproduce.py --only {step!r})")
        return None

    return Need(what, check, made_by=step)


def _model_folder_need(name_or_path: str, hint: str, made_by: str | None) -> Need:
    """A Hugging Face model: a local folder with config.json, or a hub id in the local cache."""

    def check():
        problem = model_folder_problem(name_or_path)
        return f"{problem}: {hint}" if problem else None

    return Need(f"model {name_or_path}", check, made_by)


def summary(steps: list[Step], out: Path, attribution_rows: int = 12) -> str:
    """The comparison table, the head and tail of the attribution table, and the figures."""
    lines = []
    table = out / comparison.MARKDOWN_FILE
    if table.is_file():
        lines += ["", f"Comparison ({table}):", "", table.read_text().rstrip()]
    attribute_step = next((s for s in steps if s.name == "Attribute"), None)
    report = attribute_step.done() if attribute_step else None
    figures = [out / comparison.FIGURE_FILE, out / IMPORTANCE_PLOT]
    if report:
        folder = Path(report).parent
        for path, what in ((Path(report), "per window, the study's table"),
                           (folder / attribute.INTRON_NSITES_FILE,
                            "per intron, Fisher's exact test")):
            if not path.is_file():
                continue
            text = path.read_text().splitlines()
            head = next((i for i, line in enumerate(text) if line.strip().startswith("rank")),
                        None)
            if head is None:
                continue
            rows = text[head + 1:]
            shown = rows[:attribution_rows] + (["   ..."] + rows[-5:] if len(rows) >
                                               attribution_rows + 5 else rows[attribution_rows:])
            lines += ["", f"Attribution, {what} ({path}: first rows enriched in IR, last in "
                          f"non-IR):", "", text[head], *shown]
        figures += [folder / attribute.BARS_FIGURE,
                    *(folder / name for name in attribute.LOGO_FIGURES.values())]
        patterns = denovo.patterns_overview(folder)
        if patterns is not None:
            lines += ["", f"De novo motifs ({folder / denovo.DENOVO_DIR / denovo.SUMMARY_FILE}; "
                          f"positive patterns; best match: the database motif TOMTOM calls, or "
                          f"the closest when none passes the q-value threshold):", "",
                      patterns.to_string(index=False) if len(patterns) else "(no pattern)"]
            figures.append(folder / denovo.DENOVO_DIR / denovo.PATTERNS_FIGURE)
    present = [str(f) for f in figures if f.is_file()]
    if present:
        lines += ["", "Figures:", *(f"  {f}" for f in present)]
    return "\n".join(lines)
