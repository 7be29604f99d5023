"""Native DNABERT-2 (src/models/dnabert2.py) against independent references.

* The official code's outputs for deterministic weights
  (`reference/dnabert2/dnabert2_reference.npz`, the recipe of its README) and the released
  tokenizer's ids: skipped without ../shared/reference.
* A naive float64 re-implementation written here from the architecture description (per sequence,
  real tokens only, one head at a time, the slopes typed in from the paper's formula), on tiny
  configs: equality, padding and batch invariance, lengths above 512 tokens.
* Snapshot folders with the released file names written here (masked-LM keys, `cls.predictions.*`
  included), in each weight format; integrated gradients (src/interpret/tokens.py) checked by
  completeness and against a hand-written Riemann sum.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REFERENCE, random_sequences

from src.data.tokens import (
    load_tokenizer,
    token_offsets,
    tokenize,
    tokenizer_files,
    tokenizer_from_files,
)
from src.errors import InputError
from src.interpret.tokens import (
    ig_baseline_ids,
    spread_to_bases,
    token_integrated_gradients,
)
from src.models.dnabert2 import (
    DNABert2ForSequenceClassification,
    alibi_slopes,
    attention_bias,
    is_dnabert2_config,
    load_pretrained_encoder,
    load_snapshot_model,
    original_study_load,
    read_json,
)
from src.models.dnabert2 import DNABert2ModelConfig as DNABert2Config
from src.models.huggingface import read_pretrained_weights as read_snapshot_weights

DNABERT2_REF = REFERENCE / "dnabert2"
SPECIALS = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]  # DNABERT-2's ids 0..4
UNK, CLS, SEP, PAD = 0, 1, 2, 3
TINY = dict(vocab_size=64, hidden_size=24, num_hidden_layers=2, num_attention_heads=6,
            intermediate_size=20, hidden_dropout_prob=0.1)
# ALiBi slopes typed in: 12 heads from the reference README; 6 heads = 2^-2, 2^-4, 2^-6, 2^-8
# (four heads: 2^(-8/4)^k) then every other slope of eight heads (2^-1, 2^-3)
SLOPES_12 = [2 ** -1, 2 ** -2, 2 ** -3, 2 ** -4, 2 ** -5, 2 ** -6, 2 ** -7, 2 ** -8,
             2 ** -0.5, 2 ** -1.5, 2 ** -2.5, 2 ** -3.5]
SLOPES_6 = [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3]
SLOPES_2 = [2 ** -4, 2 ** -8]  # two heads: 2^(-8/2) to the powers 1, 2


def need_reference():
    if not (DNABERT2_REF / "dnabert2_reference.npz").is_file():
        pytest.skip(f"needs the DNABERT-2 reference files in {DNABERT2_REF} "
                    f"(../shared/reference/dnabert2)")


def layout(name: str) -> list[tuple[str, tuple[int, ...]]]:
    lines = (DNABERT2_REF / name).read_text().splitlines()
    assert lines[0] == "key\tshape"
    return [(key, tuple(int(x) for x in shape.split("x")))
            for key, shape in (line.split("\t") for line in lines[1:])]


def recipe_weights() -> dict[str, torch.Tensor]:
    """The deterministic weights of the reference README, in the order of its layout file."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in layout("dnabert2_state_dict_layout.tsv"):
        if "layernorm" in key.lower() and key.endswith("weight"):
            state[key] = 1 + 0.1 * torch.randn(shape, generator=g)
        elif len(shape) == 1:
            state[key] = 0.02 * torch.randn(shape, generator=g)
        else:
            state[key] = torch.randn(shape, generator=g) / math.sqrt(shape[1])
    return state


def tiny_model(seed: int = 0, **overrides) -> DNABert2ForSequenceClassification:
    torch.manual_seed(seed)
    model = DNABert2ForSequenceClassification(DNABert2Config(**{**TINY, **overrides}))
    with torch.no_grad():  # LayerNorms and biases away from 1 / 0, so that all of them matter
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.add_(0.1 * torch.randn_like(p))
            else:
                p.normal_(0, 1 / math.sqrt(p.shape[1]))
    return model.eval()


def random_batch(lengths, vocab=64, seed=0) -> tuple[torch.Tensor, torch.Tensor]:
    """[CLS] random tokens [SEP] [PAD]...; ids 5.. are "DNA" tokens."""
    rng = np.random.default_rng(seed)
    width = max(lengths)
    ids = np.full((len(lengths), width), PAD)
    mask = np.zeros((len(lengths), width), dtype=np.int64)
    for i, n in enumerate(lengths):
        ids[i, :n] = [CLS, *rng.integers(5, vocab, size=n - 2), SEP]
        mask[i, :n] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


