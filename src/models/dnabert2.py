"""DNABERT-2 in plain PyTorch: the released model, without its remote code or triton.

DNABERT-2 (Zhou et al. 2023, hub id `zhihan1996/DNABERT-2-117M`) is a MosaicBERT: a BERT encoder
without position embeddings, ALiBi attention biases, a gated (GEGLU) MLP and post-LayerNorm. Its
released code (`bert_layers.py`, run through `trust_remote_code`) breaks with current triton and
transformers; this module computes the same function with `torch.nn` only, on CPU and GPU, at
any length, and never runs code from a download:

* `DNABert2ModelConfig` (the fields of the released config.json that the model uses; that file
  has no `model_type` key) and `DNABert2ForSequenceClassification` (encoder + the official pooler
  and classifier head). Parameter names equal the official model's, so its state dicts load by
  name with `strict=True` (`reference/dnabert2/dnabert2_state_dict_layout.tsv`).
* `load_pretrained_encoder` / `load_snapshot_model`: the released masked-LM checkpoint of a local
  snapshot folder (`pytorch_model.bin` or `model.safetensors`), loaded by name: `cls.predictions.*`
  ignored, every other tensor accounted for (missing, unexpected and mis-shaped ones listed in
  the error).
* `DNABERT2` (registered "DNABERT2"): the project's model, input {input_ids, attention_mask}
  (N, T) int64 -> (N, 2) logits; a checkpoint rebuilds it from the config it stores.
* `original_study_load`: what the original study ran instead (transformers' standard
  `BertForSequenceClassification` fed the released checkpoint), with the lists of loaded,
  dropped and newly initialised tensors (`src.models.huggingface.HFSequenceClassifier`).

Tokenizer and tokenisation: `src.data.tokens`; Integrated Gradients on the token embeddings:
`src.interpret.tokens`.

Attention runs through `torch.nn.functional.scaled_dot_product_attention` with one additive
float bias (ALiBi + padding), so a GPU uses its fused kernels; the bias is built for each batch's
length, device and dtype (no maximum length). In float32 the outputs equal the official code's
within 1e-5 (tests/test_dnabert2_model.py, against `reference/dnabert2/dnabert2_reference.npz`:
largest difference 6e-6 in the last hidden state, 2e-6 in the logits).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..runs import console_logger
from .huggingface import (
    EncoderFreezing,
    HFSequenceClassifier,
    read_json_file,
    read_pretrained_weights,
)
from .registry import register_model

MODEL_NAME = "DNABERT2"
# tensors of a masked-LM checkpoint that belong to its pretraining heads (MLM, NSP): not used by a
# classifier
PRETRAINING_HEAD_PREFIX = "cls."
# parts of a classifier that a masked-LM checkpoint does not hold: they start from fresh weights
HEAD_PREFIXES = ("bert.pooler.", "classifier.")
MASK_BIAS = -10000.0  # additive bias of a padded key, as in the official code

# Model loading happens before a run's log exists: these messages go to the console.
log = console_logger("ir_sei.dnabert2")


# ---------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class DNABert2ModelConfig:
    """The settings of a DNABERT-2 classifier; defaults are those of DNABERT-2-117M.

    Read from a snapshot's config.json with `from_dict` / `from_file` (other keys of that file,
    e.g. `auto_map`, `alibi_starting_size`, `max_position_embeddings`, are not used: ALiBi needs
    no maximum length). `hidden_act` is not a field: the official MLP uses exact GELU whatever
    the config says.

    `pad_token_id` is the `padding_idx` of the word embeddings. The released config has none,
    so, as in the official code (transformers' BertConfig default), it is 0, which is `[UNK]` in
    DNABERT-2's vocabulary: that row gets no gradient when fine-tuning.
    """

    vocab_size: int = 4096
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.0
    classifier_dropout: float | None = None
    pad_token_id: int = 0
    num_labels: int = 2
    initializer_range: float = 0.02

    def __post_init__(self):
        problem = self.problem()
        if problem:
            raise InputError(f"DNABERT-2 config: {problem}")

    def problem(self) -> str | None:
        """What is wrong with these settings (None: nothing)."""
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "type_vocab_size", "num_labels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                return f"{name} must be a positive integer, not {value!r}"
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout",
                     "layer_norm_eps", "initializer_range"):
            value = getattr(self, name)
            if value is None and name == "classifier_dropout":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 \
                    or ("dropout" in name and value >= 1):
                return (f"{name} must be a number {'in [0, 1)' if 'dropout' in name else '>= 0'}"
                        f", not {value!r}")
        pad = self.pad_token_id
        if isinstance(pad, bool) or not isinstance(pad, int) or not 0 <= pad < self.vocab_size:
            return (f"pad_token_id must be a token id below vocab_size {self.vocab_size}, "
                    f"not {pad!r}")
        if self.hidden_size % self.num_attention_heads:
            return (f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads "
                    f"{self.num_attention_heads}")
        return None

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, config: Mapping, source: str = "the config", **overrides
                  ) -> "DNABert2ModelConfig":
        """The fields of `config` (a config.json dict; other keys ignored), then `overrides`.

        A key that is absent or null takes the default, except `classifier_dropout` (null means
        "use hidden_dropout_prob", as in the official code).
        """
        if not isinstance(config, Mapping):
            raise InputError(f"{source} must hold a JSON object, not {type(config).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = set(overrides) - names
        if unknown:
            raise TypeError(f"unknown DNABert2ModelConfig fields {sorted(unknown)}")
        values = {name: config[name] for name in names
                  if name in config and (config[name] is not None
                                         or name == "classifier_dropout")}
        values.update(overrides)
        probe = cls.__new__(cls)  # checked here, so that the message can name `source`
        for f in fields(cls):
            object.__setattr__(probe, f.name, values.get(f.name, f.default))
        problem = probe.problem()
        if problem:
            raise InputError(f"{source}: {problem}")
        return probe

    @classmethod
    def from_file(cls, path: str | Path, **overrides) -> "DNABert2ModelConfig":
        """The config of a snapshot: `path` is its config.json or the snapshot folder."""
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        return cls.from_dict(read_json(path, "model config"), str(path), **overrides)

    def to_dict(self) -> dict:
        """Plain dict of the fields (what a checkpoint stores to rebuild the model)."""
        return asdict(self)


read_json = read_json_file  # a snapshot's JSON file; missing or broken: an InputError


def is_dnabert2_config(config: Mapping) -> bool:
    """Whether a config.json dict describes DNABERT-2 (MosaicBERT: ALiBi, gated MLP).

    True when its `auto_map` names classes of `bert_layers` (the released code) or it has
    `alibi_starting_size`, and it does not name another model type. Such a model is built by
    this module; any other goes through transformers' Auto classes.
    """
    model_type = config.get("model_type")
    if model_type not in (None, "bert"):
        return False
    auto_map = config.get("auto_map") or {}
    names_bert_layers = isinstance(auto_map, Mapping) and any(
        isinstance(ref, str) and ref.split("--")[-1].startswith("bert_layers.")
        for ref in auto_map.values())
    return names_bert_layers or "alibi_starting_size" in config


# ---------------------------------------------------------------------------------------------
# Model


def alibi_slopes(n_heads: int) -> list[float]:
    """ALiBi slope of each attention head, as the official code computes them.

    For 2^k heads: 2^(-8/n) to the powers 1..n. Otherwise the slopes of the largest power of two
    below n, then every other slope of twice that many. 12 heads: 2^-1 ... 2^-8, then 2^-0.5,
    2^-1.5, 2^-2.5, 2^-3.5.
    """
    def power_of_2(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    if n_heads < 1:
        raise ValueError(f"n_heads must be positive, not {n_heads}")
    if math.log2(n_heads).is_integer():
        return power_of_2(n_heads)
    closest = 2 ** math.floor(math.log2(n_heads))
    return power_of_2(closest) + alibi_slopes(2 * closest)[0::2][:n_heads - closest]


def attention_bias(attention_mask: torch.Tensor | None, n_heads: int, length: int,
                   device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The additive attention bias: ALiBi plus -10000 where the key is padding.

    Parameters
    ----------
    attention_mask : (N, T), 1 (or True) for real tokens, 0 for padding; None: no padding
    n_heads, length : heads H and tokens T

    Returns
    -------
    torch.Tensor (N, H, T, T), or (1, H, T, T) without a mask, of `dtype`:
    bias[n, h, i, j] = -slope_h * |i - j| (+ -10000 when token j of sequence n is padding).
    Computed in float32 as the official code does, then cast.
    """
    positions = torch.arange(length, device=device)
    distance = (positions[None, :] - positions[:, None]).abs()
    bias = _slopes(n_heads, torch.device(device))[:, None, None] * -distance  # (H, T, T) fp32
    bias = bias.unsqueeze(0)
    if attention_mask is not None:
        padding = (1.0 - attention_mask.to(device=device, dtype=torch.float32)) * MASK_BIAS
        bias = bias + padding[:, None, None, :]
    return bias.to(dtype)


@functools.lru_cache(maxsize=16)
def _slopes(n_heads: int, device: torch.device) -> torch.Tensor:
    """`alibi_slopes` as a float32 tensor on `device`, made once (a copy from the host on every
    forward would wait for the GPU's queue)."""
    with torch.inference_mode(False), torch.no_grad():
        return torch.tensor(alibi_slopes(n_heads), dtype=torch.float32, device=device)


def _init_weights(module: nn.Module, std: float) -> None:
    """BERT's initialisation (transformers' `_init_weights`): normal(0, std) weights, zero
    biases, the padding row of an embedding zero, LayerNorm 1 and 0."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class BertEmbeddings(nn.Module):
    """Word + token-type embeddings, LayerNorm, dropout. No position embeddings (ALiBi)."""

    def __init__(self, config: DNABert2ModelConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size,
                                            padding_idx=config.pad_token_id)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """(N, T) token ids, or (N, T, D) `inputs_embeds` -> (N, T, D)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("give exactly one of input_ids and inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        if token_type_ids is None:  # all type 0: row 0, broadcast (no (N, T) lookup)
            embeddings = inputs_embeds + self.token_type_embeddings.weight[0]
        else:
            embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(embeddings))


class Tokens:
    """Where the real tokens of an (N, T) batch are, to run the position-wise layers on them only.

    As the official code does, the linear layers, LayerNorms and the MLP work on the real tokens
    packed as (nnz, D); attention scatters them back to (N, T, ...) (zeros at padding, which the
    bias masks). Without padding nothing is gathered or scattered.

    Parameters
    ----------
    attention_mask : (N, T), 1/True for real tokens; None: all real
    batch, width : N and T
    """

    def __init__(self, attention_mask: torch.Tensor | None, batch: int, width: int):
        self.batch, self.width = batch, width
        self.indices = None
        if attention_mask is not None:
            indices = attention_mask.reshape(-1).nonzero().squeeze(1)
            if indices.numel() < batch * width:
                self.indices = indices

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, ...) -> (nnz, ...)"""
        x = x.reshape(self.batch * self.width, *x.shape[2:])
        return x if self.indices is None else x.index_select(0, self.indices)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """(nnz, ...) -> (N, T, ...), zeros at padding"""
        if self.indices is not None:
            x = x.new_zeros(self.batch * self.width, *x.shape[1:]).index_copy(0, self.indices, x)
        return x.view(self.batch, self.width, *x.shape[1:])


class BertSelfAttention(nn.Module):
    """Multi-head self-attention with a fused Wqkv projection and an additive bias.

    `use_sdpa` (default True) computes it with `scaled_dot_product_attention`; False uses the
    explicit softmax(q k^T / sqrt(d) + bias) v of the official PyTorch path (for checks).
    """

    def __init__(self, config: DNABert2ModelConfig):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.head_size = config.head_size
        self.dropout_prob = config.attention_probs_dropout_prob
        self.Wqkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.use_sdpa = True

    def forward(self, hidden_states: torch.Tensor, bias: torch.Tensor, tokens: Tokens
                ) -> torch.Tensor:
        """(nnz, D) real tokens, bias (N or 1, H, T, T) -> (nnz, D)."""
        qkv = tokens.pad(self.Wqkv(hidden_states))  # (N, T, 3D)
        n, t = qkv.shape[:2]
        # the official layout of the fused projection: (q | k | v), each (heads, head_size)
        q, k, v = qkv.view(n, t, 3, self.num_attention_heads, self.head_size) \
            .permute(2, 0, 3, 1, 4).unbind(0)  # each (N, H, T, d)
        if bias.dtype != q.dtype:  # e.g. a model cast to bf16 while the mask was made for fp32
            bias = bias.to(q.dtype)
        p = self.dropout_prob if self.training else 0.0
        if self.use_sdpa:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=p)
        else:
            scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_size) + bias
            probabilities = F.dropout(scores.softmax(dim=-1), p=p, training=p > 0)
            out = probabilities @ v
        return tokens.unpad(out.transpose(1, 2).reshape(n, t, -1))


class BertSelfOutput(nn.Module):
    """dense, dropout, LayerNorm(. + input): the post-LN residual of the attention block."""

    def __init__(self, config: DNABert2ModelConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertAttention(nn.Module):
    def __init__(self, config: DNABert2ModelConfig):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states: torch.Tensor, bias: torch.Tensor, tokens: Tokens
                ) -> torch.Tensor:
        return self.output(self.self(hidden_states, bias, tokens), hidden_states)


class BertGatedLinearUnitMLP(nn.Module):
    """GEGLU: gelu(x W_g) * (x W_u), dropout, wo, LayerNorm(. + x). `gated_layers` holds W_g
    and W_u stacked (the first `intermediate_size` outputs are gated), without bias."""

    def __init__(self, config: DNABert2ModelConfig):
        super().__init__()
        self.intermediate_size = config.intermediate_size
        self.gated_layers = nn.Linear(config.hidden_size, 2 * config.intermediate_size,
                                      bias=False)
        self.act = nn.GELU(approximate="none")
        self.wo = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        h = self.gated_layers(hidden_states)
        gated, non_gated = h[..., :self.intermediate_size], h[..., self.intermediate_size:]
        h = self.wo(self.dropout(self.act(gated) * non_gated))
        return self.layernorm(h + hidden_states)


class BertLayer(nn.Module):
    def __init__(self, config: DNABert2ModelConfig):
        super().__init__()
        self.attention = BertAttention(config)
        self.mlp = BertGatedLinearUnitMLP(config)

    def forward(self, hidden_states: torch.Tensor, bias: torch.Tensor, tokens: Tokens
                ) -> torch.Tensor:
        return self.mlp(self.attention(hidden_states, bias, tokens))


class BertEncoder(nn.Module):
    def __init__(self, config: DNABert2ModelConfig):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden_states: torch.Tensor,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(N, T, D) embeddings, (N, T) mask -> (N, T, D), zeros at padded positions (real
        tokens never attend to them, and the position-wise layers skip them)."""
        n, t, _ = hidden_states.shape
        device = hidden_states.device
        dtype = hidden_states.dtype
        if torch.is_autocast_enabled(device.type):  # the bias must match the projections' dtype
            dtype = torch.get_autocast_dtype(device.type)
        bias = attention_bias(attention_mask, self.num_attention_heads, t, device, dtype)
        tokens = Tokens(attention_mask, n, t)
        hidden = tokens.unpad(hidden_states)
        for layer in self.layer:
            hidden = layer(hidden, bias, tokens)
        return tokens.pad(hidden)


