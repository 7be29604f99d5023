"""DNABERT-2 fine-tuned to predict intron retention (DESIGN section 5), usable offline.

The model is a Hugging Face sequence-classification model named by `model_name_or_path`: the hub
id `zhihan1996/DNABERT-2-117M` by default, or a local folder (a snapshot of DNABERT-2, or any
BERT-like model with a fast tokenizer). It is wrapped as the registered model "DNABERT2":

    input   dict of input_ids, attention_mask (and token_type_ids), each (N, max_length) int64
    output  (N, 2) logits, class 1 = retained intron

Sequences are tokenised once per dataset, in batches (`TokenizedDataset`), padded on the right
to `max_length` with attention masks; longer ones are truncated and counted.

Offline use
-----------
* A local folder is read with `local_files_only`. A hub id is resolved by
  `huggingface_hub.snapshot_download`, which returns the cached snapshot when there is one and
  touches no network under `HF_HUB_OFFLINE=1`; a miss is one `InputError` that says how to
  download the snapshot, not a stack of hub retries.
* A checkpoint holds everything `-m` needs without the original folder: the weights, the model's
  config dict as `architecture` (so `build_model("DNABERT2", architecture)` rebuilds it from the
  config, downloading nothing), the tokenizer files in `extra`, and, for a model that ships its
  own code (`trust_remote_code`), that code (`architecture["remote_code"]`). Checkpoint code is
  only run when the JSON used with `-m` also says `trust_remote_code: true`.

DNABERT-2's own code (MosaicBERT: ALiBi attention, gated MLP; needs `einops`)
----------------------------------------------------------------------------
Known incompatibilities, and what this module does about them:

1. `config_class` mismatch (transformers > 4.29): its `BertForSequenceClassification` expects
   transformers' own `BertConfig`, not the `configuration_bert.BertConfig` the folder ships.
   The config is built with the built-in class of its `model_type` whenever there is one.
2. transformers 5 builds a model on the meta device inside `from_pretrained`; DNABERT-2
   computes its ALiBi tensor in `__init__` and fails ("Tensor on device meta is not on the
   expected device cpu!"). The model is built with `from_config` (real tensors) and the
   pretrained weights are then loaded by name (`load_pretrained_weights`).
3. Its triton flash-attention kernel fails with current triton ("unexpected keyword argument
   'trans_b'") and on CPU (`assert q.is_cuda`). The module global `flash_attn_qkvpacked_func`
   of the loaded code is set to None, so the code takes its PyTorch attention path (what
   uninstalling triton achieves).

These are reproduced on a small stand-in with the same structure in tests/test_dnabert2.py; the
real snapshot could not be tested here (no network).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from .checkpoints import read_checkpoint, safe_torch_load
from .data import (DATA_FILE, SPLITS, check_sequences, augment_rows, load_split_indices,
                   read_sequence_table)
from .encoding import LETTERS, reverse_complement
from .errors import InputError
from .networks import register_model
from .runs import console_logger, temporary_file_beside

MODEL_NAME = "DNABERT2"
DEFAULT_MODEL = "zhihan1996/DNABERT-2-117M"
TOKENIZE_CHUNK = 8192  # sequences per tokenizer call: batched, with a bounded overflow buffer
HEAD_MODULES = ("pooler",)  # parts of the base model that a classifier adds (new, trainable)
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
DNA_PROBE = "ACGTTGCAACGGTTCA"  # a DNA tokenizer must know some of its tokens
DOWNLOAD_HINT = (
    "To use the model offline, download the snapshot once on a machine with internet:\n"
    "    hf download {name} --local-dir models/{short}\n"
    "(`huggingface-cli download ...` with older huggingface_hub), copy the folder here and set "
    "\"model_name_or_path\": \"models/{short}\" in the JSON")


# Model loading happens before a run's log exists: these messages go to the console.
log = console_logger("ir_sei.dnabert2")

# Permission to run a model's own Python code. It comes from the caller (the JSON's
# trust_remote_code), never from the file being loaded: a checkpoint's `architecture` can say
# anything, so `DNABERT2` builds a model with trust_remote_code only inside `allow_remote_code`.
_REMOTE_CODE_ALLOWED = contextvars.ContextVar("ir_sei_remote_code_allowed", default=False)


@contextlib.contextmanager
def allow_remote_code(allowed: bool = True):
    """Within this block, `DNABERT2(..., trust_remote_code=True)` may import and run the
    model's own code (as `build_model` does for a checkpoint that carries it). Use it only when
    the user's config says `trust_remote_code: true`."""
    token = _REMOTE_CODE_ALLOWED.set(bool(allowed))
    try:
        yield
    finally:
        _REMOTE_CODE_ALLOWED.reset(token)


