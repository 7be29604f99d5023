"""LR.py and src/features.py: feature files, the logistic-regression model, runs and errors.

Synthetic feature files (tests/sei_feature_fixtures.py) where three named columns carry the
signal: the trained weights must rank them first with the right signs, the predictions must be
those of the weights in importance.csv, and the AUROC must match scikit-learn's logistic
regression on the same data.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sei_feature_fixtures import (
    N_FEATURES,
    SIGNAL,
    SIGNAL_ASSAYS,
    SIZES,
    feature_names,
    write_feature_folder,
    write_json,
)
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.metrics import roc_auc_score

import LR
from src.config import LRConfig, load_config
from src.errors import InputError
from src.features.files import (
    BalancedSampler,
    load_feature_datasets,
    load_feature_split,
)
from src.models.linear import LogisticRegression
from src.train.checkpoints import load_model

SETTINGS = {"max_epochs": 10, "warmup_steps": 1, "warmup_begin_lr": 0.03, "max_lr": 0.3,
            "final_lr": 0.03, "batch_size": 100, "epochs_to_check_loss": 1,
            "counter_for_early_stop_threshold": 4, "num_workers": 0, "weight_decay": 0.0}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Two intra-op threads on a busy 2-core machine make tiny matmuls 100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_config(folder: Path, features: Path, **overrides) -> Path:
    return write_json(folder / "lr.json", {"features_path": str(features), "feature_set": "ALL",
                                           "results_path": str(folder / "results"),
                                           **SETTINGS, **overrides})


def run_main(argv) -> int:
    with pytest.raises(SystemExit) as exit_info:
        LR.main([str(a) for a in argv])
        raise SystemExit(0)
    return exit_info.value.code


def run_folders(results: Path, prefix: str = "LR_") -> list[Path]:
    return sorted(p for p in results.iterdir() if p.is_dir() and p.name.startswith(prefix))


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> Path:
    return write_feature_folder(tmp_path_factory.mktemp("features"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, features) -> Path:
    """One LR.py -n -t -e run on the synthetic features; returns its run folder."""
    import src.train.loop

    folder = tmp_path_factory.mktemp("lr")
    with pytest.MonkeyPatch.context() as patch:  # per-epoch loss plots: slow, not ours to test
        patch.setattr(src.train.loop, "plot_loss", lambda *args, **kwargs: None)
        assert run_main(["--json", write_config(folder, features), "-n", "-t", "-e"]) == 0
    (run,) = run_folders(folder / "results")
    return run


# --- the model -------------------------------------------------------------------------------

def test_model_is_logistic_regression():
    torch.manual_seed(0)
    model = LogisticRegression(n_features=5)
    assert not model.linear.weight.any() and not model.linear.bias.any()  # zero start
    with torch.no_grad():
        model.linear.weight.normal_()
        model.linear.bias.fill_(0.3)
    x, y = torch.rand(16, 5), torch.randint(0, 2, (16,))
    logits = model(x)
    assert logits.shape == (16, 2) and not logits[:, 0].any()
    z = x.double() @ torch.from_numpy(model.feature_weights()) + model.intercept
    # cross-entropy over (0, z) is the logistic loss of z
    bce = torch.nn.functional.binary_cross_entropy_with_logits(z.float(), y.float())
    assert torch.allclose(torch.nn.functional.cross_entropy(logits, y), bce, atol=1e-6)
    assert torch.allclose(logits.softmax(1)[:, 1].double(), torch.sigmoid(z), atol=1e-6)


# --- a trained run ---------------------------------------------------------------------------

def test_run_outputs_and_signal_columns_first(trained):
    expected = {"config.json", "run.log", "best.pt", "last.pt", "loss.csv", "predictions.csv",
                "metrics.json", "importance.csv", "weight_distribution.png"}
    assert expected <= {p.name for p in trained.iterdir()}
    table = pd.read_csv(trained / "importance.csv")
    assert len(table) == N_FEATURES and sorted(table["column"]) == list(range(N_FEATURES))
    assert (np.diff(table["weight"].abs()) <= 1e-12).all()  # sorted by |weight|
    top = table.head(3)
    assert set(top["assay"]) == SIGNAL_ASSAYS
    for row in top.itertuples():
        assert np.sign(row.weight) == np.sign(SIGNAL[row.column][1])
        assert row.name == SIGNAL[row.column][0]
    # the Sei target names follow the columns
    assert list(table.sort_values("column")["name"]) == feature_names()
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["n"] == SIZES["test"]
    assert metrics["auroc"] > 0.85


def test_predictions_are_those_of_the_weights(trained, features):
    """predictions.csv = sigmoid(X w + b) with w from importance.csv, computed in numpy."""
    table = pd.read_csv(trained / "importance.csv").sort_values("column")
    _, payload = load_model(trained / "best.pt", expected_model="LR")
    bias = float(payload["state_dict"]["linear.bias"][0])
    data = np.load(features / "data_ALL_test.npy").astype(np.float64)
    expected = 1 / (1 + np.exp(-(data @ table["weight"].to_numpy() + bias)))
    predictions = pd.read_csv(trained / "predictions.csv")
    headers = (features / "headers_test.txt").read_text().splitlines()
    assert list(predictions["header"]) == headers
    assert list(predictions["label"]) == list(np.load(features / "target_ALL_test.npy"))
    np.testing.assert_allclose(predictions["probability"], expected, atol=1e-4)
    assert payload["extra"]["feature_names"] == feature_names()


def test_auroc_matches_scikit_learn(trained, features):
    x_train = np.load(features / "data_ALL_train.npy")
    y_train = np.load(features / "target_ALL_train.npy")
    x_test = np.load(features / "data_ALL_test.npy")
    y_test = np.load(features / "target_ALL_test.npy")
    reference = SkLogisticRegression(C=100.0, max_iter=2000).fit(x_train, y_train)
    sk_auroc = roc_auc_score(y_test, reference.predict_proba(x_test)[:, 1])
    ours = json.loads((trained / "metrics.json").read_text())["auroc"]
    assert abs(ours - sk_auroc) < 0.02
    order = np.argsort(-np.abs(reference.coef_[0]))
    sk_top = {feature_names()[i].split(" | ")[1] for i in order[:3]}
    assert sk_top == SIGNAL_ASSAYS


def test_evaluate_existing_model(trained, features, tmp_path):
    config = write_config(tmp_path, features)
    assert run_main(["--json", config, "-m", trained / "best.pt", "-e"]) == 0
    (evaluation,) = run_folders(tmp_path / "results", "LR_eval_")
    before = json.loads((trained / "metrics.json").read_text())
    after = json.loads((evaluation / "metrics.json").read_text())
    for key in ("auroc", "auprc", "accuracy", "n"):
        assert after[key] == pytest.approx(before[key], abs=1e-9)
    pd.testing.assert_frame_equal(pd.read_csv(evaluation / "importance.csv"),
                                  pd.read_csv(trained / "importance.csv"))
    rows = pd.read_csv(tmp_path / "results" / "results.csv")
    assert list(rows["model"]) == ["LR"] and rows["checkpoint"][0] == str(trained / "best.pt")
    # the valid split on request
    assert run_main(["--json", config, "-m", trained / "best.pt", "-e", "--split", "valid"]) == 0
    assert pd.read_csv(tmp_path / "results" / "results.csv")["n"].tolist() == [SIZES["test"],
                                                                             SIZES["valid"]]


def test_model_of_another_feature_set_is_refused(trained, tmp_path, capsys):
    other = write_feature_folder(tmp_path / "tf", feature_set="TF", n_features=30)
    config = write_config(tmp_path, other, feature_set="TF")
    assert run_main(["--json", config, "-m", trained / "best.pt", "-e"]) == 2
    message = capsys.readouterr().err
    assert "trained on 40 features" in message and "data_TF_test.npy has 30" in message
    assert not (tmp_path / "results").exists()


# --- configs ---------------------------------------------------------------------------------

def test_study_keys_still_work(features, tmp_path):
    """The study's json/LR.json names every file; names come from features_ALL.txt beside."""
    study = {"train_data": str(features / "data_ALL_train.npy"),
             "train_target": str(features / "target_ALL_train.npy"),
             "valid_data": str(features / "data_ALL_valid.npy"),
             "valid_target": str(features / "target_ALL_valid.npy"),
             "test_data": str(features / "data_ALL_test.npy"),
             "test_target": str(features / "target_ALL_test.npy"),
             "results_path": str(tmp_path / "results"), "optimizer_type": "adamw",
             "max_epochs": 1000, "warmup_steps": 10, "warmup_begin_lr": 0.0001, "max_lr": 0.001,
             "final_lr": 0.00001, "use_scheduler": True, "weight_decay": 0.01, "momentum": 0.95,
             "lazy_loading": False, "imbalanced_data": False, "batch_size": 512,
             "counter_for_early_stop_threshold": 25, "epochs_to_check_loss": 2,
             "batch_accumulation": False, "n_accumulated_batches": 1}
    config = load_config(write_json(tmp_path / "study.json", study), LRConfig)
    datasets = load_feature_datasets(config, ("train", "test"))
    assert datasets["test"].feature_names == feature_names()
    assert datasets["train"].headers[1] == "train_seq1_r"
    # without the headers files rows are named by split and row number
    (features / "headers_test.txt").rename(tmp_path / "headers_test.txt")
    try:
        part = load_feature_split(config, "test")
        assert part.headers[2] == "test_2" and "headers_test.txt not found" in part.note
    finally:
        (tmp_path / "headers_test.txt").rename(features / "headers_test.txt")


