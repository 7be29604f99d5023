"""Integrated Gradients hot spots (src.interpret) and Attribute.py end to end.

Includes the defects of the original code that must not come back: the non-IR selection letting
label-1 sequences in, windows at sequence ends stored with zero attributions, and a batch of one
sequence crashing the attention pool.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import Attribute
from src.config import AttributeConfig, BassetConfig, config_to_dict
from src.data.datasets import build_sequence_datasets
from src.data.encoding import codes_to_one_hot, encode_codes
from src.errors import InputError
from src.interpret.attribute import (
    AttributionData,
    check_sequence_model,
    compute_windows,
)
from src.interpret.gradients import (
    integrated_gradients,
    predict_probabilities,
    select_confident,
    uniform_baseline,
)
from src.interpret.windows import (
    Windows,
    hot_spot_windows,
    load_windows,
    position_scores,
    save_windows,
    study_windows,
)
from src.models import build_model
from src.models.registry import register_model
from src.train.checkpoints import save_checkpoint

TINY_CONVNET = {"channels": [8, 8, 8, 8], "dilations": [2], "residual_width": 8, "embed_dim": 8,
                "feedforward_dim": 8, "dropout": 0.0}


def tiny_convnet(seed=0):
    """The project's ConvNet (attention-pool head) at a toy width, with non-trivial BatchNorm."""
    torch.manual_seed(seed)
    model = build_model("ConvNet", TINY_CONVNET)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def random_one_hot(n, length, seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(1, 5, size=(n, length)).astype(np.uint8)
    return codes_to_one_hot(codes)


def test_integrated_gradients_completeness_and_batch_independence():
    model = tiny_convnet()
    x = random_one_hot(3, 600)
    targets = torch.tensor([0, 1, 1])
    attributions, delta, change = integrated_gradients(model, x, targets, steps=32)
    with torch.no_grad():
        out_x = model(x).gather(1, targets[:, None]).squeeze(1)
        out_b = model(uniform_baseline(x)).gather(1, targets[:, None]).squeeze(1)
    # completeness: attributions add up to the change of the target logit
    torch.testing.assert_close(change, out_x - out_b, atol=1e-4, rtol=1e-4)
    total = attributions.sum(dim=(1, 2))
    assert ((total - (out_x - out_b)).abs() <= 0.02 * (out_x - out_b).abs() + 1e-3).all()
    torch.testing.assert_close(delta, total - (out_x - out_b), atol=1e-4, rtol=1e-3)
    assert (uniform_baseline(x) == 0.25).all()
    # one sequence at a time (batch of one through the attention pool) gives the same result
    single = torch.cat([integrated_gradients(model, x[i:i + 1], targets[i:i + 1], steps=32)[0]
                        for i in range(3)])
    torch.testing.assert_close(single, attributions, atol=1e-5, rtol=1e-4)


def test_baseline_gives_padding_no_attribution():
    model = tiny_convnet()
    codes = encode_codes(["ACGT" * 100], length=600)  # 400 bp centred in 600 columns
    x = codes_to_one_hot(codes)
    attributions, _, _ = integrated_gradients(model, x, torch.tensor([1]), steps=16)
    padding = torch.from_numpy(codes[0] == 0)
    assert attributions[0][:, padding].abs().max() == 0
    assert attributions[0][:, ~padding].abs().max() > 0


def test_selection_keeps_only_the_requested_class_above_the_threshold():
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8],  # label 0
                              [0.95, 0.05], [0.1, 0.9], [0.25, 0.75], [0.5, 0.5]])  # label 1
    # row 3 is a label-1 sequence predicted as non-IR with 0.95: never a non-IR example
    assert select_confident(labels, probabilities, 0.7, 0).tolist() == [0]
    assert select_confident(labels, probabilities, 0.7, 1).tolist() == [4, 5]
    assert select_confident(labels, probabilities, 0.8, 1).tolist() == [4]  # -p is used
    assert select_confident(labels, probabilities, 0.5, 0).tolist() == [0, 1]