def remote_code_allowed() -> bool:
    return _REMOTE_CODE_ALLOWED.get()


# ---------------------------------------------------------------------------------------------
# Finding the model


def resolve_model_folder(name_or_path: str) -> Path:
    """The local folder of a model: `name_or_path` itself, or the cached hub snapshot.

    A hub id (`owner/name`) not in the local cache is downloaded once, unless the machine is
    offline (`HF_HUB_OFFLINE=1`) or the hub cannot be reached.

    Raises
    ------
    InputError
        The folder does not exist or has no config.json; the hub id is not cached and cannot
        be downloaded. The message says how to get the snapshot.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InputError(
                f"model folder {path} has no config.json: model_name_or_path must name the folder "
                f"of a Hugging Face model (config.json, weights, tokenizer.json), e.g. the "
                f"snapshot of {DEFAULT_MODEL}")
        return path
    if path.exists():
        raise InputError(f"model_name_or_path {path} is a file; it must name a model folder or a "
                         f"Hugging Face hub id such as {DEFAULT_MODEL}")
    if not _looks_like_hub_id(name_or_path):
        raise InputError(
            f"model folder {path} not found: set model_name_or_path in the JSON to an existing "
            f"folder, or to a hub id such as {DEFAULT_MODEL}.\n"
            + DOWNLOAD_HINT.format(name=DEFAULT_MODEL, short=DEFAULT_MODEL.split("/")[1]))
    return _hub_snapshot(name_or_path)


def _looks_like_hub_id(name: str) -> bool:
    return (re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", name) is not None
            and not name.startswith((".", "/", "~")))


def _hub_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    hint = DOWNLOAD_HINT.format(name=repo_id, short=repo_id.split("/")[1])
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
    try:
        # One call: the cached snapshot when present (no network when offline), else a download
        # of the files a classifier needs.
        folder = snapshot_download(
            repo_id, allow_patterns=["*.json", "*.py", "*.txt", "*.safetensors", "*.bin",
                                     "*.model"])
    except (OSError, HfHubHTTPError, ValueError) as err:
        reason = " ".join(str(err).split())[:400] or type(err).__name__
        where = ("the machine is offline (HF_HUB_OFFLINE=1)" if offline
                 else f"it could not be downloaded ({reason})")
        raise InputError(f"model {repo_id} is not in the local Hugging Face cache and {where}.\n"
                         f"{hint}") from None
    return Path(folder)


def read_model_config(folder: Path) -> dict:
    """config.json of a model folder as a dict."""
    path = Path(folder) / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read {path} ({err}); is the model folder complete?") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}, line {err.lineno}: not valid JSON ({err.msg}); download the "
                         f"model again") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise InputError(f"{path} has no model_type: it is not the config of a Hugging Face model")
    return config


def ships_own_code(config: dict) -> bool:
    """Whether a model config names its own sequence-classification class (remote code)."""
    return "AutoModelForSequenceClassification" in (config.get("auto_map") or {})


def read_model_code(folder: Path) -> dict[str, str]:
    """The Python files a model folder ships (its remote code), name -> text."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(Path(folder).glob("*.py"))}


# ---------------------------------------------------------------------------------------------
# Tokenizer


