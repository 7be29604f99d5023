"""The study end to end: one list of steps, used by `make paper` and `make demo` (Reproduce.py).

Each step is one of the project's scripts with its flags, the inputs it needs (checked before it
runs, with where to get each one) and a "done" test on its outputs. A step whose outputs are
complete is skipped, so running the sequence again continues where it stopped; an interrupted
training run is continued with `--resume`, and Preprocess_data_to_numpy.py keeps the splits it
finished. Paths come from the JSON configs themselves (`data_path`, `results_path`, `sei_path`,
...), so editing a config moves the step's inputs and outputs with it.

    paper  json/       FSei, Preprocess, LR (ALL, TF, HM), LGBM (+ bar plot), Basset, ConvNet,
                       DNABERT-2, Attribute (on FSei), Compare
    demo   json/demo/  the same, after writing the demo data, a demo Sei trained on synthetic
                       profiles and a tiny local stand-in for DNABERT-2
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .config import (AttributeConfig, BassetConfig, ConvNetConfig, DNABert2Config, FSeiConfig,
                     LGBMConfig, LRConfig, PreprocessConfig, load_config)
from .errors import InputError

SPLITS = ("train", "valid", "test")
FEATURE_SETS = ("ALL", "TF", "HM")
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


@dataclass
class Need:
    """An input of a step. `check()` returns None when it is there, else what is wrong.

    made_by : the step that writes it (None: it comes from outside the project)
    """

    what: str
    check: Callable[[], str | None]
    made_by: str | None = None


@dataclass
class Step:
    """One script run of the sequence.

    args : the script's flags, or a function that makes them when the step runs (when they name
        the outputs of earlier steps, e.g. the FSei run that Attribute.py explains)
    done : None while the step still has to run, else a short description of its outputs
    resume : flags that continue an interrupted run (None: run `args` again from the start)
    """

    name: str
    script: str
    args: list[str] | Callable[[], list[str]]
    needs: list[Need] = field(default_factory=list)
    done: Callable[[], str | None] = lambda: None
    resume: Callable[[], list[str] | None] = lambda: None

    def command(self) -> list[str]:
        args = self.args() if callable(self.args) else self.args
        return [self.script, *args]


# ------------------------------------------------------------------------- outputs and inputs


def file_need(path: str | Path, what: str, hint: str, made_by: str | None = None) -> Need:
    path = Path(path)

    def check():
        return None if path.is_file() else f"{path} not found: {hint}"

    return Need(what, check, made_by)


def training_runs(results_path: str | Path) -> list[Path]:
    """Training run folders (`<Model>_<time>`, not evaluation-only ones) in `results_path`,
    oldest first."""
    folder = Path(results_path)
    if not folder.is_dir():
        return []
    runs = [p for p in folder.iterdir()
            if p.is_dir() and (p / "config.json").is_file() and "_eval_" not in p.name]
    return sorted(runs, key=lambda p: (p / "config.json").stat().st_mtime)


def evaluated_run(results_path: str | Path) -> Path | None:
    """The newest training run in `results_path` that evaluated the test split, or None."""
    for run in reversed(training_runs(results_path)):
        metrics = run / "metrics.json"
        if (run / "predictions.csv").is_file() and metrics.is_file():
            try:
                if json.loads(metrics.read_text()).get("split", "test") == "test":
                    return run
            except (OSError, ValueError):
                continue
    return None


def interrupted_run(results_path: str | Path) -> Path | None:
    """The newest training run that has a `last.pt` but no test predictions (to `--resume`)."""
    runs = training_runs(results_path)
    if runs and (runs[-1] / "last.pt").is_file() and not (runs[-1] / "predictions.csv").is_file():
        return runs[-1]
    return None


def _run_done(results_path) -> Callable[[], str | None]:
    def done():
        run = evaluated_run(results_path)
        return f"{run}/predictions.csv" if run else None

    return done


def _run_resume(results_path) -> Callable[[], list[str] | None]:
    def resume():
        run = interrupted_run(results_path)
        return ["--resume", str(run), "-e"] if run else None

    return resume


def _needs_run(results_path, step: str, what: str) -> Need:
    def check():
        if evaluated_run(results_path) is None:
            return (f"no evaluated run in {results_path}: run the {step} step first "
                    f"(Reproduce.py --only {step!r})")
        return None

    return Need(what, check, made_by=step)


def features_complete(folder: str | Path) -> bool:
    """Every split's completion marker and feature files are in `folder` (Preprocess output)."""
    folder = Path(folder)
    names = [f"sei_features_{s}.json" for s in SPLITS] + [f"features_{f}.txt" for f in FEATURE_SETS]
    names += [f"{kind}_{f}_{s}.npy" for kind in ("data", "target") for f in FEATURE_SETS
              for s in SPLITS]
    return all((folder / name).is_file() for name in names)


