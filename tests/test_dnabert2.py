"""DNABert2.py: tokenised datasets, the DNABERT2 wrapper, checkpoints that evaluate offline.

Everything is built here, offline: a tiny BERT with a BPE tokenizer trained on random DNA
(`make_tiny_model`), and a stand-in for DNABERT-2's own code (`REMOTE_*`) with the structure that
breaks it in recent transformers: its own BertConfig subclass, a model class that expects
transformers' BertConfig, an ALiBi tensor computed in `__init__` (fails on the meta device) and a
"triton" flash-attention function that fails when called.
"""

from __future__ import annotations

import json
import shutil
from argparse import Namespace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import random_sequences, write_dataset

import DNABert2
import src.models.dnabert2 as dnabert2
from src.config import DNABert2Config
from src.data.splits import write_split_indices
from src.data.tokens import build_tokenized_datasets
from src.demo.dnabert2 import make_tiny_model
from src.errors import InputError
from src.train.checkpoints import load_model, read_checkpoint

COMPLEMENT = str.maketrans("ACGTacgt", "TGCAtgca")
MOTIF = "TTGACGCAGGTCA"


def rc(sequence: str) -> str:
    """Independent reverse complement for ACGT strings."""
    return sequence.translate(COMPLEMENT)[::-1]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models") / "tiny-bert"
    return make_tiny_model(folder, random_sequences(200, 100, seed=3), vocab_size=64,
                                    hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=32, max_position_embeddings=128)


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