def load_tokenizer(folder: Path, trust_remote_code: bool = False):
    """The fast tokenizer of a model folder, padding on the right (the [CLS] token is pooled)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True,
                                                  trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"cannot load the tokenizer of {folder} ({first}): the folder needs "
                         f"tokenizer.json (and tokenizer_config.json)") from None
    return _check_tokenizer(tokenizer, folder)


def _check_tokenizer(tokenizer, source):
    if not getattr(tokenizer, "is_fast", False):
        raise InputError(f"the tokenizer of {source} is not a fast (Rust) tokenizer: the folder "
                         f"needs tokenizer.json")
    if tokenizer.pad_token is None:
        raise InputError(f"the tokenizer of {source} has no padding token: set pad_token in its "
                         f"tokenizer_config.json (DNABERT-2 uses [PAD])")
    # Without tokenizer.json, transformers 5 quietly builds an empty tokenizer of the model
    # type (special tokens only): every sequence would become [CLS] [UNK] [SEP].
    probe = tokenizer(DNA_PROBE, add_special_tokens=False)["input_ids"]
    if not probe or all(i == tokenizer.unk_token_id for i in probe):
        raise InputError(f"the tokenizer of {source} knows no DNA: {DNA_PROBE!r} is all unknown "
                         f"tokens. The model folder needs the model's own tokenizer.json (was "
                         f"the download complete?)")
    tokenizer.padding_side = "right"
    tokenizer.truncation_side = "right"
    return tokenizer


def tokenizer_to_files(tokenizer) -> dict[str, str]:
    """The files `save_pretrained` writes for a tokenizer, name -> text (kept in checkpoints)."""
    with tempfile.TemporaryDirectory(prefix="ir-sei-tokenizer-") as tmp:
        tokenizer.save_pretrained(tmp)
        files = {}
        for path in sorted(Path(tmp).iterdir()):
            try:
                files[path.name] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:  # e.g. a sentencepiece model: tokenizer.json suffices
                continue
    if "tokenizer.json" not in files:
        raise InputError("the tokenizer did not save a tokenizer.json; a fast tokenizer is needed")
    return files


def tokenizer_from_files(files: dict[str, str], source: str = "the checkpoint"):
    """Rebuild a tokenizer from `tokenizer_to_files` output, offline."""
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory(prefix="ir-sei-tokenizer-") as tmp:
        for name, text in files.items():
            if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name \
                    or "\\" in name or not isinstance(text, str):
                raise InputError(f"{source} holds a tokenizer file with a bad name {name!r} (a "
                                 f"checkpoint may only name plain files); it was not written by "
                                 f"DNABert2.py")
            Path(tmp, name).write_text(text, encoding="utf-8")
        try:
            tokenizer = AutoTokenizer.from_pretrained(tmp, local_files_only=True,
                                                      trust_remote_code=False)
        except (OSError, ValueError) as err:
            raise InputError(f"cannot rebuild the tokenizer stored in {source} ({err})") from None
    return _check_tokenizer(tokenizer, source)


def tokenize_sequences(tokenizer, sequences: Sequence[str], max_length: int,
                       chunk: int = TOKENIZE_CHUNK, desc: str = "tokenising"
                       ) -> tuple[dict[str, np.ndarray], int]:
    """Tokenise DNA strings in batches: padded/truncated to `max_length`, with attention masks.

    Sequences are upper-cased first (DNA tokenizers know upper-case letters only).

    Returns
    -------
    inputs : dict name -> np.ndarray (M, max_length): input_ids int32, attention_mask uint8,
        and token_type_ids uint8 when the tokenizer makes them
    n_truncated : int, sequences longer than `max_length` tokens (cut on the right)
    """
    n = len(sequences)
    names = [name for name in tokenizer.model_input_names
             if name in ("input_ids", "attention_mask", "token_type_ids")]
    dtypes = {"input_ids": np.int32, "attention_mask": np.uint8, "token_type_ids": np.uint8}
    inputs = {name: np.zeros((n, max_length), dtype=dtypes[name]) for name in names}
    n_truncated = 0
    starts = range(0, n, chunk)
    for start in tqdm(starts, desc=desc, leave=False, disable=None if len(starts) > 1 else True):
        batch = [s.upper() for s in sequences[start:start + chunk]]
        encoded = tokenizer(batch, padding="max_length", truncation=True, max_length=max_length,
                            return_overflowing_tokens=True, return_attention_mask=True,
                            return_tensors="np")
        # overflowing tokens of a long sequence come as extra rows after its first one
        owner = np.asarray(encoded["overflow_to_sample_mapping"])
        first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        if len(first) != len(batch):
            raise RuntimeError(f"tokenizer returned rows for {len(first)} of {len(batch)} sequences")
        n_truncated += int((np.bincount(owner, minlength=len(batch)) > 1).sum())
        for name in names:
            values = np.asarray(encoded[name])[first]
            if values.shape[1] != max_length:
                raise RuntimeError(f"tokenizer padded to {values.shape[1]}, not {max_length}")
            inputs[name][start:start + len(batch)] = values
    if not os.environ.get("TOKENIZERS_PARALLELISM"):
        # the Rust thread pool is done; DataLoader workers forked later need not warn about it
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    return inputs, n_truncated


class TokenizedDataset(Dataset):
    """A split tokenised once: item -> ({input_ids, attention_mask[, token_type_ids]} int64
    tensors of shape (max_length,), label, item index).

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


