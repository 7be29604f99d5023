"""A tiny local stand-in for DNABERT-2 (demo and tests): a small BERT with a BPE tokenizer
trained on the demo's own sequences, saved as a Hugging Face snapshot folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import torch

from ..data.encoding import LETTERS
from ..data.sequences import DATA_FILE, check_sequences, read_sequence_table
from ..data.splits import load_split_indices
from ..errors import InputError
from ..models.dnabert2 import SPECIAL_TOKENS


def make_tiny_model(folder: str | Path, sequences: Sequence[str], vocab_size: int = 1024,
                    hidden_size: int = 32, num_hidden_layers: int = 2, num_attention_heads: int = 2,
                    intermediate_size: int = 64, max_position_embeddings: int = 512,
                    seed: int = 0) -> Path:
    """Write a tiny BERT (random weights) and a BPE tokenizer trained on `sequences` to `folder`.

    The folder has the layout of a Hugging Face snapshot (config.json, model.safetensors,
    tokenizer.json, tokenizer_config.json), so `model_name_or_path` can name it, offline. The
    tokenizer works like DNABERT-2's: BPE over the whole sequence, IUPAC letters as its alphabet,
    [CLS] ... [SEP] around each sequence, [PAD] for padding.

    Raises
    ------
    InputError
        `folder` exists and is not empty (nothing is overwritten), or there are no sequences.
    """
    from tokenizers import Tokenizer, models, processors, trainers
    from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(f"{folder} already exists and is not empty: remove it or choose another "
                         f"folder (nothing is overwritten)")
    if not sequences:
        raise InputError("no sequences to train the tokenizer on")
    bpe = Tokenizer(models.BPE(unk_token="[UNK]"))
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=list(LETTERS), show_progress=False)
    bpe.train_from_iterator((s.upper() for s in sequences), trainer, length=len(sequences))
    cls_id, sep_id = bpe.token_to_id("[CLS]"), bpe.token_to_id("[SEP]")
    bpe.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=max_position_embeddings)
    config = BertConfig(vocab_size=bpe.get_vocab_size(), hidden_size=hidden_size,
                        num_hidden_layers=num_hidden_layers,
                        num_attention_heads=num_attention_heads,
                        intermediate_size=intermediate_size,
                        max_position_embeddings=max_position_embeddings,
                        # no attention dropout, as in DNABERT-2 (on a CPU it also costs more
                        # than the tiny model's attention itself)
                        attention_probs_dropout_prob=0.0,
                        pad_token_id=bpe.token_to_id("[PAD]"))
    torch.manual_seed(seed)
    model = BertForMaskedLM(config)
    # written beside and renamed, so an interrupted run leaves no half model under `folder`
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    staging.chmod(0o755)  # mkdtemp makes it private
    try:
        tokenizer.save_pretrained(staging)
        model.save_pretrained(staging)
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
