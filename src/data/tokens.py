"""Tokenised DNA for language models (DNABERT-2): the tokenizer of a model folder or checkpoint,
one tokenisation function, and datasets tokenised once per split.

* `load_tokenizer` / `tokenizer_files` / `tokenizer_from_files`: a fast tokenizer built from
  `tokenizer.json` (and the special tokens of `tokenizer_config.json`) with the `tokenizers`
  library: no model code runs, and a checkpoint stores the two files so that `-m` rebuilds the
  same tokenizer offline.
* `tokenize`: DNA strings upper-cased and tokenised in batches into fixed-length rows with
  attention masks; longer sequences are truncated on the right (still ending in [SEP]) and
  counted, with a warning; optionally the bases each token covers (for attributions).
* `TokenizedDataset` / `build_tokenized_datasets`: the splits of a config, tokenised once, with
  the study's reverse-complement rows.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..errors import InputError
from ..runs import console_logger
from .encoding import reverse_complement
from .sequences import DATA_FILE, check_sequences, read_sequence_table
from .splits import SPLITS, augment_rows, load_split_indices

# DNABERT-2's special tokens (its tokenizer_config.json), by the name transformers gives them;
# the defaults when a model folder has no tokenizer_config.json
SPECIAL_TOKENS = {"unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                  "pad_token": "[PAD]", "mask_token": "[MASK]"}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
DNA_PROBE = "ACGTTGCAACGGTTCA"  # a DNA tokenizer must know some of its tokens
TOKENIZE_CHUNK = 8192  # sequences per batched tokenizer call

log = console_logger("ir_sei.tokens")


# ---------------------------------------------------------------------------------------------
# The tokenizer


def load_tokenizer(folder: str | Path):
    """The fast tokenizer of a model folder, from its tokenizer.json (no model code runs).

    Special tokens come from tokenizer_config.json when the folder has one (DNABERT-2's names
    otherwise); padding and truncation on the right. Returns a transformers
    `PreTrainedTokenizerFast`, so code written for Hugging Face tokenizers works with it.

    Raises
    ------
    InputError
        tokenizer.json missing or unreadable; a special token not in its vocabulary; no padding
        token; a tokenizer that knows no DNA.
    """
    folder = Path(folder)
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise InputError(f"{path} not found: the model folder needs the model's own "
                         f"tokenizer.json (was the download complete?)")
    files = {}
    for name in TOKENIZER_FILES:
        if (folder / name).is_file():
            try:
                files[name] = (folder / name).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                raise InputError(f"cannot read {folder / name} ({err}): download the model "
                                 f"again") from None
    return tokenizer_from_files(files, str(folder))


def tokenizer_files(tokenizer) -> dict[str, str]:
    """tokenizer.json and tokenizer_config.json of a tokenizer, name -> text: what a checkpoint
    stores so that `tokenizer_from_files` rebuilds the same tokenizer offline."""
    special = {key: getattr(tokenizer, key) for key in SPECIAL_TOKENS
               if getattr(tokenizer, key, None) is not None}
    return {"tokenizer.json": _backend(tokenizer).to_str(),
            "tokenizer_config.json": json.dumps({"tokenizer_class": "PreTrainedTokenizerFast",
                                                 **special}, indent=1)}


def tokenizer_from_files(files: Mapping[str, str], source: str = "the checkpoint"):
    """The tokenizer of `tokenizer.json` text (and `tokenizer_config.json` text, if given).

    Only those two names are read; anything else in `files` is an error (a checkpoint may not
    name other files).
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    for name, text in files.items():
        if name not in TOKENIZER_FILES or not isinstance(text, str):
            raise InputError(f"{source} holds a tokenizer file with a bad name {name!r} (only "
                             f"{' and '.join(TOKENIZER_FILES)} are read); it was not written by "
                             f"DNABert2.py")
    text = files.get("tokenizer.json")
    if text is None:
        raise InputError(f"{source} holds no tokenizer.json")
    try:
        backend = Tokenizer.from_str(text)
    except Exception as err:  # noqa: BLE001 - tokenizers raises a bare Exception
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"the tokenizer.json of {source} cannot be read ({first}): download "
                         f"the model again") from None
    special = _special_tokens(files.get("tokenizer_config.json"), source)
    vocab = backend.get_vocab(with_added_tokens=True)
    absent = [f"{key} {token!r}" for key, token in special.items() if token not in vocab]
    if absent:
        raise InputError(f"the tokenizer of {source} lacks its special tokens "
                         f"{', '.join(absent)}: tokenizer.json and tokenizer_config.json do not "
                         f"belong together")
    if "pad_token" not in special:
        raise InputError(f"the tokenizer of {source} has no padding token: set pad_token in its "
                         f"tokenizer_config.json (DNABERT-2 uses [PAD])")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, **special)
    tokenizer.padding_side = "right"
    tokenizer.truncation_side = "right"
    probe = backend.encode(DNA_PROBE, add_special_tokens=False).ids
    if not probe or all(i == tokenizer.unk_token_id for i in probe):
        raise InputError(f"the tokenizer of {source} knows no DNA: {DNA_PROBE!r} is all unknown "
                         f"tokens. Use the model's own tokenizer.json")
    return tokenizer