def build_tokenized_datasets(config, splits: Sequence[str] = SPLITS) -> dict[str, TokenizedDataset]:
    """Tokenised datasets of the requested splits, with the study's reverse-complement rows.

    Uses the tokenizer that `prepare_run` put on the config (the model folder's, or the one
    stored in the checkpoint of -m / --resume); without one, the tokenizer of
    `model_name_or_path`. Every sequence is validated (IUPAC letters) before anything is written.
    """
    tokenizer = config._runtime.get("tokenizer")
    if tokenizer is None:
        tokenizer = load_tokenizer(resolve_model_folder(config.model_name_or_path),
                                   config.trust_remote_code)
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
        inputs, n_truncated = tokenize_sequences(tokenizer, texts, config.max_length,
                                                 desc=f"tokenising {split}")
        if n_truncated:
            log.warning(f"{split}: {n_truncated:,} of {len(texts):,} sequences have more than "
                        f"max_length = {config.max_length} tokens and were truncated; raise "
                        f"max_length in the JSON to keep their ends")
        datasets[split] = TokenizedDataset(inputs, rows.labels, rows.headers, n_truncated)
    return datasets


# ---------------------------------------------------------------------------------------------
# Model


@register_model(MODEL_NAME)
class DNABERT2(nn.Module):
    """A Hugging Face sequence-classification model with two classes, built from its config.

    Parameters
    ----------
    config : dict, the model's config (config.json); `num_labels` is set to 2
    trust_remote_code : bool, build the class the config names in `auto_map` from `remote_code`
    remote_code : dict file name -> Python source, the model's own code (with trust_remote_code)
    freeze_encoder : bool, keep the pretrained encoder (embeddings and transformer layers) fixed
        and train only the head (pooler + classifier)

    The weights are random: `load_pretrained` loads a model folder's weights, a checkpoint loads
    its own. Forward: input_ids, attention_mask, token_type_ids (N, L) -> logits (N, 2).
    """

    def __init__(self, config: dict, trust_remote_code: bool = False,
                 remote_code: dict | None = None, freeze_encoder: bool = False):
        super().__init__()
        if trust_remote_code and not remote_code_allowed():
            entry = (config.get("auto_map") or {}).get("AutoModelForSequenceClassification")
            raise InputError(
                f"this DNABERT2 model runs its own Python code (trust_remote_code"
                + (f", {entry}" if entry else "") + f"), and the caller did not allow it. Only "
                f"DNABert2.py runs such code, when its JSON says \"trust_remote_code\": true; a "
                f"checkpoint cannot allow it by itself")
        code_dir = _materialise_code(remote_code) if remote_code and trust_remote_code else None
        hf_config = _hf_config(config, trust_remote_code, code_dir)
        self.model = _build_hf_model(hf_config, trust_remote_code, code_dir)
        self.architecture = {
            "config": json.loads(self.model.config.to_json_string(use_diff=False)),
            "trust_remote_code": bool(trust_remote_code),
            "remote_code": dict(remote_code or {}),
            "freeze_encoder": False,
        }
        self.architecture["config"].pop("_name_or_path", None)  # a temporary folder
        self.set_frozen(freeze_encoder)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        kwargs = {"attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        # return_dict=True also spares DNABERT-2's code the deprecated config.use_return_dict
        output = self.model(input_ids=input_ids, return_dict=True, **kwargs)
        return output.logits if hasattr(output, "logits") else output[0]

    def encoder_parameter_names(self) -> list[str]:
        """Names (in this module's state_dict) of the pretrained encoder's parameters: the base
        model (`bert` for BERT and DNABERT-2) without its pooler, which a classifier adds."""
        names = self._encoder_names()
        if names is None:
            raise InputError(f"cannot tell the encoder from the head of "
                             f"{type(self.model).__name__} (it has no base model attribute "
                             f"named by base_model_prefix); train it without --freeze")
        return names

    def _encoder_names(self) -> list[str] | None:
        prefix = getattr(self.model, "base_model_prefix", "")
        base = getattr(self.model, prefix, None) if prefix else None
        if not isinstance(base, nn.Module):
            return None
        return [f"model.{prefix}.{name}" for name, _ in base.named_parameters()
                if name.split(".")[0] not in HEAD_MODULES]

    def set_frozen(self, frozen: bool) -> None:
        """Freeze (or unfreeze) the encoder; recorded in `architecture` so that checkpoints,
        `-m` and `--resume` rebuild the same set of trainable parameters."""
        encoder = set(self.encoder_parameter_names()) if frozen else set()
        for name, parameter in self.named_parameters():
            parameter.requires_grad_(name not in encoder)
        self.architecture["freeze_encoder"] = bool(frozen)

    def load_pretrained_weights(self, state: dict[str, torch.Tensor], source: str) -> dict:
        """Load a pretrained state dict into the Hugging Face model by name.

        Keys are matched as they are, with or without the base-model prefix (`bert.`), and with
        the legacy LayerNorm names gamma/beta. A tensor of the wrong shape is an error; so is a
        state dict that leaves most of the encoder uninitialised (the wrong model class, e.g.
        DNABERT-2 without trust_remote_code).

        Returns
        -------
        dict with the lists `loaded`, `missing` (newly initialised) and `unexpected` (unused)
        """
        own = self.model.state_dict()
        prefix = getattr(self.model, "base_model_prefix", "") + "."
        renamed = {_legacy_name(k): v for k, v in state.items()}
        candidates = [renamed, {prefix + k: v for k, v in renamed.items()},
                      {k[len(prefix):]: v for k, v in renamed.items() if k.startswith(prefix)}]
        matched = max(candidates, key=lambda c: len(own.keys() & c.keys()))
        wrong_shape = [f"{k}: {tuple(matched[k].shape)} in {source}, {tuple(own[k].shape)} in the "
                       f"model" for k in own.keys() & matched.keys()
                       if matched[k].shape != own[k].shape]
        if wrong_shape:
            raise InputError(f"the weights in {source} do not fit the model built from its "
                             f"config.json: " + "; ".join(wrong_shape[:5]))
        loaded = sorted(own.keys() & matched.keys())
        self.model.load_state_dict({k: matched[k] for k in loaded}, strict=False)
        parameters = {name for name, _ in self.model.named_parameters()}
        missing = sorted(parameters - set(loaded))
        # without a recognisable base model, judge by all parameters
        encoder = {name.removeprefix("model.") for name in self._encoder_names() or
                   [f"model.{name}" for name in parameters]}
        missing_encoder = sorted(encoder - set(loaded))
        unexpected = sorted(set(matched) - own.keys())
        if encoder and len(missing_encoder) * 2 >= len(encoder):
            raise InputError(
                f"the weights in {source} leave {len(missing_encoder)} of {len(encoder)} encoder "
                f"tensors of {type(self.model).__name__} uninitialised (e.g. "
                f"{', '.join(missing_encoder[:3])}; unused in the file: "
                f"{', '.join(unexpected[:3]) or 'none'}): the model class does not match the "
                f"weights. If the folder ships its own model code (auto_map in config.json), set "
                f"trust_remote_code: true in the JSON")
        if missing_encoder:
            log.warning(f"{len(missing_encoder)} encoder tensor(s) not in {source}, left random: "
                        f"{', '.join(missing_encoder[:5])}")
        return {"loaded": loaded, "missing": missing, "unexpected": unexpected}


def _legacy_name(key: str) -> str:
    # checkpoints written by old BERT code name LayerNorm weights gamma and beta
    if key.endswith(".gamma") and "LayerNorm" in key:
        return key[: -len("gamma")] + "weight"
    if key.endswith(".beta") and "LayerNorm" in key:
        return key[: -len("beta")] + "bias"
    return key


def _materialise_code(files: dict[str, str]) -> Path:
    """Write a model's own code to a folder named by its content hash (reused when present)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        if not (isinstance(name, str) and isinstance(files[name], str)) \
                or Path(name).name != name or "\\" in name or not name.endswith(".py"):
            raise InputError(f"model code file name {name!r} is not a plain .py file name")
        digest.update(name.encode() + b"\0" + files[name].encode("utf-8") + b"\0")
    folder = Path(tempfile.gettempdir()) / "ir-sei-model-code" / f"code_{digest.hexdigest()[:16]}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        target = folder / name
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            continue
        handle, tmp = temporary_file_beside(target)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, target)
    return folder


def _hf_config(config: dict, trust_remote_code: bool, code_dir: Path | None):
    """A transformers config object for `config`, with 2 labels.

    The built-in config class of the model type is preferred over one the folder ships: DNABERT-2's
    model code checks for transformers' `BertConfig` (the "config_class mismatch" of its issues).
    """
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    config = dict(config)
    config.pop("_name_or_path", None)
    auto_map = dict(config.get("auto_map") or {})
    if code_dir is not None and auto_map:
        # "owner/repo--module.Class" names code of another repository; it must be in code_dir
        for key, ref in auto_map.items():
            if isinstance(ref, str) and "--" in ref:
                repo, ref = ref.split("--", 1)
                if not (code_dir / (ref.split(".")[0] + ".py")).is_file():
                    raise InputError(f"the model's {key} code lives in the repository {repo}, "
                                     f"which is not part of the model folder: download it into "
                                     f"the folder")
                auto_map[key] = ref
        config["auto_map"] = auto_map
    model_type = config.get("model_type")
    if model_type in CONFIG_MAPPING:
        hf_config = CONFIG_MAPPING[model_type].from_dict(config)
    elif trust_remote_code and code_dir is not None and "AutoConfig" in auto_map:
        from transformers.dynamic_module_utils import get_class_from_dynamic_module

        config_class = get_class_from_dynamic_module(auto_map["AutoConfig"], str(code_dir),
                                                     local_files_only=True)
        hf_config = config_class.from_dict(config)
    else:
        raise InputError(f"unknown model_type {model_type!r}: transformers does not implement it"
                         + ("; if the model folder ships its own code, set trust_remote_code: "
                            "true in the JSON" if not trust_remote_code else ""))
    hf_config.num_labels = 2
    if code_dir is not None:
        hf_config._name_or_path = str(code_dir)  # where transformers imports auto_map classes from
    return hf_config


def _build_hf_model(hf_config, trust_remote_code: bool, code_dir: Path | None) -> nn.Module:
    """The sequence-classification model of a config, with random weights and real tensors
    (`from_config`, not `from_pretrained`, whose meta-device init breaks DNABERT-2 in transformers 5)."""
    from transformers import AutoModelForSequenceClassification

    remote = "AutoModelForSequenceClassification" in (getattr(hf_config, "auto_map", None) or {})
    if remote and not trust_remote_code:
        raise InputError(_untrusted_code_message(hf_config.auto_map, "the model"))
    if remote and code_dir is None:
        raise InputError("the model needs its own code, but none was given (remote_code)")
    try:
        model = AutoModelForSequenceClassification.from_config(
            hf_config, trust_remote_code=bool(trust_remote_code))
    except ImportError as err:  # e.g. DNABERT-2's code needs einops
        raise InputError(f"the model's code cannot be imported: {err}") from None
    if remote:
        _use_pytorch_attention(model)
    return model


def _untrusted_code_message(auto_map: dict, source) -> str:
    return (f"{source} ships its own model code "
            f"({auto_map['AutoModelForSequenceClassification']} in config.json's auto_map); "
            f"transformers' built-in class would leave its pretrained weights unused. Set "
            f"\"trust_remote_code\": true in the JSON to run that code (read the .py files of the "
            f"model folder first)")


def _use_pytorch_attention(model: nn.Module) -> None:
    """Send DNABERT-2 (MosaicBERT) code down its PyTorch attention path: its triton
    flash-attention kernel fails with current triton and on CPU. The code calls the kernel
    only when the module global `flash_attn_qkvpacked_func` is not None."""
    for name in sorted({type(module).__module__ for module in model.modules()}):
        code = sys.modules.get(name)
        if code is not None and getattr(code, "flash_attn_qkvpacked_func", None) is not None:
            code.flash_attn_qkvpacked_func = None
            log.info(f"{name}: triton flash attention disabled, using PyTorch attention")


def read_pretrained_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The state dict of a model folder: model.safetensors or pytorch_model.bin (or their sharded
    forms with an index). `.bin` files are read with `weights_only=True` (no unpickled code)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    files = []
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            files = [folder / name]
            break
        index = folder / f"{name}.index.json"
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text())["weight_map"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise InputError(f"{index} is not a valid weight index (no weight_map)") from None
            files = [folder / shard for shard in sorted(set(weight_map.values()))]
            break
    if not files:
        raise InputError(f"no weights in {folder}: expected model.safetensors or pytorch_model.bin "
                         f"(was the download complete?)")
    state = {}
    for path in files:
        if not path.is_file():
            raise InputError(f"weight file {path} is missing; download the model again")
        if path.suffix != ".safetensors":
            part = safe_torch_load(path, what="weights", fix="download the model again")
        else:
            try:
                part = load_file(str(path))
            except Exception as err:  # noqa: BLE001 - SafetensorError, OSError: a bad download
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise InputError(f"weights {path} cannot be read ({first}): download the model "
                                 f"again") from None
        if not isinstance(part, dict):
            raise InputError(f"weights {path} hold a {type(part).__name__}, not a state dict "
                             f"(tensor name -> tensor): download the model again")
        state.update(part)
    return state


def load_pretrained(folder: Path, trust_remote_code: bool = False,
                    freeze_encoder: bool = False) -> DNABERT2:
    """A new classifier from a model folder: its config, its own code (with trust_remote_code)
    and its pretrained weights; the head (pooler, classifier) starts random when absent."""
    folder = Path(folder)
    config = read_model_config(folder)
    code = read_model_code(folder) if trust_remote_code and ships_own_code(config) else None
    with allow_remote_code(trust_remote_code):  # the caller's explicit choice
        model = DNABERT2(config, trust_remote_code=trust_remote_code, remote_code=code,
                         freeze_encoder=freeze_encoder)
    report = model.load_pretrained_weights(read_pretrained_weights(folder), str(folder))
    log.info(f"loaded {len(report['loaded'])} pretrained tensors from {folder}; newly initialised: "
             f"{', '.join(report['missing']) or 'none'}"
             + (f"; {len(report['unexpected'])} unused (pretraining head)"
                if report["unexpected"] else ""))
    return model


def check_max_length(config: dict, max_length: int, source: str) -> None:
    """max_length must fit a model with learned absolute position embeddings."""
    limit = config.get("max_position_embeddings")
    uses_alibi = "alibi_starting_size" in config  # DNABERT-2: no position embeddings
    if (not uses_alibi and config.get("position_embedding_type", "absolute") == "absolute"
            and isinstance(limit, int) and max_length > limit):
        raise InputError(f"max_length {max_length} is more than the {limit} positions the model "
                         f"of {source} knows (max_position_embeddings): lower max_length")


# ---------------------------------------------------------------------------------------------
# What DNABert2.py plugs into src.workflow.ModelSpec


def prepare_run(config, args) -> None:
    """Flag rules, and the tokenizer (plus the model folder for -n) before the data are read.

    -n: the model folder (resolved now, so a missing model fails before any work) and its
    tokenizer. -m / --resume: the tokenizer and settings stored in the checkpoint, so that no
    model folder or network is needed.
    """
    freeze = getattr(args, "freeze", False)
    if freeze and args.resume:
        raise InputError("--resume continues a run with its own settings (frozen or not): drop -f")
    if freeze and not args.train:
        raise InputError("-f/--freeze chooses what training changes: add -t, or drop -f")
    # The JSON decides whether model code may run while this run builds its models (the
    # checkpoints of -m / --resume and after training included). DNABert2.py runs each run in a
    # context of its own, so the permission ends with the run.
    _REMOTE_CODE_ALLOWED.set(bool(config.trust_remote_code))
    runtime = config._runtime
    if args.resume or args.model:
        path = Path(args.resume) / "last.pt" if args.resume else Path(args.model)
        payload = read_checkpoint(path, expected_model=MODEL_NAME)
        extra = payload.get("extra") or {}
        if not extra.get("tokenizer_files"):
            raise InputError(f"{path} holds no tokenizer files; it was not written by DNABert2.py")
        if payload["architecture"].get("trust_remote_code") and not config.trust_remote_code:
            json_file = Path(args.resume) / "config.json" if args.resume else args.json
            raise InputError(
                f"{path} holds a model with its own code (trust_remote_code), which runs when the "
                f"checkpoint is loaded: set \"trust_remote_code\": true in {json_file} to allow it")
        runtime["tokenizer"] = tokenizer_from_files(extra["tokenizer_files"], str(path))
        runtime["tokenizer_files"] = dict(extra["tokenizer_files"])
        if not args.resume:
            for key in ("max_length", "model_name_or_path"):
                stored = extra.get(key)
                if stored is not None and stored != getattr(config, key):
                    log.info(f"{key} = {stored!r} from {path} (the JSON says "
                             f"{getattr(config, key)!r})")
                    setattr(config, key, stored)
        return
    folder = resolve_model_folder(config.model_name_or_path)
    model_config = read_model_config(folder)
    if ships_own_code(model_config) and not config.trust_remote_code:
        raise InputError(_untrusted_code_message(model_config["auto_map"], folder))
    check_max_length(model_config, config.max_length, str(folder))
    runtime["folder"] = folder
    runtime["tokenizer"] = load_tokenizer(folder, config.trust_remote_code)
    runtime["tokenizer_files"] = tokenizer_to_files(runtime["tokenizer"])


def new_model(config, args) -> DNABERT2:
    """-n: the pretrained model of `model_name_or_path` with a new two-class head."""
    folder = config._runtime.get("folder") or resolve_model_folder(config.model_name_or_path)
    # the new head's random start depends on `seed`, as the batch order and dropout do
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return load_pretrained(folder, config.trust_remote_code,
                               freeze_encoder=getattr(args, "freeze", False))


def prepare_model(model: DNABERT2, config, args) -> DNABERT2:
    """-n / -m: freeze the encoder with -f, train everything without it."""
    model.set_frozen(bool(getattr(args, "freeze", False)))
    return model


def checkpoint_extra(config, datasets) -> dict:
    """What a checkpoint needs beyond the model to be evaluated offline: the tokenizer files and
    the tokenisation settings."""
    files = config._runtime.get("tokenizer_files")
    if not files:
        files = tokenizer_to_files(config._runtime["tokenizer"])
    return {"tokenizer_files": files, "max_length": config.max_length,
            "model_name_or_path": config.model_name_or_path}


# ---------------------------------------------------------------------------------------------
# A tiny local model (demo and tests)


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
