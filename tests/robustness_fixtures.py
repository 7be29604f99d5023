"""Shared pieces of the robustness suite (tests/test_robustness_*.py): a small workspace with one
good input of every kind the scripts read, a way to break one of them, and the check that a
script refuses it properly (exit code 2, a message naming the file and the fix, no traceback,
nothing on disk changed).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import random_sequences, write_dataset
from sei_feature_fixtures import write_feature_folder

N_ROWS = 60
LENGTH = 300
SEI_NAMES = ["HepG2 | CTCF | ID:1", "K562 | H3K27ac | ID:2", "A549 | DNase | ID:3",
             "HeLa | REST | ID:4", "GM12878 | H3K4me3 | ID:5", "Liver | ATAC-seq | ID:6",
             "HepG2 | ZNF274 | ID:7", "K562 | H2A.Z | ID:8", "HeLa | CENPA | ID:9",
             "GM12878 | TP53 | ID:10"]
TINY_BASSET = {"CNN1filters": 8, "CNN1filterSize": 9, "CNN1poolSize": 4, "CNN1padding": 4,
               "CNN2filters": 8, "CNN2filterSize": 5, "CNN2poolSize": 1, "CNN2padding": 2,
               "CNN3filters": 4, "CNN3filterSize": 4, "CNN3poolSize": 2, "CNN3padding": 2,
               "FC1inputSize": 152, "FC1outputSize": 16, "FC2outputSize": 8, "numClasses": 2}
TINY_CONVNET = {"channels": [8, 8, 8, 8], "dilations": [2, 4], "residual_width": 8,
                "embed_dim": 8, "feedforward_dim": 16}
TINY_FSEI = {"trunk_channels": [4, 6, 8], "embed_dim": 8, "trunk_dropout": False}
TRAINING = {"max_epochs": 1, "warmup_steps": 0, "batch_size": 32, "optimizer_type": "adamw",
            "max_lr": 0.003, "num_workers": 0, "mixed_precision": False}
FEATURE_SIZES = {"train": 80, "valid": 40, "test": 40}


def base_sequences() -> tuple[list[str], list[int]]:
    sequences = random_sequences(N_ROWS, LENGTH, seed=11)
    labels = [int(i % 5 < 2) for i in range(N_ROWS)]  # 40% label 1
    return sequences, labels


def build_base(root: Path) -> Path:
    """The good inputs, made once per test module (copied into each test's workspace)."""
    import Basset
    from src.data.splits import write_split_indices
    from src.demo.dnabert2 import make_tiny_model
    from src.models.sei import Sei, write_official_checkpoint

    sequences, labels = base_sequences()
    write_dataset(root / "data", sequences, labels)
    write_split_indices(root / "data", N_ROWS, seed=100)  # 48 / 6 / 6
    torch.manual_seed(0)
    write_official_checkpoint(Sei((4, 6, 8), n_targets=len(SEI_NAMES)), root / "sei" / "sei.pth")
    (root / "sei" / "target.names").write_text("\n".join(SEI_NAMES) + "\n")
    make_tiny_model(root / "bert", sequences[:40], vocab_size=64, hidden_size=16,
                    num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    write_feature_folder(root / "features", sizes=FEATURE_SIZES, n_features=30)
    # one trained Basset run (1 epoch): best.pt, last.pt, config.json
    configs = write_configs(root)
    Basset.main(["--json", str(configs["Basset"]), "-n", "-t"])
    (run,) = (root / "results" / "Basset").iterdir()
    run.rename(root / "results" / "Basset" / "Basset_run")
    for path in configs.values():  # each workspace writes its own, with its own paths
        path.unlink()
    return root


def write_configs(ws: Path) -> dict[str, Path]:
    """One valid JSON config per script, with paths inside the workspace `ws`."""
    data, results = str(ws / "data"), ws / "results"
    sequence = {**TRAINING, "data_path": data, "sequence_length": LENGTH}
    features = {"features_path": str(ws / "features"), "feature_set": "ALL"}
    settings = {
        "Basset": {**sequence, "results_path": str(results / "Basset"),
                   "model_architecture": TINY_BASSET},
        # ConvNet needs 424 bp: the 300 bp sequences are centred in 440
        "ConvNet": {**sequence, "sequence_length": 440, "results_path": str(results / "ConvNet"),
                    "model_architecture": TINY_CONVNET},
        "FSei": {**sequence, "results_path": str(results / "FSei"),
                 "sei_path": str(ws / "sei" / "sei.pth"), "model_architecture": TINY_FSEI},
        "DNABert2": {**TRAINING, "data_path": data, "results_path": str(results / "DNABert2"),
                     "model_name_or_path": str(ws / "bert"), "max_length": 96},
        "LR": {**TRAINING, **features, "results_path": str(results / "LR")},
        "LGBM": {**features, "results_path": str(results / "LGBM"), "n_estimators": 5,
                 "num_threads": 1},
        "Preprocess": {"data_path": data, "result_path": str(ws / "sei_features"),
                       "sei_path": str(ws / "sei" / "sei.pth"),
                       "target_names": str(ws / "sei" / "target.names"),
                       "sequence_length": LENGTH, "batch_size": 16, "device": "cpu"},
        "Attribute": {"data_path": data, "ig_steps": 4, "device": "cpu", "n_logos": 0},
    }
    ws.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, values in settings.items():
        paths[name] = ws / f"{name}.json"
        paths[name].write_text(json.dumps(values, indent=2) + "\n")
    return paths


def make_workspace(base: Path, ws: Path) -> dict[str, Path]:
    """A private copy of the good inputs in `ws`, with configs pointing into it."""
    shutil.copytree(base, ws)
    return write_configs(ws)


# --- breaking one input ----------------------------------------------------------------------

def data_lines(ws: Path) -> list[str]:
    return (ws / "data" / "final_data.csv").read_text().splitlines()


def set_row(ws: Path, row: int, line: str) -> int:
    """Replace data row `row` (0-based) with `line`; returns its line number in the file."""
    lines = data_lines(ws)
    lines[row + 1] = line
    (ws / "data" / "final_data.csv").write_text("\n".join(lines) + "\n")
    return row + 2


# --- the check --------------------------------------------------------------------------------

def snapshot(root: Path) -> dict:
    """Every file (size, modification time, content hash) and folder under `root`."""
    state = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_dir():
            state[key] = "folder"
        else:
            stat = path.stat()
            state[key] = (stat.st_size, stat.st_mtime_ns,
                          hashlib.sha1(path.read_bytes()).hexdigest())
    return state


def run_main(script, argv) -> int:
    """`script.main(argv)`; its exit code (0 when it returns)."""
    with pytest.raises(SystemExit) as stop:
        script.main([str(a) for a in argv])
        raise SystemExit(0)
    return stop.value.code


def assert_refused(script, argv, root: Path, capsys, *patterns: str) -> str:
    """The script exits with code 2 and one `error:` paragraph matching every regex of
    `patterns` (file, line or key, fix), prints no traceback, and leaves `root` as it was."""
    before = snapshot(root)
    capsys.readouterr()
    code = run_main(script, argv)
    err = capsys.readouterr().err
    assert code == 2, f"exit code {code}, stderr:\n{err}"
    assert "Traceback" not in err, err
    assert "error: " in err, err
    for pattern in patterns:
        assert re.search(pattern, err, re.S), f"{pattern!r} not in:\n{err}"
    after = snapshot(root)
    changed = sorted(set(before) ^ set(after)) + sorted(
        k for k in set(before) & set(after) if before[k] != after[k])
    assert not changed, f"changed on disk: {changed}"
    return err


def loose(path: Path | str) -> str:
    """Regex for a path as it appears in a message."""
    return re.escape(str(path))


def np_save(path: Path, array) -> None:
    np.save(path, np.asarray(array))
