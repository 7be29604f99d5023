"""LightGBM on Sei features (LGBM.py): training with early stopping, Bayesian search, outputs.

LightGBM is not a PyTorch model, so it does not go through the training loop; it shares the
rest: configs (`LGBMConfig`), feature files (`src.features.files`), run folders and results.csv
(`src.runs`), metrics (`src.metrics`) and figures (`src.report.figures`).

A run folder `results_path/LGBM_<time>/` holds config.json, run.log, params.json (the LightGBM
parameters used, best iteration), model.txt (LightGBM's text format, trees up to the best
iteration), boosting.csv (validation AUC and log-loss per round), predictions.csv, metrics.json,
importance.csv, importance_distribution.png, and with --optimize search_history.csv (one row per
evaluated point, written as the search goes) and best_params.json.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from bayes_opt import BayesianOptimization
from sklearn.metrics import log_loss
from tqdm.auto import tqdm

from ..config import LGBM_SEARCH_SPACE as SEARCH_SPACE
from ..config import LGBMConfig, save_config
from ..data.splits import sequence_keys
from ..errors import InputError
from ..features.files import load_feature_splits
from ..features.importance import importance_table, write_importance_table
from ..io import append_csv_row, atomic_write_text
from ..metrics import binary_metrics, require_both_classes
from ..report.figures import plot_distribution
from ..runs import CONFIG_FILE, LIGHTGBM_MODEL_FILE, Run, close_logger, elapsed

MODEL_FILE = LIGHTGBM_MODEL_FILE
DISTRIBUTION_FILE = "importance_distribution.png"
HISTORY_FILE = "search_history.csv"


def lgbm_params(config: LGBMConfig) -> dict:
    """LightGBM parameters of a config (binary objective; AUC first: it drives early stopping)."""
    params = {
        "objective": "binary", "boosting_type": "gbdt", "metric": ["auc", "binary_logloss"],
        "learning_rate": config.learning_rate, "num_leaves": config.num_leaves,
        "max_depth": config.max_depth, "reg_alpha": config.reg_alpha,
        "reg_lambda": config.reg_lambda, "feature_fraction": config.feature_fraction,
        "bagging_fraction": config.bagging_fraction, "bagging_freq": config.bagging_freq,
        "min_split_gain": config.min_split_gain, "min_child_weight": config.min_child_weight,
        # the study's imbalance handling: weight the positive class by the negative/positive ratio
        "is_unbalance": config.imbalanced_data,
        "device_type": config.device, "num_threads": config.num_threads,
        "seed": config.seed, "deterministic": True, "verbosity": -1,
    }
    if config.device == "gpu":
        params.update(gpu_platform_id=config.gpu_platform_id, gpu_device_id=config.gpu_device_id)
    elif config.device == "cuda":
        params.update(gpu_device_id=config.gpu_device_id)
    return params


def check_device(params: dict, source: str | Path = "the JSON config") -> None:
    """Fail fast, with the fix, when this LightGBM build cannot use the configured device.

    A 1-round fit on 64 random rows: LightGBM reports a missing OpenCL device, or a build without
    GPU / CUDA support, only once it trains.
    """
    device = params["device_type"]
    if device == "cpu":
        return
    rng = np.random.default_rng(0)
    probe = lgb.Dataset(rng.random((64, 2)), label=np.arange(64) % 2,
                        params={"verbosity": -1})
    try:
        lgb.train({**params, "metric": "auc"}, probe, num_boost_round=1)
    except lgb.basic.LightGBMError as err:
        reason = str(err).strip().splitlines()[0]
        install = ("a LightGBM built with CUDA (pip install lightgbm --no-binary lightgbm "
                   "--config-settings=cmake.define.USE_CUDA=ON) and an NVIDIA driver"
                   if device == "cuda" else
                   "an OpenCL driver for the GPU (e.g. the NVIDIA driver's OpenCL ICD) and a "
                   "LightGBM built with GPU support (pip install lightgbm --no-binary lightgbm "
                   "--config-settings=cmake.define.USE_GPU=ON)")
        raise InputError(f"{source}: \"device\": \"{device}\" asks LightGBM to train on a GPU, but "
                         f"this LightGBM cannot ({reason}). Install {install}, or set \"device\": "
                         f"\"cpu\"") from None


class _ProgressBar:
    """LightGBM callback: a tqdm bar over boosting rounds with the latest validation AUC."""

    order = 40  # after record_evaluation / early_stopping

    def __init__(self, total: int, desc: str):
        self.bar = tqdm(total=total, desc=desc, leave=False, disable=None)

    def __call__(self, env) -> None:
        self.bar.update(1)
        for result in env.evaluation_result_list or ():
            if result[1] == "auc":
                self.bar.set_postfix(auc=f"{result[2]:.4f}", refresh=False)
                break

    def close(self) -> None:
        self.bar.close()


def train_booster(params: dict, train_set: lgb.Dataset, valid_set: lgb.Dataset,
                  n_estimators: int, early_stopping_round: int
                  ) -> tuple[lgb.Booster, pd.DataFrame]:
    """Boost up to `n_estimators` rounds, stopping when validation AUC has not improved for
    `early_stopping_round` rounds; returns the booster (`best_iteration` set) and the
    per-round validation metrics (columns round, valid_auc, valid_binary_logloss)."""
    recorded: dict = {}
    bar = _ProgressBar(n_estimators, "boosting")
    try:
        booster = lgb.train(params, train_set, num_boost_round=n_estimators,
                            valid_sets=[valid_set], valid_names=["valid"],
                            callbacks=[lgb.early_stopping(early_stopping_round,
                                                          first_metric_only=True, verbose=False),
                                       lgb.record_evaluation(recorded), bar])
    finally:
        bar.close()
    history = pd.DataFrame({f"valid_{metric}": values
                            for metric, values in recorded.get("valid", {}).items()})
    history.insert(0, "round", np.arange(1, len(history) + 1))
    return booster, history


def _point_to_params(point: dict) -> dict:
    """bayes_opt's point -> LightGBM parameters with plain Python types."""
    return {key: int(value) if len(SEARCH_SPACE[key]) == 3 else float(value)
            for key, value in point.items()}