def model_folder_need(name_or_path: str, hint: str, made_by: str | None = None) -> Need:
    """A Hugging Face model: a local folder with config.json, or a hub id in the local cache."""

    def check():
        path = Path(name_or_path).expanduser()
        if path.is_dir():
            return None if (path / "config.json").is_file() else (
                f"model folder {path} has no config.json: {hint}")
        from .dnabert2 import _looks_like_hub_id

        if made_by is None and _looks_like_hub_id(name_or_path) and not path.exists():
            try:
                from huggingface_hub import try_to_load_from_cache

                if isinstance(try_to_load_from_cache(name_or_path, "config.json"), str):
                    return None
            except Exception:  # noqa: BLE001 - an unusable cache is the same as no cache
                pass
            return f"{name_or_path} is neither a local folder nor in the Hugging Face cache: {hint}"
        return f"model folder {path} not found: {hint}"

    return Need(f"model {name_or_path}", check, made_by)


def _dnabert_hint() -> str:
    from .dnabert2 import DEFAULT_MODEL, DOWNLOAD_HINT

    return DOWNLOAD_HINT.format(name=DEFAULT_MODEL, short=DEFAULT_MODEL.split("/")[1])


# ---------------------------------------------------------------------------------- the steps


@dataclass
class DemoSizes:
    """Sizes of the demo's generated inputs (the tests make them tiny)."""

    n_sequences: int = 3000
    length: int = 600
    positive_fraction: float = 0.22
    demo_sei_sequences: int = 6000


@dataclass
class Pipeline:
    """The steps, and the folder of the comparison figure, tables and importance bar plot."""

    steps: list[Step]
    out: Path


