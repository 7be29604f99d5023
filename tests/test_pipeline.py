"""Reproduce.py / src.pipeline and src.demo.steps: the demo sequence end to end on a tiny demo,
skipping finished steps, resuming an interrupted run, the run record and report page, and the
errors for missing inputs and failed steps."""

import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

import Attribute
import Basset
import Compare
import ConvNet
import DNABert2
import FSei
import LGBM
import LR
import Make_demo_data
import Plot_importance
import Predict
import Preprocess_data_to_numpy as Preprocess
import Reproduce
from src.demo.data import DemoSettings
from src.demo.genome import DemoGenomeSettings
from src.demo.steps import (
    DemoSizes,
    demo_final_steps,
    demo_input_steps,
    predict_summary,
)
from src.errors import InputError
from src.interpret import denovo, maps
from src.models.sei_targets import read_target_names
from src.pipeline.steps import run_steps
from src.pipeline.study import study_steps, summary
from src.runs import is_training_run, run_folders

pytestmark = pytest.mark.slow  # the whole demo sequence, tiny

LENGTH = 440  # ConvNet needs at least 424 bp
SIZES = DemoSizes(DemoSettings(n_sequences=300, length=LENGTH, positive_fraction=0.4),
                  demo_sei_sequences=200,
                  genome=DemoGenomeSettings(chromosome_length=40_000, introns_per_chromosome=10,
                                            n_broken=3, n_neutral=4))
TINY = {
    "Basset": {"model_architecture": {
        "CNN1filters": 8, "CNN1filterSize": 9, "CNN1poolSize": 4, "CNN1padding": 4,
        "CNN2filters": 8, "CNN2filterSize": 5, "CNN2poolSize": 1, "CNN2padding": 2,
        "CNN3filters": 4, "CNN3filterSize": 4, "CNN3poolSize": 2, "CNN3padding": 2,
        "FC1inputSize": 220, "FC1outputSize": 16, "FC2outputSize": 8, "numClasses": 2}},
    "ConvNet": {"model_architecture": {"channels": [8, 8, 8, 8], "dilations": [2, 4],
                                       "residual_width": 8, "embed_dim": 8,
                                       "feedforward_dim": 16, "dropout": 0.2}},
    # Attribute needs sequences of both classes predicted correctly: a few epochs (with the
    # study's betas (0.9, 0.99) this tiny FSei predicts every sequence non-IR)
    "FSei": {"max_epochs": 4, "max_lr": 0.005, "adam_betas": [0.9, 0.999], "model_architecture": {
        "trunk_channels": [16, 16, 16], "embed_dim": 8, "kernel_size": 3, "dropout": 0.2,
        "trunk_dropout": False}},
    "DNABert2": {"max_length": 128},
    "Preprocess": {"sequence_length": 480},
    "LGBM": {"n_estimators": 20, "init_points": 1, "n_iter": 0, "cv_folds": 2},
    "Attribute": {"ig_steps": 4, "batch_size": 64, "prediction_threshold": 0.0, "top_n": 5,
                  "n_logos": 1, "denovo": {"database": "jaspar2024"}},  # TOMTOM: a full one
}


def tiny_configs(root: Path) -> Path:
    """json/demo/* with every path inside `root` and the sizes cut down (seconds per step)."""
    folder = root / "json"
    folder.mkdir()
    data, results = root / "data", root / "results"
    for source in sorted((ROOT / "json" / "demo").glob("*.json")):
        config = json.loads(source.read_text())
        name = source.stem
        for key in ("data_path", "sei_path", "target_names", "features_path", "result_path",
                    "model_name_or_path"):
            if key in config and config[key]:
                config[key] = str(data / Path(config[key]).relative_to("data/demo"))
        if "results_path" in config:
            config["results_path"] = str(results / Path(config["results_path"]).relative_to(
                "results/demo"))
        if "max_epochs" in config:
            config.update(max_epochs=1, warmup_steps=0, batch_size=32)
            if "sequence_length" in config:
                config["sequence_length"] = LENGTH
        config.update(TINY.get(name.split("_")[0], {}))
        if name == "Attribute":  # the six planted motifs: a quick scan
            config["database"] = str(data / "planted_motifs.meme")
        (folder / source.name).write_text(json.dumps(config, indent=2))
    return folder


def in_process_runner(command: list[str]) -> int:
    """Call a script's `main(argv)` in this process (no interpreter start-up)."""
    module = {"Make_demo_data.py": Make_demo_data, "Preprocess_data_to_numpy.py": Preprocess,
              "DNABert2.py": DNABert2, "FSei.py": FSei, "LR.py": LR, "LGBM.py": LGBM,
              "Plot_importance.py": Plot_importance, "Basset.py": Basset, "ConvNet.py": ConvNet,
              "Attribute.py": Attribute, "Compare.py": Compare, "Predict.py": Predict}[command[0]]
    try:
        module.main(command[1:])
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1
    return 0


