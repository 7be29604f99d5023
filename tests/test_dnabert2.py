"""DNABert2.py with the native DNABERT-2: tokenised datasets, training, checkpoints that evaluate
offline, --resume, -f, the original study's load, checkpoints of earlier versions, and other
Hugging Face models.

Everything is built here, offline: a tiny DNABERT-2 snapshot laid out as the released one
(`src.demo.dnabert2.make_tiny_model`: released-style config.json, a BPE tokenizer.json trained on
random DNA, masked-LM weights). Predictions are checked against an independent computation: the
`tokenizers` library called per sequence and the float64 re-implementation of
tests/test_dnabert2_model.py (`naive_forward`).
"""

from __future__ import annotations

import json
import re
from argparse import Namespace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import random_sequences, write_dataset
from test_dnabert2_model import naive_forward

import DNABert2
import src.models.dnabert2 as dnabert2
from src.config import DNABert2Config
from src.data.splits import write_split_indices
from src.data.tokens import build_tokenized_datasets, load_tokenizer
from src.demo.dnabert2 import make_tiny_model
from src.errors import InputError
from src.models.huggingface import read_pretrained_weights, resolve_model_folder
from src.train.checkpoints import load_model, read_checkpoint, save_checkpoint
from src.train.dnabert2 import DNABert2Prepared, new_model, prepare_model

COMPLEMENT = str.maketrans("ACGTacgt", "TGCAtgca")
MOTIF = "TTGACGCAGGTCA"
TINY = dict(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=32)


def rc(sequence: str) -> str:
    """Independent reverse complement for ACGT strings."""
    return sequence.translate(COMPLEMENT)[::-1]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models") / "tiny-dnabert2"
    return make_tiny_model(folder, random_sequences(200, 100, seed=3), **TINY)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """80 sequences of 100 bp (mixed case); label 1 carries a motif. Splits 64 / 8 / 8."""
    rng = np.random.default_rng(5)
    sequences = random_sequences(80, 100, seed=4)
    labels = rng.integers(0, 2, size=80)
    sequences = [s[:40] + MOTIF + s[40 + len(MOTIF):] if y else s
                 for s, y in zip(sequences, labels)]
    sequences = [s.lower() if i % 3 == 0 else s for i, s in enumerate(sequences)]
    folder = write_dataset(tmp_path_factory.mktemp("data") / "dna", sequences, labels.tolist())
    write_split_indices(folder, len(sequences))  # made here, not by the first test
    return folder


def write_config(path: Path, data: Path, model: Path | str, results: Path, **overrides) -> Path:
    config = {"optimizer_type": "adamw", "use_scheduler": False, "max_lr": 0.01,
              "warmup_steps": 0, "max_epochs": 1, "batch_size": 64, "num_workers": 0,
              "mixed_precision": False, "seed": 7, "data_path": str(data),
              "results_path": str(results), "use_reverse_complement": True,
              "targets_for_reverse_complement": [0, 1], "model_name_or_path": str(model),
              "max_length": 48, "trust_remote_code": False}
    config.update(overrides)
    path.write_text(json.dumps(config, indent=1))
    return path


def run_script(argv) -> None:
    """Run DNABert2.main with these flags (paths become strings)."""
    DNABert2.main([str(a) for a in argv])


def only_run(results: Path, prefix: str = "DNABERT2_2") -> Path:
    runs = sorted(p for p in results.iterdir() if p.is_dir() and p.name.startswith(prefix))
    assert len(runs) == 1, runs
    return runs[0]


