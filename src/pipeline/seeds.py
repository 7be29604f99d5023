"""The study over several seeds (`Reproduce.py --seeds N`): every trained model's step N times.

Seed 1 is the step as it is (the config's own `seed` and `results_path`), so `--seeds 1` is the
single-seed study and a finished single-seed run counts as seed 1. Seed k > 1 runs the same script
with a derived config, written when the step runs:

    <results_path>/seed_<k>/<config name>.seed_<k>.json   the config with seed = seed +
                                                   10000 (k - 1) and results_path =
                                                   <results_path>/seed_<k>
    <results_path>/seed_<k>/<Model>_<time>/        its run folder

The seeds are 10,000 apart because the training loop seeds epoch e with `seed + e` (batch order,
dropout): neighbouring seeds would share those streams shifted by one epoch. The data split does
not change with the seed: the split files beside the data are made once and read by every run.
Each seed k > 1 is a step of its own ("FSei seed 2", ...), done when its folder has an evaluated
training run, so finished seeds are skipped and an interrupted one is resumed like any step;
`--only FSei` runs seed 1 and the other seeds of FSei.

After Compare, the step "Compare seeds" (`Compare.py --group ...`, `src.report.seeds`) writes the
mean ± SD table, the band figure and the paired tests of FSei against every other model.
Attribute, Preprocess and the importance plot are not seeded: they use seed 1.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..config import config_to_dict
from ..io import atomic_write_text
from ..report import seeds as seed_report
from ..runs import newest_evaluated_training_run
from .steps import Step
from .study import TRAINED_STEPS, Pipeline, _needs_run, _run_done, _run_resume

SEED_STRIDE = 10_000
SEEDED_STEPS = TRAINED_STEPS  # every trained model runs with each seed
NOT_RESUMABLE = {"LGBM"}  # LGBM.py has no --resume: an interrupted search starts again
COMPARE_SEEDS = "Compare seeds"


def seed_value(seed: int, k: int) -> int:
    """The training seed of seed number k (1-based) of a config whose seed is `seed`."""
    if k < 1:
        raise ValueError(f"seed numbers start at 1, not {k}")
    return seed + SEED_STRIDE * (k - 1)


def seed_results_path(results_path: str | Path, k: int) -> Path:
    """Where the runs of seed number k go: results_path itself for seed 1."""
    return Path(results_path) if k == 1 else Path(results_path) / f"seed_{k}"


def seed_config(config, k: int) -> dict:
    """The config of seed number k as a dict: its seed and results_path changed."""
    values = config_to_dict(config)
    values.update(seed=seed_value(config.seed, k),
                  results_path=str(seed_results_path(config.results_path, k)))
    return values


def write_seed_config(config, json_path: str | Path, k: int) -> Path:
    """Write the derived config of seed number k > 1 (module docstring); returns its path. The
    file is rewritten only when its content changes."""
    # never "config.json": that name marks a run folder (src.runs)
    path = seed_results_path(config.results_path, k) / f"{Path(json_path).stem}.seed_{k}.json"
    text = json.dumps(seed_config(config, k), indent=2, sort_keys=True) + "\n"
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    return path


def _json_argument(args: list[str]) -> tuple[int, str]:
    index = args.index("--json") + 1
    return index, args[index]


def seed_step(step: Step, config, k: int) -> Step:
    """Seed number k > 1 of a model step: its flags with the derived config, its own folder."""
    index, json_path = _json_argument(step.args)
    folder = seed_results_path(config.results_path, k)

    def args() -> list[str]:
        flags = list(step.args)
        flags[index] = str(write_seed_config(config, json_path, k))
        return flags

    resume = (lambda: None) if step.name in NOT_RESUMABLE else _run_resume(folder)
    return Step(f"{step.name} seed {k}", step.script, args, list(step.needs), _run_done(folder),
                resume, group=step.name)


def seed_folders(configs: dict, seeds: int, names=None) -> list[tuple[str, list[Path]]]:
    """(step name, [results folder of seed 1..N]) of every seeded model (of `names`, when
    given), in comparison order (FSei first: the reference of the paired tests)."""
    return [(name, [seed_results_path(configs[key].results_path, k)
                    for k in range(1, seeds + 1)])
            for name, key in SEEDED_STEPS.items() if names is None or name in names]


def compare_seeds_step(configs: dict, seeds: int, out: Path, names=None) -> Step:
    """Compare.py --group ... for every seeded model (of `names`): comparison_seeds.* and
    paired_tests.csv in `out`."""
    groups = seed_folders(configs, seeds, names)

    def runs() -> list[list[Path | None]]:
        return [[newest_evaluated_training_run(folder) for folder in folders]
                for _, folders in groups]

    def args() -> list[str]:
        flags = []
        for group in runs():
            flags += ["--group", *(str(run) for run in group)]
        return [*flags, "--out", str(out)]

    needs = [_needs_run(folder, name if k == 1 else f"{name} seed {k}",
                        f"the {name} run of seed {k}")
             for name, folders in groups for k, folder in enumerate(folders, start=1)]
    return Step(COMPARE_SEEDS, "Compare.py", args, needs,
                lambda: (str(out / seed_report.SEEDS_TABLE_FILE)
                         if seed_report.is_complete(out, runs()) else None))


def with_seeds(pipeline: Pipeline, seeds: int) -> Pipeline:
    """The study's steps with every trained model run `seeds` times (module docstring); the
    pipeline itself for one seed."""
    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1, not {seeds}")
    if seeds == 1:
        return pipeline
    steps = []
    for step in pipeline.steps:
        steps.append(step)
        key = SEEDED_STEPS.get(step.name)
        if key is not None:
            steps += [seed_step(step, pipeline.configs[key], k) for k in range(2, seeds + 1)]
        if step.name == "Compare":
            steps.append(compare_seeds_step(pipeline.configs, seeds, pipeline.out))
    return Pipeline(steps, pipeline.out, pipeline.configs)


def seeds_summary(out: Path) -> str:
    """The mean ± SD table and the paired tests (comparison_seeds.md), and the band figure."""
    out = Path(out)
    table = out / seed_report.SEEDS_MARKDOWN_FILE
    if not table.is_file():
        return ""
    lines = ["", f"Over seeds ({table}):", "", table.read_text().rstrip()]
    figure = out / seed_report.SEEDS_FIGURE_FILE
    if figure.is_file():
        lines += ["", f"Figure: {figure}"]
    return "\n".join(lines)
