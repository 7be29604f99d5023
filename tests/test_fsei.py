"""FSei: shapes, pretrained trunk loading, freezing, and the FSei.py script end to end."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import random_sequences, write_dataset

import FSei as fsei_script
from src.config import FSeiConfig, load_config
from src.data.splits import write_split_indices
from src.models.sei import FSei, Sei, new_fsei, write_official_checkpoint
from src.train.checkpoints import load_model
from src.train.loop import build_optimizer

CHANNELS = [4, 6, 8]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """Tiny data (64 bp), an official-format Sei checkpoint of CHANNELS, and a config."""
    root = tmp_path_factory.mktemp("fsei")
    sequences = random_sequences(60, 64, seed=2)
    labels = [i % 3 == 0 for i in range(60)]
    write_dataset(root / "data", sequences, [int(v) for v in labels])
    write_split_indices(root / "data", len(sequences))  # made here, not by the first test
    torch.manual_seed(21)
    write_official_checkpoint(Sei(CHANNELS, n_targets=10), root / "sei.pth")
    config = {"optimizer_type": "adamw", "max_lr": 0.01, "warmup_steps": 0, "final_lr": 0.001,
              "max_epochs": 1, "batch_size": 16, "num_workers": 0, "sequence_length": 64,
              "data_path": str(root / "data"), "results_path": str(root / "results"),
              "sei_path": str(root / "sei.pth"),
              "model_architecture": {"trunk_channels": CHANNELS, "embed_dim": 8}}
    (root / "fsei.json").write_text(json.dumps(config))
    return root


def run_script(args) -> Path:
    """Run FSei.py's main; returns the newest run folder."""
    fsei_script.main(args)
    results = Path(json.loads(Path(args[args.index("--json") + 1]).read_text())["results_path"])
    return max(results.glob("FSei*"), key=lambda p: p.stat().st_mtime_ns)


def sei_trunk(path: Path) -> dict:
    state = torch.load(path, weights_only=True)
    return {k[len("module.model."):]: v for k, v in state.items()
            if not k.startswith("module.model.classifier")}


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("length", [64, 600])
def test_fsei_shapes_including_a_batch_of_one(batch, length):
    torch.manual_seed(0)
    model = FSei(CHANNELS, embed_dim=8)
    assert len(model.trunk.state_dict()) == 34
    x = torch.rand(batch, 4, length)
    for train in (True, False):
        model.train(train)
        assert model(x).shape == (batch, 2)


def test_the_study_head_is_the_attention_pool_head():
    model = FSei()  # not on the meta device: its torch.eye first imports torch._refs (slow)
    shapes = {k: tuple(v.shape) for k, v in model.head.state_dict().items()}
    assert shapes["project.0.weight"] == (520, 960, 3)
    assert shapes["fcn.0.weight"] == (520, 520)
    assert shapes["prediction_head.weight"] == (2, 520)
    assert sum(k.endswith("weight") and v.ndim == 2 for k, v in model.head.state_dict().items()) == 2


def test_freeze_keeps_the_trunk_and_trains_the_head(workspace):
    config = load_config(workspace / "fsei.json", FSeiConfig)
    args = argparse.Namespace(pretrain=True, freeze=True)
    model = new_fsei(config, args)
    trunk0 = {k: v.clone() for k, v in model.trunk.state_dict().items()}
    head0 = {k: v.clone() for k, v in model.head.state_dict().items()}
    for key, value in sei_trunk(workspace / "sei.pth").items():
        assert torch.equal(trunk0[key], value), key
    optimizer = build_optimizer(model, config)
    x, y = torch.rand(8, 4, 64), torch.tensor([0, 1] * 4)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    for key, value in model.trunk.state_dict().items():
        assert torch.equal(value, trunk0[key]), key
    changed = [k for k, v in model.head.state_dict().items() if not torch.equal(v, head0[k])]
    assert "prediction_head.weight" in changed and "project.0.weight" in changed


