"""Logistic regression on Sei features (LR.py), trained by the shared training loop.

The model keeps the project's one output contract, (N, F) -> (N, 2) logits, with the logit of
class 0 fixed at 0 and the logit of class 1 = w . x + b. Softmax over (0, z) is sigmoid(z) and
cross-entropy over it is the logistic loss, so this is exactly logistic regression: one weight per
feature, each the change in log-odds of retention per unit of that Sei output. (A free 2-row
linear layer would only be identifiable through w[1] - w[0], and weight decay would shrink the
two rows instead of the log-odds weights.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoints import load_model, read_checkpoint
from .errors import InputError
from .features import feature_files, importance_table, open_feature_data, read_feature_names
from .figures import plot_distribution
from .networks import register_model
from .runs import Run, atomic_write_text, close_logger

IMPORTANCE_FILE = "importance.csv"
DISTRIBUTION_FILE = "weight_distribution.png"


@register_model("LR")
class LogisticRegression(nn.Module):
    """Logistic regression: input (N, F) float, output (N, 2) logits `[0, w . x + b]`.

    Weights and bias start at zero (the loss is convex, so the optimum does not depend on the
    start, and runs are reproducible without seeding the initialisation).
    """

    def __init__(self, n_features: int):
        super().__init__()
        self.linear = nn.Linear(n_features, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)  # (N, 1) log-odds of class 1
        return torch.cat([torch.zeros_like(z), z], dim=1)

    def feature_weights(self) -> np.ndarray:
        """(F,) log-odds weight of each feature (float64 copy on the CPU)."""
        return self.linear.weight.detach().double().cpu().numpy()[0]

    @property
    def intercept(self) -> float:
        return float(self.linear.bias.detach().double().cpu()[0])


def lr_checkpoint_extra(config, datasets: dict) -> dict:
    """Saved in every LR checkpoint: the feature set and the name of each input column."""
    first = next(iter(datasets.values()))
    return {"feature_names": list(first.feature_names),
            "feature_set": config.feature_set if config.features_path else "files",
            "features_source": str(first.path.parent)}


def check_model_features(config, args: argparse.Namespace) -> None:
    """With -m: the checkpoint's feature names must be the columns of the config's files."""
    if not args.model:
        return
    payload = read_checkpoint(args.model, expected_model="LR")
    trained = payload.get("extra", {}).get("feature_names")
    split = "train" if args.train else args.split
    files = feature_files(config, split)
    data = open_feature_data(files.data, files.data_key)
    names = read_feature_names(files, data.shape[1])
    if trained is None:
        raise InputError(f"{args.model} records no feature names; it was not written by LR.py")
    if len(trained) != len(names):
        raise InputError(
            f"{args.model} was trained on {len(trained):,} features (set "
            f"{payload['extra'].get('feature_set')}), but {files.data} has {len(names):,}: "
            f"evaluate with the feature files of the same set (feature_set in the JSON)")
    differ = [i for i, (a, b) in enumerate(zip(trained, names)) if a != b]
    if differ:
        i = differ[0]
        raise InputError(
            f"{args.model} and {files.names} disagree on the feature columns ({len(differ):,} "
            f"differ; column {i}: {trained[i]!r} in the model, {names[i]!r} in the file): use the "
            f"feature files the model was trained with")


def write_weight_report(run_folder: str | Path, checkpoint: str | Path) -> Path:
    """Write `importance.csv` (every feature's weight, sorted by |weight|) and the
    weight-distribution plot for an LR checkpoint into a run folder; returns the CSV path."""
    run = Run(run_folder)
    try:
        model, payload = load_model(checkpoint, expected_model="LR")
        names = payload["extra"]["feature_names"]
        weights = model.feature_weights()
        table = importance_table(names, {"weight": weights, "abs_weight": np.abs(weights)},
                                 rank_by="weight", by_magnitude=True)
        path = run.path(IMPORTANCE_FILE)
        atomic_write_text(path, table.to_csv(index=False, float_format="%.6g"))
        plot_distribution(weights, run.path(DISTRIBUTION_FILE),
                          xlabel="LR weight (log-odds per unit of Sei output)",
                          title=f"{run.folder.name}: {len(weights):,} feature weights")
        top = ", ".join(f"{row.assay} ({row.weight:+.3g})" for row in table.head(5).itertuples())
        run.log.info(f"feature weights of {checkpoint} (intercept {model.intercept:+.4g}) in "
                     f"{path}; largest |weight|: {top}")
        return path
    finally:
        close_logger(run)