def test_hot_spot_windows_at_sequence_ends_and_in_padding():
    scores = np.zeros(100)
    scores[[1, 50, 98]] = [10.0, 8.0, 9.0]
    scores[20] = 6.0  # below 0.7 x 10
    windows = hot_spot_windows(scores, 0, 100, 0.7, 16)
    assert windows == [(0, 16, 1), (84, 100, 98), (42, 58, 50)]
    for lo, hi, peak in windows:
        assert hi - lo == 16 and lo <= peak < hi
    # the real sequence is columns 10..89 (padding around): windows stay inside it
    padded = np.zeros(100)
    padded[[11, 88]] = [5.0, 5.0]
    assert hot_spot_windows(padded, 10, 90, 0.7, 16) == [(10, 26, 11), (74, 90, 88)]
    # a sequence shorter than the window gives one window: the whole sequence
    assert hot_spot_windows(padded, 10, 20, 0.7, 16) == [(10, 20, 11)]
    # hot spots next to each other share a window; every hot spot is covered
    dense = np.zeros(60)
    dense[[30, 33, 37, 45]] = [10, 9, 8, 7.5]
    windows = hot_spot_windows(dense, 0, 60, 0.7, 10)
    assert windows == [(25, 35, 30), (32, 42, 37), (40, 50, 45)]
    hot = np.nonzero(dense >= 7)[0]
    assert all(any(lo <= h < hi for lo, hi, _ in windows) for h in hot)
    assert hot_spot_windows(-np.ones(30), 0, 30, 0.7, 8) == []  # no positive attribution


def original_motif_indices(ig_matrix, window, threshold):
    """attribution_utils.motif_indices of the study's code (GitHub Addaoud/IntronRetention at
    525136a), transcribed line by line: the reference for the "study" placement."""
    length = ig_matrix.shape[-1]
    thresh = ig_matrix.max() * threshold
    last_pos = 0
    pad = 1
    for i in range(length - int(window / 2)):
        if ((i - last_pos) > pad) and (ig_matrix[:, i + int(window / 2)].max() > thresh):
            last_pos = i
            yield (i, ig_matrix[:, i + int(window / 2)].max())


@pytest.mark.parametrize("window, threshold, seed", [(42, 0.7, 0), (32, 0.7, 1), (9, 0.5, 2),
                                                     (42, 0.3, 3)])