def test_script_pretrained_frozen_then_evaluate_only(workspace, tmp_path):
    config = json.loads((workspace / "fsei.json").read_text())
    (tmp_path / "fsei.json").write_text(json.dumps({**config, "results_path": str(tmp_path)}))
    cfg = str(tmp_path / "fsei.json")
    frozen_run = run_script(["--json", cfg, "-n", "-p", "-f", "-t", "-e"])
    best = frozen_run / "best.pt"
    model, payload = load_model(best, expected_model="FSei")
    assert payload["architecture"]["freeze_trunk"] is True
    assert not any(p.requires_grad for p in model.trunk.parameters())  # stays frozen when reloaded
    for key, value in sei_trunk(workspace / "sei.pth").items():
        assert torch.equal(model.trunk.state_dict()[key], value), key
    # -p without -f fine-tunes the trunk
    tuned = run_script(["--json", cfg, "-n", "-p", "-t"])
    tuned_model, _ = load_model(tuned / "best.pt", expected_model="FSei")
    trunk = sei_trunk(workspace / "sei.pth")
    assert not all(torch.equal(tuned_model.trunk.state_dict()[k], v) for k, v in trunk.items())
    # -m -e evaluates without training: a new eval folder, no training outputs, weights untouched
    before = best.read_bytes()
    evaluated = run_script(["--json", cfg, "-m", str(best), "-e"])
    assert evaluated.name.startswith("FSei_eval_")
    assert {p.name for p in evaluated.iterdir()} >= {"predictions.csv", "metrics.json", "config.json"}
    assert not (evaluated / "last.pt").exists() and not (evaluated / "loss.csv").exists()
    assert best.read_bytes() == before
    predictions = pd.read_csv(evaluated / "predictions.csv")
    assert len(predictions) == 12 and predictions["header"].str.endswith("_r").sum() == 6
    results = pd.read_csv(tmp_path / "results.csv")
    assert results["run"].tolist()[-1] == evaluated.name


@pytest.mark.parametrize("flags, message", [
    (["-n", "-f", "-t"], "-f freezes the pretrained Sei trunk, so it needs -p"),
    (["-m", "x.pt", "-f", "-e"], "needs -p"),
])
def test_freeze_needs_pretrain(workspace, capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        fsei_script.main(["--json", str(workspace / "fsei.json"), *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_pretrained_loading_refuses_another_width_and_a_missing_file(workspace, tmp_path, capsys):
    config = json.loads((workspace / "fsei.json").read_text())
    config["model_architecture"]["trunk_channels"] = [4, 6, 10]
    config["results_path"] = str(tmp_path / "results")
    (tmp_path / "narrow.json").write_text(json.dumps(config))
    with pytest.raises(SystemExit) as exit_info:
        fsei_script.main(["--json", str(tmp_path / "narrow.json"), "-n", "-p", "-t"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "trunk_channels is [4, 6, 10]" in err and "[4, 6, 8]" in err
    assert not (tmp_path / "results").exists()  # refused before any run folder was made
    config["sei_path"] = str(tmp_path / "absent" / "sei.pth")
    (tmp_path / "missing.json").write_text(json.dumps(config))
    with pytest.raises(SystemExit):
        fsei_script.main(["--json", str(tmp_path / "missing.json"), "-n", "-p", "-t"])
    assert "Zenodo record 4906996" in capsys.readouterr().err


def test_trunk_dropout_switch_keeps_the_official_tensor_names():
    with_dropout, without = FSei(CHANNELS, embed_dim=8), FSei(CHANNELS, embed_dim=8,
                                                             trunk_dropout=False)
    assert list(with_dropout.state_dict()) == list(without.state_dict())
    rates = [m.p for m in without.trunk.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(rates) == 9 and set(rates) == {0.0}
    assert {m.p for m in with_dropout.trunk.modules() if isinstance(m, torch.nn.Dropout)} == {0.1, 0.2}