def study_steps(json_dir: str | Path = "json", demo: DemoSizes | None = None,
                out: str | Path | None = None) -> Pipeline:
    """The study's sequence of steps with the configs of `json_dir`.

    Parameters
    ----------
    demo : with sizes, first write the demo inputs (data, demo Sei, tiny DNABERT-2 stand-in)
        to the paths the configs name; None for the real study (they must be there)
    out : folder of the comparison figure and tables and the importance bar plot (default
        `results/comparison`, or `<demo results>/comparison`)
    """
    j = Path(json_dir)
    cfg = {name: load_config(j / f"{name}.json", cls) for name, cls in (
        ("FSei", FSeiConfig), ("Preprocess", PreprocessConfig), ("Basset", BassetConfig),
        ("ConvNet", ConvNetConfig), ("DNABert2", DNABert2Config), ("LGBM", LGBMConfig),
        ("Attribute", AttributeConfig))}
    lr_json = {"ALL": j / "LR.json", "TF": j / "LR_TF.json", "HM": j / "LR_HM.json"}
    lr_cfg = {fset: load_config(path, LRConfig) for fset, path in lr_json.items()}
    for fset, config in lr_cfg.items():
        if config.feature_set != fset:
            raise InputError(f"{lr_json[fset]}: feature_set is {config.feature_set!r}; this "
                             f"file is the LR run on the {fset} set, so set it to {fset!r}")
    fsei, pre, dnabert = cfg["FSei"], cfg["Preprocess"], cfg["DNABert2"]
    data = Path(fsei.data_path)
    if out is None:
        out = Path(fsei.results_path).parent / "comparison"
    out = Path(out)
    data_made = "demo data" if demo else None

    def data_needs(folder) -> list[Need]:
        """final_data.csv, and for the study its fixed split files (new ones would be drawn)."""
        folder = Path(folder)
        needs = [file_need(folder / "final_data.csv", "the sequences",
                           "made by the 'demo data' step" if demo else DATA_HINT, data_made)]
        if not demo:
            needs += [file_need(folder / f"{split}_indices.txt", "the study's split files",
                                SPLITS_HINT) for split in SPLITS]
        return needs

    sei_made = "demo Sei" if demo else None
    sei_need = file_need(fsei.sei_path, "the pretrained Sei weights",
                         "made by the 'demo Sei' step" if demo else SEI_HINT, sei_made)
    steps = []
    if demo:
        if Path(fsei.sei_path) != Path(pre.sei_path):
            raise InputError(f"{j / 'FSei.json'} loads the Sei trunk from {fsei.sei_path} but "
                             f"{j / 'Preprocess.json'} names {pre.sei_path}: the demo writes one "
                             f"demo Sei, so give both the same sei_path")
        steps += _demo_input_steps(j, demo, data, pre, dnabert)

    steps.append(Step("FSei", "FSei.py", ["--json", str(j / "FSei.json"), "-n", "-p", "-t", "-e"],
                      [*data_needs(data), sei_need], _run_done(fsei.results_path),
                      _run_resume(fsei.results_path)))
    steps.append(Step(
        "Preprocess", "Preprocess_data_to_numpy.py", ["--json", str(j / "Preprocess.json")],
        [*data_needs(pre.data_path),
         file_need(pre.sei_path, "the pretrained Sei weights",
                   "made by the 'demo Sei' step" if demo else SEI_HINT, sei_made),
         file_need(pre.target_names, "Sei's target names",
                   "made by the 'demo Sei' step" if demo else NAMES_HINT, sei_made)],
        lambda: (f"{pre.result_path}/ (every split)" if features_complete(pre.result_path)
                 else None)))
    features_need = {}
    for fset, config in lr_cfg.items():
        folder = Path(config.features_path or pre.result_path)
        features_need[fset] = file_need(folder / f"data_{fset}_train.npy",
                                        f"the {fset} Sei features",
                                        "made by the 'Preprocess' step", "Preprocess")
        steps.append(Step(f"LR {fset}", "LR.py", ["--json", str(lr_json[fset]), "-n", "-t", "-e"],
                          [features_need[fset]], _run_done(config.results_path),
                          _run_resume(config.results_path)))
    lgbm = cfg["LGBM"]
    lgbm_features = Path(lgbm.features_path or pre.result_path)
    steps.append(Step("LGBM", "LGBM.py", ["--json", str(j / "LGBM.json"), "--optimize"],
                      [file_need(lgbm_features / f"data_{lgbm.feature_set}_train.npy",
                                 f"the {lgbm.feature_set} Sei features",
                                 "made by the 'Preprocess' step", "Preprocess")],
                      _run_done(lgbm.results_path)))
    # the paper's bar plot: LR and LightGBM on the same feature set
    lr_for_plot = lr_cfg.get(lgbm.feature_set, lr_cfg["ALL"])
    plot = out / "importance_top20.png"
    steps.append(Step(
        "importance plot", "Plot_importance.py",
        ["--lr", lr_for_plot.results_path, "--lgbm", lgbm.results_path, "--out", str(plot)],
        [_needs_run(lr_for_plot.results_path, f"LR {lr_for_plot.feature_set}", "an LR run"),
         _needs_run(lgbm.results_path, "LGBM", "a LightGBM run")],
        _newer_than(plot, lambda: [evaluated_run(lr_for_plot.results_path),
                                   evaluated_run(lgbm.results_path)], "importance.csv")))
    for name, script, key in (("Basset", "Basset.py", "Basset"),
                              ("ConvNet", "ConvNet.py", "ConvNet")):
        config = cfg[key]
        steps.append(Step(name, script, ["--json", str(j / f"{key}.json"), "-n", "-t", "-e"],
                          data_needs(config.data_path),
                          _run_done(config.results_path), _run_resume(config.results_path)))
    steps.append(Step(
        "DNABERT-2", "DNABert2.py", ["--json", str(j / "DNABert2.json"), "-n", "-t", "-e"],
        [*data_needs(dnabert.data_path),
         model_folder_need(dnabert.model_name_or_path,
                           "made by the 'tiny DNABERT-2' step" if demo else _dnabert_hint(),
                           "tiny DNABERT-2" if demo else None)],
        _run_done(dnabert.results_path), _run_resume(dnabert.results_path)))
    attribute = cfg["Attribute"]

    def explained_run() -> Path:
        run = evaluated_run(fsei.results_path)
        if run is None:
            raise InputError(f"no evaluated FSei run in {fsei.results_path}: run the FSei step "
                             f"first")
        return run

    def attribute_args() -> list[str]:
        run = explained_run()
        folder = run / attribute.result
        flags = ["-b"] if (folder / "windows.csv").is_file() else ["-i", "-b"]
        return ["--json", str(j / "Attribute.json"), "-m", str(run / "best.pt"), *flags]

    def attribute_done():
        run = evaluated_run(fsei.results_path)
        report = run / attribute.result / "nsites.txt" if run else None
        return str(report) if report and report.is_file() else None

    steps.append(Step("Attribute", "Attribute.py", attribute_args,
                      [_needs_run(fsei.results_path, "FSei", "an FSei run")], attribute_done))
    compared = [("FSei", fsei.results_path)] + [
        (f"LR {fset}", config.results_path) for fset, config in lr_cfg.items()] + [
        ("LGBM", lgbm.results_path), ("Basset", cfg["Basset"].results_path),
        ("ConvNet", cfg["ConvNet"].results_path), ("DNABERT-2", dnabert.results_path)]

    def compare_runs() -> list[Path]:
        return [evaluated_run(path) for _, path in compared]

    def compare_done():
        table = out / "comparison.csv"
        runs = compare_runs()
        if not table.is_file() or None in runs:
            return None
        try:
            import pandas as pd

            listed = pd.read_csv(table)["run"].tolist()
        except (OSError, ValueError, KeyError):
            return None
        return str(table) if listed == [str(r) for r in runs] and _newer(table, runs) else None

    steps.append(Step("Compare", "Compare.py",
                      lambda: [*(str(r) for r in compare_runs()), "--out", str(out)],
                      [_needs_run(path, step, f"the {step} run") for step, path in compared],
                      compare_done))
    return Pipeline(steps, out)


