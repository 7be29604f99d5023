"""json/ holds the original study's settings: every setting of `study_settings.md` sections 1-9
that a config holds, against the value in the original code (GitHub Addaoud/IntronRetention at
commit 9838542, the README version this project follows; for Attribute.py at 525136a, the code
that produced the published IG_sites.txt), cited file:line@commit.

The table below is the reference, written out here so that an edit of json/ cannot drift from
the original silently. A key that this project sets differently on purpose must be named (in
backticks, first column) in the README table "Differences from the original code", which says
why; only such keys are exempt. json/improved/ may differ from json/ only in the keys listed in
IMPROVED_KEYS, which the README section "Improved settings" names.
"""

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT

from src.config import (
    config_to_dict,
    load_config,
)
from src.pipeline.study import CONFIG_FILES

# every config file but DNABert2_original.json (its own test at the end)
CLASSES = {name: cls for name, cls in CONFIG_FILES.items() if name != "DNABert2_original"}

# §1: shared by every PyTorch script (json/<Script>.json of the original)
SHARED = {
    "use_scheduler": (True, "train_utils.py:79-80"),
    "batch_accumulation": (False, "json/*.json"),
    "n_accumulated_batches": (1, "json/*.json"),
    "mixed_precision": (False, "fp32: no autocast anywhere"),
    "seed": (42, "src/seed.py:7-19 (torch seed; the split seed 100 is separate)"),
}
SEQUENCE = {
    "sequence_length": (600, "dataset_utils.py:245; attribution_utils.py:125"),
    "use_reverse_complement": (True, "json/<model>.json:19"),
    "targets_for_reverse_complement": ([0, 1], "json/<model>.json:20"),
    "lazy_loading": (False, "json/<model>.json"),
}
FSEI_ARCH = {"model_architecture.trunk_channels": ([480, 640, 960], "networks.py:319-352"),
             "model_architecture.embed_dim": (520, "networks.py:438-441"),
             "model_architecture.kernel_size": (3, "networks.py:438-441"),
             "model_architecture.dropout": (0.2, "networks.py:217-228"),
             "model_architecture.trunk_dropout": (True, "networks.py:330-382")}
BASSET_ARCH = {f"model_architecture.{key}": (value, "json/Basset.json:21-37") for key, value in {
    "CNN1filters": 200, "CNN1filterSize": 13, "CNN1poolSize": 6, "CNN1padding": 6,
    "CNN2filters": 100, "CNN2filterSize": 5, "CNN2poolSize": 1, "CNN2padding": 2,
    "CNN3filters": 50, "CNN3filterSize": 8, "CNN3poolSize": 2, "CNN3padding": 4,
    "FC1inputSize": 2500, "FC1outputSize": 800, "FC2outputSize": 300, "numClasses": 2}.items()}
CONVNET_ARCH = {"model_architecture.channels": ([480, 640, 720, 960], "networks.py:692-715"),
                "model_architecture.dilations": ([2, 4, 8], "networks.py:716-739"),
                "model_architecture.residual_width": (1280, "networks.py:716-739"),
                "model_architecture.embed_dim": (1280, "networks.py:741-747"),
                "model_architecture.feedforward_dim": (2048, "networks.py:230-266"),
                "model_architecture.dropout": (0.2, "networks.py:230-266")}


def schedule(optimizer, begin, peak, final, warmup, epochs, patience, check, batch, source,
             betas=None, momentum=0.95):
    rows = {"optimizer_type": (optimizer, source), "weight_decay": (0.01, source),
            "momentum": (momentum, source), "warmup_begin_lr": (begin, source),
            "max_lr": (peak, source), "final_lr": (final, source),
            "warmup_steps": (warmup, source), "max_epochs": (epochs, source),
            "counter_for_early_stop_threshold": (patience, source),
            "epochs_to_check_loss": (check, source), "batch_size": (batch, source)}
    if betas is not None:
        rows["adam_betas"] = (betas, "src/optimizers.py:60-66")
    return rows


LR_COMMON = {**SHARED, **schedule("adamw", 1e-4, 1e-3, 1e-5, 10, 1000, 25, 2, 512,
                                  "json/LR.json:9-22", betas=[0.9, 0.99]),
             "imbalanced_data": (False, "json/LR.json"),
             "initial_weights": ("default", "LR.py: nn.Linear, PyTorch's initialisation")}

