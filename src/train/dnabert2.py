"""What DNABert2.py plugs into the shared workflow (`src.train.workflow.ModelSpec`).

The model named by `model_name_or_path` (a local snapshot folder, or a hub id in the local
Hugging Face cache) is one of:

* DNABERT-2 (its config.json names the `bert_layers` classes of the released code): the native
  model of `src.models.dnabert2` with the whole pretrained encoder ("load": "native"), or the
  original study's load ("load": "original_study": transformers' standard BERT class fed the
  released checkpoint). No code of the folder runs, whatever `trust_remote_code` says.
* any other transformers sequence classifier (`src.models.huggingface`), its own code run only
  when the JSON says `trust_remote_code: true`.

The tokenizer is always the folder's tokenizer.json (`src.data.tokens`). A checkpoint holds what
`-m` and `--resume` need without the folder or network: the weights, the model's config as
`architecture`, the tokenizer files, max_length and the load in `extra`. The tensors loaded,
ignored or dropped and newly initialised are listed in the new run's log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data.tokens import (
    TOKENIZER_FILES,
    load_tokenizer,
    tokenizer_files,
    tokenizer_from_files,
)
from ..errors import InputError
from ..models import dnabert2, huggingface
from ..runs import LAST_CHECKPOINT, console_logger
from .workflow import Prepared

NATIVE, ORIGINAL_STUDY, HUGGING_FACE = "native", "original_study", "huggingface"

log = console_logger("ir_sei.dnabert2")


@dataclass
class DNABert2Prepared(Prepared):
    """What a DNABert2.py run needs before its data are read (`ModelSpec.prepare`): the
    tokenizer, its files (kept in checkpoints) and, for -n, the model folder and how it is
    built (`kind`: native, original_study or huggingface)."""

    tokenizer: object = None
    tokenizer_files: dict = field(default_factory=dict)
    folder: Path | None = None
    kind: str = NATIVE


def check_flags(config, args) -> None:
    """DNABert2.py's own flag rules."""
    freeze = getattr(args, "freeze", False)
    if freeze and args.resume:
        raise InputError("--resume continues a run with its own settings (frozen or not): drop -f")
    if freeze and not args.train:
        raise InputError("-f/--freeze chooses what training changes: add -t, or drop -f")


def prepare(config, args, checkpoint: dict | None) -> DNABert2Prepared:
    """The tokenizer (plus the model folder for -n), before the data are read.

    -n: the model folder (resolved now, so a missing or damaged model fails before any work),
    what kind of model it is, and its tokenizer. -m / --resume: the tokenizer and settings
    stored in `checkpoint`, so that no model folder or network is needed.
    """
    allowed = bool(config.trust_remote_code)
    if checkpoint is not None:
        return _from_checkpoint(config, args, checkpoint, allowed)
    folder = huggingface.resolve_model_folder(config.model_name_or_path)
    model_config = dnabert2.read_json(folder / "config.json")
    if dnabert2.is_dnabert2_config(model_config):
        kind = ORIGINAL_STUDY if config.load == ORIGINAL_STUDY else NATIVE
        native = dnabert2.DNABert2ModelConfig.from_dict(model_config, str(folder / "config.json"))
        if kind == ORIGINAL_STUDY:
            huggingface.check_max_length(dnabert2.original_study_config(model_config),
                                         config.max_length, str(folder))
        if allowed:
            log.info(f"{folder} is DNABERT-2, which runs in plain PyTorch: trust_remote_code is "
                     f"not needed, and no code of the folder runs")
        vocab_size = native.vocab_size
    else:
        if config.load == ORIGINAL_STUDY:
            raise InputError(f"\"load\": \"original_study\" reproduces the original study's load "
                             f"of DNABERT-2, but {folder / 'config.json'} is not DNABERT-2's (its "
                             f"auto_map names no bert_layers classes): use \"load\": \"native\"")
        kind = HUGGING_FACE
        model_config = huggingface.read_model_config(folder)
        if huggingface.ships_own_code(model_config) and not allowed:
            raise InputError(huggingface.untrusted_code_message(model_config["auto_map"], folder))
        huggingface.check_max_length(model_config, config.max_length, str(folder))
        vocab_size = model_config.get("vocab_size")
    tokenizer = load_tokenizer(folder)
    if isinstance(vocab_size, int) and len(tokenizer) > vocab_size:
        raise InputError(f"the tokenizer of {folder} has {len(tokenizer):,} tokens, more than the "
                         f"{vocab_size:,} embeddings of its model (vocab_size in config.json): "
                         f"tokenizer.json and config.json do not belong together")
    return DNABert2Prepared(allow_remote_code=allowed, tokenizer=tokenizer,
                            tokenizer_files=tokenizer_files(tokenizer), folder=folder, kind=kind)


