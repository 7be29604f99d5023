"""Bad input through every script's `main(argv)`: exit code 2, one `error:` paragraph naming the
file, the line or key and the fix, no traceback, and nothing on disk changed (every file and
folder of the test's workspace, with sizes, modification times and contents, compared before and
after).

Each test works on a private copy of one good input of every kind (`robustness_fixtures`): a
final_data.csv of 60 sequences with its split files, a trained tiny Basset run, a tiny BERT
folder, a small Sei in the official format with its target.names, Sei feature files, and one JSON
config per script; one input is broken, then the scripts that read it are run.

Case -> test (cases already covered elsewhere are not repeated here). The rest of the suite:
test_robustness_properties.py (hypothesis: every parser and the encoder on arbitrary input),
test_robustness_interrupt.py (SIGKILL during training and Preprocess, then resume),
test_robustness_safety.py (no unpickling, remote code, paths, NaN/inf during training).

======================================  ============================================================
final_data.csv: missing / renamed       test_bad_sequence_table[missing column / renamed columns]
  column, duplicated column, label 2,   [... label 2 / label yes / not IUPAC / empty sequence /
  non-numeric label, not IUPAC, empty   too long / duplicated column / not UTF-8] through Basset,
  sequence, too long, not UTF-8         DNABert2, Preprocess, Attribute -i; ConvNet and FSei in
                                        test_sequence_table_errors_through_convnet_and_fsei
lowercase and IUPAC letters accepted    test_lowercase_and_iupac_sequences_are_accepted (scripts);
                                        test_data.py::test_lowercase_iupac_and_float_labels_...
split files: repeated, overlapping,     test_bad_split_files[...] (Basset, DNABert2, Preprocess,
  out of range, empty, not a number,    Attribute); too few rows to make splits:
  one missing, not UTF-8                test_too_few_rows_to_make_splits_writes_no_split_file
JSON config: typo'd key, wrong type     test_config_typo_and_wrong_type[every script];
                                        test_config.py (line, nested block, bad JSON)
checkpoint of another model type        test_checkpoint_of_another_model[ConvNet/FSei/LR/DNABert2],
                                        test_resume_a_run_of_another_model;
                                        test_lr.py::test_model_of_another_feature_set_is_refused;
                                        test_attribution.py (LR checkpoint to Attribute.py)
truncated / foreign checkpoint          test_damaged_checkpoints[...] (-m, --resume, Attribute,
                                        LR, DNABert2); pickled code: test_pickled_code_is_never_run;
                                        a broken model download: test_damaged_model_folder
feature files of mismatched rows,       test_bad_feature_files_lgbm[...], test_lr_inf_features;
  NaN/inf, columns differ               test_lr.py::test_bad_feature_files_get_clear_errors (LR)
MEME file with a malformed matrix       test_malformed_meme_files[...] (Attribute.py -b);
                                        damaged saved windows: test_damaged_saved_windows
target names fewer than the outputs,    test_bad_sei_inputs[...] (Preprocess_data_to_numpy.py);
  damaged sei.pth, another model        test_fsei_pretrained_weights_that_do_not_fit;
                                        test_fsei.py (missing sei.pth, other widths)
run folders for --resume, Compare,      test_resume_folder_without_last_pt, test_bad_predictions,
  Plot_importance, Make_demo_data       test_bad_importance_tables, test_make_demo_data_settings
======================================  ============================================================
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from robustness_fixtures import (
    LENGTH,
    N_ROWS,
    SEI_NAMES,
    assert_refused,
    build_base,
    data_lines,
    loose,
    make_workspace,
    run_main,
    set_row,
)

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
import Preprocess_data_to_numpy as Preprocess

NEW = ["-n", "-t"]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return build_base(tmp_path_factory.mktemp("robust") / "base")


@pytest.fixture
def ws(base, tmp_path):
    """(workspace folder, {script: config path}) on a private copy of the good inputs."""
    folder = tmp_path / "ws"
    return folder, make_workspace(base, folder)


def data_readers(folder: Path, configs: dict) -> dict:
    """Every script that reads final_data.csv and the split files, with flags that read them."""
    run = folder / "results" / "Basset" / "Basset_run"
    return {
        "Basset": (Basset, ["--json", configs["Basset"], *NEW]),
        "DNABert2": (DNABert2, ["--json", configs["DNABert2"], *NEW]),
        "Preprocess": (Preprocess, ["--json", configs["Preprocess"], "--no-progress"]),
        "Attribute": (Attribute, ["--json", configs["Attribute"], "-m", run, "-i",
                                  "--no-progress"]),
    }


# --- final_data.csv ----------------------------------------------------------------------------

def _break_table(folder: Path, problem: str) -> list[str]:
    """Break final_data.csv; returns regexes the message must match (besides the file).

    The broken row is a validation row: Attribute.py reads only the valid and test sequences.
    """
    row = int((folder / "data" / "valid_indices.txt").read_text().split()[0])
    header, sequence, _ = data_lines(folder)[row + 1].split(",")
    named = rf"line {row + 2} \(row {row}, header '{header}'\)"
    if problem == "missing column":
        lines = data_lines(folder)
        lines[0] = "header,seq,label"
        (folder / "data" / "final_data.csv").write_text("\n".join(lines) + "\n")
        return [r"missing column\(s\) sequence", "first line must be header,sequence,label"]
    if problem == "renamed columns":
        lines = data_lines(folder)
        lines[0] = "Header,Sequence,Label"
        (folder / "data" / "final_data.csv").write_text("\n".join(lines) + "\n")
        return [r"'Header' should be named 'header'"]
    if problem == "duplicated column":
        lines = [line + ",0" for line in data_lines(folder)]
        lines[0] = "header,sequence,label,label"
        (folder / "data" / "final_data.csv").write_text("\n".join(lines) + "\n")
        return ["label appear more than once", "line 1"]
    if problem == "label 2":
        set_row(folder, row, f"{header},{sequence},2")
        return [rf"{named} has label '2'", "must be 0 .* or 1"]
    if problem == "label yes":
        set_row(folder, row, f"{header},{sequence},yes")
        return [rf"{named} has label 'yes'"]
    if problem == "not IUPAC":
        set_row(folder, row, f"{header},{sequence[:9]}X{sequence[10:]},1")
        return [rf"{named} has 'X' at position 10",
                "not a DNA letter: use A, C, G, T or the IUPAC codes"]
    if problem == "empty sequence":
        set_row(folder, row, f"{header},,1")
        return [rf"{named} has an empty sequence", "fill them in or remove them"]
    if problem == "too long":
        set_row(folder, row, f"{header},{sequence}ACGTACGTAC,1")
        return [rf"{named} is {LENGTH + 10} bp, longer than the model input length {LENGTH}",
                "raise sequence_length"]
    if problem == "not UTF-8":
        path = folder / "data" / "final_data.csv"
        path.write_bytes(path.read_bytes().replace(f"{header},".encode(), b"\xff,"))
        return ["not a readable CSV", "header,sequence,label"]
    raise ValueError(problem)


TABLE_PROBLEMS = ["missing column", "renamed columns", "duplicated column", "label 2",
                  "label yes", "not IUPAC", "empty sequence", "too long", "not UTF-8"]


@pytest.mark.parametrize("problem", TABLE_PROBLEMS)
def test_bad_sequence_table(ws, capsys, problem):
    folder, configs = ws
    expected = _break_table(folder, problem)
    for name, (script, argv) in data_readers(folder, configs).items():
        if problem == "too long" and name == "DNABert2":
            continue  # tokens beyond max_length are cut and counted, by design
        assert_refused(script, argv, folder, capsys, loose(folder / "data" / "final_data.csv"),
                       *expected)


def test_sequence_table_errors_through_convnet_and_fsei(ws, capsys):
    folder, configs = ws
    expected = _break_table(folder, "not IUPAC")
    for script, name in ((ConvNet, "ConvNet"), (FSei, "FSei")):
        assert_refused(script, ["--json", configs[name], *NEW], folder, capsys,
                       loose(folder / "data" / "final_data.csv"), *expected)


def test_lowercase_and_iupac_sequences_are_accepted(ws, capsys):
    """Lowercase letters and every IUPAC code train and evaluate (Basset and DNABert2)."""
    folder, configs = ws
    lines = data_lines(folder)
    for row in range(0, N_ROWS, 3):
        header, sequence, label = lines[row + 1].split(",")
        sequence = sequence.lower() if row % 2 else "RYSWKMBDHVNrysw" + sequence[15:]
        lines[row + 1] = f"{header},{sequence},{label}"
    (folder / "data" / "final_data.csv").write_text("\n".join(lines) + "\n")
    for script, name in ((Basset, "Basset"), (DNABert2, "DNABert2")):
        assert run_main(script, ["--json", configs[name], *NEW, "-e"]) == 0, \
            capsys.readouterr().err
        (run,) = [p for p in (folder / "results" / name).iterdir() if p.name != "Basset_run"
                  and p.is_dir()]
        predictions = (run / "predictions.csv").read_text().splitlines()
        assert len(predictions) == 1 + 2 * 6  # 6 test rows and their reverse complements


# --- split files -------------------------------------------------------------------------------

def _break_splits(folder: Path, problem: str) -> tuple[Path, list[str]]:
    data = folder / "data"
    valid = (data / "valid_indices.txt").read_text().split()
    train = (data / "train_indices.txt").read_text().split()
    if problem == "repeated":
        (data / "valid_indices.txt").write_text("\n".join(valid + [valid[1]]) + "\n")
        return data / "valid_indices.txt", [rf"line {len(valid) + 1}: row {valid[1]} repeats "
                                            r"line 2", "may appear once"]
    if problem == "overlapping":
        (data / "valid_indices.txt").write_text("\n".join(valid + [train[0]]) + "\n")
        return data / "valid_indices.txt", [rf"row {train[0]} is in both .*train_indices.txt",
                                            "leak", "exactly one split"]
    if problem == "out of range":
        (data / "valid_indices.txt").write_text("\n".join(valid + ["60"]) + "\n")
        return data / "valid_indices.txt", [rf"line {len(valid) + 1}: row 60 is out of range",
                                            "indices 0 to 59"]
    if problem == "empty":
        (data / "valid_indices.txt").write_text("\n")
        return data / "valid_indices.txt", ["is empty: the split needs at least one row"]
    if problem == "not a number":
        (data / "valid_indices.txt").write_text("\n".join(valid[:2] + ["3.5"] + valid[2:]) + "\n")
        return data / "valid_indices.txt", ["line 3: '3.5' is not a row number",
                                            "one 0-based integer"]
    if problem == "one missing":
        (data / "test_indices.txt").unlink()
        return data / "test_indices.txt", ["split files incomplete", "Restore the missing"]
    if problem == "not UTF-8":
        (data / "valid_indices.txt").write_bytes(b"1\n\xff\xfe\n")
        return data / "valid_indices.txt", ["line 2: byte 0xff is not UTF-8 text"]
    raise ValueError(problem)


@pytest.mark.parametrize("problem", ["repeated", "overlapping", "out of range", "empty",
                                     "not a number", "one missing", "not UTF-8"])
def test_bad_split_files(ws, capsys, problem):
    folder, configs = ws
    path, expected = _break_splits(folder, problem)
    for name, (script, argv) in data_readers(folder, configs).items():
        assert_refused(script, argv, folder, capsys, loose(path), *expected)


def test_too_few_rows_to_make_splits_writes_no_split_file(ws, capsys):
    folder, configs = ws
    for split in ("train", "valid", "test"):
        (folder / "data" / f"{split}_indices.txt").unlink()
    lines = data_lines(folder)[:6]  # 5 rows: 10% of them is no row at all
    (folder / "data" / "final_data.csv").write_text("\n".join(lines) + "\n")
    assert_refused(Basset, ["--json", configs["Basset"], *NEW], folder, capsys,
                   "5 rows are too few to make train/valid/test splits",
                   "add data or write the split files")


# --- JSON configs ------------------------------------------------------------------------------

CONFIG_KEYS = {  # script -> an integer key of its config
    "Basset": "batch_size", "ConvNet": "batch_size", "FSei": "batch_size",
    "DNABert2": "max_length", "LR": "batch_size", "LGBM": "n_estimators",
    "Preprocess": "batch_size", "Attribute": "ig_steps"}


def _config_argv(folder, name, config):
    run = folder / "results" / "Basset" / "Basset_run"
    return {"Basset": (Basset, ["--json", config, *NEW]),
            "ConvNet": (ConvNet, ["--json", config, *NEW]),
            "FSei": (FSei, ["--json", config, *NEW]),
            "DNABert2": (DNABert2, ["--json", config, *NEW]),
            "LR": (LR, ["--json", config, *NEW]),
            "LGBM": (LGBM, ["--json", config]),
            "Preprocess": (Preprocess, ["--json", config, "--no-progress"]),
            "Attribute": (Attribute, ["--json", config, "-m", run, "-i", "--no-progress"]),
            }[name]


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize("name", list(CONFIG_KEYS))
def test_config_typo_and_wrong_type(ws, capsys, name):
    folder, configs = ws
    key = CONFIG_KEYS[name]
    settings = json.loads(configs[name].read_text())
    typo = key[:-1] + key[-1] * 2  # batch_size -> batch_sizee
    config = folder / f"{name}_typo.json"
    config.write_text(json.dumps({**settings, typo: 8}, indent=2))
    line = _line_of(config, f'"{typo}": 8')
    script, argv = _config_argv(folder, name, config)
    assert_refused(script, argv, folder, capsys, loose(config),
                   rf"unknown key '{typo}' \(line {line}\): did you mean '{key}'\?")
    config.write_text(json.dumps({**settings, key: "8"}, indent=2))
    line = _line_of(config, f'"{key}": "8"')
    assert_refused(script, argv, folder, capsys, loose(config),
                   rf"key '{key}' \(line {line}\): Input should be a valid integer",
                   r'\(got "8"\)')


# --- checkpoints -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, script, needs", [
    ("ConvNet", ConvNet, "ConvNet"), ("FSei", FSei, "FSei"), ("LR", LR, "LR"),
    ("DNABert2", DNABert2, "DNABERT2 or HFSequenceClassifier")])
def test_checkpoint_of_another_model(ws, capsys, name, script, needs):
    folder, configs = ws
    best = folder / "results" / "Basset" / "Basset_run" / "best.pt"
    assert_refused(script, ["--json", configs[name], "-m", best, "-e"], folder, capsys,
                   rf"{loose(best)} is a Basset checkpoint, but this script needs a {needs} "
                   rf"checkpoint: use Basset.py -m")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("problem", ["truncated -m", "truncated last.pt", "foreign file",
                                     "truncated Attribute", "truncated LR", "truncated DNABert2",
                                     "empty file"])
def test_damaged_checkpoints(ws, capsys, problem):
    folder, configs = ws
    run = folder / "results" / "Basset" / "Basset_run"
    fix = "truncated, damaged or not a checkpoint saved by this project"
    if problem == "truncated last.pt":
        _truncate(run / "last.pt")
        assert_refused(Basset, ["--resume", run], folder, capsys,
                       rf"checkpoint {loose(run / 'last.pt')} cannot be read", fix)
        return
    bad = folder / "bad.pt"
    bad.write_bytes((run / "best.pt").read_bytes())
    if problem == "foreign file":
        torch.save({"weight": torch.zeros(3)}, bad)
        assert_refused(Basset, ["--json", configs["Basset"], "-m", bad, "-e"], folder, capsys,
                       rf"{loose(bad)} is not a checkpoint of this project")
        return
    if problem == "empty file":
        bad.write_bytes(b"")
    else:
        _truncate(bad)
    script, argv = {
        "truncated -m": (Basset, ["--json", configs["Basset"], "-m", bad, "-e"]),
        "empty file": (Basset, ["--json", configs["Basset"], "-m", bad, "-t", "-e"]),
        "truncated Attribute": (Attribute, ["--json", configs["Attribute"], "-m", bad, "-i"]),
        "truncated LR": (LR, ["--json", configs["LR"], "-m", bad, "-e"]),
        "truncated DNABert2": (DNABert2, ["--json", configs["DNABert2"], "-m", bad, "-e"]),
    }[problem]
    assert_refused(script, argv, folder, capsys, rf"checkpoint {loose(bad)} cannot be read", fix)


class _Touch:
    """Unpickling this object would create a file: the proof that code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_pickled_code_is_never_run(ws, capsys):
    """A checkpoint or sei.pth that carries pickled code is refused without running it."""
    folder, configs = ws
    marker = folder.parent / "code_ran"
    evil = folder / "evil.pt"
    torch.save({"format": "ir-sei-checkpoint/1", "model_name": "Basset", "x": _Touch(marker)},
               evil)
    assert_refused(Basset, ["--json", configs["Basset"], "-m", evil, "-e"], folder, capsys,
                   rf"checkpoint {loose(evil)} cannot be read \(Weights only load failed")
    old_style = folder / "sei" / "sei.pth"
    old_style.write_bytes(pickle.dumps({"module.model.x": _Touch(marker)}, protocol=2))
    assert_refused(Preprocess, ["--json", configs["Preprocess"], "--no-progress"], folder, capsys,
                   rf"Sei weights {loose(old_style)} cannot be read", "zenodo")
    assert not marker.exists()


