"""Compare.py: ROC/PR figure and metrics table from run folders."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score

import Compare
from src.report.comparison import to_markdown
from src.runs import run_label


def fake_run(folder, name, labels, probabilities, config=None):
    run = folder / name
    run.mkdir(parents=True)
    pd.DataFrame({"header": [f"h{i}" for i in range(len(labels))], "label": labels,
                  "probability": probabilities}).to_csv(run / "predictions.csv", index=False)
    if config is not None:
        (run / "config.json").write_text(json.dumps(config))
    return run


def test_compare_writes_figure_and_tables(tmp_path, capsys):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    good = np.clip(labels * 0.6 + rng.random(200) * 0.5, 0, 1)
    noise = rng.random(200)
    a = fake_run(tmp_path / "results" / "FSei", "FSei_20250101-000000", labels, good, {})
    b = fake_run(tmp_path / "results" / "LR", "LR_20250101-000000", labels, noise,
                 {"feature_set": "TF"})
    out = tmp_path / "cmp"
    with pytest.raises(SystemExit) as exit_info:
        Compare.main([str(tmp_path / "results" / "FSei"), str(b), "--out", str(out)])
        raise SystemExit(0)
    assert exit_info.value.code == 0
    table = pd.read_csv(out / "comparison.csv")
    assert table["model"].tolist() == ["FSei", "LR (TF)"]
    assert table["run"].tolist() == [str(a), str(b)]
    assert table.loc[0, "auroc"] == pytest.approx(roc_auc_score(labels, good))
    precision, recall, _ = precision_recall_curve(labels, noise)
    assert table.loc[1, "auprc_trapezoid"] == pytest.approx(auc(recall, precision))
    assert table.loc[0, "published_auroc"] == 0.815 and table.loc[1, "published_auroc"] == 0.807
    assert (out / "comparison.png").stat().st_size > 10_000
    assert "| FSei |" in (out / "comparison.md").read_text()
    assert "comparison.png" in capsys.readouterr().out


def test_compare_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        Compare.main([str(tmp_path)])
    assert exit_info.value.code == 2
    assert "no run folder with predictions.csv" in capsys.readouterr().err
    run = fake_run(tmp_path, "Basset_20250101-000000", [0, 1], [0.2, 0.8])
    with pytest.raises(SystemExit) as exit_info:
        Compare.main([str(run), "--labels", "a", "b"])
    assert exit_info.value.code == 2


def test_run_labels_and_markdown(tmp_path):
    assert run_label(tmp_path / "ConvNet_eval_20250101-000000_2") == "ConvNet"
    run = tmp_path / "LR_20250101-000000"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"train_data": "x/data_HM_train.npy"}))
    assert run_label(run) == "LR (HM)"
    text = to_markdown(pd.DataFrame({"model": ["a"], "auroc": [0.5], "x": [float("nan")]}))
    assert text.splitlines() == ["| model | auroc | x |", "| --- | --- | --- |", "| a | 0.500 |  |"]


@pytest.mark.parametrize("content, message", [
    ("header,label,probability\nh0,0,0.2\nh1,2,0.9\n", "line 3: label '2'"),
    ("header,label,probability\nh0,0,0.2\nh1,1,abc\n", "line 3: label '1', probability 'abc'"),
    ("header,label\nh0,0\n", "lacks the column(s) probability"),
    ("", "not a readable predictions table"),
])
def test_bad_predictions_are_input_errors(tmp_path, capsys, content, message):
    run = tmp_path / "Basset_20250101-000000"
    run.mkdir()
    (run / "predictions.csv").write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        Compare.main([str(run), "--out", str(tmp_path / "cmp")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "cmp" / "comparison.csv").exists()


def test_single_process_scripts_refuse_a_multi_process_launch(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(SystemExit) as exit_info:
        Compare.main([str(tmp_path)])
    assert exit_info.value.code == 2
    assert "Compare.py runs as one process: start it with `python Compare.py" in capsys.readouterr().err
    monkeypatch.setenv("RANK", "1")  # the other processes exit quietly
    with pytest.raises(SystemExit):
        Compare.main([str(tmp_path)])
    assert capsys.readouterr().err == ""