def sequence_groups(headers) -> np.ndarray:
    """Group id of each feature row: a reverse-complement row ("<header>_r") belongs to the
    row of its sequence. A header that ends in "_r" without such a row is its own group.

    Returns
    -------
    np.ndarray (N,) int64, equal for rows of one sequence
    """
    _, groups = np.unique(sequence_keys(headers), return_inverse=True)
    return groups.astype(np.int64)


def grouped_folds(labels: np.ndarray, headers, n_folds: int, seed: int
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-validation folds, stratified by label, that keep each sequence and its reverse
    complement in the same fold (`sklearn.model_selection.StratifiedGroupKFold`, shuffled with
    `seed`). With random folds the reverse complement of a held-out sequence is in the training
    folds, and the CV AUC measures recall of near-duplicates.

    Returns
    -------
    list of `n_folds` (train_rows, held_out_rows) int arrays, as `lgb.cv(folds=...)` takes them
    """
    from sklearn.model_selection import StratifiedGroupKFold

    labels = np.asarray(labels)
    groups = sequence_groups(headers)
    n_groups = len(np.unique(groups))
    if n_groups < n_folds:
        raise InputError(f"cv_folds {n_folds}: the training split holds only {n_groups} "
                         f"sequence(s); lower cv_folds")
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(train.astype(np.int64), held.astype(np.int64))
            for train, held in splitter.split(np.zeros(len(labels)), labels, groups)]


def bayesian_search(params: dict, train_set: lgb.Dataset, config: LGBMConfig, run: Run,
                    folds: list | None = None) -> dict:
    """Bayesian optimisation of SEARCH_SPACE by `cv_folds`-fold `lgb.cv` AUC on the training
    split: `init_points` random points, then `n_iter` guided ones. Each evaluation is appended
    to search_history.csv as soon as it is done; returns the best point's parameters.

    folds : the CV folds (`grouped_folds`); None = LightGBM's stratified random folds
    """
    total = config.init_points + config.n_iter
    columns = ("evaluation", "phase", "cv_auc_mean", "cv_auc_stdv", "rounds", *SEARCH_SPACE,
               "seconds")
    history_path = run.path(HISTORY_FILE)
    bar = tqdm(total=total, desc="Bayesian search", leave=False, disable=None)
    count = 0

    def cv_auc(**point) -> float:
        nonlocal count
        count += 1
        start = time.perf_counter()
        tried = _point_to_params(point)
        result = lgb.cv({**params, **tried}, train_set, num_boost_round=config.n_estimators,
                        nfold=config.cv_folds, stratified=True, shuffle=True, seed=config.seed,
                        folds=folds,
                        callbacks=[lgb.early_stopping(config.early_stopping_round,
                                                      first_metric_only=True, verbose=False)])
        means, stdvs = np.asarray(result["valid auc-mean"]), np.asarray(result["valid auc-stdv"])
        best = int(np.argmax(means))
        phase = "random" if count <= config.init_points else "bayesian"
        append_csv_row(history_path, columns, {
            "evaluation": count, "phase": phase, "cv_auc_mean": float(means[best]),
            "cv_auc_stdv": float(stdvs[best]), "rounds": best + 1, **tried,
            "seconds": round(time.perf_counter() - start, 2)})
        run.log.info(f"search {count}/{total} ({phase}): {config.cv_folds}-fold AUC "
                     f"{means[best]:.4f} ± {stdvs[best]:.4f} at {best + 1} rounds with "
                     + ", ".join(f"{k}={v:.4g}" for k, v in tried.items()))
        bar.update(1)
        return float(means[best])

    try:
        with warnings.catch_warnings():
            # integer bounds are supported by bayes_opt 3 but still flagged as experimental
            warnings.filterwarnings("ignore", message="Non-float parameters are experimental")
            optimizer = BayesianOptimization(cv_auc, dict(SEARCH_SPACE),
                                             random_state=config.seed, verbose=0,
                                             allow_duplicate_points=True)
            optimizer.maximize(init_points=config.init_points, n_iter=config.n_iter)
    finally:
        bar.close()
    best = _point_to_params(optimizer.max["params"])
    run.write_json("best_params.json", {"cv_auc_mean": float(optimizer.max["target"]),
                                        "params": best, "evaluations": len(optimizer.res),
                                        "search_space": {k: list(v[:2]) for k, v in
                                                         SEARCH_SPACE.items()}})
    run.log.info(f"best of {len(optimizer.res)} points: {config.cv_folds}-fold AUC "
                 f"{optimizer.max['target']:.4f} with {best}")
    return best


def run_lgbm(config: LGBMConfig, config_path: str | Path, optimize: bool = False) -> Path:
    """Everything LGBM.py does: validate the feature files, (search,) train, evaluate on the test
    split, write the run folder and a results.csv row; returns the run folder."""
    splits = load_feature_splits(config, ("train", "valid", "test"))
    # early stopping follows the validation AUC, which needs both classes too
    for split in ("train", "valid"):
        require_both_classes(splits[split].labels, split, str(splits[split].files.target))
    params = lgbm_params(config)
    check_device(params, config_path)
    run = Run.create(config.results_path, "LGBM")
    try:
        save_config(config, run.path(CONFIG_FILE))
        train, valid, test = splits["train"], splits["valid"], splits["test"]
        for part in splits.values():
            if part.note:
                run.log.info(part.note)
        run.log.info(f"LightGBM on {train.n_features:,} Sei features ({train.files.data.parent}): "
                     f"{len(train.labels):,} training, {len(valid.labels):,} validation, "
                     f"{len(test.labels):,} test rows; device {config.device}")
        train_set = lgb.Dataset(train.data, label=train.labels)
        valid_set = lgb.Dataset(valid.data, label=valid.labels, reference=train_set)
        if optimize:
            start = time.perf_counter()
            folds = grouped_folds(train.labels, train.headers, config.cv_folds, config.seed)
            run.log.info(f"search: {config.cv_folds} folds grouped by sequence (a sequence and "
                         f"its reverse complement always in the same fold)")
            params.update(bayesian_search(params, train_set, config, run, folds))
            run.log.info(f"search took {elapsed(start)}")
        start = time.perf_counter()
        booster, history = train_booster(params, train_set, valid_set, config.n_estimators,
                                         config.early_stopping_round)
        best_iteration = booster.best_iteration
        run.write_table("boosting.csv", history)
        best_auc = float(history["valid_auc"].iloc[best_iteration - 1])
        run.log.info(f"trained in {elapsed(start)}: best iteration {best_iteration} of "
                     f"{len(history)} (validation AUC {best_auc:.4f})")
        model_path = run.path(MODEL_FILE)
        # only the trees up to the best iteration: a reloaded model has no best_iteration
        atomic_write_text(model_path, booster.model_to_string(num_iteration=best_iteration))
        run.write_json("params.json", {"params": params, "num_boost_round": config.n_estimators,
                                       "best_iteration": best_iteration,
                                       "best_valid_auc": best_auc, "optimized": optimize})
        evaluate_booster(booster, test, run, model_path)
        write_importance(booster, train.feature_names, config.importance_type, run)
        run.log.info(f"outputs in {run.folder}")
        return run.folder
    finally:
        close_logger(run)


def evaluate_booster(booster: lgb.Booster, split, run: Run, model_path: Path) -> dict:
    """Predict a `FeatureSplit` with the best iteration; predictions.csv, metrics.json and a
    results.csv row."""
    probabilities = booster.predict(split.data, num_iteration=booster.best_iteration)
    metrics = binary_metrics(split.labels, probabilities)
    metrics["loss"] = float(log_loss(split.labels, np.clip(probabilities, 1e-7, 1 - 1e-7),
                                     labels=[0, 1]))
    run.write_evaluation("LGBM", split.split, model_path, metrics, split.headers, split.labels,
                         probabilities)
    return metrics


def write_importance(booster: lgb.Booster, names: list[str], importance_type: str, run: Run
                     ) -> pd.DataFrame:
    """importance.csv (every feature: split count and total gain; ranked by `importance_type`,
    also copied to the `importance` column) and its distribution plot."""
    iteration = booster.best_iteration
    split = booster.feature_importance("split", iteration=iteration).astype(np.int64)
    gain = booster.feature_importance("gain", iteration=iteration)
    chosen = split if importance_type == "split" else gain
    table = importance_table(names, {"importance": chosen, "split": split, "gain": gain},
                             rank_by="importance")
    path = write_importance_table(run.folder, table)
    plot_distribution(chosen, run.path(DISTRIBUTION_FILE),
                      xlabel=f"LightGBM importance ({importance_type})",
                      title=f"{run.folder.name}: {len(names):,} features, "
                            f"{int((chosen > 0).sum()):,} used")
    top = ", ".join(f"{row.assay} ({row.importance:.4g})" for row in table.head(5).itertuples())
    run.log.info(f"feature importance ({importance_type}) in {path}; top: "
                 f"{top}")
    return table