def _special_tokens(config_text: str | None, source: str) -> dict[str, str]:
    """Special token name -> token: DNABERT-2's without a tokenizer_config.json, else the
    config's (a token given as {"content": ...} too)."""
    if config_text is None:
        return dict(SPECIAL_TOKENS)
    try:
        config = json.loads(config_text)
    except json.JSONDecodeError as err:
        raise InputError(f"tokenizer_config.json of {source}, line {err.lineno}: not valid JSON "
                         f"({err.msg})") from None
    special = {}
    for key in SPECIAL_TOKENS:
        value = config.get(key) if isinstance(config, dict) else None
        if isinstance(value, dict):  # {"content": "[PAD]", ...}
            value = value.get("content")
        if isinstance(value, str):
            special[key] = value
    return special


def _backend(tokenizer):
    """The `tokenizers.Tokenizer` of a Hugging Face fast tokenizer (or the object itself)."""
    return getattr(tokenizer, "backend_tokenizer", tokenizer)


@contextlib.contextmanager
def _without_padding_or_truncation(backend):
    """Switch a tokenizers.Tokenizer's padding and truncation off for a block (a Hugging Face
    tokenizer leaves those of its last call on its backend), then restore them."""
    padding, truncation = backend.padding, backend.truncation
    backend.no_padding()
    backend.no_truncation()
    try:
        yield backend
    finally:
        if padding is not None:
            backend.enable_padding(**padding)
        if truncation is not None:
            backend.enable_truncation(**truncation)


# ---------------------------------------------------------------------------------------------
# Tokenisation


@dataclass
class TokenizedBatch:
    """Token rows of M sequences, each padded (right) or truncated to T tokens.

    input_ids : (M, T) int32, [CLS] tokens [SEP] then [PAD]
    attention_mask : (M, T) uint8, 1 for real tokens
    n_tokens : (M,) int64, tokens of each sequence before truncation (special tokens included)
    n_truncated : sequences longer than T tokens (cut on the right; they still end in [SEP])
    offsets : (M, T, 2) int32 or None; [start, end) of the bases each token covers, (0, 0) for
        special and padding tokens
    """

    input_ids: np.ndarray
    attention_mask: np.ndarray
    n_tokens: np.ndarray
    n_truncated: int
    offsets: np.ndarray | None = None

    def inputs(self) -> dict[str, np.ndarray]:
        """{input_ids, attention_mask}: the arrays a tokenised dataset keeps."""
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask}