ORIGINAL = {
    "FSei": {**SHARED, **SEQUENCE, **FSEI_ARCH,
             **schedule("sgd", 1e-4, 1e-3, 1e-5, 5, 100, 10, 1, 512, "json/FSei.json:4-16")},
    "Basset": {**SHARED, **SEQUENCE, **BASSET_ARCH,
               **schedule("adamw", 1e-4, 1e-3, 1e-5, 5, 100, 10, 1, 512,
                          "json/Basset.json:4-16", betas=[0.9, 0.99])},
    "ConvNet": {**SHARED, **SEQUENCE, **CONVNET_ARCH,
                **schedule("adamw", 1e-4, 5e-4, 1e-5, 5, 100, 10, 1, 512,
                           "json/ConvNet.json:4-16", betas=[0.9, 0.99])},
    "DNABert2": {**SHARED, **schedule("sgd", 1e-4, 5e-4, 1e-5, 5, 100, 10, 1, 64,
                                      "json/DNABert.json:4-16"),
                 "use_reverse_complement": (True, "json/DNABert.json:19"),
                 "targets_for_reverse_complement": ([0, 1], "json/DNABert.json:20"),
                 "model_name_or_path": ("zhihan1996/DNABERT-2-117M", "DNABert.py:77-84"),
                 "max_length": (150, "DNABert.py:77-84")},
    "Preprocess": {"sequence_length": (4000, "Preprocess_data_to_numpy.py:87"),
                   "use_reverse_complement": (True, "Preprocess_data_to_numpy.py:88"),
                   "targets_for_reverse_complement": ([1], "dataset_utils.py:249 (default)"),
                   "mixed_precision": (False, "fp32"),
                   "strand_average": (False, "no averaging"),
                   "batch_size": (216, "Preprocess_data_to_numpy.py:82"),
                   "seed": (100, "dataset_utils.py:16-22 (split seed)")},
    "LR": {**LR_COMMON, "feature_set": ("ALL", "json/LR.json:2-7")},
    "LR_TF": {**LR_COMMON, "feature_set": ("TF", "results_summary/README.md:9")},
    "LR_HM": {**LR_COMMON, "feature_set": ("HM", "results_summary/README.md:9")},
    # LGBM.py without --optimize (its --optimize path cannot run, study_settings §8)
    "LGBM": {"feature_set": ("TF", "LGBM_importance.csv: 9,471 TF rows (inferred)"),
             "n_estimators": (1000, "LGBM.py:161"),
             "learning_rate": (0.01, "LGBM.py:134-147"), "max_depth": (-1, "LGBM.py:134-147"),
             "num_leaves": (50, "LGBM.py:134-147"), "bagging_freq": (1, "LGBM.py:134-147"),
             "early_stopping_round": (50, "LGBM.py:134-147"),
             "imbalanced_data": (True, "json/LGBM.json:9-12 (is_unbalance)"),
             "reg_alpha": (0.0, "LightGBM default"), "reg_lambda": (0.0, "LightGBM default"),
             "feature_fraction": (1.0, "LightGBM default"),
             "bagging_fraction": (1.0, "LightGBM default"),
             "min_split_gain": (0.0, "LightGBM default"),
             "min_child_weight": (0.001, "LightGBM default"),
             "importance_type": ("split", "LGBM.py: feature_importance()"),
             "device": ("gpu", "LGBM.py:134-147"),
             "init_points": (10, "LGBM.py:130-132"), "n_iter": (100, "LGBM.py:130-132"),
             "cv_folds": (3, "LGBM.py:59-62")},
    # Attribute.py + attribution_utils.py at 525136a
    "Attribute": {"window": (42, "Attribute.py:40@525136a"),
                  "ig_threshold": (0.7, "Attribute.py:42-44"),
                  "hot_spot_rule": ("max_base", "attribution_utils.py:91-101"),
                  "window_placement": ("study", "attribution_utils.py:91-101, 166-177"),
                  "prediction_threshold": (0.8, "attribution_utils.py:134@525136a"),
                  "database": ("data/jaspar.meme.txt", "Attribute.py:48-54"),
                  "ig_steps": (20, "attribution_utils.py:125-145"),
                  "ig_method": ("gausslegendre", "captum's default"),
                  "background": ("all_data", "attribution_utils.py:80-87"),
                  "pseudocount": (0.0, "Attribute.py:145-146@525136a"),
                  "zero_probability": (0.001, "Attribute.py:145-146@525136a"),
                  "hit_rule": ("max_entry", "Attribute.py:147-149@525136a"),
                  "hit_fraction": (0.8, "Attribute.py:147-149@525136a"),
                  "p_value": (None, "no p-value rule")},
}

# json/improved/ may differ from json/ in these keys only (README, "Improved settings")
PATHS = {"results_path", "result_path", "features_path"}
IMPROVED_KEYS = {
    "FSei": {"mixed_precision"}, "Basset": {"mixed_precision"},
    "ConvNet": {"mixed_precision"}, "DNABert2": {"mixed_precision"},
    "Preprocess": {"mixed_precision", "targets_for_reverse_complement"},
    "LR": {"initial_weights"}, "LR_TF": {"initial_weights"}, "LR_HM": {"initial_weights"},
    "LGBM": set(),
    "Attribute": {"hot_spot_rule", "window_placement", "database", "ig_steps", "background",
                  "pseudocount", "zero_probability", "hit_rule", "p_value"},
}


