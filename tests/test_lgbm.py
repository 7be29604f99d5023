"""LGBM.py, src/boosting.py and the importance bar plot (Plot_importance.py).

Synthetic feature files (tests/sei_feature_fixtures.py) where three named columns carry the
signal: LightGBM must rank them first and reach a high AUROC; the saved model file, reloaded,
must give the predictions of predictions.csv; the Bayesian search must stay in the study's
ranges and train the final model with its best point.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sei_feature_fixtures import (
    N_FEATURES,
    SIGNAL,
    SIGNAL_ASSAYS,
    SIZES,
    feature_names,
    write_feature_folder,
    write_json,
)

import LGBM
import Plot_importance
from src.config import LGBM_SEARCH_SPACE as SEARCH_SPACE
from src.features.importance import importance_table

SETTINGS = {"n_estimators": 300, "early_stopping_round": 8, "learning_rate": 0.1,
            "num_leaves": 8, "max_depth": 4, "feature_fraction": 0.8, "bagging_fraction": 0.9,
            "min_child_weight": 1.0, "num_threads": 1, "init_points": 2, "n_iter": 2}


def write_config(folder: Path, features: Path, **overrides) -> Path:
    return write_json(folder / "lgbm.json", {"features_path": str(features), "feature_set": "ALL",
                                             "results_path": str(folder / "results"),
                                             **SETTINGS, **overrides})


def run_main(script, argv) -> int:
    with pytest.raises(SystemExit) as exit_info:
        script.main([str(a) for a in argv])
        raise SystemExit(0)
    return exit_info.value.code


def run_folder(results: Path) -> Path:
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    return folder


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> Path:
    return write_feature_folder(tmp_path_factory.mktemp("features"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, features) -> Path:
    folder = tmp_path_factory.mktemp("lgbm")
    assert run_main(LGBM, ["--json", write_config(folder, features)]) == 0
    return run_folder(folder / "results")


def test_run_outputs_signal_columns_first(trained):
    expected = {"config.json", "run.log", "params.json", "model.txt", "boosting.csv",
                "predictions.csv", "metrics.json", "importance.csv", "importance_distribution.png"}
    assert expected <= {p.name for p in trained.iterdir()}
    table = pd.read_csv(trained / "importance.csv")
    assert len(table) == N_FEATURES and sorted(table["column"]) == list(range(N_FEATURES))
    assert set(table.head(3)["assay"]) == SIGNAL_ASSAYS
    assert (table["importance"] == table["split"]).all()  # importance_type "split"
    assert (np.diff(table["importance"]) <= 0).all()
    assert list(table.sort_values("column")["name"]) == feature_names()
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["n"] == SIZES["test"]
    assert metrics["auroc"] > 0.85
    results = pd.read_csv(trained.parent / "results.csv")
    assert results["model"].tolist() == ["LGBM"] and results["run"][0] == trained.name
    assert results["auroc"][0] == pytest.approx(metrics["auroc"], abs=1e-6)


def test_early_stopping_and_saved_model(trained, features):
    """Training stopped early_stopping_round rounds after the best validation AUC, and
    model.txt (trees up to the best round) reproduces predictions.csv."""
    params = json.loads((trained / "params.json").read_text())
    history = pd.read_csv(trained / "boosting.csv")
    best = params["best_iteration"]
    assert len(history) == best + SETTINGS["early_stopping_round"] < SETTINGS["n_estimators"]
    assert history["valid_auc"].idxmax() + 1 == best
    assert params["best_valid_auc"] == pytest.approx(history["valid_auc"].max())
    booster = lgb.Booster(model_file=str(trained / "model.txt"))
    assert booster.num_trees() == best
    probabilities = booster.predict(np.load(features / "data_ALL_test.npy"))
    predictions = pd.read_csv(trained / "predictions.csv")
    assert list(predictions["header"]) == (features / "headers_test.txt").read_text().splitlines()
    np.testing.assert_allclose(predictions["probability"], probabilities, rtol=1e-6)


def test_imbalanced_data_and_importance_type(features, tmp_path):
    config = write_config(tmp_path, features, imbalanced_data=True, importance_type="gain")
    assert run_main(LGBM, ["--json", config]) == 0
    run = run_folder(tmp_path / "results")
    assert json.loads((run / "params.json").read_text())["params"]["is_unbalance"] is True
    table = pd.read_csv(run / "importance.csv")
    assert np.allclose(table["importance"], table["gain"], rtol=1e-5)
    assert set(table.head(3)["assay"]) == SIGNAL_ASSAYS
    # positives weighted up: more of them predicted positive than without
    balanced = pd.read_csv(run / "predictions.csv")["probability"]
    assert balanced.mean() > pd.read_csv(run.parent / "results.csv")["n_positive"][0] / SIZES["test"]


def test_optimize_searches_the_study_ranges(features, tmp_path):
    config = write_config(tmp_path, features)
    assert run_main(LGBM, ["--json", config, "--optimize"]) == 0
    run = run_folder(tmp_path / "results")
    history = pd.read_csv(run / "search_history.csv")
    assert len(history) == SETTINGS["init_points"] + SETTINGS["n_iter"]
    assert history["phase"].tolist() == ["random", "random", "bayesian", "bayesian"]
    for key, bounds in SEARCH_SPACE.items():
        assert history[key].between(bounds[0], bounds[1]).all(), key
        if len(bounds) == 3:
            assert (history[key] == history[key].round()).all(), key
    assert history["cv_auc_mean"].between(0.5, 1).all()
    best = json.loads((run / "best_params.json").read_text())
    top = history.loc[history["cv_auc_mean"].idxmax()]
    assert best["cv_auc_mean"] == pytest.approx(top["cv_auc_mean"], abs=1e-5)
    used = json.loads((run / "params.json").read_text())
    assert used["optimized"] is True
    for key in SEARCH_SPACE:
        assert used["params"][key] == pytest.approx(best["params"][key])
        assert best["params"][key] == pytest.approx(top[key], rel=1e-5)
    assert json.loads((run / "metrics.json").read_text())["auroc"] > 0.85


def _lightgbm_has_gpu() -> bool:
    data = lgb.Dataset(np.random.default_rng(0).random((64, 2)), label=np.arange(64) % 2,
                       params={"verbosity": -1})
    try:
        lgb.train({"device_type": "gpu", "verbosity": -1, "objective": "binary"}, data, 1)
        return True
    except lgb.basic.LightGBMError:
        return False


def test_gpu_on_a_cpu_only_lightgbm_is_a_clear_error(features, tmp_path, capsys):
    if _lightgbm_has_gpu():
        pytest.skip("this LightGBM can train on a GPU, so there is no error to check")
    config = write_config(tmp_path, features, device="gpu")
    assert run_main(LGBM, ["--json", config]) == 2
    message = capsys.readouterr().err
    assert str(config) in message and '"device": "gpu"' in message
    assert 'set "device": "cpu"' in message and "OpenCL" in message
    assert not (tmp_path / "results").exists()


def test_bad_feature_file_is_a_clear_error(features, tmp_path, capsys):
    names = tmp_path / "features_ALL.txt"
    names.write_text("\n".join(feature_names()[:10]) + "\n")
    study = {k: str(features / f"{kind}_ALL_{split}.npy") for split in ("train", "valid", "test")
             for kind, k in (("data", f"{split}_data"), ("target", f"{split}_target"))}
    config = write_json(tmp_path / "study.json", {**study, "feature_names": str(names),
                                                  "results_path": str(tmp_path / "results")})
    assert run_main(LGBM, ["--json", config]) == 2
    message = capsys.readouterr().err
    assert f"{names} lists 10 feature names but" in message and "40 columns" in message
    assert not (tmp_path / "results").exists()


# --- the bar plot ----------------------------------------------------------------------------

def test_importance_barplot(trained, tmp_path, capsys):
    lr_run = tmp_path / "LR" / "LR_20250101-000000"
    lr_run.mkdir(parents=True)
    (lr_run / "config.json").write_text("{}")  # what makes a folder a run folder
    weights = np.linspace(-0.5, 0.5, N_FEATURES)
    for column, (_, weight) in SIGNAL.items():
        weights[column] = weight / 2
    importance_table(feature_names(), {"weight": weights, "abs_weight": np.abs(weights)},
                     rank_by="weight", by_magnitude=True).to_csv(lr_run / "importance.csv",
                                                                 index=False)
    out = tmp_path / "figures" / "top.png"
    # a results folder stands for its newest run
    assert run_main(Plot_importance, ["--lr", lr_run.parent, "--lgbm", trained, "--top", "5",
                                      "--out", out]) == 0
    assert out.stat().st_size > 10_000
    table = pd.read_csv(out.with_suffix(".csv"))
    assert table["model"].tolist() == ["LR"] * 5 + ["LGBM"] * 5
    lr_rows, gbm_rows = table[table["model"] == "LR"], table[table["model"] == "LGBM"]
    assert set(lr_rows["assay"][:3]) == SIGNAL_ASSAYS == set(gbm_rows["assay"][:3])
    assert lr_rows["value"].tolist()[:3] == [4.0, -4.0, 3.0]  # by |weight|, sign kept
    # the LightGBM table swapped in for the LR one
    assert run_main(Plot_importance, ["--lr", trained, "--lgbm", trained, "--out", out]) == 2
    assert "pass it with --lgbm" in capsys.readouterr().err
    assert run_main(Plot_importance, ["--lr", tmp_path / "nowhere", "--lgbm", trained,
                                      "--out", out]) == 2
    assert "not found" in capsys.readouterr().err


# --- grouped cross-validation, one-class splits --------------------------------------------

def test_grouped_folds_keep_a_sequence_with_its_reverse_complement():
    from src.train.boosting import grouped_folds, sequence_groups

    rng = np.random.default_rng(0)
    n = 300
    labels = (rng.random(n) < 0.3).astype(int)
    headers = [f"intron{i}" for i in range(n)]
    # every label-1 row and half of the others get a reverse-complement row, appended after
    rc = [i for i in range(n) if labels[i] or i % 2]
    headers += [f"intron{i}_r" for i in rc] + ["lonely_r"]  # "_r" without its sequence
    labels = np.concatenate([labels, labels[rc], [0]])
    groups = sequence_groups(headers)
    assert groups[headers.index("intron5_r")] == groups[headers.index("intron5")]
    assert list(groups).count(groups[headers.index("lonely_r")]) == 1
    folds = grouped_folds(labels, headers, 3, seed=100)
    held = np.concatenate([h for _, h in folds])
    assert sorted(held.tolist()) == list(range(len(headers)))  # each row held out exactly once
    for train, held_out in folds:
        assert not set(groups[train]) & set(groups[held_out])  # no sequence on both sides
        assert abs(labels[held_out].mean() - labels.mean()) < 0.05  # stratified
    again = grouped_folds(labels, headers, 3, seed=100)  # seeded: the same folds every run
    assert all((a == c).all() and (b == d).all() for (a, b), (c, d) in zip(folds, again))


def test_search_uses_grouped_folds(features, tmp_path):
    config = write_config(tmp_path, features, init_points=1, n_iter=0)
    assert run_main(LGBM, ["--json", config, "--optimize"]) == 0
    log = (run_folder(tmp_path / "results") / "run.log").read_text()
    assert "3 folds grouped by sequence" in log


@pytest.mark.parametrize("split", ["train", "valid"])
def test_a_split_with_one_class_is_an_error(features, tmp_path, capsys, split):
    copy = tmp_path / "features"
    copy.mkdir()
    for path in features.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    target = copy / f"target_ALL_{split}.npy"
    np.save(target, np.zeros_like(np.load(target)))
    assert run_main(LGBM, ["--json", write_config(tmp_path, copy)]) == 2
    message = capsys.readouterr().err
    n = SIZES[split]
    assert f"the {split} split ({target}) holds {n:,} row(s) of label 0 and 0 of label 1" \
        in message
    assert not (tmp_path / "results").exists()