def test_resume_a_run_of_another_model(ws, capsys):
    folder, _ = ws
    run = folder / "results" / "Basset" / "Basset_run"
    assert_refused(ConvNet, ["--resume", run], folder, capsys,
                   rf"{loose(run / 'last.pt')} is a Basset checkpoint, but this script needs a "
                   rf"ConvNet checkpoint: use Basset.py")


def test_resume_folder_without_last_pt(ws, capsys):
    folder, _ = ws
    run = folder / "results" / "Basset" / "Basset_run"
    (run / "last.pt").unlink()
    assert_refused(Basset, ["--resume", run], folder, capsys,
                   rf"{loose(run)} has no last.pt", "start it again with -n")


# --- Sei feature files (LGBM.py; LR.py's are in test_lr.py) ------------------------------------

def _break_features(folder: Path, problem: str) -> tuple[Path, list[str]]:
    features = folder / "features"
    data = features / "data_ALL_valid.npy"
    if problem == "rows differ":
        target = features / "target_ALL_valid.npy"
        np.save(target, np.load(target)[:-1])
        return target, ["has 39 labels but .*data_ALL_valid.npy has 40 rows"]
    if problem == "headers differ":
        headers = features / "headers_valid.txt"
        headers.write_text("\n".join(headers.read_text().splitlines()[:-2]) + "\n")
        return headers, ["has 38 headers but .*has 40 rows"]
    if problem in ("NaN", "inf"):
        array = np.load(data)
        array[4, 6] = np.nan if problem == "NaN" else -np.inf
        np.save(data, array)
        shown = "nan" if problem == "NaN" else "-inf"
        return data, [r"row 4, column 6 \(HepG2 \| ZNF274 \| ID:7\)|row 4, column 6",
                      f"is {shown}; Sei outputs must be finite"]
    if problem == "columns differ":
        np.save(data, np.ones((40, 31), dtype=np.float32))
        return data, ["lists 30 feature names but .*31 columns|different numbers of feature"]
    if problem == "labels 0/1":
        target = features / "target_ALL_test.npy"
        labels = np.load(target)
        labels[2] = -1
        np.save(target, labels)
        return target, ["row 2 has label -1; labels must be 0"]
    raise ValueError(problem)


