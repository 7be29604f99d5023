"""Synthetic Sei feature files in the Preprocess_data_to_numpy.py layout, for test_lr/test_lgbm.

Each column is a probability (uniform on [0, 1]); three named columns carry the signal:
logit = 8 (x_ZNF274 - 0.5) + 6 (x_REST - 0.5) - 8 (x_H3K36me3 - 0.5) - 1, label ~ Bernoulli.
The best possible AUROC on such data is about 0.9; the other columns are noise.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

N_FEATURES = 40
SIGNAL = {3: ("HepG2 | ZNF274 | ID:7", 8.0), 11: ("K562 | REST | ID:9", 6.0),
          25: ("GM12878 | H3K36me3 | ID:2", -8.0)}
SIGNAL_ASSAYS = {"ZNF274", "REST", "H3K36me3"}
SIZES = {"train": 800, "valid": 200, "test": 300}


def feature_names(n_features: int = N_FEATURES) -> list[str]:
    names = [f"Cell{j}_Tissue | TF{j} | ID:{1000 + j}" for j in range(n_features)]
    for column, (name, _) in SIGNAL.items():
        names[column] = name
    return names


def make_split(n: int, n_features: int = N_FEATURES, seed: int = 0):
    """(data float32 (n, F), targets int64 (n,), signal logit (n,))."""
    rng = np.random.default_rng(seed)
    data = rng.random((n, n_features), dtype=np.float32)
    logit = sum(weight * (data[:, column] - 0.5) for column, (_, weight) in SIGNAL.items()) - 1.0
    targets = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return data, targets, logit


def write_feature_folder(folder: Path, feature_set: str = "ALL", sizes: dict | None = None,
                         n_features: int = N_FEATURES, seed: int = 0) -> Path:
    """Write data/target/headers/names files of the three splits into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, (split, n) in enumerate((sizes or SIZES).items()):
        data, targets, _ = make_split(n, n_features, seed=seed + k)
        np.save(folder / f"data_{feature_set}_{split}.npy", data)
        np.save(folder / f"target_{feature_set}_{split}.npy", targets)
        (folder / f"headers_{split}.txt").write_text(
            "".join(f"{split}_seq{i}{'_r' if i % 2 else ''}\n" for i in range(n)))
    (folder / f"features_{feature_set}.txt").write_text("\n".join(feature_names(n_features)) + "\n")
    return folder


def write_json(path: Path, settings: dict) -> Path:
    path.write_text(json.dumps(settings, indent=2))
    return path