def _from_checkpoint(config, args, checkpoint: dict, allowed: bool) -> DNABert2Prepared:
    path = Path(args.resume) / LAST_CHECKPOINT if args.resume else Path(args.model)
    extra = checkpoint.get("extra") or {}
    if not extra.get("tokenizer_files"):
        raise InputError(f"{path} holds no tokenizer files; it was not written by DNABert2.py")
    architecture = checkpoint["architecture"]
    runs_code = (architecture.get("trust_remote_code") and architecture.get("remote_code")
                 and not dnabert2.is_dnabert2_config(architecture.get("config") or {}))
    if runs_code and not allowed:
        json_file = Path(args.resume) / "config.json" if args.resume else args.json
        raise InputError(
            f"{path} holds a model with its own code (trust_remote_code), which runs when the "
            f"checkpoint is loaded: set \"trust_remote_code\": true in {json_file} to allow it")
    if not args.resume:
        for key in ("max_length", "model_name_or_path", "load"):
            # a checkpoint without `load` predates the option: it holds no original-study load
            stored = extra.get(key, NATIVE if key == "load" else None)
            if stored is not None and stored != getattr(config, key):
                log.info(f"{key} = {stored!r} from {path} (the JSON says "
                         f"{getattr(config, key)!r})")
                setattr(config, key, stored)
    # checkpoints of earlier versions also hold special_tokens_map.json: not needed
    files = {name: text for name, text in dict(extra["tokenizer_files"]).items()
             if name in TOKENIZER_FILES}
    return DNABert2Prepared(allow_remote_code=allowed,
                            tokenizer=tokenizer_from_files(files, str(path)),
                            tokenizer_files=files)


def new_model(config, args, prepared: DNABert2Prepared):
    """-n: the pretrained model of `model_name_or_path` with a new two-class head; the tensors
    loaded and newly initialised go to `prepared.log_lines` (the run's log)."""
    freeze = bool(getattr(args, "freeze", False))
    # the new head's random start depends on `seed`, as the batch order and dropout do
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        if prepared.kind == NATIVE:
            model, report = dnabert2.load_snapshot(prepared.folder, freeze)
            lines = dnabert2.load_report_lines(report)
        elif prepared.kind == ORIGINAL_STUDY:
            model, report = dnabert2.load_snapshot_as_original_study(prepared.folder, freeze)
            lines = dnabert2.load_report_lines(report)
        else:
            model, report = huggingface.load_pretrained(prepared.folder,
                                                        prepared.allow_remote_code, freeze)
            lines = [f"{type(model.model).__name__} from {prepared.folder}: "
                     f"{len(report['loaded'])} pretrained tensors loaded, "
                     f"{len(report['unexpected'])} in the file unused, "
                     f"{len(report['missing'])} newly initialised",
                     f"newly initialised: {', '.join(report['missing']) or 'none'}",
                     f"unused: {', '.join(report['unexpected']) or 'none'}"]
    log.info(lines[0])
    prepared.log_lines.extend(lines)
    return model


def prepare_model(model, config, args):
    """-n / -m: freeze the encoder with -f, train everything without it."""
    model.set_frozen(bool(getattr(args, "freeze", False)))
    return model


def checkpoint_extra(config, datasets, prepared: DNABert2Prepared) -> dict:
    """What a checkpoint needs beyond the model to be evaluated offline: the tokenizer files and
    the tokenisation and load settings."""
    return {"tokenizer_files": prepared.tokenizer_files, "max_length": config.max_length,
            "model_name_or_path": config.model_name_or_path, "load": config.load}