def training_runs(results_path) -> list[Path]:
    return [run for run in run_folders(results_path) if is_training_run(run)]


def demo_steps(json_dir):
    """The demo's input steps with the tiny sizes, the study's, then the demo's Predict step."""
    steps, made_by = demo_input_steps(json_dir, SIZES)
    pipeline = study_steps(json_dir, made_by=made_by)
    pipeline.steps[:0] = steps
    pipeline.steps += demo_final_steps(json_dir)
    return pipeline


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("reproduce")
    json_dir = tiny_configs(root)
    pipeline = demo_steps(json_dir)
    calls = []

    def runner(command):
        calls.append(command)
        return in_process_runner(command)

    status = run_steps(pipeline.steps, runner=runner, log=lambda m: None)
    return root, json_dir, pipeline, status, calls


def test_demo_sequence_writes_every_output(tiny_demo):
    root, json_dir, pipeline, status, calls = tiny_demo
    names = [step.name for step in pipeline.steps]
    assert names == ["demo data", "demo genome", "demo Sei", "tiny DNABERT-2", "FSei",
                     "Preprocess", "LR ALL", "LR TF", "LR HM", "LGBM", "importance plot", "Basset",
                     "ConvNet", "DNABERT-2", "DNABERT-2 (original load)", "Attribute", "Compare",
                     "Predict"]
    assert set(status.values()) == {"ran"} and len(calls) == len(names)
    data, results = root / "data", root / "results"
    table = pd.read_csv(data / "final_data.csv")
    assert len(table) == SIZES.data.n_sequences and set(table["sequence"].str.len()) == {LENGTH}
    targets = read_target_names(data / "sei" / "target.names")
    assert set(targets.counts()) == {"TF", "HM", "ACC"}
    assert json.loads((data / "sei" / "training.json").read_text())["mean_auroc"] > 0.5
    for fset in ("ALL", "TF", "HM"):
        names_file = (data / "sei_features" / f"features_{fset}.txt").read_text().splitlines()
        for split in ("train", "valid", "test"):
            features = np.load(data / "sei_features" / f"data_{fset}_{split}.npy")
            labels = np.load(data / "sei_features" / f"target_{fset}_{split}.npy")
            assert features.shape == (len(labels), len(names_file))
            assert np.isfinite(features).all() and set(np.unique(labels)) <= {0, 1}
    model_results = {"FSei": "FSei", "LR/ALL": "LR", "LR/TF": "LR", "LR/HM": "LR",
                     "LGBM/TF": "LGBM", "Basset": "Basset", "ConvNet": "ConvNet",
                     "DNABert2": "DNABERT2", "DNABert2_original": "DNABERT2"}
    for folder, model in model_results.items():
        (run,) = training_runs(results / folder)
        predictions = pd.read_csv(run / "predictions.csv")
        assert list(predictions.columns) == ["header", "label", "probability"]
        assert predictions["probability"].between(0, 1).all()
        assert json.loads((run / "metrics.json").read_text())["n"] == len(predictions)
        assert pd.read_csv(results / folder / "results.csv")["model"].tolist() == [model]
    for folder in ("LR/TF", "LGBM/TF"):
        (run,) = training_runs(results / folder)
        assert len(pd.read_csv(run / "importance.csv")) == len(targets.indices("TF"))
    out = results / "comparison"
    comparison = pd.read_csv(out / "comparison.csv")
    assert comparison["model"].tolist() == ["FSei", "LR (ALL)", "LR (TF)", "LR (HM)",
                                            "LGBM (TF)", "Basset", "ConvNet", "DNABERT2",
                                            "DNABERT2 (original load)"]
    assert comparison["published_auroc"].notna().all()
    assert comparison["auroc"].between(0, 1).all()
    assert (out / "comparison.md").read_text().count("\n") == 11
    for figure in ("comparison.png", "importance_top20.png"):
        assert matplotlib.image.imread(out / figure).ndim == 3
    assert len(pd.read_csv(out / "importance_top20.csv")) == 40
    (fsei_run,) = training_runs(results / "FSei")
    ig = fsei_run / "IG"
    assert len(pd.read_csv(ig / "enrichment.csv")) == 6  # the six planted motifs
    assert pd.read_csv(ig / "windows.csv")["class"].isin(["IR", "non-IR"]).all()
    assert (ig / "nsites.txt").read_text().count("MA0138.3") == 1
    assert maps.is_complete(ig) and denovo.is_complete(ig)  # -s ran on the maps of -i
    intron = pd.read_csv(ig / "enrichment_per_intron.csv")
    assert len(intron) == 6 and (intron["ir_introns"] > 0).all()
    assert "Counted per intron" in (ig / "nsites_per_intron.txt").read_text()
    text = summary(pipeline.steps, out)
    assert "LR (TF)" in text and "REST" in text and str(out / "comparison.png") in text
    assert f"De novo motifs ({ig / 'denovo' / 'denovo.md'}" in text
    assert "per window, the study's table" in text and "per intron, Fisher's exact test" in text
    # the study's LightGBM path: its fixed parameters, no search
    (lgbm,) = [call for call in calls if call[0] == "LGBM.py"]
    assert "--optimize" not in lgbm
    # Predict.py on the demo genome with the ConvNet run: every variant in a window, explained
    genome = data / "genome"
    assert (genome / "genome.fa.fai").is_file()
    variants = pd.read_csv(results / "predict" / "variant_effects.tsv", sep="\t")
    truth = pd.read_csv(genome / "variants_truth.tsv", sep="\t")
    inside = truth[truth["effect"] != "outside windows"]
    assert sorted(zip(variants["pos"], variants["alt"])) == sorted(zip(inside["pos"],
                                                                       inside["alt"]))
    assert variants["ref_p_ir"].between(0, 1).all() and variants["delta"].abs().le(1).all()
    record = json.loads((results / "predict" / "predict.json").read_text())
    assert record["model_name"] == "ConvNet" and record["window"] == LENGTH
    assert len(list((results / "predict" / "explain").glob("rank*.png"))) == 3
    text = predict_summary(json_dir)
    assert "Variant effects" in text and "breaks IR motif" in text and "rank" in text


