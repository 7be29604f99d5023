"""DNABERT-2 fine-tuned to predict intron retention, usable offline.

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

import hashlib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ..io import safe_torch_load, temporary_file_beside
from ..runs import LAST_CHECKPOINT, console_logger
from .registry import register_model

MODEL_NAME = "DNABERT2"
DEFAULT_MODEL = "zhihan1996/DNABERT-2-117M"
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
            f"folder, or to a hub id such as {DEFAULT_MODEL}.\n" + download_hint())
    return _hub_snapshot(name_or_path)


def model_folder_problem(name_or_path: str) -> str | None:
    """Without touching the network: None when `name_or_path` is a model folder (with
    config.json) or a hub id in the local Hugging Face cache, else what is wrong."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return None if (path / "config.json").is_file() else f"model folder {path} has no config.json"
    if _looks_like_hub_id(name_or_path) and not path.exists():
        try:
            from huggingface_hub import try_to_load_from_cache

            if isinstance(try_to_load_from_cache(name_or_path, "config.json"), str):
                return None
        except Exception:  # noqa: BLE001 - an unusable cache is the same as no cache
            pass
        return f"{name_or_path} is neither a local folder nor in the Hugging Face cache"
    return f"model folder {path} not found"


def download_hint(name: str = DEFAULT_MODEL) -> str:
    """How to get a model snapshot for offline use."""
    return DOWNLOAD_HINT.format(name=name, short=name.split("/")[-1])


def _looks_like_hub_id(name: str) -> bool:
    return (re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", name) is not None
            and not name.startswith((".", "/", "~")))


def _hub_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    hint = download_hint(repo_id)
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


# ---------------------------------------------------------------------------------------------
# Model


@register_model(MODEL_NAME)
class DNABERT2(nn.Module):
    accepts_remote_code = True  # `build_model` passes the caller's `allow_remote_code`

    """A Hugging Face sequence-classification model with two classes, built from its config.

    Parameters
    ----------
    config : dict, the model's config (config.json); `num_labels` is set to 2
    trust_remote_code : bool, build the class the config names in `auto_map` from `remote_code`
    remote_code : dict file name -> Python source, the model's own code (with trust_remote_code)
    freeze_encoder : bool, keep the pretrained encoder (embeddings and transformer layers) fixed
        and train only the head (pooler + classifier)
    allow_remote_code : bool, the caller's permission to run `remote_code` (from the user's
        JSON, never from a checkpoint); without it a trust_remote_code model is refused

    The weights are random: `load_pretrained` loads a model folder's weights, a checkpoint loads
    its own. Forward: input_ids, attention_mask, token_type_ids (N, L) -> logits (N, 2).
    """

    def __init__(self, config: dict, trust_remote_code: bool = False,
                 remote_code: dict | None = None, freeze_encoder: bool = False,
                 allow_remote_code: bool = False):
        super().__init__()
        if trust_remote_code and not allow_remote_code:
            entry = (config.get("auto_map") or {}).get("AutoModelForSequenceClassification")
            raise InputError(
                "this DNABERT2 model runs its own Python code (trust_remote_code"
                + (f", {entry}" if entry else "") + "), and the caller did not allow it. Only "
                "DNABert2.py runs such code, when its JSON says \"trust_remote_code\": true; a "
                "checkpoint cannot allow it by itself")
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
    model = DNABERT2(config, trust_remote_code=trust_remote_code, remote_code=code,
                     freeze_encoder=freeze_encoder, allow_remote_code=trust_remote_code)
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
# What DNABert2.py plugs into src.train.workflow.ModelSpec


@dataclass
class DNABert2Prepared:
    """What a DNABert2.py run needs before its data are read (`ModelSpec.prepare`): the
    tokenizer, its files (kept in checkpoints) and, for -n, the model folder.
    `allow_remote_code` is the JSON's trust_remote_code."""

    allow_remote_code: bool = False
    tokenizer: object = None
    tokenizer_files: dict = field(default_factory=dict)
    folder: Path | None = None


def check_flags(config, args) -> None:
    """DNABert2.py's own flag rules."""
    freeze = getattr(args, "freeze", False)
    if freeze and args.resume:
        raise InputError("--resume continues a run with its own settings (frozen or not): drop -f")
    if freeze and not args.train:
        raise InputError("-f/--freeze chooses what training changes: add -t, or drop -f")


def prepare(config, args, checkpoint: dict | None) -> DNABert2Prepared:
    """The tokenizer (plus the model folder for -n), before the data are read.

    -n: the model folder (resolved now, so a missing model fails before any work) and its
    tokenizer. -m / --resume: the tokenizer and settings stored in `checkpoint`, so that no
    model folder or network is needed.
    """
    allowed = bool(config.trust_remote_code)
    if checkpoint is not None:
        path = Path(args.resume) / LAST_CHECKPOINT if args.resume else Path(args.model)
        extra = checkpoint.get("extra") or {}
        if not extra.get("tokenizer_files"):
            raise InputError(f"{path} holds no tokenizer files; it was not written by DNABert2.py")
        if checkpoint["architecture"].get("trust_remote_code") and not allowed:
            json_file = Path(args.resume) / "config.json" if args.resume else args.json
            raise InputError(
                f"{path} holds a model with its own code (trust_remote_code), which runs when the "
                f"checkpoint is loaded: set \"trust_remote_code\": true in {json_file} to allow it")
        if not args.resume:
            for key in ("max_length", "model_name_or_path"):
                stored = extra.get(key)
                if stored is not None and stored != getattr(config, key):
                    log.info(f"{key} = {stored!r} from {path} (the JSON says "
                             f"{getattr(config, key)!r})")
                    setattr(config, key, stored)
        files = dict(extra["tokenizer_files"])
        return DNABert2Prepared(allow_remote_code=allowed,
                                tokenizer=tokenizer_from_files(files, str(path)),
                                tokenizer_files=files)
    folder = resolve_model_folder(config.model_name_or_path)
    model_config = read_model_config(folder)
    if ships_own_code(model_config) and not allowed:
        raise InputError(_untrusted_code_message(model_config["auto_map"], folder))
    check_max_length(model_config, config.max_length, str(folder))
    tokenizer = load_tokenizer(folder, allowed)
    return DNABert2Prepared(allow_remote_code=allowed, tokenizer=tokenizer,
                            tokenizer_files=tokenizer_to_files(tokenizer), folder=folder)


def new_model(config, args, prepared: DNABert2Prepared) -> DNABERT2:
    """-n: the pretrained model of `model_name_or_path` with a new two-class head."""
    # the new head's random start depends on `seed`, as the batch order and dropout do
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return load_pretrained(prepared.folder, prepared.allow_remote_code,
                               freeze_encoder=getattr(args, "freeze", False))


def prepare_model(model: DNABERT2, config, args) -> DNABERT2:
    """-n / -m: freeze the encoder with -f, train everything without it."""
    model.set_frozen(bool(getattr(args, "freeze", False)))
    return model


def checkpoint_extra(config, datasets, prepared: DNABert2Prepared) -> dict:
    """What a checkpoint needs beyond the model to be evaluated offline: the tokenizer files and
    the tokenisation settings."""
    return {"tokenizer_files": prepared.tokenizer_files, "max_length": config.max_length,
            "model_name_or_path": config.model_name_or_path}