def _newer(target: Path, runs, name: str = "predictions.csv") -> bool:
    return all(run is not None and (run / name).is_file()
               and target.stat().st_mtime >= (run / name).stat().st_mtime for run in runs)


def _newer_than(target: Path, runs: Callable[[], list], name: str) -> Callable[[], str | None]:
    def done():
        return str(target) if target.is_file() and _newer(target, runs(), name) else None

    return done


def _demo_input_steps(j: Path, demo: DemoSizes, data: Path, pre: PreprocessConfig,
                      dnabert: DNABert2Config) -> list[Step]:
    sei_dir = Path(pre.sei_path).parent
    if Path(pre.target_names).parent != sei_dir:
        raise InputError(f"{j / 'Preprocess.json'}: the demo Sei's sei_path and target_names "
                         f"must be in one folder (the 'demo Sei' step writes both there)")
    data_file = data / "final_data.csv"
    return [
        Step("demo data", "Make_demo_data.py",
             ["--out", str(data), "-n", str(demo.n_sequences), "--length", str(demo.length),
              "--positive-fraction", str(demo.positive_fraction)],
             [], lambda: str(data_file) if data_file.is_file() else None),
        Step("demo Sei", "Preprocess_data_to_numpy.py",
             ["--json", str(j / "Preprocess.json"), "--make-demo-sei", str(sei_dir),
              "--demo-sei-sequences", str(demo.demo_sei_sequences)], [],
             lambda: pre.sei_path if Path(pre.sei_path).is_file() else None),
        Step("tiny DNABERT-2", "DNABert2.py",
             ["--json", str(j / "DNABert2.json"), "--make-tiny-model", dnabert.model_name_or_path],
             [file_need(data_file, "the demo sequences", "made by the 'demo data' step",
                        "demo data")],
             lambda: (dnabert.model_name_or_path
                      if (Path(dnabert.model_name_or_path) / "config.json").is_file() else None)),
    ]


# ---------------------------------------------------------------------------------- running


def subprocess_runner(command: list[str]) -> int:
    """Run a script with this Python, in the current folder; its output goes to the console."""
    return subprocess.run([sys.executable, *command]).returncode


def in_process_runner(command: list[str]) -> int:
    """Call a script's `main(argv)` in this process (the tests: no interpreter start-up)."""
    module = importlib.import_module(Path(command[0]).stem)
    try:
        module.main(command[1:])
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1
    return 0