@pytest.mark.parametrize("settings, message", [
    ({"features_path": "x", "train_data": "a.npy"}, "not both: remove train_data"),
    ({"train_data": "a.npy"}, "missing: train_target"),
    ({}, "set features_path"),
    ({"features_path": "x", "feature_set": "CA"}, "feature_set"),
])
def test_config_names_the_files_one_way(tmp_path, settings, message):
    path = write_json(tmp_path / "bad.json", {"results_path": "r", **settings})
    with pytest.raises(InputError, match=message) as error:
        load_config(path, LRConfig)
    assert str(path) in str(error.value)


# --- bad feature files -----------------------------------------------------------------------

def _break(folder: Path, problem: str) -> str:
    """Damage one file of a feature folder; returns the text the error must contain."""
    if problem == "rows differ":
        np.save(folder / "target_ALL_valid.npy", np.zeros(150, dtype=np.int64))
        return "has 150 labels but"
    if problem == "integer data":
        np.save(folder / "data_ALL_valid.npy", np.ones((200, N_FEATURES), dtype=np.int64))
        return "expected floating-point Sei outputs"
    if problem == "1-D data":
        np.save(folder / "data_ALL_valid.npy", np.ones(200, dtype=np.float32))
        return "expected a 2-D array"
    if problem == "2-D targets":
        np.save(folder / "target_ALL_valid.npy", np.zeros((200, 2), dtype=np.int64))
        return "expected a 1-D array of labels"
    if problem == "label 2":
        targets = np.load(folder / "target_ALL_valid.npy")
        targets[7] = 2
        np.save(folder / "target_ALL_valid.npy", targets)
        return "row 7 has label 2"
    if problem == "names count":
        (folder / "features_ALL.txt").write_text("\n".join(feature_names()[:-1]) + "\n")
        return "lists 39 feature names but"
    if problem == "headers count":
        (folder / "headers_valid.txt").write_text("a\nb\n")
        return "has 2 headers but"
    if problem == "NaN":
        data = np.load(folder / "data_ALL_valid.npy")
        data[5, SIGNAL_COLUMN] = np.nan
        np.save(folder / "data_ALL_valid.npy", data)
        return f"row 5, column {SIGNAL_COLUMN} (HepG2 | ZNF274 | ID:7) is nan"
    if problem == "missing file":
        (folder / "data_ALL_valid.npy").unlink()
        return "not found: Preprocess_data_to_numpy.py"
    if problem == "not npy":
        (folder / "data_ALL_valid.npy").write_text("header,sequence\n")
        return "is not a readable .npy array"
    if problem == "columns differ":
        np.save(folder / "data_ALL_valid.npy", np.ones((200, N_FEATURES + 1), dtype=np.float32))
        return "41 columns"
    raise ValueError(problem)


