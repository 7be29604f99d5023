"""The shared training loop: schedule, early stopping, accumulation, resume, checkpoints, metrics."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score
from torch import nn

import src.train.loop as training
from src.config import BassetConfig, TrainingConfig
from src.data.datasets import OneHotDataset, make_loader
from src.errors import InputError
from src.io import atomic_torch_save
from src.metrics import binary_metrics
from src.models import build_model
from src.models.registry import register_model
from src.runs import Run
from src.train.checkpoints import load_model, read_checkpoint, save_checkpoint
from src.train.loop import fit, make_accelerator, predict, scheduled_lr


@register_model("TinyTestNet")
class TinyTestNet(nn.Module):
    """Conv + global max-pool + linear: learns a planted 'GGGG' quickly."""

    def __init__(self, channels=4, dropout=0.0):
        super().__init__()
        self.conv = nn.Conv1d(4, channels, 4)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(channels, 2)

    def forward(self, x):
        return self.linear(self.dropout(self.conv(x).amax(dim=2)))


def planted_dataset(n=64, length=20, seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.choice([1, 2, 3, 4], size=(n, length)).astype(np.uint8)
    labels = (np.arange(n) % 2).astype(np.int64)
    codes[labels == 1, 8:12] = 3  # G
    return OneHotDataset(codes, labels, np.array([f"s{i}" for i in range(n)], dtype=object))


def config(**overrides):
    values = dict(results_path="unused", max_epochs=4, warmup_steps=1, batch_size=16,
                  optimizer_type="adamw", max_lr=0.05, warmup_begin_lr=0.01, final_lr=0.001,
                  num_workers=0, counter_for_early_stop_threshold=3, seed=5)
    values.update(overrides)
    return TrainingConfig(**values)


def train(tmp_path, cfg, model=None, name="run", resume_from=None, folder=None):
    torch.manual_seed(0)
    model = model or build_model("TinyTestNet", {"channels": 4, "dropout": 0.2})
    run = Run(folder) if folder else Run.create(tmp_path, name)
    data = planted_dataset()
    state = fit(model, make_loader(data, cfg.batch_size, shuffle=True),
                make_loader(planted_dataset(seed=1), cfg.batch_size), cfg, run,
                make_accelerator(cfg), resume_from=resume_from)
    return model, run, state


def test_schedule_warms_up_linearly_then_follows_a_cosine():
    cfg = config(max_epochs=10, warmup_steps=4, warmup_begin_lr=1e-4, max_lr=1e-3, final_lr=1e-5)
    assert scheduled_lr(0, cfg) == pytest.approx(1e-4)
    assert scheduled_lr(2, cfg) == pytest.approx(5.5e-4)
    assert scheduled_lr(4, cfg) == pytest.approx(1e-3)
    assert scheduled_lr(7, cfg) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5)  # half way: cos = 0
    assert scheduled_lr(10, cfg) == pytest.approx(1e-5)
    lrs = [scheduled_lr(e, cfg) for e in range(4, 11)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert scheduled_lr(3, config(use_scheduler=False, max_lr=0.02)) == 0.02


def test_early_stopping_counts_checks_without_improvement(tmp_path):
    # lr ~ 0: the validation loss never improves after the first check
    cfg = config(max_epochs=20, use_scheduler=False, max_lr=1e-12, final_lr=0,
                 counter_for_early_stop_threshold=3, epochs_to_check_loss=2)
    _, run, state = train(tmp_path, cfg)
    assert state.stopped_early and state.best_epoch == 1
    assert [row["epoch"] for row in state.history] == list(range(1, 9))  # checks at 2, 4, 6, 8
    assert [math.isnan(row["valid_loss"]) for row in state.history] == [True, False] * 4
    assert (run.folder / "best.pt").exists() and (run.folder / "loss.png").exists()


def test_training_learns_and_writes_the_run_files(tmp_path):
    model, run, state = train(tmp_path, config(max_epochs=6))
    assert state.history[-1]["train_loss"] < state.history[0]["train_loss"]
    names = {p.name for p in run.folder.iterdir()}
    assert {"best.pt", "last.pt", "loss.csv", "loss.png", "run.log"} <= names
    loss_csv = (run.folder / "loss.csv").read_text().splitlines()
    assert loss_csv[0] == "epoch,lr,train_loss,valid_loss,seconds" and len(loss_csv) == 7


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path, monkeypatch):
    cfg = config(max_epochs=5)
    full, _, _ = train(tmp_path, cfg, name="full")

    original = training._train_one_epoch

    def killed_in_epoch_3(*args):
        if args[-1] == 2:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(training, "_train_one_epoch", killed_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        _, interrupted, _ = train(tmp_path, cfg, name="cut")
    monkeypatch.undo()
    folder = next(p for p in tmp_path.iterdir() if p.name.startswith("cut"))
    payload = read_checkpoint(folder / "last.pt")
    assert payload["training"]["epoch"] == 1  # two epochs completed
    model, _ = load_model(folder / "last.pt")
    resumed, _, state = train(tmp_path, cfg, model=model, resume_from=payload, folder=folder)
    assert [row["epoch"] for row in state.history] == [1, 2, 3, 4, 5]
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_gradient_accumulation_equals_one_large_batch(tmp_path):
    common = dict(max_epochs=1, use_scheduler=False, optimizer_type="sgd", momentum=0.0,
                  weight_decay=0.0, max_lr=0.1)
    torch.manual_seed(1)
    big_model = build_model("TinyTestNet", {"channels": 4})
    small_model = build_model("TinyTestNet", {"channels": 4})
    small_model.load_state_dict(big_model.state_dict())
    big, _, _ = train(tmp_path, config(batch_size=64, **common), model=big_model)
    small, _, _ = train(tmp_path, config(batch_size=32, batch_accumulation=True,
                                         n_accumulated_batches=2, **common), model=small_model)

    for a, b in zip(big.state_dict().values(), small.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_nan_loss_stops_with_epoch_and_batch(tmp_path):
    class Exploding(TinyTestNet):
        def forward(self, x):
            return super().forward(x) * float("nan")

    Exploding.model_name, Exploding.architecture = "TinyTestNet", {}
    with pytest.raises(InputError, match=r"loss became nan at epoch 1, batch 1.*Lower max_lr"):
        train(tmp_path, config(), model=Exploding())


def test_predictions_do_not_depend_on_batch_size_and_restore_mode(tmp_path):
    model = build_model("TinyTestNet", {"channels": 4, "dropout": 0.5})
    model.train()
    accelerator = make_accelerator(config())
    data = planted_dataset(n=50)
    a = predict(model, make_loader(data, 7), accelerator, config())
    b = predict(model, make_loader(data, 50), accelerator, config())
    assert model.training
    np.testing.assert_array_equal(a.indices, np.arange(50))
    np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-5)


def test_checkpoint_round_trip_and_safety(tmp_path):
    cfg = BassetConfig(sequence_length=100, model_architecture={"FC1inputSize": 400})
    arch = {**cfg.model_architecture.model_dump(), "sequence_length": 100}
    model = build_model("Basset", arch).eval()
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, {"k": 1}, extra={"names": ["a", "b"]})
    loaded, payload = load_model(path, expected_model="Basset")
    assert payload["config"] == {"k": 1} and payload["extra"] == {"names": ["a", "b"]}
    x = torch.rand(3, 4, 100)
    torch.testing.assert_close(model(x), loaded.eval()(x))
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(InputError, match=r"is a Basset checkpoint, but this script needs a ConvNet"):
        load_model(path, expected_model="ConvNet")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match=r"cannot be read .*truncated"):
        load_model(truncated)
    foreign = tmp_path / "foreign.pt"
    atomic_torch_save({"weight": torch.zeros(2)}, foreign)
    with pytest.raises(InputError, match=r"not a checkpoint of this project"):
        load_model(foreign)


def test_basset_refuses_a_wrong_fc1_input_size():
    with pytest.raises(InputError, match=r"FC1inputSize is 2500, but a 300 bp input leaves 1250 .*set FC1inputSize to 1250"):
        build_model("Basset", {"sequence_length": 300})


def test_metrics_against_hand_computed_values():
    labels = np.array([0, 0, 1, 1, 0, 1])
    probs = np.array([0.1, 0.6, 0.4, 0.8, 0.3, 0.9])
    result = binary_metrics(labels, probs)
    # pairs (positive, negative) ranked correctly: 8 of 9
    assert result["auroc"] == pytest.approx(8 / 9) == roc_auc_score(labels, probs)
    assert result["accuracy"] == pytest.approx(4 / 6)
    # average precision: precision at each positive's rank (1, 2, 4 -> 1, 1, 3/4) averaged
    assert result["auprc"] == pytest.approx((1 + 1 + 0.75) / 3)
    precision, recall, _ = precision_recall_curve(labels, probs)
    assert result["auprc_trapezoid"] == pytest.approx(auc(recall, precision))
    assert math.isnan(binary_metrics(np.ones(3), np.ones(3) * 0.2)["auroc"])


def test_adam_betas_reach_the_optimizer():
    """AdamW takes `adam_betas`; the default is the study's (0.9, 0.99), not PyTorch's 0.999."""
    model = build_model("TinyTestNet", {"channels": 4, "dropout": 0.0})
    assert TrainingConfig(results_path="r").adam_betas == [0.9, 0.99]
    for kind in ("adamw", "adam"):
        optimizer = training.build_optimizer(model, config(optimizer_type=kind,
                                                           adam_betas=[0.8, 0.95]))
        assert optimizer.param_groups[0]["betas"] == (0.8, 0.95)
    default = training.build_optimizer(model, config(optimizer_type="adamw"))
    assert isinstance(default, torch.optim.AdamW)
    assert default.param_groups[0]["betas"] == (0.9, 0.99)
    for bad in ([0.9], [0.9, 1.0], [-0.1, 0.9]):
        with pytest.raises(Exception, match="adam_betas must be two numbers"):
            config(adam_betas=bad)
