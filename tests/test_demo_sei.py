"""The demo Sei: synthetic chromatin profiles, motif scanners, training, official format."""

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import src.demo.sei as demo_sei
from src.demo.data import IR_MOTIFS, NON_IR_MOTIFS
from src.demo.sei import write_demo_sei
from src.models.sei import Sei, load_sei
from src.models.sei_targets import parse_target_names


@pytest.fixture(scope="module")
def motifs():
    from src.interpret.motifs import load_jaspar

    return {m.matrix_id: m for m in load_jaspar("JASPAR2024")}


def test_profiles_have_official_names_and_groups(motifs):
    names = [motifs[i].name for i in demo_sei.DEMO_MOTIFS]
    profiles = demo_sei.demo_profiles(names, 96)
    targets = parse_target_names([p.name for p in profiles])
    assert targets.counts() == {"TF": 49, "HM": 38, "ACC": 9}
    assert list(targets.groups) == [p.group for p in profiles]  # names group as intended
    assert all(len(p.name.split(" | ")) == 3 for p in profiles)
    planted = {motifs[i].name for i in IR_MOTIFS + NON_IR_MOTIFS}
    assert planted <= {a for a, g in zip(targets.assays, targets.groups) if g == "TF"}
    h3k9me3 = next(p for p in profiles if " H3K9me3 " in p.name)
    assert names[h3k9me3.motifs[0]] == "ZNF274"  # KRAB zinc finger -> H3K9me3
    # labels follow the rule: a TF profile is its motif's presence, ACC counts motifs
    present = np.array([[1] + [0] * 15, [1, 1] + [0] * 14, [0] * 16], dtype=bool)
    labels = demo_sei.profile_labels(present, profiles)
    dnase = next(t for t, p in enumerate(profiles) if " DNase " in p.name)
    assert labels[:, 0].tolist() == [1, 1, 0] and labels[:, dnase].tolist() == [0, 1, 0]


def test_scanners_compose_to_the_motif_filter(motifs):
    """lconv1's two convolutions equal one 17 bp convolution with the standardised filter."""
    chosen = [motifs[i] for i in demo_sei.DEMO_MOTIFS]
    model = Sei((16, 16, 16), 8)
    n = demo_sei.init_motif_scanners(model, chosen, torch.Generator().manual_seed(0))
    assert n == 16
    rng = np.random.default_rng(0)
    bases, present = demo_sei.synthetic_sequences(300, 300, chosen, 0.2, rng)
    x = demo_sei.centred_one_hot(bases, 320)
    with torch.no_grad():
        scores = model.lconv1(x).double()
    background = np.asarray(demo_sei.BACKGROUND)
    for j in (0, 1, 5):  # ZNF274, REST (trimmed to 17 columns), HNF4A
        weights = demo_sei.motif_filter(chosen[j])
        mean = (background @ weights).sum()
        sd = np.sqrt((background @ weights ** 2 - (background @ weights) ** 2).sum())
        naive = torch.nn.functional.conv1d(x.double(), torch.tensor(weights / sd)[None],
                                           padding=8)[:, 0] - mean / sd
        assert torch.allclose(scores[:, j], naive, atol=1e-4)
        # each scanner finds its motif on either strand
        best = scores[:, j].amax(dim=1).numpy()
        assert roc_auc_score(present[:, j], best) > 0.8


def test_synthetic_sequences_plant_each_motif(motifs):
    chosen = [motifs[i] for i in demo_sei.DEMO_MOTIFS]
    bases, present = demo_sei.synthetic_sequences(200, 600, chosen, 0.15,
                                                  np.random.default_rng(3))
    assert bases.shape == (200, 600) and bases.max() <= 3
    assert 0.1 < present.mean() < 0.2
    x = demo_sei.centred_one_hot(bases[:2], 610)
    assert x.shape == (2, 4, 610) and torch.all(x.sum(dim=1)[:, 5:605] == 1)
    assert torch.all(x[:, :, :5] == 0) and torch.all(x[:, :, 605:] == 0)


def test_trained_demo_sei_is_deterministic_and_predicts_profiles(tmp_path, motifs):
    training = demo_sei.DemoSeiTraining(n_sequences=800, input_length=400, insert_length=300,
                                        epochs=15)
    paths = [write_demo_sei(tmp_path / name, training=training, motifs=motifs, log=lambda m: None)
             for name in ("a", "b")]
    first = torch.load(paths[0][0], weights_only=True)
    second = torch.load(paths[1][0], weights_only=True)
    assert all(torch.equal(first[k], second[k]) for k in first)
    model = load_sei(paths[0][0])
    assert model.channels == (16, 16, 16) and model.n_targets == 96
    names = paths[0][1].read_text().splitlines()
    report = json.loads((tmp_path / "a" / "training.json").read_text())
    assert list(report["profiles"]) == names
    assert report["mean_auroc"] > 0.7
    planted = [report["auroc"][n] for n in names[:6]]  # the planted motifs' TF profiles
    assert np.mean(planted) > 0.75, planted
    # the saved model reproduces the held-out quality on new synthetic sequences
    chosen = [motifs[i] for i in demo_sei.DEMO_MOTIFS]
    bases, present = demo_sei.synthetic_sequences(400, 300, chosen, 0.15,
                                                  np.random.default_rng(9))
    with torch.no_grad():
        predicted = model(demo_sei.centred_one_hot(bases, 400)).numpy()
    assert roc_auc_score(present[:, 1], predicted[:, 1]) > 0.8  # REST


def test_demo_sei_errors(tmp_path, motifs):
    with pytest.raises(Exception, match="at least 8 channels"):
        write_demo_sei(tmp_path, channels=(4, 4, 8), motifs=motifs, log=lambda m: None)
    assert not (tmp_path / "sei.pth").exists()
    with pytest.raises(Exception, match="not in the motif database"):
        write_demo_sei(tmp_path, motifs={}, log=lambda m: None)
    with pytest.raises(Exception, match="longer than its input"):
        write_demo_sei(tmp_path, motifs=motifs, log=lambda m: None,
                       training=demo_sei.DemoSeiTraining(input_length=200, insert_length=300))