@pytest.mark.parametrize("problem", ["rows differ", "headers differ", "NaN", "inf",
                                     "columns differ", "labels 0/1"])
def test_bad_feature_files_lgbm(ws, capsys, problem):
    folder, configs = ws
    path, expected = _break_features(folder, problem)
    assert_refused(LGBM, ["--json", configs["LGBM"]], folder, capsys, loose(path), *expected)


def test_lr_inf_features(ws, capsys):
    folder, configs = ws
    path, expected = _break_features(folder, "inf")
    assert_refused(LR, ["--json", configs["LR"], *NEW], folder, capsys, loose(path), *expected)


# --- Preprocess_data_to_numpy.py: weights and target names ------------------------------------

@pytest.mark.parametrize("problem", ["fewer names", "blank line", "no assay field",
                                     "truncated sei.pth", "another model"])
def test_bad_sei_inputs(ws, capsys, problem):
    folder, configs = ws
    names, weights = folder / "sei" / "target.names", folder / "sei" / "sei.pth"
    if problem == "fewer names":
        names.write_text("\n".join(SEI_NAMES[:-1]) + "\n")
        expected = [loose(names), "names 9 outputs but the Sei model has 10",
                    "use the target.names that belongs to the weights"]
    elif problem == "blank line":
        names.write_text("\n".join(SEI_NAMES[:3] + [""] + SEI_NAMES[3:]) + "\n")
        expected = [loose(names), "line 4 is empty", "cell type | assay target | source"]
    elif problem == "no assay field":
        names.write_text("\n".join(SEI_NAMES[:5] + ["HepG2 CTCF"] + SEI_NAMES[6:]) + "\n")
        expected = [loose(names), r"line 6 \('HepG2 CTCF'\) has no assay field"]
    elif problem == "truncated sei.pth":
        _truncate(weights)
        expected = [rf"Sei weights {loose(weights)} cannot be read", "truncated or damaged",
                    "zenodo"]
    else:  # a project checkpoint of another model where sei.pth should be
        weights.write_bytes((folder / "results" / "Basset" / "Basset_run" / "best.pt")
                            .read_bytes())
        expected = [loose(weights), "has no tensor .lconv1.0.weight.: it is not a Sei checkpoint",
                    "zenodo"]
    assert_refused(Preprocess, ["--json", configs["Preprocess"], "--no-progress"], folder,
                   capsys, *expected)