SIGNAL_COLUMN = 3
PROBLEMS = ["rows differ", "integer data", "1-D data", "2-D targets", "label 2", "names count",
            "headers count", "NaN", "missing file", "not npy", "columns differ"]


@pytest.mark.parametrize("problem", PROBLEMS)
def test_bad_feature_files_get_clear_errors(tmp_path, capsys, problem):
    folder = write_feature_folder(tmp_path / "features", sizes={"train": 120, "valid": 200,
                                                                "test": 60})
    expected = _break(folder, problem)
    before = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert run_main(["--json", write_config(tmp_path, folder), "-n", "-t", "-e"]) == 2
    message = capsys.readouterr().err
    assert message.startswith("error: ") and expected in message, message
    assert str(folder) in message
    assert not (tmp_path / "results").exists()  # nothing written, nothing touched
    assert before == {p: p.stat().st_mtime_ns for p in folder.iterdir()}


# --- dataset and sampler ---------------------------------------------------------------------

@pytest.mark.parametrize("lazy", [True, False])
def test_dataset_items_are_the_rows(features, tmp_path, lazy):
    config = load_config(write_config(tmp_path, features, lazy_loading=lazy), LRConfig)
    dataset = load_feature_datasets(config, ("train",))["train"]
    assert isinstance(dataset.data, np.memmap) == lazy
    raw = np.load(features / "data_ALL_train.npy")
    labels = np.load(features / "target_ALL_train.npy")
    sampler = BalancedSampler(dataset.labels, seed=0)  # unsorted, with repeats
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, sampler=sampler)
    x, y, i = next(iter(loader))
    assert x.dtype == torch.float32 and x.shape == (64, N_FEATURES)
    np.testing.assert_array_equal(x.numpy(), raw[i.numpy()])
    np.testing.assert_array_equal(y.numpy(), labels[i.numpy()])
    copy = pickle.loads(pickle.dumps(dataset))  # DataLoader workers under spawn
    assert isinstance(copy.data, np.memmap) == lazy
    assert torch.equal(copy[700][0], dataset[700][0])