def check_inputs(steps: list[Step], pending: list[Step]) -> None:
    """Before anything runs: every input of a pending step is there or made by an earlier
    pending step; otherwise one error that lists each missing input and how to get it."""
    will_run = {step.name for step in pending}
    problems: dict[str, list[str]] = {}  # problem -> steps that need it
    for step in pending:
        for need in step.needs:
            if need.made_by in will_run:
                continue
            problem = need.check()
            if problem:
                problems.setdefault(problem, []).append(step.name)
    if problems:
        raise InputError("missing inputs, nothing was run:\n" + "\n".join(
            f"- {problem} (needed by {', '.join(names)})" for problem, names in problems.items()))


def run_steps(steps: list[Step], only: list[str] | None = None, dry_run: bool = False,
              runner: Callable[[list[str]], int] = subprocess_runner, log=print) -> dict:
    """Run the steps that are not done (of `only`, when given), in order.

    Returns {step name: "done" | "ran" | "would run" | "skipped (not selected)"}.

    Raises
    ------
    InputError
        An input is missing (before anything runs), a step fails (its exit status is given), or
        a step ends without writing the outputs its "done" test looks for.
    """
    names = [step.name for step in steps]
    unknown = [name for name in only or [] if name not in names]
    if unknown:
        raise InputError(f"unknown step(s) {', '.join(map(repr, unknown))}: the steps are "
                         + ", ".join(map(repr, names)))
    selected = [s for s in steps if not only or s.name in only]
    status = {step.name: "skipped (not selected)" for step in steps}
    pending = []
    for step in selected:
        outputs = step.done()
        if outputs:
            status[step.name] = "done"
            log(f"[{step.name}] done: {outputs}")
        else:
            pending.append(step)
    check_inputs(steps, pending)
    for index, step in enumerate(pending, start=1):
        resume = step.resume()
        if dry_run:
            flags = resume or (["<flags chosen when it runs>"] if callable(step.args)
                               else step.args)
            status[step.name] = "would run"
            log(f"[{step.name}] would run: python {' '.join([step.script, *flags])}")
            continue
        command = [step.script, *resume] if resume else step.command()
        for need in step.needs:  # made by an earlier step by now
            problem = need.check()
            if problem:
                raise InputError(f"step {step.name} needs {need.what}: {problem}")
        log(f"\n[{step.name}] ({index}/{len(pending)}) python {' '.join(command)}"
            + ("   (continuing the interrupted run)" if resume else ""))
        started = time.perf_counter()
        code = runner(command)
        if code != 0:
            raise InputError(f"step {step.name} failed (exit status {code}): see its messages "
                             f"above. Fix the problem and run the same command again; the "
                             f"steps already done are skipped")
        if not step.done():
            raise InputError(f"step {step.name} ended without its outputs: see its messages "
                             f"above")
        status[step.name] = "ran"
        log(f"[{step.name}] finished in {time.perf_counter() - started:.0f} s")
    return status


def summary(steps: list[Step], out: Path, attribution_rows: int = 12) -> str:
    """The comparison table, the head and tail of the attribution table, and the figures."""
    lines = []
    table = out / "comparison.md"
    if table.is_file():
        lines += ["", f"Comparison ({table}):", "", table.read_text().rstrip()]
    attribute = next((s for s in steps if s.name == "Attribute"), None)
    report = attribute.done() if attribute else None
    figures = [out / "comparison.png", out / "importance_top20.png"]
    if report:
        text = Path(report).read_text().splitlines()
        head = next((i for i, line in enumerate(text) if line.strip().startswith("rank")), None)
        if head is not None:
            rows = text[head + 1:]
            shown = rows[:attribution_rows] + (["   ..."] + rows[-5:] if len(rows) >
                                               attribution_rows + 5 else rows[attribution_rows:])
            lines += ["", f"Attribution ({report}: first rows enriched in IR, last in non-IR):",
                      "", text[head], *shown]
        folder = Path(report).parent
        figures += [folder / "top_tfs.png", folder / "logos_IR.png", folder / "logos_non_IR.png"]
    present = [str(f) for f in figures if f.is_file()]
    if present:
        lines += ["", "Figures:", *(f"  {f}" for f in present)]
    return "\n".join(lines)