def released_state(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def reference_token_ids(model_folder: Path, sequence: str, max_length: int) -> list[int]:
    """The `tokenizers` library on its own, one sequence: [CLS] tokens [SEP], cut on the right
    to max_length as transformers truncates."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_folder / "tokenizer.json"))
    ids = tokenizer.encode(sequence.upper(), add_special_tokens=False).ids[:max_length - 2]
    return [tokenizer.token_to_id("[CLS]"), *ids, tokenizer.token_to_id("[SEP]")]


def reference_probabilities(checkpoint: Path, model_folder: Path, sequences, max_length):
    """P(class 1) of a checkpoint's weights by the float64 re-implementation, per sequence, real
    tokens only."""
    state = torch.load(checkpoint, weights_only=True)
    holder = dnabert2.DNABert2ForSequenceClassification(state["architecture"]["config"])
    holder.load_state_dict({k.removeprefix("model."): v for k, v in state["state_dict"].items()})
    out = []
    for sequence in sequences:
        _, _, logits = naive_forward(holder, reference_token_ids(model_folder, sequence,
                                                                 max_length))
        out.append(torch.softmax(logits, dim=0)[1].item())
    return np.array(out)


def test_train_evaluate_then_evaluate_offline_from_checkpoint(tmp_path, tiny_model, data_dir):
    results = tmp_path / "results"
    config = write_config(tmp_path / "c.json", data_dir, tiny_model, results)
    run_script(["--json", config, "-n", "-t", "-e"])
    run = only_run(results)
    for name in ("config.json", "best.pt", "last.pt", "loss.csv", "predictions.csv",
                 "metrics.json", "run.log"):
        assert (run / name).is_file(), name
    # 64 training sequences + their reverse complements, batch 64: two optimiser steps
    assert len(pd.read_csv(run / "loss.csv")) == 1
    predictions = pd.read_csv(run / "predictions.csv")
    assert len(predictions) == 16  # 8 test sequences and their reverse complements
    assert predictions["header"].str.endswith("_r").sum() == 8
    # the run log lists what the released-style file filled (2 layers: 4 + 2 x 11 tensors)
    log = (run / "run.log").read_text()
    assert re.search(r"native DNABERT-2 from \S+: 26 pretrained tensors loaded, 6 "
                     r"pretraining-head tensors ignored \(cls\.\*\), 4 newly initialised", log)
    assert "newly initialised (4): bert.pooler.dense.weight, bert.pooler.dense.bias, " \
           "classifier.weight, classifier.bias" in log

    # an independent computation of the same probabilities
    table = pd.read_csv(data_dir / "final_data.csv").set_index("header")
    sequences = [rc(table.loc[h[:-2], "sequence"]) if h.endswith("_r")
                 else table.loc[h, "sequence"] for h in predictions["header"]]
    expected = reference_probabilities(run / "best.pt", tiny_model, sequences, 48)
    np.testing.assert_allclose(predictions["probability"], expected, atol=1e-5)

    # training changed the pretrained encoder; the checkpoint holds a native DNABERT2
    best = read_checkpoint(run / "best.pt", "DNABERT2")
    assert set(best["architecture"]) == {"config", "freeze_encoder"}
    assert best["extra"]["load"] == "native" and best["extra"]["max_length"] == 48
    key = "bert.encoder.layer.0.attention.self.Wqkv.weight"
    assert not torch.equal(best["state_dict"]["model." + key], released_state(tiny_model)[key])

    # without the model folder and with a JSON that names a missing one: -m still evaluates
    moved = tiny_model.parent / "moved-away"
    tiny_model.rename(moved)
    try:
        offline = write_config(tmp_path / "offline.json", data_dir, tmp_path / "gone", results,
                               max_length=20)
        run_script(["--json", offline, "-m", run / "best.pt", "-e"])
    finally:
        moved.rename(tiny_model)
    evaluated = only_run(results, "DNABERT2_eval_")
    again = pd.read_csv(evaluated / "predictions.csv")
    assert again["header"].tolist() == predictions["header"].tolist()
    np.testing.assert_allclose(again["probability"], predictions["probability"], atol=1e-6)
    # the checkpoint's max_length (48) was used, and recorded, instead of the JSON's 20
    assert json.loads((evaluated / "config.json").read_text())["max_length"] == 48
    assert len(pd.read_csv(results / "results.csv")) == 2


def capture_initial_state(monkeypatch) -> dict:
    captured = {}
    original = dnabert2.load_snapshot

    def spy(*args, **kwargs):
        model, report = original(*args, **kwargs)
        captured.update({k: v.clone() for k, v in model.state_dict().items()})
        return model, report

    monkeypatch.setattr(dnabert2, "load_snapshot", spy)
    return captured


def test_freeze_trains_only_the_head_and_resumes(tmp_path, tiny_model, data_dir, monkeypatch):
    results = tmp_path / "results"
    config = write_config(tmp_path / "c.json", data_dir, tiny_model, results, max_epochs=2,
                          batch_size=32)
    initial = capture_initial_state(monkeypatch)

    # interrupt after the first epoch's last.pt, as a killed job would
    import src.train.loop as training

    save_progress = training._save_progress

    def save_then_stop(*args, **kwargs):
        save_progress(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "_save_progress", save_then_stop)
    with pytest.raises(SystemExit) as stop:
        run_script(["--json", config, "-n", "-t", "-f"])
    assert stop.value.code == 130
    monkeypatch.setattr(training, "_save_progress", save_progress)
    run = only_run(results)
    assert len(pd.read_csv(run / "loss.csv")) == 1
    run_script(["--resume", run, "-e"])  # the optimiser state holds the head's parameters only
    assert len(pd.read_csv(run / "loss.csv")) == 2
    assert len(pd.read_csv(run / "predictions.csv")) == 16

    last = read_checkpoint(run / "last.pt", "DNABERT2")
    assert last["architecture"]["freeze_encoder"] is True
    model, _ = load_model(run / "last.pt", "DNABERT2")
    encoder = set(model.encoder_parameter_names())
    assert len(encoder) == 4 + 11 * TINY["num_hidden_layers"]
    assert all(not p.requires_grad for n, p in model.named_parameters() if n in encoder)
    released = released_state(tiny_model)
    head = [k for k in last["state_dict"] if k.startswith(("model.classifier",
                                                           "model.bert.pooler"))]
    assert len(head) == 4
    for name in encoder:
        assert torch.equal(last["state_dict"][name], initial[name]), name
        assert torch.equal(last["state_dict"][name], released[name.removeprefix("model.")])
    for name in head:
        assert not torch.equal(last["state_dict"][name], initial[name]), name

    # -m with -t: -f decides again (here: not given, so everything trains)
    args = Namespace(freeze=False, model=str(run / "best.pt"), resume=None, train=True)
    unfrozen = prepare_model(model, None, args)
    assert all(p.requires_grad for p in unfrozen.parameters())
    assert unfrozen.architecture["freeze_encoder"] is False


class CountingBackend:
    """A tokenizers.Tokenizer that counts its batched calls (the Rust class cannot be patched)."""

    def __init__(self, backend):
        self.backend, self.calls = backend, []

    def encode_batch(self, texts, **kwargs):
        self.calls.append(len(texts))
        return self.backend.encode_batch(texts, **kwargs)

    def __getattr__(self, name):
        return getattr(self.backend, name)


def test_tokenised_once_in_batches_matching_per_sequence_tokenisation(tiny_model, data_dir):
    config = DNABert2Config(data_path=str(data_dir), model_name_or_path=str(tiny_model),
                            max_length=48, results_path="unused", seed=7)
    counting = CountingBackend(load_tokenizer(tiny_model).backend_tokenizer)
    datasets = build_tokenized_datasets(config, counting, ("train", "valid", "test"))
    truncated = {split: d.n_truncated for split, d in datasets.items()}
    # one batched call per split (rows + reverse complements), one more for truncated rows
    assert counting.calls[:1] == [128] and len(counting.calls) == 3 + sum(
        n > 0 for n in truncated.values())
    calls = len(counting.calls)
    table = pd.read_csv(data_dir / "final_data.csv").set_index("header")
    for split, dataset in datasets.items():
        n_long = 0
        for i in range(len(dataset)):
            inputs, label, index = dataset[i]
            header = dataset.headers[i]
            source = table.loc[header.removesuffix("_r")]
            sequence = rc(source["sequence"]) if header.endswith("_r") else source["sequence"]
            expected = reference_token_ids(tiny_model, sequence, 48)
            n_long += len(reference_token_ids(tiny_model, sequence, 10 ** 6)) > 48
            assert index == i and label == source["label"]
            assert set(inputs) == {"input_ids", "attention_mask"}
            assert inputs["input_ids"].dtype == torch.int64
            assert inputs["input_ids"][:len(expected)].tolist() == expected
            assert (inputs["input_ids"][len(expected):] == 3).all()  # [PAD]
            assert inputs["attention_mask"].tolist() == [1] * len(expected) + [0] * (
                48 - len(expected))
        assert n_long == truncated[split]
    assert len(counting.calls) == calls  # reading items never tokenises


def test_long_sequences_are_truncated_and_counted(tiny_model, data_dir, capfd):
    config = DNABert2Config(data_path=str(data_dir), model_name_or_path=str(tiny_model),
                            max_length=8, results_path="unused", seed=7)
    tokenizer = load_tokenizer(tiny_model)
    dataset = build_tokenized_datasets(config, tokenizer, ("test",))["test"]
    assert dataset.n_truncated == len(dataset) == 16
    ids = dataset.inputs["input_ids"]
    assert (ids[:, 0] == tokenizer.cls_token_id).all()
    assert (ids[:, -1] == tokenizer.sep_token_id).all()
    assert "test split: 16 of 16 sequences have more than max_length = 8 tokens" in \
        capfd.readouterr().err


def test_missing_model_is_one_clear_error_and_writes_nothing(tmp_path, data_dir, capsys):
    results = tmp_path / "results"
    for model, expected in (
            (tmp_path / "no" / "such" / "folder", "model folder"),
            ("nobody-here/no-such-model", "not in the local Hugging Face cache and the machine "
                                          "is offline")):
        config = write_config(tmp_path / "c.json", data_dir, model, results)
        with pytest.raises(SystemExit) as stop:
            run_script(["--json", config, "-n", "-t"])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert expected in err and "hf download" in err and "Traceback" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="has no config.json"):
        resolve_model_folder(str(empty))
    assert not results.exists()


def test_snapshot_with_weights_of_another_model_lists_every_problem(tmp_path, tiny_model,
                                                                   data_dir, capsys):
    folder = tmp_path / "snapshot"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (folder / name).write_text((tiny_model / name).read_text())
    from safetensors.torch import save_file

    state = released_state(tiny_model)
    del state["bert.encoder.layer.1.mlp.wo.bias"]
    state["bert.encoder.layer.0.attention.self.query.weight"] = torch.zeros(16, 16)
    save_file(state, str(folder / "model.safetensors"))
    config = write_config(tmp_path / "c.json", data_dir, folder, tmp_path / "results")
    with pytest.raises(SystemExit) as stop:
        run_script(["--json", config, "-n", "-t"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err
    assert "1 missing from the file: bert.encoder.layer.1.mlp.wo.bias" in err
    assert "1 not in the model: bert.encoder.layer.0.attention.self.query.weight" in err
    assert not (tmp_path / "results").exists()


def test_make_tiny_model_command_writes_a_released_style_snapshot_once(tmp_path, data_dir,
                                                                      capsys):
    config = write_config(tmp_path / "c.json", data_dir, "unused", tmp_path / "results")
    folder = tmp_path / "tiny"
    run_script(["--json", config, "--make-tiny-model", folder])
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors",
                                                  "tokenizer.json", "tokenizer_config.json"}
    released = json.loads((folder / "config.json").read_text())
    assert "model_type" not in released and dnabert2.is_dnabert2_config(released)
    state = read_pretrained_weights(folder)
    assert sum(k.startswith("cls.predictions.") for k in state) == 6
    assert not any(k.startswith(("bert.pooler.", "classifier.")) for k in state)
    model, report = dnabert2.load_snapshot(folder)
    assert len(report["loaded"]) == 4 + 11 * 2 and len(report["ignored"]) == 6
    tokenizer = load_tokenizer(folder)
    assert [tokenizer.convert_ids_to_tokens(i) for i in range(5)] == [
        "[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]  # DNABERT-2's numbering
    ids = tokenizer("ACGTRYSWKMBDHVN")["input_ids"]
    assert tokenizer.unk_token_id not in ids
    model.eval()
    with torch.no_grad():
        out = model(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids)))
    assert out.shape == (1, 2)
    with pytest.raises(SystemExit) as stop:  # never overwritten
        run_script(["--json", config, "--make-tiny-model", folder])
    assert stop.value.code == 2 and "already exists" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tiny")]


MARKER_CODE = ("from pathlib import Path\nPath({marker!r}).touch()\n"
               "from transformers import BertForSequenceClassification\n\n\n"
               "class BertForSequenceClassification(BertForSequenceClassification):\n"
               "    pass\n")


def test_no_code_of_a_dnabert2_snapshot_ever_runs(tmp_path, tiny_model, data_dir, monkeypatch):
    """The snapshot ships bert_layers.py (here: code that leaves a marker file); even with
    trust_remote_code: true, DNABERT-2 is built natively and nothing goes through the Auto
    classes."""
    import shutil

    import transformers

    folder = Path(shutil.copytree(tiny_model, tmp_path / "snapshot"))
    marker = tmp_path / "code_ran"
    (folder / "bert_layers.py").write_text(MARKER_CODE.format(marker=str(marker)))
    (folder / "configuration_bert.py").write_text(MARKER_CODE.format(marker=str(marker)))

    def refuse(*args, **kwargs):
        raise AssertionError("transformers' Auto classes were used")

    for owner in (transformers.AutoModelForSequenceClassification, transformers.AutoTokenizer,
                  transformers.AutoConfig):
        monkeypatch.setattr(owner, "from_pretrained", refuse)
        monkeypatch.setattr(owner, "from_config", refuse, raising=False)
    config = write_config(tmp_path / "c.json", data_dir, folder, tmp_path / "results",
                          trust_remote_code=True)
    run_script(["--json", config, "-n", "-t", "-e"])
    assert not marker.exists()
    assert (only_run(tmp_path / "results") / "predictions.csv").is_file()


def test_original_study_load_lists_its_tensors_and_evaluates_offline(tmp_path, tiny_model,
                                                                    data_dir):
    results = tmp_path / "results"
    config = write_config(tmp_path / "c.json", data_dir, tiny_model, results,
                          load="original_study")
    run_script(["--json", config, "-n", "-t", "-e"])
    run = only_run(results)
    log = (run / "run.log").read_text()
    # 2 layers: loaded 4 + 2 x 4, dropped 2 x 7 + 6 cls, new 1 + 2 x 12 + pooler + classifier
    assert re.search(r"original-study load of \S+: transformers' standard "
                     r"BertForSequenceClassification .*: 12 tensors loaded, 20 in the file "
                     r"dropped, 29 newly initialised", log)
    lists = {m.group(1): m.group(2).split(", ") for m in re.finditer(
        r"^\S+ \S+ (loaded|dropped|newly initialised)[^:]*: (.*)$", log, re.M)}
    assert len(lists["loaded"]) == 12 and len(lists["dropped"]) == 20
    assert lists["newly initialised"][0] == "bert.embeddings.position_embeddings.weight"
    assert "bert.encoder.layer.1.attention.self.Wqkv.weight" in lists["dropped"]
    best = read_checkpoint(run / "best.pt", ("DNABERT2", "HFSequenceClassifier"))
    assert best["model_name"] == "HFSequenceClassifier" and best["extra"]["load"] == \
        "original_study"
    assert best["architecture"]["config"]["model_type"] == "bert"
    assert not best["architecture"]["trust_remote_code"]
    # the released tensors it kept are those of the file (training moved them a little)
    released = released_state(tiny_model)
    key = "bert.embeddings.token_type_embeddings.weight"
    assert torch.allclose(best["state_dict"]["model." + key][1], released[key][1], atol=0.05)
    # the comparison names the run apart from the native one
    from src.runs import run_label

    assert run_label(run) == "DNABERT2 (original load)"

    moved = tiny_model.parent / "moved-away"
    tiny_model.rename(moved)
    try:  # rebuilt from the BERT config in the checkpoint, without the snapshot
        offline = write_config(tmp_path / "o.json", data_dir, tmp_path / "gone", results)
        run_script(["--json", offline, "-m", run / "best.pt", "-e"])
    finally:
        moved.rename(tiny_model)
    evaluated = only_run(results, "DNABERT2_eval_")
    np.testing.assert_allclose(pd.read_csv(evaluated / "predictions.csv")["probability"],
                               pd.read_csv(run / "predictions.csv")["probability"], atol=1e-6)
    assert json.loads((evaluated / "config.json").read_text())["load"] == "original_study"


def legacy_checkpoint(path: Path, config: dict, state: dict, tokenizer_folder: Path,
                      remote_code: dict) -> Path:
    """A checkpoint as DNABert2.py wrote it before the native model: the transformers config,
    the model's own code, parameter names `model.*`, tokenizer files of `save_pretrained`."""
    files = {name: (tokenizer_folder / name).read_text()
             for name in ("tokenizer.json", "tokenizer_config.json")}
    files["special_tokens_map.json"] = json.dumps({"pad_token": "[PAD]"})

    class Legacy(torch.nn.Module):
        model_name = "DNABERT2"

    holder = Legacy()
    holder.architecture = {"config": config, "trust_remote_code": True,
                           "remote_code": remote_code, "freeze_encoder": False}
    holder.state_dict = lambda: state
    save_checkpoint(path, holder, {"max_length": 48},
                    {"tokenizer_files": files, "max_length": 48,
                     "model_name_or_path": "zhihan1996/DNABERT-2-117M"})
    return path


def test_checkpoints_of_earlier_versions_load_without_their_code(tmp_path, tiny_model,
                                                                 data_dir):
    """DNABERT-2 run through its own code: rebuilt natively, the stored code not run, and the
    same outputs as the native model with those weights."""
    marker = tmp_path / "code_ran"
    config = json.loads((tiny_model / "config.json").read_text())
    config.update(model_type="bert", num_labels=2)  # what transformers' config object wrote
    torch.manual_seed(3)
    native = dnabert2.DNABERT2(config)
    state = {k: v.clone() for k, v in native.state_dict().items()}
    path = legacy_checkpoint(tmp_path / "old.pt", config, state, tiny_model,
                             {"bert_layers.py": MARKER_CODE.format(marker=str(marker))})
    results = tmp_path / "results"
    json_file = write_config(tmp_path / "c.json", data_dir, tmp_path / "gone", results)
    run_script(["--json", json_file, "-m", path, "-e"])
    assert not marker.exists()
    predictions = pd.read_csv(only_run(results, "DNABERT2_eval_") / "predictions.csv")
    table = pd.read_csv(data_dir / "final_data.csv").set_index("header")
    sequences = [rc(table.loc[h[:-2], "sequence"]) if h.endswith("_r")
                 else table.loc[h, "sequence"] for h in predictions["header"]]
    tokenizer = load_tokenizer(tiny_model)
    native.eval()
    with torch.no_grad():
        for sequence, probability in zip(sequences, predictions["probability"]):
            ids = reference_token_ids(tiny_model, sequence, 48)
            expected = native(torch.tensor([ids])).softmax(-1)[0, 1].item()
            assert probability == pytest.approx(expected, abs=1e-6)
    assert tokenizer.pad_token_id == 3
    model, _ = load_model(path, "DNABERT2")
    assert type(model).__name__ == "DNABERT2" and set(model.architecture) == {
        "config", "freeze_encoder"}


def test_checkpoints_of_earlier_versions_of_other_models_keep_their_class(tmp_path):
    """A standard BERT checkpoint of an earlier version (the former demo model) is rebuilt as
    HFSequenceClassifier; with its own code only when the caller allows it."""
    from transformers import BertConfig

    config = BertConfig(vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=64, num_labels=2).to_dict()
    from src.models import build_model

    model = build_model("DNABERT2", {"config": config, "trust_remote_code": False,
                                     "remote_code": {}, "freeze_encoder": True})
    assert type(model).__name__ == "HFSequenceClassifier" and model.model_name == \
        "HFSequenceClassifier"
    assert model.architecture["freeze_encoder"] is True
    coded = dict(config, auto_map={"AutoModelForSequenceClassification": "m.Classifier"})
    with pytest.raises(InputError, match="the caller did not allow it"):
        build_model("DNABERT2", {"config": coded, "trust_remote_code": True,
                                 "remote_code": {"m.py": "raise SystemExit"},
                                 "freeze_encoder": False})


# --- other Hugging Face models ---------------------------------------------------------------

@pytest.fixture(scope="module")
def plain_bert(tmp_path_factory, tiny_model) -> Path:
    """A transformers BERT folder (model_type bert, learned positions) with the tiny tokenizer."""
    import shutil

    from transformers import BertConfig, BertForMaskedLM

    folder = tmp_path_factory.mktemp("models") / "plain-bert"
    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=128, pad_token_id=3)
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model / name, folder / name)
    return folder


