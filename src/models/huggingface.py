"""Hugging Face models other than DNABERT-2, and the model folders of every language model.

Model folders (DNABERT-2's and any other's): `model_name_or_path` names a local folder (a
snapshot: config.json, weights, tokenizer.json) or a hub id. A local folder is read as it is; a
hub id is resolved by `huggingface_hub.snapshot_download`, which returns the cached snapshot when
there is one and touches no network under `HF_HUB_OFFLINE=1`; a miss is one `InputError` that
says how to download the snapshot. `read_pretrained_weights` reads a folder's state dict
(safetensors, or `.bin` files with `weights_only=True`: no pickled code runs).

`HFSequenceClassifier` (registered "HFSequenceClassifier") wraps a transformers
sequence-classification model built from its config (`AutoModelForSequenceClassification`), for a
folder that is not DNABERT-2 (DNABERT-2 is `src.models.dnabert2`, plain PyTorch), and for the
original study's load of DNABERT-2 (transformers' standard BERT class):

    input   input_ids, attention_mask (and token_type_ids), each (N, T) int64
    output  (N, 2) logits, class 1 = retained intron

A model that ships its own code (`auto_map` in config.json, `trust_remote_code`) is built only
with the caller's permission (`allow_remote_code`, from the user's JSON, never from a
checkpoint); its code is stored in the checkpoint, so `-m` evaluates offline.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ..io import atomic_write, safe_torch_load
from ..runs import console_logger
from .registry import register_model

MODEL_NAME = "HFSequenceClassifier"
DEFAULT_MODEL = "zhihan1996/DNABERT-2-117M"
HEAD_MODULES = ("pooler",)  # parts of the base model that a classifier adds (new, trainable)
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
DOWNLOAD_HINT = (
    "To use the model offline, download the snapshot once on a machine with internet:\n"
    "    hf download {name} --local-dir models/{short}\n"
    "(`huggingface-cli download ...` with older huggingface_hub), copy the folder here and set "
    "\"model_name_or_path\": \"models/{short}\" in the JSON")

# Model loading happens before a run's log exists: these messages go to the console.
log = console_logger("ir_sei.huggingface")

# ---------------------------------------------------------------------------------------------
# Finding a model folder


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
                f"of a model snapshot (config.json, weights, tokenizer.json), e.g. the "
                f"snapshot of {DEFAULT_MODEL}.\n" + download_hint())
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
        # of the files a classifier needs (.py files are run only with trust_remote_code, and
        # never for DNABERT-2).
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


def read_json_file(path: str | Path, what: str = "model config") -> dict:
    """A JSON object from a model folder's file; a missing or broken file is an `InputError`
    naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{what} {path} not found: a model folder holds config.json, "
                         f"tokenizer.json and model.safetensors or pytorch_model.bin") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read {what} {path} ({err}); download the model again") \
            from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{path}, line {err.lineno}: not valid JSON ({err.msg}); download the "
                         f"model again") from None
    if not isinstance(value, dict):
        raise InputError(f"{path} holds a JSON {type(value).__name__}, not an object: it is not "
                         f"a {what}")
    return value


def read_model_config(folder: Path) -> dict:
    """config.json of a transformers model folder as a dict (it must name its model_type)."""
    path = Path(folder) / "config.json"
    config = read_json_file(path)
    if "model_type" not in config:
        raise InputError(f"{path} has no model_type: it is neither DNABERT-2 (whose config names "
                         f"bert_layers classes in auto_map) nor the config of a transformers "
                         f"model")
    return config


def ships_own_code(config: dict) -> bool:
    """Whether a model config names its own sequence-classification class (remote code)."""
    return "AutoModelForSequenceClassification" in (config.get("auto_map") or {})


def read_model_code(folder: Path) -> dict[str, str]:
    """The Python files a model folder ships (its remote code), name -> text."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(Path(folder).glob("*.py"))}


def read_pretrained_weights(folder: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a model folder, on the CPU.

    Reads model.safetensors, else pytorch_model.bin (with `weights_only=True`: no pickled code
    runs), or their sharded forms (`*.index.json` naming the shard files).

    Raises
    ------
    InputError
        No weight file; a shard is missing; a file is truncated or not a state dict.
    """
    folder = Path(folder)
    files: list[Path] = []
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            files = [folder / name]
            break
        index = folder / f"{name}.index.json"
        if index.is_file():
            weight_map = read_json_file(index, "weight index").get("weight_map")
            if not isinstance(weight_map, dict) or not weight_map:
                raise InputError(f"{index} has no weight_map (tensor name -> shard file): "
                                 f"download the model again")
            shards = sorted(set(map(str, weight_map.values())))
            outside = [shard for shard in shards if Path(shard).name != shard or "\\" in shard]
            if outside:
                raise InputError(f"{index} names weight files outside its folder ({outside[0]!r}): "
                                 f"download the model again")
            files = [folder / shard for shard in shards]
            break
    if not files:
        raise InputError(f"no weights in {folder}: expected {' or '.join(WEIGHT_FILES)} (or a "
                         f"sharded *.index.json); was the download complete?")
    state: dict[str, torch.Tensor] = {}
    for path in files:
        if not path.is_file():
            raise InputError(f"weight file {path} is missing (named by the index); download the "
                             f"model again")
        if path.name.endswith(".safetensors"):
            part = _read_safetensors(path)
        else:
            part = safe_torch_load(path, what="weights", fix="download the model again")
        if not isinstance(part, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                 for k, v in part.items()):
            raise InputError(f"weights {path} hold a {type(part).__name__}, not a state dict "
                             f"(tensor name -> tensor): download the model again")
        state.update(part)
    return state


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as err:  # noqa: BLE001 - SafetensorError, OSError: a bad download
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"weights {path} cannot be read ({first}): download the model "
                         f"again") from None