@pytest.mark.parametrize("problem", ["truncated", "tensor missing"])
def test_fsei_pretrained_weights_that_do_not_fit(ws, capsys, problem):
    """FSei.py -p reads and loads sei.pth before it makes its run folder."""
    folder, configs = ws
    weights = folder / "sei" / "sei.pth"
    if problem == "truncated":
        _truncate(weights)
        expected = [rf"Sei weights {loose(weights)} cannot be read", "zenodo"]
    else:  # the widths still fit, so only loading the trunk finds it
        state = torch.load(weights, weights_only=True)
        del state["module.model.dconv3.1.weight"]
        torch.save(state, weights)
        expected = [loose(weights), "dconv3.1.weight"]
    assert_refused(FSei, ["--json", configs["FSei"], "-n", "-p", "-t"], folder, capsys,
                   *expected)


@pytest.mark.parametrize("problem", ["truncated weights", "bad config.json", "no tokenizer"])
def test_damaged_model_folder(ws, capsys, problem):
    """DNABert2.py -n with a model folder whose download broke off."""
    folder, configs = ws
    bert = folder / "bert"
    if problem == "truncated weights":
        _truncate(bert / "model.safetensors")
        expected = [rf"weights {loose(bert / 'model.safetensors')} cannot be read",
                    "download the model again"]
    elif problem == "bad config.json":
        (bert / "config.json").write_text((bert / "config.json").read_text()[:40])
        expected = [rf"{loose(bert / 'config.json')}, line \d+: not valid JSON",
                    "download the model again"]
    else:
        (bert / "tokenizer.json").unlink()
        (bert / "tokenizer_config.json").unlink()
        expected = [rf"{loose(bert / 'tokenizer.json')} not found", "needs the model's own "
                    "tokenizer.json"]
    assert_refused(DNABert2, ["--json", configs["DNABert2"], *NEW], folder, capsys, *expected)


