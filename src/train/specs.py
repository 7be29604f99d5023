"""The model scripts' specs: what FSei.py, Basset.py, ConvNet.py, LR.py and DNABert2.py plug into
the shared workflow (`src.train.workflow`), and LR.py's own checks and weight report.

To add a model trained by the shared loop: register its class (`src.models.registry`), give it a
config (`src.config`), add its `ModelSpec` to `spec` below and a thin script that calls
`src.cli.run_model_cli("<name>", args)`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ..config import BassetConfig, ConvNetConfig, DNABert2Config, FSeiConfig, LRConfig
from ..data.datasets import build_sequence_datasets
from ..data.tokens import build_tokenized_datasets
from ..errors import InputError
from ..features.files import (
    balanced_sampler,
    feature_count,
    feature_files,
    load_feature_datasets,
    open_feature_data,
    read_feature_names,
)
from ..features.importance import importance_table, write_importance_table
from ..models import build_model
from ..models.dnabert2 import MODEL_NAME as DNABERT2
from ..models.huggingface import MODEL_NAME as HF_CLASSIFIER
from ..models.linear import initialise
from ..models.sei import check_fsei_flags, new_fsei
from ..report.figures import plot_distribution
from ..runs import Run, close_logger
from . import dnabert2
from .workflow import ModelSpec, Prepared

WEIGHT_FIGURE = "weight_distribution.png"


def spec(name: str) -> ModelSpec:
    """The spec of a model script, by the model's registry name."""
    specs = {
        "Basset": ModelSpec("Basset", BassetConfig, _sequence_datasets,
                            architecture=_cnn_architecture),
        "ConvNet": ModelSpec("ConvNet", ConvNetConfig, _sequence_datasets,
                             architecture=_cnn_architecture),
        "FSei": ModelSpec("FSei", FSeiConfig, _sequence_datasets,
                          new_model=lambda config, args, prepared: new_fsei(config, args),
                          check_args=check_fsei_flags),
        "LR": ModelSpec("LR", LRConfig,
                        lambda config, splits, prepared: load_feature_datasets(config, splits),
                        architecture=lambda config: {"n_features": feature_count(config)},
                        new_model=new_logistic_regression,
                        prepare=check_model_features, checkpoint_extra=lr_checkpoint_extra,
                        sampler=balanced_sampler),
        DNABERT2: ModelSpec(
            DNABERT2, DNABert2Config,
            lambda config, splits, prepared: build_tokenized_datasets(config, prepared.tokenizer,
                                                                      splits),
            new_model=dnabert2.new_model, check_args=dnabert2.check_flags,
            prepare=dnabert2.prepare,
            checkpoint_extra=dnabert2.checkpoint_extra, prepare_model=dnabert2.prepare_model,
            also_reads=(HF_CLASSIFIER,)),
    }
    return specs[name]


def _sequence_datasets(config, splits, prepared):
    return build_sequence_datasets(config, splits)


def _cnn_architecture(config) -> dict:
    return {**config.model_architecture.model_dump(), "sequence_length": config.sequence_length}


# ------------------------------------------------------------------------------------- LR.py

def new_logistic_regression(config, args, prepared):
    """A new LR model, initialised as `initial_weights` says: PyTorch's `nn.Linear` rule (the
    study's; the very draw of an `nn.Linear(F, 1)` made at this point, from the generator the
    workflow seeded with `seed`) or all zeros."""
    state = torch.random.get_rng_state()
    model = build_model("LR", {"n_features": feature_count(config)})
    torch.random.set_rng_state(state)  # so that "default" draws what nn.Linear(F, 1) would
    return initialise(model, config.initial_weights)


def lr_checkpoint_extra(config, datasets: dict, prepared) -> dict:
    """Saved in every LR checkpoint: the feature set and the name of each input column."""
    first = next(iter(datasets.values()))
    return {"feature_names": list(first.feature_names),
            "feature_set": config.feature_set if config.features_path else "files",
            "features_source": str(first.path.parent)}


def check_model_features(config, args: argparse.Namespace, checkpoint: dict | None) -> Prepared:
    """With -m: the checkpoint's feature names must be the columns of the config's files."""
    if checkpoint is None or args.resume:
        return Prepared()
    trained = checkpoint.get("extra", {}).get("feature_names")
    split = "train" if args.train else args.split
    files = feature_files(config, split)
    data = open_feature_data(files.data, files.data_key)
    names = read_feature_names(files, data.shape[1])
    if trained is None:
        raise InputError(f"{args.model} records no feature names; it was not written by LR.py")
    if len(trained) != len(names):
        raise InputError(
            f"{args.model} was trained on {len(trained):,} features (set "
            f"{checkpoint['extra'].get('feature_set')}), but {files.data} has {len(names):,}: "
            f"evaluate with the feature files of the same set (feature_set in the JSON)")
    differ = [i for i, (a, b) in enumerate(zip(trained, names)) if a != b]
    if differ:
        i = differ[0]
        raise InputError(
            f"{args.model} and {files.names} disagree on the feature columns ({len(differ):,} "
            f"differ; column {i}: {trained[i]!r} in the model, {names[i]!r} in the file): use the "
            f"feature files the model was trained with")
    return Prepared()


def write_weight_report(run_folder: str | Path, model, checkpoint: dict,
                        source: str | Path) -> Path:
    """Write `importance.csv` (every feature's weight, sorted by |weight|) and the
    weight-distribution plot of an LR model into its run folder; returns the CSV path.

    model : the `LogisticRegression`; checkpoint : its checkpoint dict (feature names);
    source : the checkpoint file, named in the log
    """
    run = Run(run_folder)
    try:
        names = checkpoint["extra"]["feature_names"]
        weights = model.feature_weights()
        table = importance_table(names, {"weight": weights, "abs_weight": np.abs(weights)},
                                 rank_by="weight", by_magnitude=True)
        path = write_importance_table(run.folder, table)
        plot_distribution(weights, run.path(WEIGHT_FIGURE),
                          xlabel="LR weight (log-odds per unit of Sei output)",
                          title=f"{run.folder.name}: {len(weights):,} feature weights")
        top = ", ".join(f"{row.assay} ({row.weight:+.3g})" for row in table.head(5).itertuples())
        run.log.info(f"feature weights of {source} (intercept {model.intercept:+.4g}) in "
                     f"{path}; largest |weight|: {top}")
        return path
    finally:
        close_logger(run)