def resolved(path: Path, name: str) -> dict:
    """Every setting of a config file, its defaults included, with nested keys as a.b."""
    flat = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}{key}.", inner)
        else:
            flat[prefix[:-1]] = value

    walk("", config_to_dict(load_config(path, CLASSES[name])))
    return flat


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ )", text, re.M | re.S)
    assert match, f"README has no section '{title}'"
    return match.group(1)


def documented_differences() -> set[str]:
    """The keys (in backticks) of the first column of the README's differences table."""
    keys = set()
    for line in readme_section("Differences from the original code").splitlines():
        if line.startswith("|") and not line.startswith("| ---"):
            keys |= set(re.findall(r"`([A-Za-z_.]+)`", line.split("|")[1]))
    return keys


def test_the_differences_table_names_only_real_keys():
    keys = documented_differences()
    known = set()
    for name in CLASSES:
        known |= set(resolved(ROOT / "json" / f"{name}.json", name))
    assert keys, "the README's differences table names no key"
    assert keys <= known, f"README names keys no config has: {sorted(keys - known)}"


@pytest.mark.parametrize("name", sorted(ORIGINAL))
def test_json_holds_the_original_settings(name):
    settings = resolved(ROOT / "json" / f"{name}.json", name)
    exempt = documented_differences()
    drifted = []
    for key, (original, source) in ORIGINAL[name].items():
        assert key in settings, f"json/{name}.json has no setting {key}"
        if key.split(".")[-1] in exempt:
            continue
        if settings[key] != original:
            drifted.append(f"{key}: json {settings[key]!r}, original {original!r} ({source})")
    assert not drifted, (f"json/{name}.json differs from the original study without a row in "
                         f"the README's differences table: " + "; ".join(drifted))


def test_every_exemption_is_a_real_difference():
    """A key named in the differences table differs from the original somewhere (otherwise the
    row is stale and would hide a later drift)."""
    exempt = documented_differences()
    differing = set()
    for name, rows in ORIGINAL.items():
        settings = resolved(ROOT / "json" / f"{name}.json", name)
        differing |= {key.split(".")[-1] for key, (original, _) in rows.items()
                      if settings[key] != original}
    assert exempt <= differing, f"README names keys that equal the original: {exempt - differing}"


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_improved_configs_differ_only_in_the_documented_keys(name):
    study = resolved(ROOT / "json" / f"{name}.json", name)
    improved = resolved(ROOT / "json" / "improved" / f"{name}.json", name)
    changed = {key for key in study if study[key] != improved[key]} - PATHS
    assert changed == IMPROVED_KEYS[name]
    section = readme_section("Improved settings")
    for key in changed:
        assert f"`{key}`" in section, f"README 'Improved settings' does not name {key}"
    for key in PATHS & set(study):  # its own outputs and features, never the study's
        if study[key] is not None:
            assert study[key] != improved[key], f"json/improved/{name}.json shares {key}"


# the demo counts hits as json/improved does (docs/scripts.md, Attribute.py: with the study's
# rule only REST of the planted IR motifs leads); JASPAR 2024: the study's file is not shipped
DEMO_SCORING = {"database", "background", "pseudocount", "zero_probability", "hit_rule",
                "p_value"}


def test_demo_attribution_follows_the_study_rules_but_for_the_hit_criterion():
    demo = resolved(ROOT / "json" / "demo" / "Attribute.json", "Attribute")
    improved = resolved(ROOT / "json" / "improved" / "Attribute.json", "Attribute")
    for key, (original, _) in ORIGINAL["Attribute"].items():
        if key in DEMO_SCORING:
            assert demo[key] == improved[key], key
        else:
            assert demo[key] == original, key


def test_the_paper_pipeline_runs_the_studys_lightgbm_path_and_needs_its_motif_file(
        tmp_path, monkeypatch):
    from src.pipeline.study import study_steps

    monkeypatch.chdir(tmp_path)  # no data/ here
    steps = {step.name: step for step in study_steps(ROOT / "json").steps}
    assert "--optimize" not in steps["LGBM"].args
    problems = [need.check() for need in steps["Attribute"].needs
                if need.what == "the motif database"]
    assert problems and "data/jaspar.meme.txt not found" in problems[0]
    assert "Addaoud/IntronRetention" in problems[0]
    improved = {step.name: step for step in study_steps(ROOT / "json" / "improved").steps}
    assert all(need.what != "the motif database" for need in improved["Attribute"].needs)


@pytest.mark.parametrize("folder", ["json", "json/improved"])
def test_the_original_load_run_differs_from_dnabert2_only_in_its_load(folder):
    """DNABert2_original.json is DNABert2.json with the original study's load of the snapshot
    and a results folder of its own: the two runs differ in the load alone."""
    native = json.loads((ROOT / folder / "DNABert2.json").read_text())
    original = json.loads((ROOT / folder / "DNABert2_original.json").read_text())
    changed = {key for key in native.keys() | original.keys()
               if native.get(key) != original.get(key)}
    assert changed == {"load", "results_path"}
    assert native["load"] == "native" and original["load"] == "original_study"