# --- Attribute.py -b: MEME motif files ---------------------------------------------------------

GOOD_MOTIF = ["MOTIF MA0001.1 TEST", "letter-probability matrix: alength= 4 w= 3 nsites= 20 E= 0",
              "0.1 0.2 0.3 0.4", "0.25 0.25 0.25 0.25", "0.7 0.1 0.1 0.1", ""]


@pytest.mark.parametrize("rows, expected", [
    (["0.1 0.2 0.7"], r"line 5: motif MA0002.1: a matrix row needs 4 non-negative"),
    (["0.1 0.2 x 0.7"], r"line 5: motif MA0002.1: '0.1 0.2 x 0.7' is not a row of 4"),
    (["0.1 0.1 0.1 0.1"], r"line 5: motif MA0002.1: the row sums to 0.400, not 1"),
    (["nan 0 0 1"], r"line 5: motif MA0002.1: a matrix row needs 4 non-negative"),
    (["0.5 0.5 0 0", "0.5 0.5 0 0"], r"motif MA0002.1 has 2 rows but its header says w= 3"),
], ids=["3 columns", "not a number", "sum 0.4", "NaN", "fewer rows than w"])
def test_malformed_meme_files(ws, capsys, rows, expected):
    folder, configs = ws
    meme = folder / "motifs.meme"
    bad = ["MOTIF MA0002.1 BAD", "letter-probability matrix: alength= 4 w= 3", *rows, ""]
    # the bad motif is first, so its lines are known: rows start at line 5
    meme.write_text("\n".join(["MEME version 4", "", *bad, *GOOD_MOTIF]) + "\n")
    run = folder / "results" / "Basset" / "Basset_run"
    assert_refused(Attribute, ["--json", configs["Attribute"], "-m", run, "-b", "-d", meme],
                   folder, capsys, loose(meme), expected)


