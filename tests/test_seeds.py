"""Several seeds: the statistics of src.report.seeds against references (scikit-learn with
sample weights, a slow DeLong, hand counts), Compare.py --group on hand-made predictions, and the
seeded steps of the pipeline (src.pipeline.seeds)."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import (
    auc,
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
)

import Compare
from src.errors import InputError
from src.report import seeds as report
from src.report.seeds import (
    RankedScores,
    bootstrap_weights,
    delong_test,
    holm,
    intron_keys,
    mean_curves,
    midranks,
    weighted_metrics,
)

# ------------------------------------------------------------------------- weighted metrics


@pytest.mark.parametrize("trial", range(40))
def test_weighted_metrics_equal_scikit_learn_with_sample_weights(trial):
    rng = np.random.default_rng(trial)
    n = int(rng.integers(6, 50))
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    scores = np.round(rng.random(n), int(rng.integers(1, 3)))  # ties
    weights = rng.integers(0, 4, size=(3, n)).astype(float)  # zeros: rows left out
    weights[:, :2] = 1.0
    got = weighted_metrics(RankedScores.of(labels, scores), weights)
    for b, w in enumerate(weights):
        precision, recall, _ = precision_recall_curve(labels, scores, sample_weight=w)
        assert got["auroc"][b] == pytest.approx(roc_auc_score(labels, scores, sample_weight=w))
        assert got["auprc"][b] == pytest.approx(
            average_precision_score(labels, scores, sample_weight=w))
        assert got["auprc_trapezoid"][b] == pytest.approx(auc(recall, precision))


def test_weighted_metrics_undefined_for_one_class():
    got = weighted_metrics(RankedScores.of([0, 1, 1], [0.2, 0.5, 0.9]), [[0.0, 1.0, 2.0]])
    assert all(math.isnan(v[0]) for v in got.values())


# ----------------------------------------------------------------------------------- DeLong

def slow_delong(labels, a, b):
    """DeLong et al. (1988) from the definition: the pairwise kernel over every positive and
    negative case, O(m n)."""
    labels = np.asarray(labels).astype(bool)

    def components(scores):
        x, y = scores[labels][:, None], scores[~labels][None, :]
        psi = (x > y) + 0.5 * (x == y)
        return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)

    auc_a, v10_a, v01_a = components(np.asarray(a, float))
    auc_b, v10_b, v01_b = components(np.asarray(b, float))
    s10 = np.cov(np.stack([v10_a, v10_b]))
    s01 = np.cov(np.stack([v01_a, v01_b]))
    m, n = len(v10_a), len(v01_a)
    c = np.array([1.0, -1.0])
    variance = c @ (s10 / m + s01 / n) @ c
    z = (auc_a - auc_b) / math.sqrt(variance)
    return auc_a, auc_b, variance, z, 2 * norm.sf(abs(z))


def test_delong_by_hand():
    # positives score 0.9, 0.6 (a) and 0.9, 0.4 (b); negatives 0.5, 0.1 in both.
    # a ranks every pair: AUC 1, components all 1. b misses (0.4, 0.5): AUC 0.75,
    # V10_b = (1, 0.5), V01_b = (0.5, 1): var = 0.125 / 2 + 0.125 / 2 = 0.125
    result = delong_test([1, 1, 0, 0], [0.9, 0.6, 0.5, 0.1], [0.9, 0.4, 0.5, 0.1])
    assert (result.auroc_a, result.auroc_b, result.difference) == (1.0, 0.75, 0.25)
    assert result.se == pytest.approx(math.sqrt(0.125))
    assert result.z == pytest.approx(0.25 / math.sqrt(0.125))
    assert result.p_value == pytest.approx(0.4795, abs=1e-4)


@pytest.mark.parametrize("trial", range(20))
def test_fast_delong_equals_the_slow_definition(trial):
    rng = np.random.default_rng(100 + trial)
    n = int(rng.integers(8, 80))
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    a = np.round(labels * 0.3 + rng.random(n), 1)  # ties within and across classes
    b = np.round(labels * 0.1 + rng.random(n), 2)
    auc_a, auc_b, variance, z, p = slow_delong(labels, a, b)
    result = delong_test(labels, a, b)
    assert result.auroc_a == pytest.approx(roc_auc_score(labels, a))
    assert (result.auroc_a, result.auroc_b) == (pytest.approx(auc_a), pytest.approx(auc_b))
    assert result.se ** 2 == pytest.approx(variance)
    assert (result.z, result.p_value) == (pytest.approx(z), pytest.approx(p))


def test_midranks_and_holm():
    assert midranks([3.0, 1.0, 3.0, 2.0]).tolist() == [3.5, 1.0, 3.5, 2.0]
    # sorted 0.01, 0.03, 0.04 -> x3, x2, x1 = 0.03, 0.06, 0.04 -> running max 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]).tolist() == [1.0, 1.0]  # 2 x 0.5 capped at 1; never below it
    assert np.isnan(holm([np.nan, 0.02])[0]) and holm([np.nan, 0.02])[1] == 0.02


# ------------------------------------------------------------------------- introns, bootstrap

def test_intron_keys_and_bootstrap_weights():
    keys = intron_keys(["a", "a_r", "b_r", "c", "c_r"])
    assert keys.tolist() == ["a", "a", "b_r", "c", "c"]  # b_r has no "b": a header of its own
    _, introns = np.unique(keys, return_inverse=True)
    weights = bootstrap_weights(introns, introns.max() + 1, 500, np.random.default_rng(0))
    assert weights.shape == (500, 5)
    # a sequence and its reverse complement are drawn together
    assert (weights[:, 0] == weights[:, 1]).all() and (weights[:, 3] == weights[:, 4]).all()
    assert (weights[:, [0, 2, 3]].sum(axis=1) == 3).all()  # 3 introns drawn per resample
    assert weights[:, 2].mean() == pytest.approx(1.0, abs=0.15)


def test_mean_curves_of_identical_seeds_have_no_band():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 60)
    p = np.clip(labels * 0.4 + rng.random(60) * 0.7, 0, 1)
    curves = mean_curves(labels, np.stack([p, p, p]))
    assert curves["tpr_sd"].max() < 1e-12 and curves["precision_sd"].max() < 1e-12
    assert curves["tpr_mean"][0] == 0 and curves["tpr_mean"][-1] == 1
    assert np.all(np.diff(curves["tpr_mean"]) >= -1e-12)


# ------------------------------------------------------------------- Compare.py --group

def fake_run(folder, headers, labels, probabilities, config=None):
    folder.mkdir(parents=True)
    pd.DataFrame({"header": headers, "label": labels, "probability": probabilities}).to_csv(
        folder / "predictions.csv", index=False)
    (folder / "config.json").write_text(json.dumps(config or {}))
    return folder


def hand_made_study(root, n_introns=120, seeds=3):
    """Two models scored on introns and their reverse complements: FSei (good, seeds differ a
    little) and Basset (worse); the rows of the second model are written in another order."""
    rng = np.random.default_rng(7)
    labels = (rng.random(n_introns) < 0.3).astype(int)
    headers = [f"intron{i}" for i in range(n_introns)]
    all_headers = headers + [h + "_r" for h in headers]
    all_labels = np.concatenate([labels, labels])
    runs = {"FSei": [], "Basset": []}
    for k in range(seeds):
        for model, signal in (("FSei", 0.45), ("Basset", 0.15)):
            strand = np.clip(labels * signal + rng.random(n_introns) * 0.6, 0, 1)
            probability = np.concatenate([strand, np.clip(strand + rng.normal(0, 0.02,
                                                                            n_introns), 0, 1)])
            order = np.arange(2 * n_introns) if model == "FSei" else rng.permutation(2 * n_introns)
            folder = root / model / (f"seed_{k + 1}" if k else "") / f"{model}_2025010{k}-000000"
            runs[model].append(fake_run(folder, np.array(all_headers)[order],
                                        all_labels[order], probability[order]))
    return runs


def test_compare_groups_aggregates_hand_made_predictions(tmp_path, capsys):
    runs = hand_made_study(tmp_path)
    out = tmp_path / "cmp"
    with pytest.raises(SystemExit) as stop:
        Compare.main(["--group", *map(str, runs["FSei"]), "--group", *map(str, runs["Basset"]),
                      "--out", str(out), "--bootstrap", "400"])
        raise SystemExit(0)
    assert stop.value.code == 0
    table = pd.read_csv(out / "comparison_seeds.csv")
    assert table["model"].tolist() == ["FSei"] * 4 + ["Basset"] * 4
    assert set(table["metric"]) == {"accuracy", "auroc", "auprc", "auprc_trapezoid"}
    assert (table["n_seeds"] == 3).all()
    for model in ("FSei", "Basset"):
        frames = [pd.read_csv(run / "predictions.csv") for run in runs[model]]
        aurocs = [roc_auc_score(f["label"], f["probability"]) for f in frames]
        traps = [auc(*precision_recall_curve(f["label"], f["probability"])[1::-1])
                 for f in frames]
        for metric, values in (("auroc", aurocs), ("auprc_trapezoid", traps)):
            row = table[(table["model"] == model) & (table["metric"] == metric)].iloc[0]
            assert row[["seed_1", "seed_2", "seed_3"]].tolist() == pytest.approx(values)
            assert row["mean"] == pytest.approx(np.mean(values))
            assert row["sd"] == pytest.approx(np.std(values, ddof=1))
        assert table[table["model"] == model]["runs"].iloc[0] == "; ".join(map(str, runs[model]))
    assert table.loc[(table["model"] == "FSei") & (table["metric"] == "auroc"),
                     "published"].iloc[0] == 0.815

    tests = pd.read_csv(out / "paired_tests.csv")
    boot = tests[tests["test"] == "bootstrap"].set_index("metric")
    mean = table.set_index(["model", "metric"])["mean"]
    for metric in ("auroc", "auprc_trapezoid", "auprc"):
        assert boot.loc[metric, "difference"] == pytest.approx(
            mean[("FSei", metric)] - mean[("Basset", metric)])
        assert boot.loc[metric, "ci_low"] <= boot.loc[metric, "difference"] <= \
            boot.loc[metric, "ci_high"]
        assert boot.loc[metric, "n_introns"] == 120 and boot.loc[metric, "n_bootstrap"] == 400
    assert boot.loc["auroc", "ci_low"] > 0 and boot.loc["auroc", "p_value"] < 0.01
    assert boot.loc["auroc", "verdict"] == "reference better"
    # DeLong, seed by seed, on each intron's two strands averaged
    delong = tests[tests["test"] == "delong"]
    assert delong["seed"].astype(str).tolist() == ["1", "2", "3"]
    frames = {m: [pd.read_csv(r / "predictions.csv") for r in runs[m]] for m in runs}
    for k in range(3):
        per_intron = {}
        for model in runs:
            f = frames[model][k]
            key = f["header"].str.replace("_r$", "", regex=True)
            per_intron[model] = f.groupby(key)[["label", "probability"]].mean().sort_index()
        expected = slow_delong(per_intron["FSei"]["label"].to_numpy(),
                               per_intron["FSei"]["probability"].to_numpy(),
                               per_intron["Basset"]["probability"].to_numpy())
        row = delong.iloc[k]
        assert (row["reference_value"], row["model_value"]) == (
            pytest.approx(expected[0]), pytest.approx(expected[1]))
        assert row["p_value"] == pytest.approx(expected[4])
    assert (out / "comparison_seeds.png").stat().st_size > 10_000
    text = (out / "comparison_seeds.md").read_text()
    assert "| FSei | 3 |" in text and " ± " in text and "Paired tests, FSei minus" in text
    assert "comparison_seeds.png" in capsys.readouterr().out
    # done: the table lists these runs; another run of a model makes it out of date
    groups = [runs["FSei"], runs["Basset"]]
    assert report.is_complete(out, groups)
    assert not report.is_complete(out, [runs["FSei"][:2], runs["Basset"]])


def test_an_identical_model_is_not_distinguishable(tmp_path):
    runs = hand_made_study(tmp_path, n_introns=60, seeds=2)
    copies = [fake_run(tmp_path / "copy" / f"FSei_2025010{k}-000001",
                       *pd.read_csv(run / "predictions.csv").T.to_numpy())
              for k, run in enumerate(runs["FSei"])]
    _, tests = report.compare_seed_groups([runs["FSei"], copies], tmp_path / "out",
                                              labels=["FSei", "copy"], n_bootstrap=200)
    assert (tests["difference"] == 0).all() and (tests["p_value"] == 1).all()
    assert (tests["verdict"] == "not distinguishable").all()


def test_compare_groups_errors(tmp_path, capsys):
    runs = hand_made_study(tmp_path, n_introns=20, seeds=2)
    frame = pd.read_csv(runs["Basset"][1] / "predictions.csv")
    other = fake_run(tmp_path / "other" / "Basset_20250101-000000", frame["header"].str.upper(),
                     frame["label"], frame["probability"])
    with pytest.raises(InputError, match="scored other sequences"):
        report.compare_seed_groups([runs["FSei"], [runs["Basset"][0], other]], tmp_path / "o")
    flipped = fake_run(tmp_path / "flip" / "Basset_20250101-000000", frame["header"],
                       1 - frame["label"], frame["probability"])
    with pytest.raises(InputError, match="different labels"):
        report.compare_seed_groups([runs["FSei"], [flipped]], tmp_path / "o")
    with pytest.raises(InputError, match="none of the compared models"):
        report.compare_seed_groups([runs["FSei"], runs["Basset"]], tmp_path / "o",
                                   reference="LR")
    with pytest.raises(SystemExit) as stop:
        Compare.main([str(runs["FSei"][0]), "--group", str(runs["FSei"][1])])
    assert stop.value.code == 2 and "not both" in capsys.readouterr().err
