"""Untrusted files and numerical health.

* The source never unpickles: no pickle loads and no `torch.load` without `weights_only=True`
  (read from the syntax tree of every .py file of the project, tests included); project code
  does not even import pickle, and passes `trust_remote_code` only from a config.
* A checkpoint that carries a model's own Python code cannot run it by itself: `build_model`
  refuses it unless the caller allows it (`allow_remote_code=True`, which DNABert2.py passes when its
  JSON says `trust_remote_code: true`). DNABERT-2 itself never runs code (native PyTorch).
* Names that come from configs or checkpoints cannot point outside their folder.
* A loss, validation loss or weights that become inf/NaN stop training with the epoch (and
  batch), through the scripts, and no checkpoint of the broken model is written.
"""

from __future__ import annotations

import ast
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st
from robustness_fixtures import (
    assert_refused,
    build_base,
    make_workspace,
    run_main,
    snapshot,
)

import Attribute
import Basset
import LR
from src.errors import InputError

PROJECT_DIRS = ("src", "bench", "tests")


def python_files() -> list[Path]:
    files = sorted(ROOT.glob("*.py"))
    for folder in PROJECT_DIRS:
        files += sorted((ROOT / folder).rglob("*.py"))
    assert len(files) > 40
    return files


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _keyword(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def unsafe_code(source: str, where: str, in_tests: bool) -> list[str]:
    """Places in `source` that unpickle, load torch files unsafely or hard-code trust."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not in_tests:
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if {"pickle", "cPickle", "dill", "cloudpickle", "joblib"} & set(names):
                problems.append(f"{where}:{node.lineno}: imports {names}")
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if name in ("torch.load", "torch.serialization.load"):
            weights_only = _keyword(node, "weights_only")
            if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                problems.append(f"{where}:{node.lineno}: torch.load without weights_only=True")
        if name.split(".")[-1] in ("read_pickle", "Unpickler") or name in (
                "torch.jit.load", "joblib.load", "dill.load", "dill.loads"):
            problems.append(f"{where}:{node.lineno}: {name}")
        if name in ("pickle.load", "pickle.loads"):
            # tests may round-trip their own objects (DataLoader workers pickle datasets)
            own = (in_tests and node.args and isinstance(node.args[0], ast.Call)
                   and _dotted(node.args[0].func) == "pickle.dumps")
            if not own:
                problems.append(f"{where}:{node.lineno}: {name} of data from elsewhere")
        allow_pickle = _keyword(node, "allow_pickle")
        if isinstance(allow_pickle, ast.Constant) and allow_pickle.value is True:
            problems.append(f"{where}:{node.lineno}: allow_pickle=True")
        trust = _keyword(node, "trust_remote_code")
        if not in_tests and isinstance(trust, ast.Constant) and trust.value is True:
            problems.append(f"{where}:{node.lineno}: trust_remote_code=True hard-coded")
    return problems


@pytest.mark.parametrize("snippet", [
    "import pickle", "from pickle import loads", "import joblib",
    "torch.load(path)", "torch.load(path, weights_only=False)",
    "torch.load(\n    path,\n    map_location='cpu')", "x = pickle.loads(blob)",
    "pd.read_pickle(p)", "np.load(p, allow_pickle=True)",
    "AutoModel.from_pretrained(p, trust_remote_code=True)"])
def test_the_source_check_finds_each_unsafe_pattern(snippet):
    assert unsafe_code(snippet, "snippet.py", in_tests=False)


def test_nothing_is_ever_unpickled_and_remote_code_comes_from_a_config():
    assert not unsafe_code("torch.load(p, map_location='cpu', weights_only=True)\n"
                           "np.load(p, allow_pickle=False)\n"
                           "f(trust_remote_code=config.trust_remote_code)", "ok.py", False)
    problems = []
    for path in python_files():
        where = path.relative_to(ROOT)
        problems += unsafe_code(path.read_text(), str(where), in_tests=where.parts[0] == "tests")
    assert not problems, "\n".join(problems)


def test_one_safe_loader_reads_every_pytorch_file():
    """torch.load appears once in the project code: in src.io.safe_torch_load, which the Sei,
    DNABERT-2 and checkpoint readers use."""
    calls = []
    for path in python_files():
        if path.relative_to(ROOT).parts[0] == "tests":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _dotted(node.func) == "torch.load":
                calls.append(str(path.relative_to(ROOT)))
    assert calls == ["src/io.py"], calls
    for module in ("src/models/sei.py", "src/models/huggingface.py", "src/train/checkpoints.py"):
        assert "safe_torch_load(" in (ROOT / module).read_text()


# --- a checkpoint that carries code -----------------------------------------------------------

def _remote_architecture(marker: Path) -> dict:
    """An HFSequenceClassifier architecture whose own code (auto_map) would create `marker` on
    import."""
    from transformers import BertConfig

    config = BertConfig(vocab_size=32, hidden_size=8, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=16,
                        max_position_embeddings=64).to_dict()
    config["auto_map"] = {"AutoModelForSequenceClassification": "marker_model.Classifier"}
    code = (f"from pathlib import Path\nPath({str(marker)!r}).touch()\n"
            f"from transformers import BertForSequenceClassification\n\n\n"
            f"class Classifier(BertForSequenceClassification):\n    pass\n")
    return {"config": config, "trust_remote_code": True,
            "remote_code": {"marker_model.py": code}, "freeze_encoder": False}


def _code_folders_mentioning(text: str) -> list[Path]:
    root = Path(tempfile.gettempdir()) / "ir-sei-model-code"
    return [p for p in root.rglob("*.py") if text in p.read_text()] if root.is_dir() else []


def test_checkpoint_code_runs_only_when_the_caller_allows_it(tmp_path, capsys):
    from src.models import build_model
    from src.train.checkpoints import load_model, save_checkpoint

    marker = tmp_path / "code_ran"
    architecture = _remote_architecture(marker)
    with pytest.raises(InputError, match=r"runs its own Python code \(trust_remote_code, "
                                         r"marker_model.Classifier\), and the caller did not "
                                         r"allow it.*trust_remote_code\\?\": true"):
        build_model("HFSequenceClassifier", architecture)
    assert not marker.exists() and not _code_folders_mentioning(str(marker))

    # what DNABert2.py does when its JSON trusts the code
    model = build_model("HFSequenceClassifier", architecture, allow_remote_code=True)
    assert marker.exists(), "the allowed code should have run"
    assert type(model.model).__name__ == "Classifier"

    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint(run / "best.pt", model, {"sequence_length": 20, "data_path": "data"})
    marker.unlink()
    with pytest.raises(InputError, match="the caller did not allow it"):
        load_model(run / "best.pt")
    # Attribute.py builds any checkpoint: it refuses this one and writes nothing
    assert_refused(Attribute, ["-m", run, "-i", "--no-progress"], tmp_path, capsys,
                   "runs its own Python code", "the caller did not allow it")
    assert not marker.exists()


@pytest.mark.parametrize("name", ["../evil.json", "/tmp/evil.json", ".", "..", "a\\..\\b", "",
                                  "sub/tokenizer.json"])
def test_checkpoint_file_names_stay_in_their_folder(tmp_path, name):
    from src.data.tokens import tokenizer_from_files
    from src.models import build_model

    with pytest.raises(InputError, match="bad name"):  # never written anywhere, only these read
        tokenizer_from_files({name: "{}"}, "test checkpoint")
    architecture = _remote_architecture(tmp_path / "never")
    architecture["remote_code"] = {name or "x": "print('never')"}
    with pytest.raises(InputError, match="not a plain .py file name"):
        build_model("HFSequenceClassifier", architecture, allow_remote_code=True)
    assert not (Path(tempfile.gettempdir()) / "evil.json").exists()


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(result=st.text(max_size=12))
def test_attribute_result_folder_stays_in_the_run_folder(result):
    from src.interpret.attribute import output_folder

    model = Path("/runs/FSei_1/best.pt")
    try:
        folder = output_folder(model, result)
    except InputError:
        return
    assert folder.parent == model.parent and folder.name == result
    assert "/" not in result and "\\" not in result and result not in ("", ".", "..")


@pytest.mark.parametrize("name", ["../Basset", "a/b", "..", "", "a\\b"])
def test_run_folders_are_made_inside_their_results_folder(tmp_path, name):
    from src.runs import Run, close_logger

    with pytest.raises(ValueError, match="plain folder name"):
        Run.create(tmp_path / "results", name)
    assert not (tmp_path / "results").exists()
    run = Run.create(tmp_path / "results", "Basset")
    close_logger(run)
    assert run.folder.parent == tmp_path / "results" and run.folder.name.startswith("Basset_")


@pytest.mark.parametrize("cls, key, value", [
    ("LRConfig", "feature_set", "../ALL"), ("LGBMConfig", "feature_set", "ALL/.."),
    ("AttributeConfig", "result", "../IG")])
def test_config_values_that_name_files_are_checked(tmp_path, cls, key, value):
    """Config values that become parts of file names are a fixed set or a plain name."""
    import src.config as config_module
    from src.interpret.attribute import output_folder

    settings_ = {key: value, **({"features_path": "f"} if key == "feature_set" else {})}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(settings_))
    try:
        config = config_module.load_config(path, getattr(config_module, cls))
    except InputError as err:
        assert key in str(err)
        return
    with pytest.raises(InputError, match="plain folder name"):
        output_folder(tmp_path / "best.pt", config.result)


# --- numerical health through the scripts -----------------------------------------------------

@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return build_base(tmp_path_factory.mktemp("safety") / "base")


def _edit(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _new_run_files(results: Path, kept: str = "Basset_run") -> list[str]:
    runs = [p for p in results.iterdir() if p.is_dir() and p.name != kept]
    assert len(runs) == 1
    return sorted(p.name for p in runs[0].iterdir())


def test_diverging_training_stops_at_the_batch_and_writes_no_checkpoint(base, tmp_path, capsys):
    folder = tmp_path / "ws"
    configs = make_workspace(base, folder)
    _edit(configs["Basset"], optimizer_type="sgd", max_lr=1e30, use_scheduler=False)
    data_before = snapshot(folder / "data")
    assert run_main(Basset, ["--json", configs["Basset"], "-n", "-t", "-e"]) == 2
    err = capsys.readouterr().err
    assert re.search(r"the training loss became (nan|inf|-inf) at epoch 1, batch \d+: training "
                     r"stopped before writing a broken model.*Lower max_lr", err), err
    assert "Traceback" not in err
    # the new run folder records the settings and the log, but no model and no results row
    assert _new_run_files(folder / "results" / "Basset") == ["config.json", "run.log"]
    (run,) = [p for p in (folder / "results" / "Basset").iterdir() if p.name != "Basset_run"]
    log = (run / "run.log").read_text()
    assert "stopped: the training loss became" in log and log.count("stopped:") == 1
    assert not (folder / "results" / "Basset" / "results.csv").exists()
    assert snapshot(folder / "data") == data_before


@pytest.mark.parametrize("check_every, message", [
    (2, r"the weights \(linear.weight\) became inf or NaN in epoch 1"),
    (1, r"the validation loss became (nan|inf) after epoch 1")])
def test_lr_weights_or_validation_loss_that_overflow_stop_training(base, tmp_path, capsys,
                                                                   check_every, message):
    """Finite but huge feature values (1e30) pass the input checks; one SGD step then makes the
    weights infinite, while that step's own loss was finite."""
    folder = tmp_path / "ws"
    configs = make_workspace(base, folder)
    for split in ("train", "valid", "test"):
        path = folder / "features" / f"data_ALL_{split}.npy"
        np.save(path, (np.load(path) * 1e30).astype(np.float32))
    _edit(configs["LR"], optimizer_type="sgd", max_lr=1e10, use_scheduler=False,
          batch_size=1000, epochs_to_check_loss=check_every, max_epochs=3)
    assert run_main(LR, ["--json", configs["LR"], "-n", "-t", "-e"]) == 2
    err = capsys.readouterr().err
    assert re.search(message + r".*training stopped before writing a broken model", err), err
    assert _new_run_files(folder / "results" / "LR") == ["config.json", "run.log"]