@pytest.mark.parametrize("problem", ["truncated npz", "width edited", "not an object"])
def test_damaged_saved_windows(ws, capsys, problem):
    """Attribute.py -b on the windows that an earlier -i saved, damaged since."""
    import pandas as pd

    from src.interpret.windows import WINDOW_COLUMNS, Windows, save_windows

    folder, configs = ws
    run = folder / "results" / "Basset" / "Basset_run"
    table = pd.DataFrame([[0, "IR", 1, "seq1", "valid", False, 0, 8, 3, 1.0, 2.0, 0.9, 0.0,
                           "ACGTACGT"],
                          [1, "non-IR", 0, "seq2_r", "test", True, 4, 12, 6, 1.0, 2.0, 0.8, 0.0,
                           "TTGACGCA"]], columns=list(WINDOW_COLUMNS))
    save_windows(run / "IG", Windows(table, np.zeros((2, 4, 8), np.float32),
                                     {"counts": {}, "background": [0.25] * 4, "window": 8}))
    if problem == "truncated npz":
        _truncate(run / "IG" / "attributions.npz")
        expected = [loose(run / "IG"), "the saved windows cannot be read", "rerun -i"]
    elif problem == "width edited":
        summary = run / "IG" / "integration.json"
        summary.write_text(summary.read_text().replace('"window": 8', '"window": 9'))
        expected = [loose(run / "IG"), "do not fit together", "rerun -i"]
    else:
        (run / "IG" / "integration.json").write_text("[8]")
        expected = [loose(run / "IG" / "integration.json"), "not the JSON object that -i writes"]
    meme = folder / "motifs.meme"
    meme.write_text("\n".join(["MEME version 4", "", *GOOD_MOTIF]) + "\n")
    assert_refused(Attribute, ["--json", configs["Attribute"], "-m", run, "-b", "-d", meme],
                   folder, capsys, *expected)


