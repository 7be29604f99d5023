"""The effect, on the demo, of each place where this project differs or differed from the study's
code (README, "Differences from the original code" and "Improved settings").

Run after `make demo` (it reads `data/demo/` and the newest runs in `results/demo/`, and writes
nothing there): every variant is a copy of a demo config with the keys in question set the other
way, run by the project's own scripts into `--out`, and compared with the demo's own run.

    python bench/fidelity_demo.py                       # everything (about an hour on 2 cores)
    python bench/fidelity_demo.py --only attribution    # or training, features, lightgbm

Printed: one line per comparison, and a JSON of every number in `--out/fidelity.json`.
Attribution variants report the rank of the planted motifs (README, "Demo data"): ZNF274, REST
and ZNF143 in IR sequences should lead both tables, TP53, SRF and HNF4A in non-IR sequences close
them ("from the end": 1 = last row).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

IR_TFS = ("ZNF274", "REST", "ZNF143")
NON_IR_TFS = ("TP53", "SRF", "HNF4A")
STUDY_MOTIFS = ROOT.parent / "shared" / "reference" / "jaspar.meme.txt"


def run(command: list[str], log: Path) -> float:
    """Run a project script with this Python from the repository root; seconds taken."""
    start = time.perf_counter()
    with open(log, "a") as out:
        code = subprocess.run([sys.executable, *command], cwd=ROOT, stdout=out,
                              stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed (exit {code}); see {log}")
    return time.perf_counter() - start


def newest_run(results: Path) -> Path:
    from src.runs import newest_evaluated_training_run

    found = newest_evaluated_training_run(results)
    if found is None:
        raise SystemExit(f"no evaluated run in {results}: run `make demo` first")
    return found


def metrics(run_folder: Path) -> dict:
    values = json.loads((run_folder / "metrics.json").read_text())
    return {key: round(values[key], 4) for key in ("auroc", "auprc_trapezoid", "accuracy")}


def variant_config(source: Path, out: Path, name: str, **changes) -> Path:
    config = json.loads(source.read_text())
    config.update(changes)
    path = out / "configs" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    return path


def train_variant(script: str, source: Path, out: Path, name: str, log: Path, flags=("-n", "-t",
                                                                                     "-e"),
                  **changes) -> dict:
    results = out / "results" / name
    config = variant_config(source, out, name, results_path=str(results), **changes)
    seconds = run([script, "--json", str(config), *flags], log)
    return {**metrics(newest_run(results)), "seconds": round(seconds)}


# ------------------------------------------------------------------------------------ training

def training(out: Path, log: Path) -> dict:
    demo = ROOT / "json" / "demo"
    found = {}
    for model, script in (("Basset", "Basset.py"), ("ConvNet", "ConvNet.py")):
        sgd = train_variant(script, demo / f"{model}.json", out, f"{model}_sgd", log,
                            optimizer_type="sgd", momentum=0.95)
        found[f"{model}: AdamW (0.9, 0.99), the study's"] = metrics(
            newest_run(ROOT / "results/demo" / model))
        found[f"{model}: SGD momentum 0.95 (this project before)"] = sgd
    found["FSei: -p, the Sei trunk's weights (this project, the study's later README)"] = \
        metrics(newest_run(ROOT / "results/demo/FSei"))
    found["FSei: without -p, random trunk (the study's README at 9838542)"] = train_variant(
        "FSei.py", demo / "FSei.json", out, "FSei_no_p", log)
    lr = demo / "LR_TF.json"
    found["LR TF: default init, betas (0.9, 0.99), the study's"] = metrics(
        newest_run(ROOT / "results/demo/LR/TF"))
    for name, changes in (("seed 42 (run-to-run noise)", {"seed": 42}),
                          ("zeros init", {"initial_weights": "zeros"}),
                          ("betas (0.9, 0.999)", {"adam_betas": [0.9, 0.999]}),
                          ("zeros init + betas (0.9, 0.999) (this project before)",
                           {"initial_weights": "zeros", "adam_betas": [0.9, 0.999]})):
        found[f"LR TF: {name}"] = train_variant("LR.py", lr, out, f"LR_v{len(found)}", log,
                                                **changes)
    dnabert = demo / "DNABert2.json"
    for name, begin, final in (("study's endpoints 1e-4 / 1e-5", 1e-4, 1e-5),
                               ("this project before, 5e-5 / 5e-6", 5e-5, 5e-6)):
        found[f"DNABERT-2 stand-in, SGD 5e-4 peak, {name}"] = train_variant(
            "DNABert2.py", dnabert, out, f"DNABert2_{begin:g}", log, optimizer_type="sgd",
            momentum=0.95, warmup_begin_lr=begin, max_lr=5e-4, final_lr=final)
    return found


# ---------------------------------------------------------------------- Sei features, LightGBM

def features_01(out: Path, log: Path) -> Path:
    """The demo's Sei features with reverse complements of both labels (json/improved's)."""
    folder = out / "sei_features_01"
    config = variant_config(ROOT / "json/demo/Preprocess.json", out, "Preprocess_01",
                            result_path=str(folder), targets_for_reverse_complement=[0, 1])
    from src.features.files import is_complete

    if not is_complete(folder):
        run(["Preprocess_data_to_numpy.py", "--json", str(config), "--no-progress"], log)
    return folder


def features(out: Path, log: Path) -> dict:
    demo = ROOT / "json" / "demo"
    folder = features_01(out, log)
    found = {"LR TF on features with RC of label 1 (the study's code)": metrics(
        newest_run(ROOT / "results/demo/LR/TF")),
        "LR TF on features with RC of labels 0 and 1": train_variant(
            "LR.py", demo / "LR_TF.json", out, "LR_TF_01", log, features_path=str(folder)),
        "LGBM on features with RC of label 1 (the study's code)": metrics(
            newest_run(ROOT / "results/demo/LGBM/TF")),
        "LGBM on features with RC of labels 0 and 1": train_variant(
            "LGBM.py", demo / "LGBM.json", out, "LGBM_01", log, flags=(),
            features_path=str(folder))}
    return found


def lightgbm(out: Path, log: Path) -> dict:
    """The study's fixed parameters vs this project's former ones; CV AUC with folds grouped by
    sequence vs random folds, beside the test AUROC."""
    import lightgbm as lgb

    from src.config import LGBMConfig, load_config
    from src.features.files import load_feature_splits
    from src.train.boosting import grouped_folds, lgbm_params

    demo = ROOT / "json/demo/LGBM.json"
    found = {"LGBM: the study's fixed parameters (50 leaves, esr 50)": metrics(
        newest_run(ROOT / "results/demo/LGBM/TF")),
        "LGBM: this project's former parameters (28 leaves, depth 15, reg 0.5/0.3, ff 0.85, "
        "bf 0.75, esr 10)": train_variant(
            "LGBM.py", demo, out, "LGBM_former", log, flags=(), num_leaves=28, max_depth=15,
            reg_alpha=0.5, reg_lambda=0.3, feature_fraction=0.85, bagging_fraction=0.75,
            early_stopping_round=10, min_split_gain=0.001)}
    for label, folder in (("RC of label 1", None), ("RC of labels 0 and 1",
                                                    features_01(out, log))):
        config = load_config(demo, LGBMConfig)
        if folder is not None:
            config = config.model_copy(update={"features_path": str(folder)})
        splits = load_feature_splits(config, ("train",))
        train = splits["train"]
        data = lgb.Dataset(train.data, label=train.labels, free_raw_data=False)
        params = lgbm_params(config)
        scores = {}
        for name, folds in (("grouped", grouped_folds(train.labels, train.headers, 3, 100)),
                            ("random", None)):
            result = lgb.cv(params, data, num_boost_round=config.n_estimators, nfold=3,
                            stratified=True, shuffle=True, seed=100, folds=folds,
                            callbacks=[lgb.early_stopping(config.early_stopping_round,
                                                          first_metric_only=True, verbose=False)])
            scores[name] = round(max(result["valid auc-mean"]), 4)
        found[f"LGBM 3-fold CV AUC on the training split, {label}"] = scores
    return found


# --------------------------------------------------------------------------------- attribution

def planted_ranks(table_path: Path) -> dict:
    import pandas as pd

    table = pd.read_csv(table_path)
    n = len(table)
    tf = table["tf"].str.upper()
    ir = [int(table.loc[tf == name, "rank"].min()) if (tf == name).any() else None
          for name in IR_TFS]
    non = [n + 1 - int(table.loc[tf == name, "rank"].max()) if (tf == name).any() else None
           for name in NON_IR_TFS]
    return {"IR motifs ranks": ir, "non-IR motifs from the end": non, "motifs": n,
            "top 5": table["tf"].head(5).tolist()}


def attribution(out: Path, log: Path, study_motifs: Path = STUDY_MOTIFS) -> dict:
    fsei = newest_run(ROOT / "results/demo/FSei")
    copy = out / "FSei_run"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(fsei, copy)
    # the study's rules (json/Attribute.json) on JASPAR 2024, with the demo's batch and figure
    # sizes; json/demo/Attribute.json is this with the improved hit criterion (variant below)
    demo = variant_config(ROOT / "json/Attribute.json", out, "Attribute_study",
                          database="jaspar2024", batch_size=320, top_n=15, n_logos=3)
    improved = {"hot_spot_rule": "sum", "window_placement": "cover", "ig_steps": 50,
                "background": "considered", "pseudocount": 0.1, "zero_probability": None,
                "hit_rule": "best_score", "p_value": 1e-4}
    scoring = {"background": "considered", "pseudocount": 0.1, "zero_probability": None,
               "hit_rule": "best_score"}
    # (name, integrate?, the windows of which variant (for -b alone), changes)
    variants = [
        ("study rules (json/Attribute.json)", True, None, {}),
        ("IG 50 steps", True, None, {"ig_steps": 50}),
        ("IG steps auto", True, None, {"ig_steps": "auto"}),
        ("hot spots: sum over bases", True, None, {"hot_spot_rule": "sum"}),
        ("windows: cover placement", True, None, {"window_placement": "cover"}),
        ("window 32 bp", True, None, {"window": 32}),
        ("prediction threshold 0.7", True, None, {"prediction_threshold": 0.7}),
        ("background: the considered sequences", False, "study rules (json/Attribute.json)",
         {"background": "considered"}),
        ("hit: 0.8 x best score, pseudocount 0.1 (bits)", False,
         "study rules (json/Attribute.json)",
         {"pseudocount": 0.1, "zero_probability": None, "hit_rule": "best_score"}),
        ("hit: p-value 1e-4 (+ pseudocount 0.1, considered background; json/demo)", False,
         "study rules (json/Attribute.json)", {**scoring, "p_value": 1e-4}),
        ("improved rules (json/improved)", True, None, improved),
    ]
    if study_motifs.is_file():
        variants.append(("database: the study's jaspar.meme.txt (949 motifs)", False,
                         "study rules (json/Attribute.json)", {"database": str(study_motifs)}))
    found, folder_of = {}, {}
    for index, (name, integrate, windows_of, changes) in enumerate(variants):
        result = windows_of and folder_of[windows_of] or f"IG_v{index}"
        config = variant_config(demo, out, f"Attribute_v{index}", result=result, **changes)
        flags = ["-i", "-b"] if integrate else ["-b"]
        if integrate and (copy / result).exists():
            shutil.rmtree(copy / result)
        seconds = run(["Attribute.py", "--json", str(config), "-m", str(copy), *flags,
                       "--no-progress"], log)
        folder_of[name] = result
        ig = copy / result
        summary = json.loads((ig / "integration.json").read_text())
        delta = summary["convergence_delta"]
        found[name] = {
            "per window": planted_ranks(ig / "enrichment.csv"),
            "per intron": planted_ranks(ig / "enrichment_per_intron.csv"),
            "windows": {c: summary["counts"][c]["windows"] for c in ("IR", "non-IR")},
            "selected": {c: summary["counts"][c]["selected"] for c in ("IR", "non-IR")},
            "ig_steps": summary["ig_steps"],
            "IG error median / share above 5%": [round(delta["median_relative"], 4),
                                                 round(delta["fraction_above_tolerance"], 3)],
            "steps_needed": delta.get("steps_needed"), "seconds": round(seconds)}
    return found


PARTS = {"training": training, "features": features, "lightgbm": lightgbm,
         "attribution": attribution}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="bench/out/fidelity", help="working folder")
    parser.add_argument("--only", nargs="+", choices=sorted(PARTS), default=list(PARTS))
    parser.add_argument("--study-motifs", default=str(STUDY_MOTIFS), metavar="MEME",
                        help="the study's jaspar.meme.txt (data/ of the authors' repository), "
                             "for the database variant (left out when the file is missing)")
    args = parser.parse_args(argv)
    out = (ROOT / args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs.log"
    report_path = out / "fidelity.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    for part in args.only:
        extra = {"study_motifs": Path(args.study_motifs)} if part == "attribution" else {}
        report[part] = PARTS[part](out, log, **extra)
        report_path.write_text(json.dumps(report, indent=2) + "\n")
        for name, value in report[part].items():
            print(f"{part:12s} {name}: {json.dumps(value)}")
    print(f"\nall numbers: {report_path}")


if __name__ == "__main__":
    main()