def test_balanced_sampler_draws_both_classes_equally():
    labels = np.array([1] * 150 + [0] * 850)
    sampler = BalancedSampler(labels, seed=5)
    first = list(sampler)
    assert len(first) == len(labels)
    assert 0.45 < labels[first].mean() < 0.55  # vs 0.15 in the data
    assert list(sampler) == first  # same epoch, same draw
    sampler.set_epoch(1)
    assert list(sampler) != first
    with pytest.raises(InputError, match="needs both"):
        BalancedSampler(np.zeros(10, dtype=np.int64), seed=0)


def test_resume_with_balanced_sampler_matches_uninterrupted_run(features, tmp_path, monkeypatch):
    """imbalanced_data + --resume: the resumed run ends with the uninterrupted run's weights."""
    import src.train.loop

    settings = {"max_epochs": 5, "counter_for_early_stop_threshold": 10, "imbalanced_data": True}
    full = tmp_path / "full"
    full.mkdir()
    monkeypatch.setattr(src.train.loop, "plot_loss", lambda *args, **kwargs: None)  # speed only
    assert run_main(["--json", write_config(full, features, **settings), "-n", "-t"]) == 0
    (full_run,) = run_folders(full / "results")

    original = src.train.loop._train_one_epoch

    def interrupted(model, loader, optimizer, loss_function, accelerator, config, epoch):
        if epoch == 3:
            raise KeyboardInterrupt
        return original(model, loader, optimizer, loss_function, accelerator, config, epoch)

    part = tmp_path / "part"
    part.mkdir()
    monkeypatch.setattr(src.train.loop, "_train_one_epoch", interrupted)
    assert run_main(["--json", write_config(part, features, **settings), "-n", "-t"]) == 130
    monkeypatch.setattr(src.train.loop, "_train_one_epoch", original)
    (part_run,) = run_folders(part / "results")
    assert run_main(["--resume", part_run]) == 0
    for name in ("last.pt", "best.pt"):
        a = torch.load(full_run / name, weights_only=True)["state_dict"]
        b = torch.load(part_run / name, weights_only=True)["state_dict"]
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    assert (part_run / "importance.csv").is_file()


@pytest.mark.parametrize("rule", ["default", "zeros"])
def test_initial_weights(features, tmp_path, rule):
    """initial_weights "default" starts from PyTorch's nn.Linear initialisation drawn after
    seeding with `seed` (the study's start), "zeros" from zero; LR.py -n -t records it."""
    from src.models.linear import initialise
    from src.train.specs import new_logistic_regression

    config = LRConfig(features_path=str(features), feature_set="ALL", results_path="unused",
                      initial_weights=rule, seed=7)
    torch.manual_seed(config.seed)
    model = new_logistic_regression(config, None, None)
    weights, bias = model.linear.weight.detach(), model.linear.bias.detach()
    if rule == "zeros":
        assert not weights.any() and not bias.any()
    else:
        torch.manual_seed(7)
        reference = torch.nn.Linear(N_FEATURES, 1)  # the study's model: nn.Linear(input_dim, 1)
        torch.testing.assert_close(weights, reference.weight.detach())
        torch.testing.assert_close(bias, reference.bias.detach())
        bound = 1 / N_FEATURES ** 0.5
        assert weights.abs().max() <= bound and weights.std() > bound / 4
    with pytest.raises(ValueError, match="initial_weights"):
        initialise(model, "ones")


def test_one_class_training_split_is_an_error(features, tmp_path, capsys):
    copy = tmp_path / "features"
    shutil.copytree(features, copy)
    np.save(copy / "target_ALL_train.npy", np.ones(SIZES["train"], dtype=np.int64))
    assert run_main(["--json", write_config(tmp_path, copy), "-n", "-t", "-e"]) == 2
    message = capsys.readouterr().err
    assert (f"the train split (features_path {copy}) holds 0 row(s) of label 0 and "
            f"{SIZES['train']:,} of label 1" in message)
    assert not (tmp_path / "results").exists()