# --- Compare.py, Plot_importance.py, Make_demo_data.py -----------------------------------------

@pytest.mark.parametrize("text, expected", [
    (b"header,label,probability\na,0,0.2\nb,1,nan\n", r"line 3: label '1', probability 'nan'"),
    (b"header,label,probability\na,2,0.2\nb,1,0.5\n", r"line 2: label '2'"),
    (b"header,label,probability\na,0,1.5\n", r"line 2: .* probability '1.5'"),
    (b"header,label\na,0\n", r"lacks the column\(s\) probability"),
    (b"\xff\xfe\x00\x01", "is not a readable predictions table"),
    (b"header,label,probability\n", "has no rows"),
], ids=["NaN", "label 2", "probability 1.5", "no probability", "binary", "empty"])
def test_bad_predictions(tmp_path, capsys, text, expected):
    run = tmp_path / "results" / "Basset_20250101-000000"
    run.mkdir(parents=True)
    (run / "predictions.csv").write_bytes(text)
    assert_refused(Compare, [run, "--out", tmp_path / "comparison"], tmp_path, capsys,
                   loose(run / "predictions.csv"), expected)


IMPORTANCE = {"LR": "rank,column,name,assay,cell_type,weight,abs_weight\n"
                    "1,3,HepG2 | ZNF274 | ID:7,ZNF274,HepG2,{value},4.0\n",
              "LGBM": "rank,column,name,assay,cell_type,importance,split,gain\n"
                      "1,3,HepG2 | ZNF274 | ID:7,ZNF274,HepG2,{value},12,3.5\n"}