def pretrained_state(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def reference_probabilities(checkpoint: Path, model_folder: Path, sequences, max_length):
    """P(class 1) computed with transformers directly: the model folder's own tokenizer, one
    sequence at a time, and a plain BertForSequenceClassification with the checkpoint's weights."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(model_folder))
    config = BertConfig.from_pretrained(str(model_folder), num_labels=2)
    model = BertForSequenceClassification(config).eval()
    state = torch.load(checkpoint, weights_only=True)["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
    out = []
    with torch.no_grad():
        for sequence in sequences:
            enc = tokenizer(sequence.upper(), padding="max_length", truncation=True,
                            max_length=max_length, return_tensors="pt")
            out.append(model(**enc).logits.softmax(-1)[0, 1].item())
    return np.array(out)


def test_train_evaluate_then_evaluate_offline_from_checkpoint(tmp_path, tiny_model, data_dir):
    results = tmp_path / "results"
    config = write_config(tmp_path / "c.json", data_dir, tiny_model, results)
    run_script(["--json", config, "-n", "-t", "-e"])
    run = only_run(results)
    for name in ("config.json", "best.pt", "last.pt", "loss.csv", "predictions.csv",
                 "metrics.json"):
        assert (run / name).is_file(), name
    # 64 training sequences + their reverse complements, batch 64: two optimiser steps
    assert len(pd.read_csv(run / "loss.csv")) == 1
    predictions = pd.read_csv(run / "predictions.csv")
    assert len(predictions) == 16  # 8 test sequences and their reverse complements
    assert predictions["header"].str.endswith("_r").sum() == 8

    # an independent computation of the same probabilities
    table = pd.read_csv(data_dir / "final_data.csv").set_index("header")
    sequences = [rc(table.loc[h[:-2], "sequence"]) if h.endswith("_r")
                 else table.loc[h, "sequence"] for h in predictions["header"]]
    expected = reference_probabilities(run / "best.pt", tiny_model, sequences, 48)
    np.testing.assert_allclose(predictions["probability"], expected, atol=1e-5)

    # training changed the pretrained encoder
    best = torch.load(run / "best.pt", weights_only=True)
    pretrained = pretrained_state(tiny_model)
    key = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(best["state_dict"]["model." + key], pretrained[key])

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
    original = dnabert2.load_pretrained

    def spy(*args, **kwargs):
        model = original(*args, **kwargs)
        captured.update({k: v.clone() for k, v in model.state_dict().items()})
        return model

    monkeypatch.setattr(dnabert2, "load_pretrained", spy)
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
    run_script(["--resume", run])  # the optimiser state holds the head's parameters only
    assert len(pd.read_csv(run / "loss.csv")) == 2

    last = read_checkpoint(run / "last.pt", "DNABERT2")
    assert last["architecture"]["freeze_encoder"] is True
    model, _ = load_model(run / "last.pt", "DNABERT2")
    encoder = set(model.encoder_parameter_names())
    assert encoder and all(not p.requires_grad for n, p in model.named_parameters() if n in encoder)
    pretrained = pretrained_state(tiny_model)
    head = [k for k in last["state_dict"] if k.startswith(("model.classifier", "model.bert.pooler"))]
    assert len(head) == 4
    for name in encoder:
        assert torch.equal(last["state_dict"][name], initial[name]), name
        assert torch.equal(last["state_dict"][name], pretrained[name.removeprefix("model.")])
    for name in head:
        assert not torch.equal(last["state_dict"][name], initial[name]), name

    # -m with -t: -f decides again (here: not given, so everything trains)
    args = Namespace(freeze=False, model=str(run / "best.pt"), resume=None, train=True)
    unfrozen = dnabert2.prepare_model(model, None, args)
    assert all(p.requires_grad for p in unfrozen.parameters())
    assert unfrozen.architecture["freeze_encoder"] is False


def test_tokenised_once_in_batches_matching_per_sequence_tokenisation(tiny_model, data_dir,
                                                                      monkeypatch):
    config = DNABert2Config(data_path=str(data_dir), model_name_or_path=str(tiny_model),
                            max_length=48, results_path="unused", seed=7)
    tokenizer = dnabert2.load_tokenizer(tiny_model)
    reference = dnabert2.load_tokenizer(tiny_model)
    calls = []
    cls = type(tokenizer)
    original = cls.__call__

    def counting(self, *args, **kwargs):
        if self is tokenizer:
            calls.append(len(args[0]) if args and isinstance(args[0], list) else 1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__call__", counting)
    datasets = build_tokenized_datasets(config, tokenizer, ("train", "valid", "test"))
    assert calls == [128, 16, 16]  # one batched call per split (rows + reverse complements)
    table = pd.read_csv(data_dir / "final_data.csv").set_index("header")
    for split, dataset in datasets.items():
        for i in range(len(dataset)):
            inputs, label, index = dataset[i]
            header = dataset.headers[i]
            source = table.loc[header.removesuffix("_r")]
            sequence = rc(source["sequence"]) if header.endswith("_r") else source["sequence"]
            expected = reference(sequence.upper(), padding="max_length", truncation=True,
                                 max_length=48)
            assert index == i and label == source["label"]
            assert inputs["input_ids"].dtype == torch.int64
            assert inputs["input_ids"].tolist() == expected["input_ids"]
            assert inputs["attention_mask"].tolist() == expected["attention_mask"]
    assert len(calls) == 3  # reading items never tokenises


def test_long_sequences_are_truncated_and_counted(tiny_model, data_dir, capfd):
    config = DNABert2Config(data_path=str(data_dir), model_name_or_path=str(tiny_model),
                            max_length=8, results_path="unused", seed=7)
    dataset = build_tokenized_datasets(config, dnabert2.load_tokenizer(tiny_model), ("test",))["test"]
    assert dataset.n_truncated == len(dataset) == 16
    tokenizer = dnabert2.load_tokenizer(tiny_model)
    ids = dataset.inputs["input_ids"]
    assert (ids[:, 0] == tokenizer.cls_token_id).all() and (ids[:, -1] == tokenizer.sep_token_id).all()
    assert "16 of 16 sequences have more than max_length = 8 tokens" in capfd.readouterr().err


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
        dnabert2.resolve_model_folder(str(empty))
    assert not results.exists()


def test_make_tiny_model_command_writes_a_loadable_model_once(tmp_path, data_dir, capsys):
    config = write_config(tmp_path / "c.json", data_dir, "unused", tmp_path / "results")
    folder = tmp_path / "tiny"
    run_script(["--json", config, "--make-tiny-model", folder])
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {
        p.name for p in folder.iterdir()}
    model = dnabert2.load_pretrained(folder)
    tokenizer = dnabert2.load_tokenizer(folder)
    inputs = tokenizer(["acgtnacgt" * 5], padding="max_length", max_length=32, truncation=True,
                       return_tensors="pt")
    assert model(**inputs).shape == (1, 2)
    assert tokenizer.unk_token_id not in tokenizer("ACGTRYSWKMBDHVN")["input_ids"]
    with pytest.raises(SystemExit) as stop:  # never overwritten
        run_script(["--json", config, "--make-tiny-model", folder])
    assert stop.value.code == 2 and "already exists" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tiny")]


def test_trust_remote_code_is_never_passed_unless_configured(tmp_path, tiny_model, data_dir,
                                                            monkeypatch):
    import transformers

    seen = []
    for owner, name in ((transformers.AutoModelForSequenceClassification, "from_config"),
                        (transformers.AutoTokenizer, "from_pretrained")):
        original = getattr(owner, name)

        def spy(*args, _original=original, **kwargs):
            seen.append(kwargs.get("trust_remote_code"))
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)
    results = tmp_path / "results"
    config = write_config(tmp_path / "c.json", data_dir, tiny_model, results)
    run_script(["--json", config, "-n", "-t", "-e"])
    assert len(seen) >= 3 and not any(seen), seen


# --- a stand-in for DNABERT-2's own code -----------------------------------------------------

REMOTE_CONFIG_PY = '''
from transformers import BertConfig as TransformersBertConfig


class BertConfig(TransformersBertConfig):
    """DNABERT-2 ships a subclass; its model classes check for transformers' own BertConfig."""
'''

REMOTE_MODEL_PY = '''
import math

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.models.bert.modeling_bert import BertPreTrainedModel

from .configuration_bert import BertConfig  # noqa: F401  (a relative import, as in DNABERT-2)


def flash_attn_qkvpacked_func(*args, **kwargs):
    raise RuntimeError("dot() got an unexpected keyword argument 'trans_b'")


class BertEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.Wqkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.n_heads = config.num_attention_heads
        # a plain attribute computed at construction, as DNABERT-2's ALiBi tensor
        self.rebuild_alibi_tensor(size=config.alibi_starting_size)

    def rebuild_alibi_tensor(self, size, device=None):
        position = torch.arange(size, device=device)
        distance = (position[None, :] - position[:, None]).abs()
        slopes = torch.Tensor([2.0 ** -(i + 1) for i in range(self.n_heads)]).to(device)
        self.alibi = (slopes[:, None, None] * -distance).unsqueeze(0)

    def forward(self, hidden, mask):
        length = hidden.shape[1]
        if self.alibi.device != hidden.device:
            self.alibi = self.alibi.to(hidden.device)
        if flash_attn_qkvpacked_func is not None:
            return flash_attn_qkvpacked_func(hidden)
        q, k, v = self.Wqkv(hidden).chunk(3, dim=-1)
        scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]) + self.alibi[0, 0, :length, :length]
        scores = scores + (1.0 - mask[:, None, :].float()) * -10000.0
        return scores.softmax(-1) @ v


