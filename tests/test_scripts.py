"""Basset.py and ConvNet.py end to end on tiny data: flags, outputs, errors and exit codes."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

import Basset
import ConvNet

TINY_BASSET = {"CNN1filters": 8, "CNN1filterSize": 9, "CNN1poolSize": 4, "CNN1padding": 4,
               "CNN2filters": 8, "CNN2filterSize": 5, "CNN2poolSize": 1, "CNN2padding": 2,
               "CNN3filters": 4, "CNN3filterSize": 4, "CNN3poolSize": 2, "CNN3padding": 2,
               "FC1inputSize": 152, "FC1outputSize": 16, "FC2outputSize": 8, "numClasses": 2}
TINY_CONVNET = {"channels": [8, 8, 8, 8], "dilations": [2, 4], "residual_width": 8,
                "embed_dim": 8, "feedforward_dim": 16}


def write_config(folder: Path, data_dir: Path, architecture: dict, **overrides) -> Path:
    config = {"data_path": str(data_dir), "results_path": str(folder / "results"),
              "sequence_length": 300, "max_epochs": 2, "warmup_steps": 1, "batch_size": 64,
              "optimizer_type": "adamw", "max_lr": 0.003, "num_workers": 0,
              "model_architecture": architecture, **overrides}
    path = folder / "config.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def run_main(script, argv):
    with pytest.raises(SystemExit) as exit_info:
        script.main(argv)
        raise SystemExit(0)
    return exit_info.value.code


@pytest.fixture(scope="module")
def convnet_data(tmp_path_factory):
    """ConvNet needs at least 424 bp: a small 440 bp demo set."""
    from src.demo.data import DemoSettings, generate_demo

    return generate_demo(tmp_path_factory.mktemp("demo440"),
                         DemoSettings(n_sequences=300, length=440, seed=2))


@pytest.mark.parametrize("script, architecture", [(Basset, TINY_BASSET), (ConvNet, TINY_CONVNET)])
def test_train_evaluate_and_reevaluate(tmp_path, demo_dir, convnet_data, script, architecture):
    if script is ConvNet:
        demo_dir = convnet_data
    config = write_config(tmp_path, demo_dir, architecture,
                          sequence_length=440 if script is ConvNet else 300)
    assert run_main(script, ["--json", str(config), "-n", "-t", "-e"]) == 0
    results = tmp_path / "results"
    (run,) = [p for p in results.iterdir() if p.is_dir()]
    expected = {"config.json", "run.log", "best.pt", "last.pt", "loss.csv", "loss.png",
                "predictions.csv", "metrics.json"}
    assert expected <= {p.name for p in run.iterdir()}
    predictions = pd.read_csv(run / "predictions.csv")
    test_rows = len((demo_dir / "test_indices.txt").read_text().split())
    assert len(predictions) == 2 * test_rows  # every test sequence and its reverse complement
    assert predictions["header"].str.endswith("_r").sum() == test_rows
    assert predictions["probability"].between(0, 1).all()
    assert json.loads((run / "config.json").read_text())["max_epochs"] == 2

    # -m PATH -e: evaluate the saved model in a new folder, same predictions
    assert run_main(script, ["--json", str(config), "-m", str(run / "best.pt"), "-e"]) == 0
    (evaluation,) = [p for p in results.iterdir() if p.is_dir() and "_eval_" in p.name]
    again = pd.read_csv(evaluation / "predictions.csv")
    assert (again["header"] == predictions["header"]).all()
    np.testing.assert_allclose(again["probability"], predictions["probability"], rtol=1e-5)
    table = pd.read_csv(results / "results.csv")
    assert len(table) == 2 and set(table.columns) >= {"run", "accuracy", "auroc", "auprc",
                                                       "auprc_trapezoid"}


def test_resume_a_finished_run_adds_no_epochs_and_resume_checks_its_folder(tmp_path, demo_dir):
    config = write_config(tmp_path, demo_dir, TINY_BASSET, max_epochs=2)
    assert run_main(Basset, ["--json", str(config), "-n", "-t"]) == 0
    (run,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    assert run_main(Basset, ["--resume", str(run)]) == 0
    assert len(pd.read_csv(run / "loss.csv")) == 2
    assert run_main(Basset, ["--resume", str(tmp_path)]) == 2  # not a run folder


@pytest.mark.parametrize("argv, message", [
    ([], "choose a model: -n"),
    (["-n"], "-n builds an untrained model: add -t"),
    (["-m", "x.pt"], "nothing to do: add -t"),
    (["--resume", "r", "--json", "c.json"], "drop --json"),
    (["-n", "-t", "--json", "missing.json"], "config file missing.json not found"),
])
def test_flag_errors_exit_2_with_a_fix(capsys, argv, message):
    assert run_main(Basset, argv) == 2
    assert message in capsys.readouterr().err


def test_wrong_checkpoint_type_and_bad_config_exit_2(tmp_path, demo_dir, convnet_data, capsys):
    config = write_config(tmp_path, demo_dir, TINY_BASSET, max_epochs=1, warmup_steps=0)
    assert run_main(Basset, ["--json", str(config), "-n", "-t"]) == 0
    (run,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    (tmp_path / "conv").mkdir()
    conv_config = write_config(tmp_path / "conv", convnet_data, TINY_CONVNET, sequence_length=440)
    assert run_main(ConvNet, ["--json", str(conv_config), "-m", str(run / "best.pt"), "-e"]) == 2
    assert "is a Basset checkpoint, but this script needs a ConvNet" in capsys.readouterr().err
    short = write_config(tmp_path / "conv", demo_dir, TINY_CONVNET, sequence_length=300)
    assert run_main(ConvNet, ["--json", str(short), "-n", "-t"]) == 2
    assert "ConvNet needs inputs of at least 424 bp" in capsys.readouterr().err
    config.write_text(config.read_text().replace('"max_epochs"', '"max_epoch"'))
    assert run_main(Basset, ["--json", str(config), "-n", "-t"]) == 2
    assert "did you mean 'max_epochs'?" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["Basset.py", "ConvNet.py", "Make_demo_data.py"])
def test_help(script):
    result = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "usage:" in result.stdout


LEARNER = {"CNN1filters": 32, "CNN1filterSize": 13, "CNN1poolSize": 10, "CNN1padding": 6,
           "CNN2filters": 16, "CNN2filterSize": 5, "CNN2poolSize": 1, "CNN2padding": 2,
           "CNN3filters": 8, "CNN3filterSize": 4, "CNN3poolSize": 2, "CNN3padding": 2,
           "FC1inputSize": 80, "FC1outputSize": 32, "FC2outputSize": 16, "numClasses": 2}


@pytest.mark.slow
def test_demo_data_is_learnable_by_a_tiny_model(tmp_path_factory):
    """A small Basset trained for a few epochs on demo data reaches test AUROC > 0.9."""
    from src.demo.data import DemoSettings, generate_demo

    data = generate_demo(tmp_path_factory.mktemp("learnable"),
                         DemoSettings(n_sequences=2400, length=200, seed=1))
    folder = tmp_path_factory.mktemp("learner")
    config = write_config(folder, data, LEARNER, sequence_length=200, max_epochs=14,
                          max_lr=0.01, warmup_begin_lr=0.001, batch_size=32)
    assert run_main(Basset, ["--json", str(config), "-n", "-t", "-e"]) == 0
    (run,) = [p for p in (folder / "results").iterdir() if p.is_dir()]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["auroc"] > 0.9, metrics


def test_demo_generator_format_and_refusal_to_overwrite(demo_dir):
    from src.data.sequences import read_sequence_table
    from src.demo.data import DemoSettings, generate_demo
    from src.errors import InputError

    table = read_sequence_table(demo_dir / "final_data.csv")
    assert len(table) == 1200 and {len(s) for s in table.sequences} == {300}
    assert 0.17 < table.labels.mean() < 0.27
    sites = pd.read_csv(demo_dir / "planted_sites.csv")
    positives = set(table.headers[table.labels == 1])
    ir_sites = sites[sites["tf"].isin(["ZNF274", "REST", "ZNF143"])]
    assert ir_sites["header"].isin(positives).mean() > 0.8
    before = (demo_dir / "final_data.csv").read_bytes()
    with pytest.raises(InputError, match="already exist"):
        generate_demo(demo_dir, DemoSettings(n_sequences=10))
    assert (demo_dir / "final_data.csv").read_bytes() == before