def test_a_second_run_skips_every_step(tiny_demo):
    _, json_dir, _, _, _ = tiny_demo

    def refuse(command):
        raise AssertionError(f"ran {command}")

    status = run_steps(demo_steps(json_dir).steps, runner=refuse, log=lambda m: None)
    assert set(status.values()) == {"done"}


def test_an_interrupted_training_run_is_resumed(tmp_path):
    json_dir = tiny_configs(tmp_path)  # a study of its own: the shared one stays as it is
    steps = demo_steps(json_dir).steps
    run_steps(steps, only=["demo data", "Basset"], runner=in_process_runner, log=lambda m: None)
    (run,) = training_runs(tmp_path / "results" / "Basset")
    (run / "predictions.csv").unlink()  # as if stopped before -e
    calls = []

    def runner(command):
        calls.append(command)
        return in_process_runner(command)

    status = run_steps(steps, only=["Basset"], runner=runner, log=lambda m: None)
    assert calls == [["Basset.py", "--resume", str(run), "-e"]]
    assert status["Basset"] == "ran" and (run / "predictions.csv").is_file()
    assert training_runs(tmp_path / "results" / "Basset") == [run]  # no new run folder

    # Reproduce.py records the steps and ends with the report page
    Reproduce.main(["--config", "demo", "--json-dir", str(json_dir), "--only", "demo data",
                    "Basset"])
    record = json.loads((tmp_path / "results" / "pipeline_record.json").read_text())
    assert [step["name"] for step in record["steps"]] == ["demo data", "Basset"]
    assert {step["status"] for step in record["steps"]} == {"done"}
    assert record["invocations"][-1]["status"] == "finished"
    page = (tmp_path / "results" / "report.html").read_text()
    assert "Prediction of intron retention" in page and "Did not run" in page


def test_failed_step_and_missing_inputs(tmp_path, capsys):
    json_dir = tiny_configs(tmp_path)
    steps = demo_steps(json_dir).steps
    with pytest.raises(InputError, match="step demo data failed .exit status 3"):
        run_steps(steps, runner=lambda command: 3, log=lambda m: None)
    # without the demo steps the data, weights and model must be there: one message lists all
    with pytest.raises(SystemExit) as stop:
        Reproduce.main(["--config", "paper", "--json-dir", str(json_dir)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    for missing in ("final_data.csv not found", "train_indices.txt not found",
                    "sei.pth not found", "target.names not found", "tiny-dnabert2 not found",
                    "planted_motifs.meme not found", "nothing was run"):
        assert missing in err
    assert not (tmp_path / "results").exists()
    with pytest.raises(InputError, match="unknown step"):
        run_steps(steps, only=["LR"], log=lambda m: None)
    # a step's outputs from another step: LR alone needs Preprocess's features
    with pytest.raises(InputError, match="made by the 'Preprocess' step"):
        run_steps(steps, only=["LR TF"], log=lambda m: None)
    fsei = json.loads((json_dir / "FSei.json").read_text())
    (json_dir / "FSei.json").write_text(json.dumps({**fsei, "sei_path": "other/sei.pth"}))
    with pytest.raises(InputError, match="give both the same sei_path"):
        demo_steps(json_dir)
    (json_dir / "FSei.json").write_text(json.dumps(fsei))
    bad = json.loads((json_dir / "LR_HM.json").read_text())
    bad["feature_set"] = "TF"
    (json_dir / "LR_HM.json").write_text(json.dumps(bad))
    with pytest.raises(InputError, match="LR_HM.json: feature_set is 'TF'"):
        demo_steps(json_dir)