class BertPooler(nn.Module):
    """dense + tanh on the first ([CLS]) token."""

    def __init__(self, config: DNABert2ModelConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states[:, 0]))


class BertModel(nn.Module):
    """The DNABERT-2 encoder (embeddings, layers) and, with `add_pooling_layer`, the pooler."""

    def __init__(self, config: DNABert2ModelConfig, add_pooling_layer: bool = True):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None

    def forward(self, input_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """
        Returns
        -------
        last_hidden_state : (N, T, D); 0 at padded positions, as the official code returns it
        pooled_output : (N, D), or None without a pooler
        """
        shape = (input_ids if input_ids is not None else inputs_embeds).shape[:2]
        if attention_mask is not None and tuple(attention_mask.shape) != tuple(shape):
            raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}, the "
                             f"tokens {tuple(shape)}")
        hidden = self.embeddings(input_ids, token_type_ids, inputs_embeds)
        hidden = self.encoder(hidden, attention_mask)
        pooled = self.pooler(hidden) if self.pooler is not None else None
        return hidden, pooled


class DNABert2ForSequenceClassification(nn.Module):
    """DNABERT-2 with the official fine-tuning head: pooler ([CLS], dense, tanh), dropout,
    `classifier` Linear(hidden, num_labels).

    Parameters
    ----------
    config : DNABert2ModelConfig, or its `to_dict()` (what a checkpoint's `architecture` stores)

    Forward: input_ids (N, T) int, attention_mask (N, T) 1/0 (None: no padding),
    token_type_ids (N, T) (None: all 0), or `inputs_embeds` (N, T, D) instead of input_ids
    -> logits (N, num_labels). `encode` gives the last hidden state and the pooled output.

    The weights start as BERT's initialisation (normal(0, 0.02)); `load_pretrained_encoder`
    loads a released checkpoint, `load_state_dict` this model's own. Works at any length: the
    attention bias is built per batch (memory O(N H T^2), as the attention scores).
    """

    def __init__(self, config: DNABert2ModelConfig | Mapping | None = None):
        super().__init__()
        if config is None:
            config = DNABert2ModelConfig()
        elif not isinstance(config, DNABert2ModelConfig):
            config = DNABert2ModelConfig.from_dict(config, "the model architecture")
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=True)
        dropout = (config.classifier_dropout if config.classifier_dropout is not None
                   else config.hidden_dropout_prob)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.apply(lambda module: _init_weights(module, config.initializer_range))

    def encode(self, input_ids: torch.Tensor | None = None,
               attention_mask: torch.Tensor | None = None,
               token_type_ids: torch.Tensor | None = None,
               inputs_embeds: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """(last_hidden_state (N, T, D), 0 at padding; pooled_output (N, D))."""
        return self.bert(input_ids, attention_mask, token_type_ids, inputs_embeds)

    def forward(self, input_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        _, pooled = self.encode(input_ids, attention_mask, token_type_ids, inputs_embeds)
        return self.classifier(self.dropout(pooled))

    @property
    def embedding_layer(self) -> nn.Embedding:
        """The word-embedding layer (what token Integrated Gradients attribute to)."""
        return self.bert.embeddings.word_embeddings

    def encoder_parameter_names(self) -> list[str]:
        """Names of the pretrained encoder's parameters (embeddings and layers; not the pooler
        and classifier, which a fine-tuning run adds), e.g. for freezing."""
        return [name for name, _ in self.named_parameters()
                if not name.startswith(HEAD_PREFIXES)]

    def set_attention_implementation(self, name: str) -> None:
        """"sdpa" (default: scaled_dot_product_attention) or "eager" (explicit softmax)."""
        if name not in ("sdpa", "eager"):
            raise ValueError(f"attention implementation must be 'sdpa' or 'eager', not {name!r}")
        for module in self.modules():
            if isinstance(module, BertSelfAttention):
                module.use_sdpa = name == "sdpa"


# ---------------------------------------------------------------------------------------------
# Released weights


def load_pretrained_encoder(model: DNABert2ForSequenceClassification,
                            state: Mapping[str, torch.Tensor], source: str) -> dict:
    """Load a released DNABERT-2 checkpoint into `model`, by name.

    The released checkpoint is a masked-LM one: `bert.embeddings.*`, `bert.encoder.layer.N.*`
    and `cls.predictions.*`. Every encoder tensor of the model must be in it, with its shape;
    `cls.*` (pretraining heads) are ignored; pooler and classifier are loaded when present and
    otherwise keep their fresh initialisation. A state dict of a bare encoder (`embeddings.*`,
    `encoder.*`, no `bert.` prefix) is accepted too. If the file stores the tied word embeddings
    only as `cls.predictions.decoder.weight`, they are taken from there.

    Returns
    -------
    dict: `loaded` (names loaded), `ignored` (pretraining-head tensors not used),
    `initialised` (head tensors not in the file: fresh), `source`

    Raises
    ------
    InputError
        Encoder tensors missing from the file, tensors the model does not have (other than
        `cls.*`), or tensors of the wrong shape: all are listed, nothing is loaded.
    """
    state = dict(state)
    if not any(k.startswith("bert.") for k in state) and \
            any(k.startswith(("embeddings.", "encoder.")) for k in state):
        state = {("bert." + k if k.startswith(("embeddings.", "encoder.", "pooler."))
                  else k): v for k, v in state.items()}
    own = model.state_dict()
    word = "bert.embeddings.word_embeddings.weight"
    tied = "cls.predictions.decoder.weight"
    if word not in state and tied in state:
        state[word] = state[tied]
    ignored = sorted(k for k in state if k.startswith(PRETRAINING_HEAD_PREFIX))
    missing = [k for k in own if k not in state and not k.startswith(HEAD_PREFIXES)]
    unexpected = sorted(k for k in state if k not in own
                        and not k.startswith(PRETRAINING_HEAD_PREFIX))
    misshaped = [f"{k} ({'x'.join(map(str, state[k].shape)) or 'scalar'} in the file, "
                 f"{'x'.join(map(str, own[k].shape))} in the model)"
                 for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or misshaped:
        parts = []
        for what, names in (("missing from the file", missing),
                            ("not in the model", unexpected), ("of the wrong shape", misshaped)):
            if names:
                shown = "; ".join(names[:12]) + (f"; ... ({len(names) - 12} more)"
                                                  if len(names) > 12 else "")
                parts.append(f"{len(names)} {what}: {shown}")
        raise InputError(
            f"the weights in {source} do not fit the DNABERT-2 model built from its config.json "
            f"(hidden_size {model.config.hidden_size}, {model.config.num_hidden_layers} layers, "
            f"vocab_size {model.config.vocab_size}):\n  " + "\n  ".join(parts) +
            "\nIs this a DNABERT-2 snapshot, with the config.json that belongs to its weights?")
    loaded = [k for k in own if k in state]
    model.load_state_dict({k: state[k] for k in loaded}, strict=False)
    initialised = [k for k in own if k not in state]
    return {"loaded": loaded, "ignored": ignored, "initialised": initialised, "source": source}


def load_snapshot_model(folder: str | Path, num_labels: int = 2
                        ) -> tuple[DNABert2ForSequenceClassification, dict]:
    """A classifier from a DNABERT-2 snapshot folder: config.json, then the released weights
    (`load_pretrained_encoder`); pooler and classifier start fresh (seed torch first for a
    reproducible start). Returns the model (train mode, CPU) and the load report."""
    folder = Path(folder)
    config = DNABert2ModelConfig.from_file(folder, num_labels=num_labels)
    model = DNABert2ForSequenceClassification(config)
    report = load_pretrained_encoder(model, read_pretrained_weights(folder), str(folder))
    return model, report


# ---------------------------------------------------------------------------------------------
# The project's model


@register_model(MODEL_NAME)
class DNABERT2(EncoderFreezing, nn.Module):
    """DNABERT-2 with a two-class head, as the project trains and stores it ("DNABERT2").

    Parameters
    ----------
    config : `DNABert2ModelConfig` or its dict (a checkpoint's `architecture["config"]`);
        `num_labels` is set to 2
    freeze_encoder : keep the pretrained encoder (embeddings and layers) fixed and train only
        the head (pooler + classifier)

    Forward: input_ids, attention_mask (N, T) int64 (token_type_ids accepted; DNABERT-2 uses
    type 0 throughout) -> logits (N, 2). The classifier is `self.model`
    (`DNABert2ForSequenceClassification`), so parameter names are `model.bert.*`,
    `model.classifier.*`: those of checkpoints written when DNABERT-2 ran through its own code,
    which therefore load here (`from_architecture`).
    """

    def __init__(self, config: DNABert2ModelConfig | Mapping, freeze_encoder: bool = False):
        super().__init__()
        if not isinstance(config, DNABert2ModelConfig):
            config = DNABert2ModelConfig.from_dict(config, "the model architecture")
        if config.num_labels != 2:
            config = DNABert2ModelConfig.from_dict(config.to_dict(), num_labels=2)
        self.model = DNABert2ForSequenceClassification(config)
        self.architecture = {"config": config.to_dict(), "freeze_encoder": False}
        self.set_frozen(freeze_encoder)

    @classmethod
    def from_architecture(cls, config: Mapping, freeze_encoder: bool = False,
                          trust_remote_code: bool | None = None,
                          remote_code: dict | None = None,
                          allow_remote_code: bool = False) -> nn.Module:
        """The model of a checkpoint's `architecture` (`build_model` calls this).

        Checkpoints written by earlier versions of DNABert2.py, which ran every model through
        transformers' Auto classes, store `trust_remote_code` and `remote_code` too:

        * DNABERT-2 run through its own code (config.json naming `bert_layers` classes): rebuilt
          as this native model, with the same parameter names; the stored code is never run.
        * any other model (e.g. the demo's former tiny BERT): rebuilt as `HFSequenceClassifier`,
          as then (its own code only with the caller's `allow_remote_code`).
        """
        if trust_remote_code is None and remote_code is None:
            return cls(config, freeze_encoder)
        if is_dnabert2_config(config):
            log.info("a DNABERT-2 checkpoint of an earlier version (run through the model's own "
                     "code): rebuilt as the native model; its stored code is not run")
            return cls(DNABert2ModelConfig.from_dict(config, "the checkpoint's model config",
                                                     num_labels=2), freeze_encoder)
        return HFSequenceClassifier(config, trust_remote_code=bool(trust_remote_code),
                                    remote_code=remote_code, freeze_encoder=freeze_encoder,
                                    allow_remote_code=allow_remote_code)

    @property
    def config(self) -> DNABert2ModelConfig:
        return self.model.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids)

    @property
    def embedding_layer(self) -> nn.Embedding:
        """The word-embedding layer (what token Integrated Gradients attribute to)."""
        return self.model.embedding_layer

    def encoder_parameter_names(self) -> list[str]:
        """Names (in this module's state_dict) of the pretrained encoder's parameters."""
        return [f"model.{name}" for name in self.model.encoder_parameter_names()]

    def load_pretrained(self, state: Mapping[str, torch.Tensor], source: str) -> dict:
        """`load_pretrained_encoder` into this model's classifier (names as in the file)."""
        return load_pretrained_encoder(self.model, state, source)


def load_snapshot(folder: str | Path, freeze_encoder: bool = False) -> tuple[DNABERT2, dict]:
    """The project's model from a DNABERT-2 snapshot folder (config.json and the released
    weights; pooler and classifier start fresh: seed torch first). Returns it and the load
    report of `load_pretrained_encoder`."""
    folder = Path(folder)
    model = DNABERT2(DNABert2ModelConfig.from_file(folder, num_labels=2), freeze_encoder)
    report = model.load_pretrained(read_pretrained_weights(folder), str(folder))
    return model, report


def load_report_lines(report: dict) -> list[str]:
    """The run-log lines of a load report (`load_pretrained_encoder`, `original_study_load`):
    counts, then every name."""
    lines = []
    if "dropped" in report:  # the original study's load
        lines.append(f"original-study load of {report['source']}: transformers' standard "
                     f"BertForSequenceClassification (learned positions, separate query/key/"
                     f"value, plain GELU feed-forward; no ALiBi, no gated MLP): "
                     f"{len(report['loaded'])} tensors loaded, {len(report['dropped'])} in the "
                     f"file dropped, {len(report['initialised'])} newly initialised")
        groups = (("loaded", "loaded"), ("dropped", "dropped (in the file, not in the model)"),
                  ("initialised", "newly initialised"))
    else:
        lines.append(f"native DNABERT-2 from {report['source']}: {len(report['loaded'])} "
                     f"pretrained tensors loaded, {len(report['ignored'])} pretraining-head "
                     f"tensors ignored (cls.*), {len(report['initialised'])} newly initialised")
        groups = (("loaded", "loaded"), ("ignored", "ignored (pretraining head)"),
                  ("initialised", "newly initialised"))
    for key, what in groups:
        lines.append(f"{what} ({len(report[key])}): {', '.join(report[key]) or 'none'}")
    return lines


# ---------------------------------------------------------------------------------------------
# The original study's load


def original_study_config(config: Mapping) -> dict:
    """The released config.json as transformers' standard BERT reads it: `model_type` "bert"
    (the file has none), `auto_map` and `_name_or_path` dropped."""
    values = {k: v for k, v in config.items() if k not in ("auto_map", "_name_or_path")}
    values["model_type"] = "bert"
    return values


def original_study_load(config: Mapping | str | Path, state: Mapping[str, torch.Tensor],
                        source: str = "the released checkpoint",
                        freeze_encoder: bool = False) -> tuple[HFSequenceClassifier, dict]:
    """What the original study ran: transformers' standard `BertForSequenceClassification` fed
    the released DNABERT-2 checkpoint, tensors matched by name as `from_pretrained` does.

    The standard class has learned position embeddings, separate query/key/value and a plain
    GELU feed-forward layer: only the embeddings and the attention output projections share
    names with DNABERT-2, so most of the checkpoint is dropped and most of the model keeps its
    random initialisation (study_settings section 5: 52 loaded, 84 encoder + 6 `cls.*` dropped,
    149 newly initialised). Seed torch before calling for a reproducible start.

    Parameters
    ----------
    config : the released config.json (dict, file or snapshot folder)
    state : the released state dict (`read_pretrained_weights`)

    Returns
    -------
    model : `HFSequenceClassifier` around transformers' BertForSequenceClassification (two
        labels); a checkpoint rebuilds it from the BERT config it stores, without the files
    report : dict with `loaded`, `dropped` (in the file, not in the model) and `initialised`
        (parameters of the model not in the file), names as in transformers' model, in model /
        file order, and `source`

    Raises
    ------
    InputError
        A tensor of the file has a name of the model but another shape (from_pretrained fails
        the same way).
    """
    if not isinstance(config, Mapping):
        path = Path(config)
        config = read_json(path / "config.json" if path.is_dir() else path, "model config")
    model = HFSequenceClassifier(original_study_config(config))
    bert = model.model
    own = bert.state_dict()
    state = dict(state)
    if not any(k.startswith("bert.") for k in own.keys() & state.keys()) and \
            any(k.startswith(("embeddings.", "encoder.")) for k in state):
        state = {("bert." + k if k.startswith(("embeddings.", "encoder.", "pooler.")) else k): v
                 for k, v in state.items()}
    misshaped = [f"{k} ({tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the model)"
                 for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if misshaped:
        raise InputError(f"{source} does not fit transformers' BertForSequenceClassification "
                         f"built from its config: " + "; ".join(misshaped[:8]))
    loaded = [k for k in own if k in state]
    bert.load_state_dict({k: state[k] for k in loaded}, strict=False)
    dropped = [k for k in state if k not in own]
    initialised = [name for name, _ in bert.named_parameters() if name not in state]
    model.set_frozen(freeze_encoder)
    return model, {"loaded": loaded, "dropped": dropped, "initialised": initialised,
                   "source": source}


def load_snapshot_as_original_study(folder: str | Path, freeze_encoder: bool = False
                                    ) -> tuple[HFSequenceClassifier, dict]:
    """`original_study_load` of a DNABERT-2 snapshot folder."""
    folder = Path(folder)
    config = read_json(folder / "config.json")
    if not is_dnabert2_config(config):
        raise InputError(f"{folder / 'config.json'} is not DNABERT-2's (its auto_map names no "
                         f"bert_layers classes): \"load\": \"original_study\" reproduces the "
                         f"original study's load of the released DNABERT-2 snapshot only")
    return original_study_load(config, read_pretrained_weights(folder), str(folder),
                               freeze_encoder)
