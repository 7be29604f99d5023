"""A tiny local DNABERT-2 (demo and tests): a snapshot folder laid out as the released one, with
a small random encoder and a BPE tokenizer trained on the demo's own sequences.

The folder holds what `hf download zhihan1996/DNABERT-2-117M` writes, at a small size:
config.json in the released style (no model_type, `auto_map` naming the `bert_layers` classes,
`alibi_starting_size`), tokenizer.json (BPE; [UNK] [CLS] [SEP] [PAD] [MASK] = 0..4, as DNABERT-2
numbers them; no normaliser; template [CLS] $A [SEP]), tokenizer_config.json and
model.safetensors with the masked-LM checkpoint's names (`bert.embeddings.*`,
`bert.encoder.layer.N.*`, `cls.predictions.*`; no pooler, no classifier). DNABert2.py loads it
as it loads the real snapshot: natively, or with "load": "original_study".
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import torch

from ..data.encoding import LETTERS
from ..data.sequences import DATA_FILE, check_sequences, read_sequence_table
from ..data.splits import load_split_indices
from ..data.tokens import SPECIAL_TOKENS
from ..errors import InputError
from ..models.dnabert2 import DNABert2ForSequenceClassification, DNABert2ModelConfig

# DNABERT-2's order of its special tokens: ids 0..4
SPECIAL_ORDER = ("unk_token", "cls_token", "sep_token", "pad_token", "mask_token")
BERT_LAYERS = {"AutoConfig": "configuration_bert.BertConfig",
               "AutoModel": "bert_layers.BertModel",
               "AutoModelForMaskedLM": "bert_layers.BertForMaskedLM",
               "AutoModelForSequenceClassification": "bert_layers.BertForSequenceClassification"}


def released_style_config(vocab_size: int, hidden_size: int, num_hidden_layers: int,
                          num_attention_heads: int, intermediate_size: int) -> dict:
    """A config.json shaped like DNABERT-2-117M's (its keys and values, other sizes)."""
    return {"_name_or_path": "tiny-dnabert2", "alibi_starting_size": 512,
            "architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.0,
            "auto_map": dict(BERT_LAYERS), "classifier_dropout": None,
            "gradient_checkpointing": False, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
            "hidden_size": hidden_size, "initializer_range": 0.02,
            "intermediate_size": intermediate_size, "layer_norm_eps": 1e-12,
            "max_position_embeddings": 512, "num_attention_heads": num_attention_heads,
            "num_hidden_layers": num_hidden_layers, "position_embedding_type": "absolute",
            "torch_dtype": "float32", "transformers_version": "4.28.0", "type_vocab_size": 2,
            "use_cache": True, "vocab_size": vocab_size}


def train_tokenizer(sequences: Sequence[str], vocab_size: int):
    """A BPE tokenizer shaped like DNABERT-2's, trained on `sequences` (upper-cased), with the
    IUPAC letters as its alphabet (so no DNA letter is [UNK])."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    specials = [SPECIAL_TOKENS[key] for key in SPECIAL_ORDER]
    bpe = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=list(LETTERS), show_progress=False)
    bpe.train_from_iterator((s.upper() for s in sequences), trainer, length=len(sequences))
    cls, sep = SPECIAL_TOKENS["cls_token"], SPECIAL_TOKENS["sep_token"]
    bpe.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, bpe.token_to_id(cls)), (sep, bpe.token_to_id(sep))])
    return bpe


def masked_lm_state(model: DNABert2ForSequenceClassification, seed: int = 0
                    ) -> dict[str, torch.Tensor]:
    """The tensors of a released-style (masked-LM) checkpoint of `model`'s encoder: no pooler or
    classifier, and the MLM head, its decoder tied to the word embeddings."""
    d, v = model.config.hidden_size, model.config.vocab_size
    g = torch.Generator().manual_seed(seed)
    state = {k: t.detach().clone().contiguous() for k, t in model.state_dict().items()
             if not k.startswith(("bert.pooler.", "classifier."))}
    state.update({
        "cls.predictions.transform.dense.weight": 0.02 * torch.randn(d, d, generator=g),
        "cls.predictions.transform.dense.bias": torch.zeros(d),
        "cls.predictions.transform.LayerNorm.weight": torch.ones(d),
        "cls.predictions.transform.LayerNorm.bias": torch.zeros(d),
        "cls.predictions.decoder.weight": state["bert.embeddings.word_embeddings.weight"].clone(),
        "cls.predictions.decoder.bias": torch.zeros(v)})
    return state


def make_tiny_model(folder: str | Path, sequences: Sequence[str], vocab_size: int = 1024,
                    hidden_size: int = 32, num_hidden_layers: int = 2, num_attention_heads: int = 2,
                    intermediate_size: int = 64, seed: int = 0) -> Path:
    """Write a tiny DNABERT-2 snapshot (random encoder, BPE tokenizer trained on `sequences`)
    to `folder`, which `model_name_or_path` can then name, offline.

    Raises
    ------
    InputError
        `folder` exists and is not empty (nothing is overwritten), or there are no sequences.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(f"{folder} already exists and is not empty: remove it or choose another "
                         f"folder (nothing is overwritten)")
    if not sequences:
        raise InputError("no sequences to train the tokenizer on")
    bpe = train_tokenizer(sequences, vocab_size)
    config = released_style_config(bpe.get_vocab_size(), hidden_size, num_hidden_layers,
                                   num_attention_heads, intermediate_size)
    torch.manual_seed(seed)
    model = DNABert2ForSequenceClassification(DNABert2ModelConfig.from_dict(config))
    state = masked_lm_state(model, seed)
    # written beside and renamed, so an interrupted run leaves no half model under `folder`
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    staging.chmod(0o755)  # mkdtemp makes it private
    try:
        (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        bpe.save(str(staging / "tokenizer.json"))
        (staging / "tokenizer_config.json").write_text(json.dumps(
            {"tokenizer_class": "PreTrainedTokenizerFast",
             **{key: SPECIAL_TOKENS[key] for key in SPECIAL_ORDER}}) + "\n")
        save_file(state, str(staging / "model.safetensors"), metadata={"format": "pt"})
        os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def make_tiny_model_for_config(config, folder: str | Path, max_sequences: int = 1000) -> Path:
    """`make_tiny_model` with a tokenizer trained on (up to `max_sequences` of) the training
    split of the config's data; the validation and test sequences are never seen."""
    data_dir = Path(config.data_path)
    table = read_sequence_table(data_dir / DATA_FILE)
    check_sequences(table, max(len(s) for s in table.sequences))
    train = load_split_indices(data_dir, len(table), seed=config.seed)["train"][:max_sequences]
    return make_tiny_model(folder, [table.sequences[i] for i in train.tolist()], seed=config.seed)


def is_complete(folder: str | Path) -> bool:
    """A tiny model is in `folder` (the folder appears whole, by a rename)."""
    return (Path(folder) / "config.json").is_file()