@pytest.mark.parametrize("problem, expected", [
    ("out", r"--out .*top.png.jpg: use a .png, .pdf or .svg file name"),
    ("not a number", r"LR/importance.csv, line 2: weight 'x' is not a finite number"),
    ("no rows", r"LR/importance.csv has no rows"),
    ("binary", r"LR/importance.csv is not a readable importance table"),
    ("tables swapped", r"importance.csv has no column\(s\) weight: it is the table of a "
                       r"LGBM.py run: pass it with --lgbm"),
])
def test_bad_importance_tables(tmp_path, capsys, problem, expected):
    for model in ("LR", "LGBM"):
        (tmp_path / model).mkdir()
        (tmp_path / model / "importance.csv").write_text(IMPORTANCE[model].format(value=4.0))
    lr_table = tmp_path / "LR" / "importance.csv"
    if problem == "not a number":
        lr_table.write_text(IMPORTANCE["LR"].format(value="x"))
    elif problem == "no rows":
        lr_table.write_text(IMPORTANCE["LR"].splitlines()[0] + "\n")
    elif problem == "binary":
        lr_table.write_bytes(b"\xff\xfe\x00\x01")
    lr = tmp_path / ("LGBM" if problem == "tables swapped" else "LR")
    out = tmp_path / ("top.png.jpg" if problem == "out" else "top.png")
    assert_refused(Plot_importance, ["--lr", lr, "--lgbm", tmp_path / "LGBM", "--out", out],
                   tmp_path, capsys, expected)


@pytest.mark.parametrize("flags, expected", [
    (["-n", "5"], "-n 5: the demo needs at least 10 sequences"),
    (["--positive-fraction", "1.5"], "--positive-fraction 1.5: use a fraction between 0 and 1"),
    (["--length", "8"], "--length 8: the planted motifs need sequences of at least"),
    ([], "already exist"),
], ids=["n", "fraction", "length", "existing"])
def test_make_demo_data_settings(base, tmp_path, capsys, flags, expected):
    out = tmp_path / "demo"
    if not flags:  # an existing dataset is never replaced without --force
        out.mkdir()
        (out / "final_data.csv").write_bytes((base / "data" / "final_data.csv").read_bytes())
    assert_refused(Make_demo_data, ["--out", out, *flags], tmp_path, capsys, expected)