def tokenize(tokenizer, sequences: Sequence[str], max_length: int | None = None, *,
             return_offsets: bool = False, what: str = "sequences", warn: bool = True,
             chunk: int = TOKENIZE_CHUNK, progress: bool = False) -> TokenizedBatch:
    """Tokenise DNA strings in batches into fixed-length rows with attention masks.

    Sequences are upper-cased first (DNABERT-2's tokenizer has no normaliser: lower-case
    letters would become [UNK]). With `max_length` every row has that many tokens: shorter
    sequences are padded with the padding token, longer ones truncated on the right as
    transformers' tokenizers do ([CLS], the first max_length - 2 tokens, [SEP]) and counted;
    with `warn` a warning says how many (`what` names them in it). Without `max_length`, rows
    are padded to the longest.

    Parameters
    ----------
    tokenizer : from `load_tokenizer` (or any Hugging Face fast tokenizer / tokenizers.Tokenizer
        with a padding token)
    sequences : M strings
    return_offsets : also return the base span of each token (for attributions)
    progress : a progress bar over the chunks

    Returns
    -------
    TokenizedBatch
    """
    backend = _backend(tokenizer)
    pad_id = getattr(tokenizer, "pad_token_id", None)
    if pad_id is None:
        pad_id = backend.token_to_id(SPECIAL_TOKENS["pad_token"])
    if pad_id is None:
        raise InputError("the tokenizer has no padding token ([PAD]): set pad_token in its "
                         "tokenizer_config.json")
    n_special = backend.num_special_tokens_to_add(is_pair=False)
    if max_length is not None:
        if isinstance(max_length, bool) or not isinstance(max_length, int) \
                or max_length <= n_special:
            raise InputError(f"max_length must be an integer above the {n_special} special "
                             f"tokens of each sequence, not {max_length!r}")
    m = len(sequences)
    encodings = []
    starts = range(0, m, chunk)
    with _without_padding_or_truncation(backend):
        for start in tqdm(starts, desc=f"tokenising {what}", leave=False,
                          disable=None if progress and len(starts) > 1 else True):
            batch = [s.upper() for s in sequences[start:start + chunk]]
            encodings.extend(backend.encode_batch(batch, add_special_tokens=True))
        n_tokens = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=m)
        width = max_length if max_length is not None else int(n_tokens.max(initial=0))
        long_rows = np.flatnonzero(n_tokens > width)
        # truncated as transformers does it: the sequence's own tokens, then the template
        for start in range(0, len(long_rows), chunk):
            rows = long_rows[start:start + chunk].tolist()
            plain = backend.encode_batch([sequences[row].upper() for row in rows],
                                         add_special_tokens=False)
            for row, encoding in zip(rows, plain):
                encoding.truncate(width - n_special, direction="right")
                encodings[row] = backend.post_process(encoding)
    if not os.environ.get("TOKENIZERS_PARALLELISM"):
        # the Rust thread pool is done; DataLoader workers forked later need not warn about it
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    input_ids = np.full((m, width), pad_id, dtype=np.int32)
    attention_mask = np.zeros((m, width), dtype=np.uint8)
    offsets = np.zeros((m, width, 2), dtype=np.int32) if return_offsets else None
    for row, encoding in enumerate(encodings):
        ids = encoding.ids
        input_ids[row, :len(ids)] = ids
        attention_mask[row, :len(ids)] = 1
        if offsets is not None:
            spans = np.asarray(encoding.offsets, dtype=np.int32).reshape(-1, 2)
            special = np.asarray(encoding.special_tokens_mask, dtype=bool)
            spans[special] = 0
            offsets[row, :len(ids)] = spans
    n_truncated = len(long_rows)
    if n_truncated and warn:
        log.warning(f"{what}: {n_truncated:,} of {m:,} sequences have more than max_length = "
                    f"{width} tokens (the longest {int(n_tokens.max()):,}) and were truncated "
                    f"on the right; raise max_length to keep their ends")
    return TokenizedBatch(input_ids, attention_mask, n_tokens, n_truncated, offsets)


def token_offsets(tokenizer, sequence: str, max_length: int | None = None) -> np.ndarray:
    """(T, 2) int32: [start, end) of the bases each token of `sequence` covers, in the row
    `tokenize` makes for it ((0, 0) for [CLS], [SEP] and padding)."""
    return tokenize(tokenizer, [sequence], max_length, return_offsets=True,
                    warn=False).offsets[0]


# ---------------------------------------------------------------------------------------------
# Datasets


class TokenizedDataset(Dataset):
    """A split tokenised once: item -> ({input_ids, attention_mask} int64 tensors of shape
    (max_length,), label, item index).

    The token arrays are kept compact (int32 / uint8, shape (M, max_length)) and widened per item.
    """

    def __init__(self, inputs: dict[str, np.ndarray], labels: np.ndarray, headers: np.ndarray,
                 n_truncated: int = 0):
        lengths = {len(v) for v in inputs.values()} | {len(labels), len(headers)}
        if len(lengths) != 1:
            raise ValueError(f"inputs, labels and headers differ in length: {lengths}")
        self.inputs = {name: torch.from_numpy(np.ascontiguousarray(v)) for name, v in inputs.items()}
        self.labels = np.asarray(labels, dtype=np.int64)
        self.headers = headers
        self.n_truncated = n_truncated

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return {name: values[i].long() for name, values in self.inputs.items()}, \
            int(self.labels[i]), i


def build_tokenized_datasets(config, tokenizer, splits: Sequence[str] = SPLITS
                             ) -> dict[str, TokenizedDataset]:
    """Tokenised datasets of the requested splits, with the study's reverse-complement rows.

    tokenizer : the model's fast tokenizer (the model folder's, or the one stored in a
        checkpoint). Every sequence is validated (IUPAC letters) before anything is written.
    """
    data_dir = Path(config.data_path)
    table = read_sequence_table(data_dir / DATA_FILE)
    check_sequences(table, max(len(s) for s in table.sequences))
    indices = load_split_indices(data_dir, len(table), seed=config.seed)
    datasets = {}
    for split in splits:
        rows = augment_rows(table, indices[split], config.use_reverse_complement,
                            config.targets_for_reverse_complement)
        texts = [reverse_complement(table.sequences[row]) if is_rc else table.sequences[row]
                 for row, is_rc in zip(rows.source_rows.tolist(),
                                       rows.is_reverse_complement.tolist())]
        batch = tokenize(tokenizer, texts, config.max_length, what=f"{split} split",
                         progress=True)
        datasets[split] = TokenizedDataset(batch.inputs(), rows.labels, rows.headers,
                                           batch.n_truncated)
    return datasets