def test_another_hugging_face_model_trains_and_evaluates_offline(tmp_path, plain_bert, data_dir,
                                                                 capsys):
    from transformers import BertConfig, BertForSequenceClassification

    results = tmp_path / "results"
    config = write_config(tmp_path / "c.json", data_dir, plain_bert, results)
    run_script(["--json", config, "-n", "-t", "-e"])
    run = only_run(results)
    best = read_checkpoint(run / "best.pt", "HFSequenceClassifier")
    predictions = pd.read_csv(run / "predictions.csv")
    # independent: transformers' own class with the checkpoint's weights, one sequence at a time
    model = BertForSequenceClassification(BertConfig.from_pretrained(str(plain_bert),
                                                                     num_labels=2)).eval()
    model.load_state_dict({k.removeprefix("model."): v for k, v in best["state_dict"].items()})
    table = pd.read_csv(data_dir / "final_data.csv").set_index("header")
    with torch.no_grad():
        for header, probability in zip(predictions["header"], predictions["probability"]):
            sequence = table.loc[header.removesuffix("_r"), "sequence"]
            sequence = rc(sequence) if header.endswith("_r") else sequence
            ids = reference_token_ids(plain_bert, sequence, 48)
            expected = model(torch.tensor([ids])).logits.softmax(-1)[0, 1].item()
            assert probability == pytest.approx(expected, abs=1e-5)
    offline = write_config(tmp_path / "o.json", data_dir, tmp_path / "gone", results)
    run_script(["--json", offline, "-m", run / "best.pt", "-e"])
    again = pd.read_csv(only_run(results, "DNABERT2_eval_") / "predictions.csv")
    np.testing.assert_allclose(again["probability"], predictions["probability"], atol=1e-6)
    # the original study's load is DNABERT-2's only
    wrong = write_config(tmp_path / "w.json", data_dir, plain_bert, tmp_path / "r2",
                         load="original_study")
    with pytest.raises(SystemExit) as stop:
        run_script(["--json", wrong, "-n", "-t"])
    assert stop.value.code == 2 and "is not DNABERT-2's" in capsys.readouterr().err