def test_study_placement_is_the_original_rule(window, threshold, seed):
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(4, 600)) * rng.random(600) ** 4  # a few strong columns
    matrix[:, 590:] += 3.0 * rng.random((4, 10))  # hot spots at the 3' end: truncated windows
    expected = [(i, min(i + window, 600), i + window // 2)
                for i, _ in original_motif_indices(matrix, window, threshold)]
    scores = position_scores(matrix, "max_base")
    assert study_windows(scores, 0, 600, threshold, window) == expected
    assert any(hi - lo < window for lo, hi, _ in expected)  # some cut at the 3' end
    starts = [lo for lo, _, _ in expected]
    assert min(starts) >= 2 and min(np.diff(starts)) >= 2  # overlapping, every 2 bp at most
    # in padding (columns 50..649 of 700) the same windows, shifted
    padded = np.zeros(700)
    padded[50:650] = scores
    assert study_windows(padded, 50, 650, threshold, window) == [
        (lo + 50, hi + 50, c + 50) for lo, hi, c in expected]
    assert study_windows(-np.ones(100), 0, 100, 0.7, 10) == []


def test_position_scores():
    attributions = np.array([[[1.0, -2.0], [0.5, 3.0], [-1.0, 0.0], [0.0, 0.0]]])  # (1, 4, 2)
    np.testing.assert_array_equal(position_scores(attributions, "max_base"), [[1.0, 3.0]])
    np.testing.assert_array_equal(position_scores(attributions, "sum"), [[0.5, 1.0]])
    with pytest.raises(ValueError, match="hot_spot_rule"):
        position_scores(attributions, "mean")


def test_study_placement_windows_at_the_3prime_end_keep_real_attributions():
    """The study's code saved all-zero attributions for windows cut at the 3' end; here they
    hold the real ones (left-aligned, zero after the last base)."""
    length = 40
    sequences = ["AAA" + "C" * 34 + "TTT", "GGG" + "C" * 37]
    codes = encode_codes(sequences, length)
    data = make_data(codes, np.array([1, 0]))
    model = EndFocusedModel(length)
    config = AttributeConfig(window=8, prediction_threshold=0.5, ig_steps=8, batch_size=8)
    assert (config.window_placement, config.hot_spot_rule) == ("study", "max_base")
    windows = compute_windows(model, data, config, torch.device("cpu"), log=lambda _: None,
                              progress=False)
    x = codes_to_one_hot(codes)
    full, _, _ = integrated_gradients(model, x[:1], torch.tensor([1]), steps=8)
    ir = [(row, m) for row, m in zip(windows.table.itertuples(), windows.attributions)
          if row.label == 1]
    expected = [(i, min(i + 8, length)) for i, _ in original_motif_indices(
        full[0].numpy(), 8, 0.7)]
    assert [(row.start, row.end) for row, _ in ir] == expected
    cut = [(row, m) for row, m in ir if row.end - row.start < 8]
    assert cut, "the T hot spot at the 3' end gives windows cut short"
    for row, matrix in cut:
        width = row.end - row.start
        np.testing.assert_allclose(matrix[:, :width], full[0][:, row.start:row.end].numpy(),
                                   atol=1e-6)
        assert not matrix[:, width:].any() and np.abs(matrix).sum() > 0
        assert row.sequence == sequences[0][row.start:row.end]


def test_letter_composition_counts_every_row_forward():
    from src.interpret.attribute import letter_composition

    composition = letter_composition(["AACG", "ttNR", "GGGG"])  # N, R not counted
    np.testing.assert_allclose(composition, np.array([2, 1, 5, 2]) / 10)
    np.testing.assert_allclose(letter_composition(["NNN"]), [0.25] * 4)


class SteepModel(torch.nn.Module):
    """A logit with a steep step along the path from the baseline (a sigmoid of a weighted sum):
    Integrated Gradients needs many steps to follow it."""

    model_name = "Steep"

    def __init__(self, length, steepness=1000.0, offset=0.1):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.weights = torch.nn.Parameter(torch.randn(4, length, generator=g) / length ** 0.5)
        self.steepness, self.offset = steepness, offset

    def forward(self, x):
        z = ((x - 0.25) * self.weights).sum(dim=(1, 2))
        score = 5 * (torch.sigmoid(self.steepness * (z - self.offset)) - 0.5)
        return torch.stack([-score, score], dim=1)


def steep_data(n, length, seed):
    """Sequences and, as labels, the class the SteepModel predicts for them."""
    model = SteepModel(length).eval()
    codes = np.random.default_rng(seed).integers(1, 5, size=(n, length)).astype(np.uint8)
    with torch.no_grad():
        labels = model(codes_to_one_hot(codes)).argmax(dim=1).numpy()
    return model, codes, labels


@pytest.mark.slow
def test_auto_steps_and_the_steps_that_fix_a_large_error():
    from src.interpret.convergence import STEP_LADDER, auto_steps, measure, steps_to_fix
    from src.interpret.gradients import attribute_sequences, relative_delta

    model, codes, targets = steep_data(24, 30, seed=0)
    device = torch.device("cpu")
    chosen, probes = auto_steps(model, codes, targets, device, "gausslegendre", 24_000, 0.05,
                                0.2, log=lambda _: None)
    assert chosen in STEP_LADDER and chosen > STEP_LADDER[0]
    assert probes[-1].steps == chosen and probes[-1].median_relative < 0.05
    assert probes[-1].fraction_above <= 0.2
    assert all(p.median_relative >= 0.05 or p.fraction_above > 0.2 for p in probes[:-1])
    # independently: captum at those steps, error relative to the logit change
    _, delta, change = integrated_gradients(model, codes_to_one_hot(codes),
                                            torch.from_numpy(targets), steps=chosen)
    scale = np.maximum(change.abs().numpy(), 0.1 * np.median(change.abs().numpy()) + 1e-6)
    assert np.median(delta.abs().numpy() / scale) < 0.05
    # after a run at 10 steps: the steps that bring the share above the tolerance under 5%
    at10 = attribute_sequences(model, codes, targets, device, 10, batch_size=24_000,
                               progress=False)
    relative = relative_delta(at10.delta, at10.change)
    assert (relative > 0.05).mean() > 0.05
    needed, _ = steps_to_fix(model, codes, targets, relative, 10, device, "gausslegendre",
                             24_000, 0.05, 0.05)
    assert needed in STEP_LADDER and needed > 10
    assert measure(model, codes, targets, device, needed, "gausslegendre", 24_000,
                   0.05).fraction_above <= 0.05


def test_the_step_search_uses_the_models_own_integrated_gradients():
    """A token model passes its IG function: auto_steps and steps_to_fix integrate with it."""
    from src.interpret.convergence import STEP_LADDER, auto_steps, steps_to_fix
    from src.interpret.gradients import attribute_sequences

    model, codes, targets = steep_data(8, 30, seed=2)
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[4])  # the step count
        return attribute_sequences(*args, **kwargs)

    device = torch.device("cpu")
    chosen, probes = auto_steps(model, codes, targets, device, "gausslegendre", 4096, 0.05, 0.2,
                                log=lambda _: None, attribute=counting)
    assert calls == [p.steps for p in probes] and chosen == calls[-1]
    calls.clear()
    steps_to_fix(model, codes, targets, np.ones(len(codes)), STEP_LADDER[-2], device,
                 "gausslegendre", 4096, 0.05, 0.05, attribute=counting)
    assert calls == [STEP_LADDER[-1]]


