"""Reproduce.py --seeds: the seeded steps (src.pipeline.seeds), their derived configs and run
folders, skipping finished seeds, and the 'Compare seeds' step on a tiny demo."""

import json

import pandas as pd
import pytest
from test_pipeline import SIZES, in_process_runner, tiny_configs, training_runs

import Reproduce
from src.config import BassetConfig, load_config
from src.demo.steps import demo_input_steps
from src.pipeline.seeds import (
    COMPARE_SEEDS,
    compare_seeds_step,
    seed_results_path,
    seed_value,
    with_seeds,
    write_seed_config,
)
from src.pipeline.steps import run_steps
from src.pipeline.study import study_steps
from src.report.seeds import PAIRED_TESTS_FILE, SEEDS_FIGURE_FILE, SEEDS_TABLE_FILE

MODELS = ["FSei", "LR ALL", "LR TF", "LR HM", "LGBM", "Basset", "ConvNet", "DNABERT-2"]


def test_one_seed_is_the_study_as_it_was(tmp_path):
    json_dir = tiny_configs(tmp_path)
    pipeline = study_steps(json_dir)
    assert with_seeds(pipeline, 1) is pipeline
    with pytest.raises(ValueError):
        with_seeds(pipeline, 0)


def test_seeded_steps_and_their_configs(tmp_path):
    json_dir = tiny_configs(tmp_path)
    demo, made_by = demo_input_steps(json_dir, SIZES)
    pipeline = with_seeds(study_steps(json_dir, made_by=made_by), 3)
    names = [step.name for step in pipeline.steps]
    for model in MODELS:
        at = names.index(model)
        assert names[at + 1: at + 3] == [f"{model} seed 2", f"{model} seed 3"]
    assert names[-2:] == ["Compare", COMPARE_SEEDS]
    assert names.count("Attribute") == 1 and names.count("Preprocess") == 1
    assert seed_value(100, 1) == 100 and seed_value(100, 3) == 20_100
    # the derived config: the same settings, another seed and results folder
    basset = load_config(json_dir / "Basset.json", BassetConfig)
    step = pipeline.steps[names.index("Basset seed 3")]
    command = step.command()
    assert command[:2] == ["Basset.py", "--json"] and command[3:] == ["-n", "-t", "-e"]
    derived = load_config(command[2], BassetConfig)
    folder = seed_results_path(basset.results_path, 3)
    assert command[2] == str(folder / "Basset.seed_3.json")
    assert derived.seed == 20_100 and derived.results_path == str(folder)
    assert derived.model_dump(exclude={"seed", "results_path"}) == \
        basset.model_dump(exclude={"seed", "results_path"})
    before = (folder / "Basset.seed_3.json").stat().st_mtime_ns
    write_seed_config(basset, json_dir / "Basset.json", 3)  # unchanged: not rewritten
    assert (folder / "Basset.seed_3.json").stat().st_mtime_ns == before
    # --only FSei selects its seeds; a seed's outputs are its own folder's
    status = run_steps(demo + pipeline.steps, only=["demo data", "demo Sei", "FSei"],
                       dry_run=True, log=lambda m: None)
    assert [n for n, s in status.items() if s == "would run"] == [
        "demo data", "demo Sei", "FSei", "FSei seed 2", "FSei seed 3"]


def test_reproduce_dry_run_lists_the_seeds(tmp_path, capsys):
    json_dir = tiny_configs(tmp_path)
    Reproduce.main(["--config", "demo", "--json-dir", str(json_dir), "--seeds", "2",
                    "--dry-run"])
    out = capsys.readouterr().out
    assert "[FSei seed 2] would run: python FSei.py" in out
    assert f"[{COMPARE_SEEDS}] would run: python Compare.py" in out
    with pytest.raises(SystemExit) as stop:
        Reproduce.main(["--seeds", "0"])
    assert stop.value.code == 2


@pytest.mark.slow
def test_two_seeds_of_two_models_compared(tmp_path):
    """demo data, Basset and ConvNet with two seeds each, then 'Compare seeds' on those two."""
    json_dir = tiny_configs(tmp_path)
    demo, made_by = demo_input_steps(json_dir, SIZES)
    pipeline = with_seeds(study_steps(json_dir, made_by=made_by), 2)
    wanted = {"Basset", "Basset seed 2", "ConvNet", "ConvNet seed 2"}
    out = tmp_path / "results" / "comparison"
    steps = [demo[0], *(s for s in pipeline.steps if s.name in wanted),
             compare_seeds_step(pipeline.configs, 2, out, names=["Basset", "ConvNet"])]
    status = run_steps(steps, runner=in_process_runner, log=lambda m: None)
    assert set(status.values()) == {"ran"}
    results = tmp_path / "results"
    for model in ("Basset", "ConvNet"):
        (first,) = training_runs(results / model)
        (second,) = training_runs(results / model / "seed_2")
        assert json.loads((first / "config.json").read_text())["seed"] == 100
        assert json.loads((second / "config.json").read_text())["seed"] == 10_100
        a, b = (pd.read_csv(run / "predictions.csv") for run in (first, second))
        assert a["header"].tolist() == b["header"].tolist()  # the same test split
        assert not a["probability"].equals(b["probability"])  # another training
    table = pd.read_csv(out / SEEDS_TABLE_FILE)
    assert table["model"].unique().tolist() == ["Basset", "ConvNet"]
    assert (table["n_seeds"] == 2).all() and table["sd"].notna().all()
    tests = pd.read_csv(out / PAIRED_TESTS_FILE)
    assert set(tests["test"]) == {"bootstrap", "delong"}
    assert (tests["reference"] == "Basset").all() and (tests["model"] == "ConvNet").all()
    assert (out / SEEDS_FIGURE_FILE).is_file()

    def refuse(command):
        raise AssertionError(f"ran {command}")

    assert set(run_steps(steps, runner=refuse, log=lambda m: None).values()) == {"done"}