def test_a_model_with_its_own_code_needs_trust(tmp_path, plain_bert, data_dir, capsys):
    import shutil

    folder = Path(shutil.copytree(plain_bert, tmp_path / "coded"))
    marker = tmp_path / "code_ran"
    (folder / "marker_model.py").write_text(MARKER_CODE.format(marker=str(marker)))
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification":
                          "marker_model.BertForSequenceClassification"}
    (folder / "config.json").write_text(json.dumps(config))
    results = tmp_path / "results"
    untrusted = write_config(tmp_path / "u.json", data_dir, folder, results)
    with pytest.raises(SystemExit) as stop:
        run_script(["--json", untrusted, "-n", "-t"])
    assert stop.value.code == 2 and '"trust_remote_code": true' in capsys.readouterr().err
    assert not marker.exists() and not results.exists()
    trusted = write_config(tmp_path / "t.json", data_dir, folder, results, trust_remote_code=True)
    run_script(["--json", trusted, "-n", "-t"])
    assert marker.exists()
    best = read_checkpoint(only_run(results) / "best.pt", "HFSequenceClassifier")
    assert set(best["architecture"]["remote_code"]) == {"marker_model.py"}


def test_new_head_is_seeded_by_the_config(tiny_model):
    def head(seed):
        config = DNABert2Config(model_name_or_path=str(tiny_model), results_path="unused",
                                seed=seed)
        prepared = DNABert2Prepared(folder=tiny_model)
        return new_model(config, Namespace(freeze=False), prepared).state_dict()[
            "model.classifier.weight"]

    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    first = head(1)
    assert torch.equal(torch.rand(3), before)  # the caller's random stream is left alone
    assert torch.equal(first, head(1)) and not torch.equal(first, head(2))