def test_too_few_steps_are_named_in_the_log():
    model, codes, labels = steep_data(24, 30, seed=1)
    assert 0 < labels.sum() < len(labels)
    data = make_data(codes, labels)
    logged = []
    config = AttributeConfig(window=8, prediction_threshold=0.0, ig_steps=4, batch_size=24_000)
    windows = compute_windows(model, data, config, torch.device("cpu"), log=logged.append,
                              progress=False)
    warning = next(line for line in logged if line.startswith("warning"))
    needed = windows.summary["convergence_delta"]["steps_needed"]
    assert f"rerun -i with --steps {needed}" in warning and needed > 4
    auto = compute_windows(model, data, AttributeConfig(window=8, prediction_threshold=0.0,
                                                        ig_steps="auto", batch_size=24_000),
                           torch.device("cpu"), log=logged.append, progress=False)
    assert auto.summary["ig_steps_setting"] == "auto" and auto.summary["ig_steps"] > 4
    assert auto.summary["convergence_delta"]["median_relative"] < 0.05
    # the probe covers every sequence here, so auto's choice passes the warning's test too
    assert auto.summary["convergence_delta"]["fraction_above_tolerance"] <= 0.05
    assert "steps_needed" not in auto.summary["convergence_delta"]
    assert any(line.startswith("ig_steps auto:") for line in logged)


def make_data(codes, labels, starts=None, ends=None) -> AttributionData:
    n = len(labels)
    return AttributionData(
        headers=np.array([f"s{i}" for i in range(n)], dtype=object), labels=np.asarray(labels),
        splits=np.array(["test"] * n, dtype=object), is_reverse_complement=np.zeros(n, bool),
        codes=codes, starts=np.zeros(n, np.int64) if starts is None else starts,
        ends=np.full(n, codes.shape[1]) if ends is None else ends,
        background=np.full(4, 0.25), data_path=Path("."))