class BertModel(BertPreTrainedModel):
    def __init__(self, config, add_pooling_layer=True):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.encoder = BertEncoder(config)
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size) if add_pooling_layer else None
        self.post_init()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.encoder(self.embeddings(input_ids), attention_mask)
        pooled = torch.tanh(self.pooler(hidden[:, 0])) if self.pooler is not None else None
        return hidden, pooled


class BertForMaskedLM(BertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.post_init()


class BertForSequenceClassification(BertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.bert = BertModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None,
                return_dict=None, **kwargs):
        return_dict = return_dict if return_dict is not None else self.config.use_return_dict
        _, pooled = self.bert(input_ids, attention_mask=attention_mask)
        return SequenceClassifierOutput(logits=self.classifier(pooled))
'''


@pytest.fixture(scope="module")
def remote_model(tmp_path_factory, tiny_model) -> Path:
    """A model folder laid out like the DNABERT-2 snapshot: config.json with auto_map and
    model_type bert, its own code, masked-LM weights made by that code, a BPE tokenizer."""
    import importlib.util
    import sys

    from safetensors.torch import save_file
    from transformers import BertConfig

    folder = tmp_path_factory.mktemp("models") / "DNABERT-2-standin"
    folder.mkdir()
    (folder / "configuration_bert.py").write_text(REMOTE_CONFIG_PY)
    (folder / "bert_layers.py").write_text(REMOTE_MODEL_PY)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model / name, folder / name)
    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32, alibi_starting_size=64)
    config.architectures = ["BertForMaskedLM"]
    config.auto_map = {
        "AutoConfig": "configuration_bert.BertConfig",
        "AutoModel": "bert_layers.BertModel",
        "AutoModelForMaskedLM": "bert_layers.BertForMaskedLM",
        "AutoModelForSequenceClassification": "bert_layers.BertForSequenceClassification"}
    config.save_pretrained(folder)
    # the pretrained weights, made by the stand-in code itself (imported as a package)
    package = "dnabert2_standin_for_weights"
    spec = importlib.util.spec_from_file_location(package, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    sys.modules[package] = importlib.util.module_from_spec(spec)
    try:
        layers = importlib.import_module(f"{package}.bert_layers")
        torch.manual_seed(0)
        mlm = layers.BertForMaskedLM(config)
    finally:
        for name in [n for n in sys.modules if n.startswith(package)]:
            del sys.modules[name]
    save_file({k: v.contiguous() for k, v in mlm.state_dict().items()},
              str(folder / "model.safetensors"))
    return folder


def test_model_with_its_own_code_needs_trust_and_evaluates_offline(tmp_path, remote_model,
                                                                   data_dir, capsys):
    results = tmp_path / "results"
    untrusted = write_config(tmp_path / "u.json", data_dir, remote_model, results)
    with pytest.raises(SystemExit) as stop:
        run_script(["--json", untrusted, "-n", "-t"])
    assert stop.value.code == 2
    assert '"trust_remote_code": true' in capsys.readouterr().err

    trusted = write_config(tmp_path / "t.json", data_dir, remote_model, results,
                           trust_remote_code=True)
    run_script(["--json", trusted, "-n", "-t", "-e"])
    run = only_run(results)
    checkpoint = read_checkpoint(run / "best.pt", "DNABERT2")
    assert set(checkpoint["architecture"]["remote_code"]) == {"bert_layers.py",
                                                              "configuration_bert.py"}
    # every pretrained tensor found its place (the masked-LM file has no pooler or classifier)
    pretrained = pretrained_state(remote_model)
    assert set(pretrained) < {k.removeprefix("model.") for k in checkpoint["state_dict"]}
    predictions = pd.read_csv(run / "predictions.csv")
    assert np.isfinite(predictions["probability"]).all()

    moved = remote_model.parent / "moved-away"
    remote_model.rename(moved)
    try:
        # the checkpoint's code runs only when the JSON trusts it
        refuse = write_config(tmp_path / "r.json", data_dir, tmp_path / "gone", results)
        with pytest.raises(SystemExit) as stop:
            run_script(["--json", refuse, "-m", run / "best.pt", "-e"])
        assert stop.value.code == 2
        assert "own code" in capsys.readouterr().err
        offline = write_config(tmp_path / "o.json", data_dir, tmp_path / "gone", results,
                               trust_remote_code=True)
        run_script(["--json", offline, "-m", run / "best.pt", "-e"])
    finally:
        moved.rename(remote_model)
    again = pd.read_csv(only_run(results, "DNABERT2_eval_") / "predictions.csv")
    np.testing.assert_allclose(again["probability"], predictions["probability"], atol=1e-6)


def test_weights_of_another_class_are_refused(tmp_path, remote_model):
    """Loading the stand-in's weights into a built-in BERT would leave the encoder random."""
    config = dnabert2.read_model_config(remote_model)
    config.pop("auto_map")
    model = dnabert2.DNABERT2(config)
    with pytest.raises(InputError, match="uninitialised"):
        model.load_pretrained_weights(dnabert2.read_pretrained_weights(remote_model), "x")


def test_weights_of_a_base_model_load_with_the_prefix_added(tiny_model):
    """A checkpoint of the bare encoder (keys without `bert.`, old gamma/beta names) still fills
    every encoder tensor."""
    state = {k.removeprefix("bert."): v for k, v in pretrained_state(tiny_model).items()
             if k.startswith("bert.")}
    state = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias",
                                                                      "LayerNorm.beta"): v
             for k, v in state.items()}
    model = dnabert2.DNABERT2(dnabert2.read_model_config(tiny_model))
    report = model.load_pretrained_weights(state, "bare encoder")
    assert report["missing"] == sorted(["bert.pooler.dense.weight", "bert.pooler.dense.bias",
                                        "classifier.weight", "classifier.bias"])
    for name in model.encoder_parameter_names():
        original = name.removeprefix("model.bert.")
        original = original.replace("LayerNorm.weight", "LayerNorm.gamma").replace(
            "LayerNorm.bias", "LayerNorm.beta")
        assert torch.equal(model.state_dict()[name], state[original]), name


def test_new_head_is_seeded_by_the_config(tiny_model):
    def head(seed):
        config = DNABert2Config(model_name_or_path=str(tiny_model), results_path="unused",
                                seed=seed)
        prepared = dnabert2.DNABert2Prepared(folder=tiny_model)
        state = dnabert2.new_model(config, Namespace(freeze=False), prepared).state_dict()
        return state["model.classifier.weight"]

    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    first = head(1)
    assert torch.equal(torch.rand(3), before)  # the caller's random stream is left alone
    assert torch.equal(first, head(1)) and not torch.equal(first, head(2))