def test_generic_loading_refuses_weights_of_another_class(tiny_model):
    """What the original study's load does silently, the generic path refuses: DNABERT-2's
    weights leave most of a standard BERT's encoder uninitialised."""
    from src.models.huggingface import HFSequenceClassifier

    config = dnabert2.original_study_config(json.loads((tiny_model / "config.json").read_text()))
    model = HFSequenceClassifier(config)
    with pytest.raises(InputError, match=r"leave \d+ of \d+ encoder tensors of "
                                         r"BertForSequenceClassification uninitialised"):
        model.load_pretrained_weights(released_state(tiny_model), "tiny")


def test_generic_loading_adds_the_prefix_and_old_layernorm_names(plain_bert):
    """A bare encoder's state dict (no `bert.`, LayerNorm gamma/beta) fills every encoder
    tensor of a transformers model."""
    from src.models.huggingface import HFSequenceClassifier, read_model_config

    state = {k.removeprefix("bert."): v for k, v in read_pretrained_weights(plain_bert).items()
             if k.startswith("bert.")}
    state = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias",
                                                                      "LayerNorm.beta"): v
             for k, v in state.items()}
    model = HFSequenceClassifier(read_model_config(plain_bert))
    report = model.load_pretrained_weights(state, "bare encoder")
    assert report["missing"] == sorted(["bert.pooler.dense.weight", "bert.pooler.dense.bias",
                                        "classifier.weight", "classifier.bias"])
    for name in model.encoder_parameter_names():
        original = name.removeprefix("model.bert.").replace(
            "LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        assert torch.equal(model.state_dict()[name], state[original]), name