class EndFocusedModel(torch.nn.Module):
    """Logits that depend most on the first and last bases: hot spots sit at the sequence ends."""

    model_name = "EndFocused"

    def __init__(self, length):
        super().__init__()
        weights = torch.zeros(4, length)
        weights[0, :3] = 3.0  # A at the start
        weights[3, -3:] = 3.0  # T at the end
        weights[2, :3] = -3.0  # G at the start: non-IR
        weights[1, length // 2] = 0.5
        self.weights = torch.nn.Parameter(weights)

    def forward(self, x):
        score = (x * self.weights).sum(dim=(1, 2))
        return torch.stack([-score, score], dim=1)


def test_windows_at_the_ends_carry_their_real_attributions():
    length = 40
    sequences = ["AAA" + "C" * 34 + "TTT", "AAA" + "G" * 34 + "TTT", "GGG" + "C" * 37]
    codes = encode_codes(sequences, length)
    data = make_data(codes, np.array([1, 1, 0]))
    model = EndFocusedModel(length)
    config = AttributeConfig(window=8, ig_threshold=0.7, prediction_threshold=0.5, ig_steps=8,
                             batch_size=8, window_placement="cover", hot_spot_rule="sum")
    windows = compute_windows(model, data, config, torch.device("cpu"), log=lambda _: None,
                              progress=False)
    table = windows.table
    ir = table[table["label"] == 1]
    assert set(zip(ir["start"], ir["end"])) == {(0, 8), (32, 40)}
    x = codes_to_one_hot(codes)
    full, _, _ = integrated_gradients(model, x[:2], torch.tensor([1, 1]), steps=8)
    for row, matrix in zip(table.itertuples(), windows.attributions):
        if row.label != 1:
            continue
        i = int(row.header[1:])
        expected = full[i][:, row.start:row.end].numpy()
        np.testing.assert_allclose(matrix, expected, atol=1e-6)
        assert np.abs(matrix).sum() > 0
        assert row.sequence == sequences[i][row.start:row.end]
    assert windows.summary["counts"]["IR"] == {"considered": 2, "selected": 2,
                                               "with_hot_spots": 2, "windows": 4}
    assert windows.summary["convergence_delta"]["max_relative"] < 1e-3


def test_a_batch_of_one_sequence_through_the_attention_pool():
    model = tiny_convnet()
    model.train()
    codes = np.random.default_rng(1).integers(1, 5, size=(3, 600)).astype(np.uint8)
    one = predict_probabilities(model, codes, torch.device("cpu"), batch_size=1, progress=False)
    three = predict_probabilities(model, codes, torch.device("cpu"), batch_size=3,
                                  progress=False)
    np.testing.assert_allclose(one, three, atol=1e-6)
    assert model.training  # the borrowed model is handed back in the mode it came in
    check_sequence_model(model.eval(), 600, torch.device("cpu"))  # (1, 4, L) -> (1, 2)
    attributions, _, _ = integrated_gradients(model, codes_to_one_hot(codes[:1]),
                                              torch.tensor([1]), steps=2)
    assert attributions.shape == (1, 4, 600)


def test_windows_round_trip_and_bad_files(tmp_path):
    table = pd.DataFrame({"window": [0, 1], "class": ["IR", "non-IR"], "label": [1, 0],
                          "header": ["a", "b_r"], "split": ["valid", "test"],
                          "reverse_complement": [False, True], "start": [0, 5], "end": [8, 13],
                          "peak": [3, 9], "peak_score": [1.0, 2.0], "window_score": [3.0, 4.0],
                          "probability": [0.9, 0.8], "ig_delta": [0.0, 0.01],
                          "sequence": ["ACGTACGT", "NNACGTAC"]})
    attributions = np.random.default_rng(0).normal(size=(2, 4, 8)).astype(np.float32)
    summary = {"counts": {}, "background": [0.25] * 4, "window": 8}
    save_windows(tmp_path, Windows(table, attributions, summary))
    loaded = load_windows(tmp_path)
    pd.testing.assert_frame_equal(loaded.table, table)
    np.testing.assert_array_equal(loaded.attributions, attributions)
    assert loaded.summary == summary
    (tmp_path / "windows.csv").write_text(table.drop(columns=["sequence"]).to_csv(index=False))
    with pytest.raises(InputError, match="sequence"):
        load_windows(tmp_path)
    with pytest.raises(InputError, match="run Attribute.py with -i first"):
        load_windows(tmp_path / "missing")


# ------------------------------------------------------------------------------------------
# end to end on the demo data, with a small model trained here


@register_model("TestMotifCNN")
class MotifCNN(torch.nn.Module):
    """A small motif detector (conv, global max over positions, linear): learns the demo in
    seconds on a CPU; registered so that its checkpoint rebuilds like any project model."""

    def __init__(self, filters=24, width=15):
        super().__init__()
        self.conv = torch.nn.Conv1d(4, filters, width, padding=width // 2)
        self.out = torch.nn.Linear(filters, 2)

    def forward(self, x):
        return self.out(torch.relu(self.conv(x)).amax(dim=2))


@pytest.fixture(scope="module")
def trained_run(demo_dir, tmp_path_factory):
    """A small model trained for a few epochs on the demo data, saved as a run's best.pt."""
    length = 300
    config = BassetConfig.model_validate({
        "data_path": str(demo_dir), "sequence_length": length, "results_path": "unused",
        "num_workers": 0})
    train = build_sequence_datasets(config, ("train",))["train"]
    torch.manual_seed(0)
    model = build_model("TestMotifCNN", {"filters": 16, "width": 15})
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x_all = codes_to_one_hot(train.codes)
    y_all = torch.from_numpy(train.labels)
    weight = torch.tensor([1.0, (y_all == 0).sum() / (y_all == 1).sum()])
    model.train()
    for epoch in range(5):
        order = torch.randperm(len(y_all))
        for start in range(0, len(order), 64):
            batch = order[start:start + 64]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x_all[batch]), y_all[batch], weight)
            loss.backward()
            optimizer.step()
    run = tmp_path_factory.mktemp("runs") / "MotifCNN_test"
    run.mkdir()
    save_checkpoint(run / "best.pt", model.eval(), config_to_dict(config))
    return run