# ---------------------------------------------------------------------------------------------
# A naive reference: float64, one sequence of real tokens, one head at a time


def naive_forward(model: DNABert2ForSequenceClassification, ids: list[int]):
    cfg = model.config
    w = {k: v.detach().double() for k, v in model.state_dict().items()}
    slopes = {2: SLOPES_2, 6: SLOPES_6, 12: SLOPES_12}[cfg.num_attention_heads]
    d = cfg.hidden_size // cfg.num_attention_heads

    def ln(x, prefix):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + cfg.layer_norm_eps) * w[prefix + ".weight"] \
            + w[prefix + ".bias"]

    def linear(x, prefix, bias=True):
        y = x @ w[prefix + ".weight"].T
        return y + w[prefix + ".bias"] if bias else y

    t = len(ids)
    x = w["bert.embeddings.word_embeddings.weight"][ids] \
        + w["bert.embeddings.token_type_embeddings.weight"][0]
    x = ln(x, "bert.embeddings.LayerNorm")
    for n in range(cfg.num_hidden_layers):
        p = f"bert.encoder.layer.{n}."
        qkv = linear(x, p + "attention.self.Wqkv")
        q, k, v = qkv[:, :cfg.hidden_size], qkv[:, cfg.hidden_size:2 * cfg.hidden_size], \
            qkv[:, 2 * cfg.hidden_size:]
        heads = []
        for h in range(cfg.num_attention_heads):
            cols = slice(h * d, (h + 1) * d)
            positions = torch.arange(t, dtype=torch.float64)
            distance = (positions[:, None] - positions[None, :]).abs()  # |i - j|
            scores = q[:, cols] @ k[:, cols].T / math.sqrt(d) - slopes[h] * distance
            heads.append(torch.softmax(scores, dim=-1) @ v[:, cols])
        x = ln(linear(torch.cat(heads, dim=1), p + "attention.output.dense") + x,
               p + "attention.output.LayerNorm")
        g = linear(x, p + "mlp.gated_layers", bias=False)
        inner = 0.5 * g[:, :cfg.intermediate_size] * (
            1 + torch.erf(g[:, :cfg.intermediate_size] / math.sqrt(2))) \
            * g[:, cfg.intermediate_size:]
        x = ln(linear(inner, p + "mlp.wo") + x, p + "mlp.layernorm")
    pooled = torch.tanh(linear(x[0], "bert.pooler.dense"))
    return x, pooled, linear(pooled, "classifier")


# ---------------------------------------------------------------------------------------------
# Config, slopes, bias


def test_alibi_slopes_known_values():
    np.testing.assert_allclose(alibi_slopes(12), SLOPES_12, rtol=1e-12)
    np.testing.assert_allclose(alibi_slopes(6), SLOPES_6, rtol=1e-12)
    np.testing.assert_allclose(alibi_slopes(2), SLOPES_2, rtol=1e-12)
    np.testing.assert_allclose(alibi_slopes(8), [2.0 ** -i for i in range(1, 9)], rtol=1e-12)


def test_attention_bias_values():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    bias = attention_bias(mask, 6, 4, torch.device("cpu"), torch.float32)
    assert bias.shape == (2, 6, 4, 4) and bias.dtype == torch.float32
    assert bias[0, 1, 0, 2].item() == pytest.approx(-SLOPES_6[1] * 2)
    assert bias[0, 4, 3, 0].item() == pytest.approx(-SLOPES_6[4] * 3)
    assert bias[0, 0, 1, 3].item() == pytest.approx(-10000 - SLOPES_6[0] * 2)  # padded key
    assert bias[1, 0, 1, 3].item() == pytest.approx(-SLOPES_6[0] * 2)
    assert attention_bias(None, 6, 5, torch.device("cpu"), torch.bfloat16).shape == (1, 6, 5, 5)