# ---------------------------------------------------------------------------------------------
# Model


class EncoderFreezing:
    """`set_frozen` for a classifier module with `encoder_parameter_names()` (names in its
    state_dict) and an `architecture` dict: what `-f` (train the head only) changes."""

    def set_frozen(self, frozen: bool) -> None:
        """Freeze (or unfreeze) the encoder; recorded in `architecture` so that checkpoints,
        `-m` and `--resume` rebuild the same set of trainable parameters."""
        encoder = set(self.encoder_parameter_names()) if frozen else set()
        for name, parameter in self.named_parameters():
            parameter.requires_grad_(name not in encoder)
        self.architecture["freeze_encoder"] = bool(frozen)


@register_model(MODEL_NAME)
class HFSequenceClassifier(EncoderFreezing, nn.Module):
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

    The weights are random: `load_pretrained_weights` loads a model folder's weights, a
    checkpoint loads its own. Forward: input_ids, attention_mask, token_type_ids (N, L) ->
    logits (N, 2).
    """

    accepts_remote_code = True  # `build_model` passes the caller's `allow_remote_code`

    def __init__(self, config: dict, trust_remote_code: bool = False,
                 remote_code: dict | None = None, freeze_encoder: bool = False,
                 allow_remote_code: bool = False):
        super().__init__()
        if trust_remote_code and not allow_remote_code:
            entry = (config.get("auto_map") or {}).get("AutoModelForSequenceClassification")
            raise InputError(
                "this Hugging Face model runs its own Python code (trust_remote_code"
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
        output = self.model(input_ids=input_ids, return_dict=True, **kwargs)
        return output.logits if hasattr(output, "logits") else output[0]

    @property
    def embedding_layer(self) -> nn.Module:
        """The token-embedding layer (what token Integrated Gradients attribute to)."""
        return self.model.get_input_embeddings()

    def encoder_parameter_names(self) -> list[str]:
        """Names (in this module's state_dict) of the pretrained encoder's parameters: the base
        model (`bert` for BERT) without its pooler, which a classifier adds."""
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

    def load_pretrained_weights(self, state: dict[str, torch.Tensor], source: str) -> dict:
        """Load a pretrained state dict into the Hugging Face model by name.

        Keys are matched as they are, with or without the base-model prefix (`bert.`), and with
        the legacy LayerNorm names gamma/beta. A tensor of the wrong shape is an error; so is a
        state dict that leaves most of the encoder uninitialised (the wrong model class).

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
        atomic_write(target, lambda tmp, text=text: Path(tmp).write_text(text, encoding="utf-8"))
    return folder


def _hf_config(config: dict, trust_remote_code: bool, code_dir: Path | None):
    """A transformers config object for `config`, with 2 labels.

    The built-in config class of the model type is preferred over one the folder ships (a
    model's own code written for transformers' class may check for it).
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
    (`from_config`; `load_pretrained_weights` then loads a folder's weights by name)."""
    from transformers import AutoModelForSequenceClassification

    remote = "AutoModelForSequenceClassification" in (getattr(hf_config, "auto_map", None) or {})
    if remote and not trust_remote_code:
        raise InputError(untrusted_code_message(hf_config.auto_map, "the model"))
    if remote and code_dir is None:
        raise InputError("the model needs its own code, but none was given (remote_code)")
    try:
        return AutoModelForSequenceClassification.from_config(
            hf_config, trust_remote_code=bool(trust_remote_code))
    except ImportError as err:  # a model's own code may import packages not installed here
        raise InputError(f"the model's code cannot be imported: {err}") from None


def untrusted_code_message(auto_map: dict, source) -> str:
    """Why a model that ships its own code is refused, and how to allow it."""
    return (f"{source} ships its own model code "
            f"({auto_map['AutoModelForSequenceClassification']} in config.json's auto_map); "
            f"transformers' built-in class would leave its pretrained weights unused. Set "
            f"\"trust_remote_code\": true in the JSON to run that code (read the .py files of the "
            f"model folder first)")


def load_pretrained(folder: Path, trust_remote_code: bool = False,
                    freeze_encoder: bool = False) -> tuple[HFSequenceClassifier, dict]:
    """A new classifier from a transformers model folder: its config, its own code (with
    trust_remote_code) and its pretrained weights; the head (pooler, classifier) starts random
    when absent. Returns the model and the load report (`load_pretrained_weights`)."""
    folder = Path(folder)
    config = read_model_config(folder)
    code = read_model_code(folder) if trust_remote_code and ships_own_code(config) else None
    model = HFSequenceClassifier(config, trust_remote_code=trust_remote_code, remote_code=code,
                                 freeze_encoder=freeze_encoder,
                                 allow_remote_code=trust_remote_code)
    report = model.load_pretrained_weights(read_pretrained_weights(folder), str(folder))
    return model, report


def check_max_length(config: dict, max_length: int, source: str) -> None:
    """max_length must fit a model with learned absolute position embeddings."""
    limit = config.get("max_position_embeddings")
    if (config.get("position_embedding_type", "absolute") == "absolute"
            and isinstance(limit, int) and max_length > limit):
        raise InputError(f"max_length {max_length} is more than the {limit} positions the model "
                         f"of {source} knows (max_position_embeddings): lower max_length")