def own_copy(run: Path, tmp_path: Path) -> Path:
    """A copy of the shared run folder, for a test that writes results into it."""
    return Path(shutil.copytree(run, tmp_path / run.name))


def run_script(argv) -> int:
    try:
        Attribute.main(argv)
    except SystemExit as stop:
        return stop.code
    return 0


@pytest.mark.slow
def test_attribute_end_to_end_ranks_the_planted_motifs(trained_run, demo_dir, tmp_path):
    """The study's rules (the defaults) and the improved ones: the planted IR motifs lead both
    tables (per window and per intron), the planted non-IR motifs close them."""
    trained_run = own_copy(trained_run, tmp_path)
    planted = str(demo_dir / "planted_motifs.meme")
    settings = tmp_path / "Attribute.json"
    settings.write_text(json.dumps({"n_logos": 1, "top_n": 5}))
    code = run_script(["--json", str(settings), "-m", str(trained_run), "-i", "-b",
                       "-d", planted, "-w", "32", "-r", "IG", "--no-progress"])
    assert code == 0
    out = trained_run / "IG"
    for name in ("windows.csv", "attributions.npz", "integration.json", "nsites.txt",
                 "enrichment.csv", "motif_hits.csv", "top_tfs.png", "logos_IR.png",
                 "config.json", "nsites_per_intron.txt", "enrichment_per_intron.csv"):
        assert (out / name).is_file(), name
    for name in ("enrichment.csv", "enrichment_per_intron.csv"):
        table = pd.read_csv(out / name)
        assert set(table["tf"].head(3)) == {"ZNF274", "REST", "ZNF143"}, name
        assert set(table["tf"].tail(3)) == {"TP53", "SRF", "HNF4A"}, name
        assert (table["p_bh"].head(2) < 0.05).all(), name
    summary = json.loads((out / "integration.json").read_text())
    assert (summary["window_placement"], summary["hot_spot_rule"], summary["ig_steps"],
            summary["prediction_threshold"], summary["background_source"]) == (
        "study", "max_base", 20, 0.8, "all_data")
    counts = summary["counts"]
    assert counts["IR"]["considered"] + counts["non-IR"]["considered"] == 480  # valid+test x 2
    assert 0 < counts["IR"]["selected"] <= counts["IR"]["considered"]
    windows = pd.read_csv(out / "windows.csv")
    assert (windows.groupby("class")["label"].unique().apply(list).to_dict()
            == {"IR": [1], "non-IR": [0]})
    assert (windows["probability"] > 0.8).all()
    # the study's placement: 32 bp windows, cut short only at the 3' end (300 bp sequences)
    lengths = windows["sequence"].str.len()
    assert (lengths == windows["end"] - windows["start"]).all()
    assert ((lengths == 32) | (windows["end"] == 300)).all() and (lengths < 32).any()
    assert (windows["start"] >= 2).all()
    nsites = (out / "nsites.txt").read_text()
    assert f"{counts['IR']['considered']} total sequences associated with IR" in nsites
    assert f"{counts['IR']['windows']} hot spots are selected" in nsites
    intron = pd.read_csv(out / "enrichment_per_intron.csv")
    assert intron["ir_introns"].iloc[0] <= counts["IR"]["with_hot_spots"]

    # -b alone reuses the saved windows: all JASPAR 2024, per-site p-value criterion against
    # the considered sequences, with a pseudocount
    rescan = tmp_path / "rescan.json"
    rescan.write_text(json.dumps({"n_logos": 0, "background": "considered", "pseudocount": 0.1,
                                  "zero_probability": None}))
    code = run_script(["--json", str(rescan), "-m", str(trained_run / "best.pt"), "-b",
                       "-d", "jaspar2024", "--p-value", "1e-4", "-r", "IG", "--no-progress"])
    assert code == 0
    for name in ("enrichment.csv", "enrichment_per_intron.csv"):
        table = pd.read_csv(out / name)
        ranks = dict(zip(table["tf"], table["rank"]))
        assert max(ranks["ZNF274"], ranks["REST"], ranks["ZNF143"]) <= 4, name  # ZNF76 may join
        # HNF4A shares its motif with a dozen DR1 nuclear receptors that close the table with it
        assert min(ranks["TP53"], ranks["SRF"], ranks["HNF4A"]) > len(table) - 15, name

    # the improved rules: summed scores, non-overlapping full windows inside the sequence
    improved = tmp_path / "improved.json"
    improved.write_text(json.dumps({**json.loads((Path(Attribute.__file__).parent / "json" /
                                                  "improved" / "Attribute.json").read_text()),
                                    "n_logos": 0, "database": planted, "window": 32,
                                    "ig_steps": 20, "result": "IG2"}))
    assert run_script(["--json", str(improved), "-m", str(trained_run), "-i", "-b",
                       "--no-progress"]) == 0
    windows = pd.read_csv(trained_run / "IG2" / "windows.csv")
    assert (windows["sequence"].str.len() == 32).all()
    for name in ("enrichment.csv", "enrichment_per_intron.csv"):
        table = pd.read_csv(trained_run / "IG2" / name)
        assert set(table["tf"].head(3)) == {"ZNF274", "REST", "ZNF143"}, name