def test_config_from_released_style_dict():
    released = {"_name_or_path": "x", "alibi_starting_size": 512, "auto_map": {
        "AutoModelForSequenceClassification": "bert_layers.BertForSequenceClassification"},
        "classifier_dropout": None, "hidden_act": "gelu", "hidden_size": 48,
        "num_attention_heads": 4, "vocab_size": 100, "max_position_embeddings": 512}
    config = DNABert2Config.from_dict(released, "config.json", num_labels=3)
    assert (config.hidden_size, config.num_attention_heads, config.vocab_size) == (48, 4, 100)
    assert config.num_hidden_layers == 12 and config.num_labels == 3
    assert config.pad_token_id == 0 and config.classifier_dropout is None
    assert DNABert2Config.from_dict(config.to_dict()) == config
    assert is_dnabert2_config(released)
    assert not is_dnabert2_config({"model_type": "bert", "hidden_size": 768})
    assert not is_dnabert2_config({"model_type": "roberta", "alibi_starting_size": 512})
    with pytest.raises(InputError, match=r"config.json: hidden_size 50 is not a multiple"):
        DNABert2Config.from_dict({**released, "hidden_size": 50}, "config.json")
    with pytest.raises(InputError, match=r"c.json: num_hidden_layers must be a positive"):
        DNABert2Config.from_dict({"num_hidden_layers": "12"}, "c.json")


def test_config_file_errors(tmp_path):
    (tmp_path / "config.json").write_text('{"hidden_size": 768,\n "vocab_size": }')
    with pytest.raises(InputError, match=r"config.json, line 2: not valid JSON"):
        DNABert2Config.from_file(tmp_path)
    with pytest.raises(InputError, match=r"not found"):
        DNABert2Config.from_file(tmp_path / "nowhere")


# ---------------------------------------------------------------------------------------------
# The tiny model against the naive reference


def test_tiny_model_equals_naive_reference_with_padding_and_long_sequences():
    model = tiny_model()
    lengths = [9, 30, 3, 700]  # one batch: padded rows, a minimal row, > 512 tokens
    ids, mask = random_batch(lengths, seed=1)
    with torch.no_grad():
        hidden, pooled = model.encode(ids, mask)
        logits = model(ids, attention_mask=mask)
    assert logits.shape == (4, 2) and hidden.shape == (4, 700, 24)
    for row, n in enumerate(lengths):
        ref_hidden, ref_pooled, ref_logits = naive_forward(model, ids[row, :n].tolist())
        np.testing.assert_allclose(hidden[row, :n].numpy(), ref_hidden.numpy(), atol=2e-5)
        if n < 700:  # zeros at padding, as the official code returns
            assert hidden[row, n:].abs().max().item() == 0
        np.testing.assert_allclose(pooled[row].numpy(), ref_pooled.numpy(), atol=1e-5)
        np.testing.assert_allclose(logits[row].numpy(), ref_logits.numpy(), atol=1e-5)


def test_padding_and_batch_do_not_change_a_sequence():
    model = tiny_model(seed=2)
    ids, mask = random_batch([20, 57, 33], seed=2)
    with torch.no_grad():
        batch = model(ids, attention_mask=mask)
        alone = torch.cat([model(ids[i:i + 1, :n]) for i, n in enumerate([20, 57, 33])])
        padded_more = model(torch.nn.functional.pad(ids, (0, 40), value=PAD),
                            attention_mask=torch.nn.functional.pad(mask, (0, 40)))
    np.testing.assert_allclose(batch.numpy(), alone.numpy(), atol=2e-6)
    np.testing.assert_allclose(padded_more.numpy(), batch.numpy(), atol=2e-6)


def test_sdpa_equals_explicit_softmax_forward_and_backward():
    model = tiny_model(seed=3)
    ids, mask = random_batch([40, 25, 12], seed=3)
    outputs = {}
    for name in ("sdpa", "eager"):
        model.set_attention_implementation(name)
        model.zero_grad()
        logits = model(ids, attention_mask=mask)
        logits[:, 1].sum().backward()
        outputs[name] = (logits.detach(), {k: p.grad.clone() for k, p in model.named_parameters()})
    model.set_attention_implementation("sdpa")
    np.testing.assert_allclose(outputs["sdpa"][0].numpy(), outputs["eager"][0].numpy(), atol=1e-6)
    for key, grad in outputs["sdpa"][1].items():
        np.testing.assert_allclose(grad.numpy(), outputs["eager"][1][key].numpy(), atol=1e-5,
                                   err_msg=key)
    with pytest.raises(ValueError, match="sdpa"):
        model.set_attention_implementation("flash")