@pytest.mark.slow
def test_attribute_errors_exit_2_and_keep_files(trained_run, demo_dir, tmp_path, capsys):
    trained_run = own_copy(trained_run, tmp_path)
    assert run_script(["--help"]) == 0
    assert "--prediction" in capsys.readouterr().out
    typo = tmp_path / "typo.json"
    typo.write_text('{"windw": 32}')
    assert run_script(["--json", str(typo), "-m", str(trained_run), "-i"]) == 2
    assert "did you mean 'window'" in capsys.readouterr().err
    # -b with a window width other than the saved windows' asks for a new -i
    table = pd.DataFrame({"window": [0], "class": ["IR"], "label": [1], "header": ["a"],
                          "split": ["test"], "reverse_complement": [False], "start": [0],
                          "end": [8], "peak": [3], "peak_score": [1.0], "window_score": [2.0],
                          "probability": [0.9], "ig_delta": [0.0], "sequence": ["ACGTACGT"]})
    save_windows(trained_run / "IG_w8", Windows(table, np.zeros((1, 4, 8), np.float32),
                                                {"counts": {}, "background": [0.25] * 4,
                                                 "window": 8}))
    planted = str(demo_dir / "planted_motifs.meme")
    assert run_script(["-m", str(trained_run), "-b", "-w", "32", "-d", planted,
                       "-r", "IG_w8"]) == 2
    assert "rerun -i" in capsys.readouterr().err
    # one class without windows cannot be compared
    assert run_script(["-m", str(trained_run), "-b", "-d", planted, "-r", "IG_w8"]) == 2
    assert "no non-IR hot-spot window" in capsys.readouterr().err
    assert run_script(["-m", str(trained_run), "--no-progress"]) == 2
    assert "nothing to do" in capsys.readouterr().err
    assert run_script(["-m", str(trained_run), "-b", "-d", planted, "-r", "never_made"]) == 2
    assert "run Attribute.py with -i first" in capsys.readouterr().err
    assert run_script(["-m", str(trained_run), "-i", "-r", "../elsewhere"]) == 2
    assert "plain folder name" in capsys.readouterr().err
    assert run_script(["-m", str(trained_run), "-i", "-p", "1.5"]) == 2
    assert "--prediction" in capsys.readouterr().err
    assert run_script(["-m", str(trained_run / "nope.pt"), "-i"]) == 2
    assert "not found" in capsys.readouterr().err
    assert run_script(["-m", str(trained_run), "-b", "-d", "missing.meme", "-r", "IG"]) == 2
    assert "missing.meme" in capsys.readouterr().err
    # -i over existing windows needs --force; the saved windows stay as they were
    folder = trained_run / "IG_keep"
    folder.mkdir()
    (folder / "windows.csv").write_text("precious\n")
    assert run_script(["-m", str(trained_run), "-i", "-r", "IG_keep"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (folder / "windows.csv").read_text() == "precious\n"


def test_a_checkpoint_without_sequence_settings_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint(run / "best.pt", tiny_convnet(), {"results_path": "x"})
    assert run_script(["-m", str(run), "-i", "--no-progress"]) == 2
    assert "one-hot DNA" in capsys.readouterr().err