def test_tiny_training_step_on_cpu():
    model = tiny_model(seed=4, attention_probs_dropout_prob=0.1).train()
    ids, mask = random_batch([64, 50, 31, 64], seed=4)
    labels = torch.tensor([0, 1, 1, 0])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = {k: p.detach().clone() for k, p in model.named_parameters()}
    loss = torch.nn.functional.cross_entropy(model(ids, attention_mask=mask), labels)
    loss.backward()
    grads = {k: p.grad for k, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    # every tensor learns, except the [UNK] row (padding_idx 0, as in the official model)
    assert all(g.abs().sum() > 0 for g in grads.values())
    assert grads["bert.embeddings.word_embeddings.weight"][UNK].abs().max() == 0
    optimizer.step()
    changed = [k for k, p in model.named_parameters() if not torch.equal(p, before[k])]
    assert len(changed) == len(before)
    assert model.training  # dropout on: two passes differ
    with torch.no_grad():
        assert not torch.equal(model(ids, attention_mask=mask), model(ids, attention_mask=mask))


def test_bfloat16_autocast_runs_and_stays_close():
    model = tiny_model(seed=5)
    ids, mask = random_batch([30, 18], seed=5)
    with torch.no_grad():
        full = model(ids, attention_mask=mask)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model(ids, attention_mask=mask)
    assert half.dtype == torch.bfloat16
    np.testing.assert_allclose(half.float().numpy(), full.numpy(), atol=0.1)


def test_inputs_embeds_equal_input_ids():
    model = tiny_model(seed=6)
    ids, mask = random_batch([15, 9], seed=6)
    with torch.no_grad():
        embeds = model.bert.embeddings.word_embeddings(ids)
        np.testing.assert_allclose(model(inputs_embeds=embeds, attention_mask=mask).numpy(),
                                   model(ids, attention_mask=mask).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="exactly one"):
        model(ids, inputs_embeds=embeds)


# ---------------------------------------------------------------------------------------------
# Snapshot folders with the released file names


def train_tokenizer(folder: Path) -> None:
    """tokenizer.json / tokenizer_config.json shaped like DNABERT-2's: BPE, special tokens
    0..4 as DNABERT-2 numbers them, Whitespace pre-tokenizer, [CLS] $A [SEP]."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    bpe = Tokenizer(models.BPE(unk_token="[UNK]"))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=TINY["vocab_size"], special_tokens=SPECIALS,
                                  initial_alphabet=list("ACGT"), show_progress=False)
    bpe.train_from_iterator(random_sequences(200, 100, seed=11), trainer)
    bpe.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", CLS), ("[SEP]", SEP)])
    bpe.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "[UNK]", "cls_token": "[CLS]",
         "sep_token": "[SEP]", "pad_token": "[PAD]", "mask_token": "[MASK]"}))


def masked_lm_state(model: DNABert2ForSequenceClassification) -> dict[str, torch.Tensor]:
    """The state dict a released (masked-LM) checkpoint of `model` would hold: the encoder
    without pooler, and the MLM head with its decoder tied to the word embeddings."""
    d, v = model.config.hidden_size, model.config.vocab_size
    g = torch.Generator().manual_seed(9)
    state = {k: t.clone() for k, t in model.state_dict().items()
             if not k.startswith(("bert.pooler.", "classifier."))}
    state.update({
        "cls.predictions.transform.dense.weight": torch.randn(d, d, generator=g),
        "cls.predictions.transform.dense.bias": torch.randn(d, generator=g),
        "cls.predictions.transform.LayerNorm.weight": torch.ones(d),
        "cls.predictions.transform.LayerNorm.bias": torch.zeros(d),
        "cls.predictions.decoder.weight": state["bert.embeddings.word_embeddings.weight"].clone(),
        "cls.predictions.decoder.bias": torch.zeros(v)})
    return state


def write_snapshot(folder: Path, state: dict, weights: str) -> Path:
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    config = {"_name_or_path": "zhihan1996/DNABERT-2-117M", "alibi_starting_size": 512,
              "attention_probs_dropout_prob": 0.0, "auto_map": {
                  "AutoConfig": "configuration_bert.BertConfig",
                  "AutoModel": "bert_layers.BertModel",
                  "AutoModelForMaskedLM": "bert_layers.BertForMaskedLM",
                  "AutoModelForSequenceClassification":
                      "bert_layers.BertForSequenceClassification"},
              "classifier_dropout": None, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
              "hidden_size": TINY["hidden_size"], "initializer_range": 0.02,
              "intermediate_size": TINY["intermediate_size"], "layer_norm_eps": 1e-12,
              "max_position_embeddings": 512, "num_attention_heads": TINY["num_attention_heads"],
              "num_hidden_layers": TINY["num_hidden_layers"], "position_embedding_type": "absolute",
              "torch_dtype": "float32", "transformers_version": "4.28.0", "type_vocab_size": 2,
              "use_cache": True, "vocab_size": TINY["vocab_size"]}
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    train_tokenizer(folder)
    if weights == "pytorch_model.bin":
        torch.save(state, folder / "pytorch_model.bin")
    elif weights == "model.safetensors":
        save_file(state, str(folder / "model.safetensors"))
    else:  # sharded safetensors with an index
        keys = list(state)
        shards = {"model-00001-of-00002.safetensors": keys[:len(keys) // 2],
                  "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
        for name, part in shards.items():
            save_file({k: state[k] for k in part}, str(folder / name))
        (folder / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {}, "weight_map": {k: name for name, part in shards.items()
                                            for k in part}}))
    return folder


@pytest.mark.parametrize("weights", ["pytorch_model.bin", "model.safetensors", "sharded"])
def test_snapshot_folder_loads_by_name(tmp_path, weights):
    source = tiny_model(seed=7)
    state = masked_lm_state(source)
    folder = write_snapshot(tmp_path / "DNABERT-2-117M", state, weights)
    torch.manual_seed(0)
    model, report = load_snapshot_model(folder)
    encoder = source.encoder_parameter_names()
    assert report["loaded"] == encoder and len(encoder) == 4 + 11 * TINY["num_hidden_layers"]
    assert report["ignored"] == sorted(k for k in state if k.startswith("cls."))
    assert len(report["ignored"]) == 6
    assert report["initialised"] == ["bert.pooler.dense.weight", "bert.pooler.dense.bias",
                                      "classifier.weight", "classifier.bias"]
    own = model.state_dict()
    for key in encoder:
        assert torch.equal(own[key], state[key]), key
    assert not torch.equal(own["classifier.weight"], source.state_dict()["classifier.weight"])
    tokenizer = load_tokenizer(folder)
    batch = tokenize(tokenizer, ["ACGTACGTTTGACA", "ggcatacgatcagcatcagcatcgac"], 16)
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(batch.input_ids).long(),
                       attention_mask=torch.from_numpy(batch.attention_mask))
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()


def test_tied_word_embeddings_only_in_the_decoder(tmp_path):
    source = tiny_model(seed=8)
    state = masked_lm_state(source)
    del state["bert.embeddings.word_embeddings.weight"]
    model = DNABert2ForSequenceClassification(source.config)
    report = load_pretrained_encoder(model, state, "test")
    assert "bert.embeddings.word_embeddings.weight" in report["loaded"]
    assert torch.equal(model.bert.embeddings.word_embeddings.weight,
                       state["cls.predictions.decoder.weight"])


def test_bad_keys_are_all_listed_and_nothing_is_loaded():
    source = tiny_model(seed=9)
    state = masked_lm_state(source)
    del state["bert.encoder.layer.1.mlp.wo.bias"]
    state["bert.encoder.layer.1.attention.self.query.weight"] = torch.zeros(24, 24)
    state["bert.encoder.layer.0.mlp.gated_layers.weight"] = torch.zeros(30, 24)
    model = DNABert2ForSequenceClassification(source.config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(InputError) as err:
        load_pretrained_encoder(model, state, "snap/pytorch_model.bin")
    message = str(err.value)
    assert "snap/pytorch_model.bin" in message
    assert "1 missing from the file: bert.encoder.layer.1.mlp.wo.bias" in message
    assert "1 not in the model: bert.encoder.layer.1.attention.self.query.weight" in message
    assert "1 of the wrong shape: bert.encoder.layer.0.mlp.gated_layers.weight (30x24 in the " \
           "file, 40x24 in the model)" in message
    assert "cls.predictions" not in message
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_bare_encoder_state_dict_loads():
    source = tiny_model(seed=10)
    bare = {k.removeprefix("bert."): v for k, v in masked_lm_state(source).items()
            if k.startswith("bert.")}
    model = DNABert2ForSequenceClassification(source.config)
    report = load_pretrained_encoder(model, bare, "test")
    assert report["loaded"] == source.encoder_parameter_names() and report["ignored"] == []


def test_weight_file_errors(tmp_path):
    with pytest.raises(InputError, match="no weights in"):
        read_snapshot_weights(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot be read"):
        read_snapshot_weights(tmp_path)
    torch.save({"weight": torch.zeros(2), "note": Path("x")}, tmp_path / "pytorch_model.bin")
    with pytest.raises(InputError, match=r"pytorch_model.bin cannot be read \(Weights only load "
                                         r"failed"):  # no pickled object is rebuilt
        read_snapshot_weights(tmp_path)
    (tmp_path / "pytorch_model.bin").unlink()
    (tmp_path / "pytorch_model.bin.index.json").write_text(
        json.dumps({"weight_map": {"a": "pytorch_model-00001-of-00002.bin"}}))
    with pytest.raises(InputError, match="is missing"):
        read_snapshot_weights(tmp_path)


# ---------------------------------------------------------------------------------------------
# Tokenizer


@pytest.fixture
def truncation_warnings():
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("ir_sei.tokens")
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)


def test_tokenizer_ids_equal_the_reference(truncation_warnings):
    need_reference()
    ref = np.load(DNABERT2_REF / "dnabert2_reference.npz")
    tokenizer = load_tokenizer(DNABERT2_REF)
    sequences = [str(s) for s in ref["sequences"]]
    batch = tokenize(tokenizer, sequences)  # padded to the longest, as the reference
    np.testing.assert_array_equal(batch.input_ids, ref["input_ids"])
    np.testing.assert_array_equal(batch.attention_mask, ref["attention_mask"])
    assert batch.n_truncated == 0 and truncation_warnings == []
    lower = tokenize(tokenizer, [s.lower() for s in sequences], 140)
    np.testing.assert_array_equal(lower.input_ids[:, :129], ref["input_ids"])
    assert (lower.input_ids[:, 129:] == PAD).all()


def test_truncation_counts_warns_and_matches_transformers(truncation_warnings):
    need_reference()
    ref = np.load(DNABERT2_REF / "dnabert2_reference.npz")
    tokenizer = load_tokenizer(DNABERT2_REF)
    sequences = [str(s) for s in ref["sequences"]]
    batch = tokenize(tokenizer, sequences, 64, what="test split")
    lengths = ref["attention_mask"].sum(1)
    assert batch.n_truncated == int((lengths > 64).sum()) == 3
    assert batch.n_tokens.tolist() == lengths.tolist()
    assert truncation_warnings == [
        "test split: 3 of 5 sequences have more than max_length = 64 tokens (the longest 129) "
        "and were truncated on the right; raise max_length to keep their ends"]
    for row in np.flatnonzero(lengths > 64):
        assert batch.input_ids[row].tolist() == ref["input_ids"][row, :63].tolist() + [SEP]
    # transformers' own call, the way the original study tokenised
    hf = tokenizer(sequences, padding="max_length", truncation=True, max_length=64)
    np.testing.assert_array_equal(batch.input_ids, np.array(hf["input_ids"]))
    np.testing.assert_array_equal(batch.attention_mask, np.array(hf["attention_mask"]))
    # that call left its settings on the tokenizer: `tokenize` is not affected, and restores them
    again = tokenize(tokenizer, sequences, warn=False)
    np.testing.assert_array_equal(again.input_ids, ref["input_ids"])
    assert tokenizer.backend_tokenizer.truncation["max_length"] == 64


def test_token_offsets_cover_the_bases():
    need_reference()
    ref = np.load(DNABERT2_REF / "dnabert2_reference.npz")
    tokenizer = load_tokenizer(DNABERT2_REF)
    vocab = {i: t for t, i in tokenizer.get_vocab().items()}
    for sequence, ids in zip(ref["sequences"], ref["input_ids"]):
        sequence = str(sequence)
        offsets = token_offsets(tokenizer, sequence.lower())
        real = [(vocab[i], tuple(o)) for i, o in zip(ids, offsets) if i not in (CLS, SEP, PAD)]
        assert [sequence[s:e] for _, (s, e) in real] == [t for t, _ in real]
        ends = [e for _, (_, e) in real]
        assert [s for _, (s, _) in real] == [0] + ends[:-1] and ends[-1] == len(sequence)
        assert tuple(offsets[0]) == (0, 0)
    # N is not in the vocabulary: [UNK], covering its base
    offsets = token_offsets(tokenizer, "ACGNA")
    ids = tokenize(tokenizer, ["ACGNA"]).input_ids[0]
    assert UNK in ids.tolist()
    assert tuple(offsets[ids.tolist().index(UNK)]) == (3, 4)


def test_tokenizer_files_round_trip(tmp_path):
    train_tokenizer(tmp_path)
    tokenizer = load_tokenizer(tmp_path)
    again = tokenizer_from_files(tokenizer_files(tokenizer))
    sequences = random_sequences(5, 60, seed=12)
    np.testing.assert_array_equal(tokenize(tokenizer, sequences, 30).input_ids,
                                  tokenize(again, sequences, 30).input_ids)
    (tmp_path / "tokenizer_config.json").write_text('{"pad_token": "<pad>"}')
    with pytest.raises(InputError, match="lacks its special tokens pad_token '<pad>'"):
        load_tokenizer(tmp_path)
    with pytest.raises(InputError, match="tokenizer.json not found"):
        load_tokenizer(tmp_path / "empty")


# ---------------------------------------------------------------------------------------------
# Integrated Gradients


def test_token_ig_completeness_and_special_tokens():
    model = tiny_model(seed=13).train()
    ids, mask = random_batch([30, 22, 40], seed=13)
    target = torch.tensor([1, 0, 1])
    scores, delta, change = token_integrated_gradients(
        model, ids, mask, target, steps=64, baseline_token=PAD, keep_tokens=(CLS, SEP))
    assert model.training  # mode restored
    assert scores.shape == (3, 40) and delta.shape == change.shape == (3,)
    with torch.no_grad():
        model.eval()
        f_x = model(ids, attention_mask=mask).gather(1, target[:, None])[:, 0]
        base = ig_baseline_ids(ids, mask, PAD, (CLS, SEP))
        f_b = model(base, attention_mask=mask).gather(1, target[:, None])[:, 0]
    np.testing.assert_allclose(change.numpy(), (f_x - f_b).numpy(), atol=1e-5)
    assert (delta.abs() <= 1e-3 * change.abs() + 1e-5).all(), (delta, change)
    np.testing.assert_allclose(scores.sum(1).numpy(), (f_x - f_b).numpy(), rtol=1e-3, atol=1e-5)
    special = (ids == CLS) | (ids == SEP) | (mask == 0)
    assert scores[special].abs().max().item() == 0
    assert (scores[~special] != 0).all()


def test_token_ig_equals_a_hand_written_riemann_sum():
    model = tiny_model(seed=14)
    ids, mask = random_batch([18, 25], seed=14)
    target = torch.tensor([0, 1])
    steps = 16
    scores, _, _ = token_integrated_gradients(model, ids, mask, target, steps=steps,
                                              baseline_token=PAD, keep_tokens=(CLS, SEP),
                                              method="riemann_middle")
    # the midpoint rule by hand, through inputs_embeds: (x - x') * mean of the gradients at
    # x' + a (x - x'), a = (k + 1/2) / steps
    embed = model.bert.embeddings.word_embeddings
    x = embed(ids).detach()
    x0 = embed(ig_baseline_ids(ids, mask, PAD, (CLS, SEP))).detach()
    total = torch.zeros_like(x)
    for k in range(steps):
        point = (x0 + (k + 0.5) / steps * (x - x0)).requires_grad_(True)
        logits = model(inputs_embeds=point, attention_mask=mask)
        grad, = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), point)
        total += grad / steps
    expected = ((x - x0) * total).sum(-1)
    np.testing.assert_allclose(scores.numpy(), expected.numpy(), atol=1e-6)


def test_spread_to_bases_known_answer_and_sums():
    scores = np.array([0.5, 3.0, 2.0, -1.0, 0.7])
    offsets = np.array([[0, 0], [0, 3], [3, 5], [5, 6], [0, 0]])
    np.testing.assert_allclose(spread_to_bases(scores, offsets, 8),
                               [1, 1, 1, 1, 1, -1, 0, 0])
    batch = spread_to_bases(np.stack([scores, -scores]), np.stack([offsets, offsets]), 8)
    np.testing.assert_allclose(batch[1], -batch[0])
    with pytest.raises(ValueError, match="outside"):
        spread_to_bases(scores, offsets, 5)


def test_ig_spread_to_bases_keeps_the_total(tmp_path):
    train_tokenizer(tmp_path)
    tokenizer = load_tokenizer(tmp_path)
    model = tiny_model(seed=15)
    sequences = random_sequences(3, 200, seed=15)
    batch = tokenize(tokenizer, sequences, 40, return_offsets=True, warn=False)
    assert batch.n_truncated == 3
    scores, _, _ = token_integrated_gradients(
        model, torch.from_numpy(batch.input_ids).long(), torch.from_numpy(batch.attention_mask),
        1, steps=8, baseline_token=tokenizer.pad_token_id,
        keep_tokens=(tokenizer.cls_token_id, tokenizer.sep_token_id))
    per_base = spread_to_bases(scores.numpy(), batch.offsets, 200)
    assert per_base.shape == (3, 200)
    np.testing.assert_allclose(per_base.sum(1), scores.sum(1).numpy(), rtol=1e-6, atol=1e-7)
    for row in range(3):  # constant over each token's span; bases cut by truncation score 0
        for (s, e), value in zip(batch.offsets[row], scores[row].numpy()):
            if e > s:
                np.testing.assert_allclose(per_base[row, s:e], value / (e - s), rtol=1e-6)
        covered = batch.offsets[row, :, 1].max()
        assert (per_base[row, covered:] == 0).all() and covered < 200


# ---------------------------------------------------------------------------------------------
# The official model's outputs (the full 117M model, built once)


@pytest.fixture(scope="module")
def reference_outputs():
    need_reference()
    ref = np.load(DNABERT2_REF / "dnabert2_reference.npz")
    config = DNABert2Config.from_file(DNABERT2_REF)
    with torch.device("meta"):  # no random initialisation: every tensor is assigned
        model = DNABert2ForSequenceClassification(config)
    model.load_state_dict(recipe_weights(), strict=True, assign=True)
    model.eval()
    with torch.no_grad():
        hidden, pooled = model.encode(torch.from_numpy(ref["input_ids"]),
                                      torch.from_numpy(ref["attention_mask"]))
        logits = model.classifier(pooled)
    return ref, {"last_hidden_state": hidden.numpy(), "pooled_output": pooled.numpy(),
                 "logits": logits.numpy()}


def test_parameter_layout_equals_the_official_model():
    need_reference()
    with torch.device("meta"):
        model = DNABert2ForSequenceClassification(DNABert2Config.from_file(DNABERT2_REF))
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == \
        layout("dnabert2_state_dict_layout.tsv")


@pytest.mark.parametrize("name", ["last_hidden_state", "pooled_output", "logits"])
def test_equal_to_the_official_code(reference_outputs, name):
    ref, ours = reference_outputs
    expected, actual = ref[name], ours[name]
    if name == "last_hidden_state":  # the official code has zeros at padding; so do we
        real = ref["attention_mask"].astype(bool)
        np.testing.assert_array_equal(actual[~real], 0)
        expected, actual = expected[real], actual[real]
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-5)


def test_masked_mean_equal_to_the_official_code(reference_outputs):
    ref, ours = reference_outputs
    mask = ref["attention_mask"][..., None]
    mean = (ours["last_hidden_state"] * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(mean, ref["masked_mean"], rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# The original study's load (transformers' standard BERT fed the released checkpoint)


def test_original_study_load_counts():
    need_reference()
    # zero tensors of the released shapes (stride-0 views: no memory)
    state = {key: torch.zeros(()).expand(shape)
             for key, shape in layout("released_checkpoint_layout.tsv")}
    assert len(state) == 142
    torch.manual_seed(0)
    model, report = original_study_load(read_json(DNABERT2_REF / "config.json", "config"),
                                        state)
    assert (len(report["loaded"]), len(report["dropped"]), len(report["initialised"])) == \
        (52, 90, 149)
    per_layer_loaded = {"attention.output.dense.weight", "attention.output.dense.bias",
                        "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias"}
    assert set(report["loaded"]) == {
        "bert.embeddings.word_embeddings.weight", "bert.embeddings.token_type_embeddings.weight",
        "bert.embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.bias"} | {
        f"bert.encoder.layer.{n}.{name}" for n in range(12) for name in per_layer_loaded}
    assert sum(k.startswith("cls.predictions.") for k in report["dropped"]) == 6
    assert sum(".attention.self.Wqkv." in k for k in report["dropped"]) == 24
    assert sum(".mlp." in k for k in report["dropped"]) == 60
    assert report["initialised"][0] == "bert.embeddings.position_embeddings.weight"
    assert report["initialised"][-4:] == ["bert.pooler.dense.weight", "bert.pooler.dense.bias",
                                          "classifier.weight", "classifier.bias"]
    assert sum(".attention.self.query." in k for k in report["initialised"]) == 24
    params = dict(model.model.named_parameters())  # transformers' BertForSequenceClassification
    assert len(params) == 201 and type(model.model).__name__ == "BertForSequenceClassification"
    assert all(params[k].abs().max() == 0 for k in report["loaded"])  # the file's zeros
    assert all(params[k].abs().max() > 0 for k in report["initialised"] if k.endswith("weight")
               and "LayerNorm" not in k)
