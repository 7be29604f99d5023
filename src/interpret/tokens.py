"""Integrated Gradients of token models (DNABERT-2 and other language models), and the adapter
that lets Attribute.py explain them with the hot-spot windows, scans and tables of the CNNs.

* `token_integrated_gradients`: IG of the target logit on the token embeddings (captum's
  LayerIntegratedGradients on the model's `embedding_layer`), from a baseline that replaces
  every real token by [PAD] and keeps [CLS] and [SEP].
* `spread_to_bases`: each token's attribution divided evenly over the bases it covers, so a
  sequence gets one score per base, as a CNN's IG gives.
* `TokenAttribution` / `token_integration_inputs`: Attribute.py's `-i` for a checkpoint of
  DNABert2.py: the tokenizer and max_length stored in the checkpoint, the valid + test sequences
  of its data (centred in the longest, as `load_attribution_data` encodes them), predictions and
  per-base attributions in the (N, 4, L) form of the one-hot models (score x the base's one-hot
  entry), so the windows, motif scan and tables are computed as for the CNNs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.encoding import CODE_LETTERS, CODE_TO_ONE_HOT, PAD_CODE
from ..data.sequences import DATA_FILE, read_sequence_table
from ..data.tokens import tokenize, tokenizer_from_files
from ..device import choose_device
from ..errors import InputError
from .gradients import Attributions, Borrowed

TOKEN_MODELS = ("DNABERT2", "HFSequenceClassifier")  # registry names of DNABert2.py's models


def is_token_checkpoint(checkpoint: dict) -> bool:
    """Whether a checkpoint holds a token model of DNABert2.py (tokenizer files included)."""
    return checkpoint.get("model_name") in TOKEN_MODELS


def ig_baseline_ids(input_ids: torch.Tensor, attention_mask: torch.Tensor, baseline_token: int,
                    keep_tokens: Sequence[int]) -> torch.Tensor:
    """The baseline token rows: `baseline_token` at every real token except those in
    `keep_tokens` ([CLS], [SEP]); padding stays as it is. Shapes (N, T)."""
    keep = torch.isin(input_ids, torch.as_tensor(list(keep_tokens), dtype=input_ids.dtype,
                                                 device=input_ids.device))
    replace = attention_mask.bool() & ~keep
    return torch.where(replace, torch.full_like(input_ids, baseline_token), input_ids)


def token_integrated_gradients(model: nn.Module,
                               input_ids: torch.Tensor, attention_mask: torch.Tensor,
                               target: torch.Tensor | int, steps: int = 50, *,
                               baseline_token: int, keep_tokens: Sequence[int],
                               method: str = "gausslegendre",
                               internal_batch_size: int | None = None
                               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integrated Gradients of the target logit on the token embeddings (captum's
    LayerIntegratedGradients on `model.embedding_layer`).

    Baseline: the same token rows with every real token replaced by `baseline_token` except
    `keep_tokens`, which keep their own embedding (use the tokenizer's [PAD] id and its [CLS],
    [SEP] ids). This is the baseline of captum's BERT tutorial: the path runs from "the
    sequence's frame with no sequence content" to the sequence, the attention mask unchanged,
    so [CLS], [SEP] and padding get exactly zero attribution. In the released model [PAD]'s
    embedding was never trained (the official code drops padding before the encoder).

    Parameters
    ----------
    model : in any mode; run in eval mode, the mode is restored after
    input_ids, attention_mask : (N, T) on any device (moved to the model's)
    target : (N,) int64 or int, the class whose logit is explained
    steps, method, internal_batch_size : captum's n_steps, method, internal_batch_size

    Returns
    -------
    scores : (N, T) float32, attribution per token (summed over the embedding dimension)
    delta : (N,) completeness error: sum(scores) - (F(x) - F(baseline)) of the target logit
    change : (N,) F(x) - F(baseline), to put `delta` in proportion
    """
    from captum.attr import LayerIntegratedGradients

    device = next(model.parameters()).device
    input_ids = input_ids.to(device)
    attention_mask = attention_mask.to(device)
    if isinstance(target, torch.Tensor):
        target = target.to(device)
    baseline = ig_baseline_ids(input_ids, attention_mask, baseline_token, keep_tokens)

    def forward(ids, mask):
        return model(ids, attention_mask=mask)

    with Borrowed(model, device):
        ig = LayerIntegratedGradients(forward, model.embedding_layer)
        attributions, delta = ig.attribute(
            input_ids, baselines=baseline, additional_forward_args=(attention_mask,),
            target=target, n_steps=steps, method=method, return_convergence_delta=True,
            internal_batch_size=internal_batch_size)
    scores = attributions.detach().float().sum(dim=-1)
    delta = delta.detach().float()
    change = scores.sum(dim=1) - delta
    return scores, delta, change


def spread_to_bases(token_scores: np.ndarray, offsets: np.ndarray, length: int) -> np.ndarray:
    """Per-base scores from per-token scores: each token's score divided evenly over the bases
    it covers.

    A BPE token covers one or more bases (about 4.7 for DNABERT-2 on random DNA); splitting its
    attribution evenly keeps the total (sum over bases = sum over tokens that cover bases) and
    gives a profile that is constant over each token, so the hot-spot windows of the CNNs apply
    (windows then resolve tokens, not single bases). Tokens with an empty span ([CLS], [SEP],
    padding) add nothing; bases no token covers (cut by truncation) score 0. For the CNNs'
    (4, L) form, multiply by the one-hot sequence: `one_hot(sequence) * scores`.

    Parameters
    ----------
    token_scores : (T,) or (N, T)
    offsets : (T, 2) or (N, T, 2), [start, end) per token (`tokenize(..., return_offsets=True)`)
    length : L, bases per sequence (the longest, for a batch)

    Returns
    -------
    np.ndarray (L,) or (N, L), float64
    """
    scores = np.asarray(token_scores, dtype=np.float64)
    offsets = np.asarray(offsets)
    if scores.ndim == 2:
        if offsets.ndim != 3 or offsets.shape[:2] != scores.shape:
            raise ValueError(f"offsets {offsets.shape} do not match token scores {scores.shape}")
        return np.stack([spread_to_bases(s, o, length) for s, o in zip(scores, offsets)]) \
            if len(scores) else np.zeros((0, length))
    if scores.ndim != 1 or offsets.shape != (len(scores), 2):
        raise ValueError(f"token scores {scores.shape} need offsets of shape ({len(scores)}, 2), "
                         f"not {offsets.shape}")
    starts, ends = offsets[:, 0].astype(np.int64), offsets[:, 1].astype(np.int64)
    widths = ends - starts
    if (widths < 0).any() or (starts < 0).any() or (ends > length).any():
        raise ValueError(f"offsets outside [0, {length}) or with end < start")
    covering = widths > 0
    widths, starts = widths[covering], starts[covering]
    per_base = scores[covering] / widths
    # positions start..end-1 of every token, flattened
    first = np.repeat(np.cumsum(widths) - widths, widths)
    positions = np.repeat(starts, widths) + (np.arange(widths.sum()) - first)
    return np.bincount(positions, weights=np.repeat(per_base, widths), minlength=length)


# ---------------------------------------------------------------------------------------------
# Attribute.py on a token model


def decode_codes(codes: np.ndarray) -> list[str]:
    """The DNA strings of base-code rows (N, L), padding (code 0) left out."""
    return ["".join(CODE_LETTERS[row[row != PAD_CODE]]) for row in np.asarray(codes)]


@dataclass
class TokenAttribution:
    """Prediction and Integrated Gradients of a token model on base-code rows, with the
    signatures of `src.interpret.gradients.predict_probabilities` / `attribute_sequences`.

    tokenizer, max_length : those the model was trained with (stored in its checkpoint)
    """

    tokenizer: object
    max_length: int
    description: str = ("Integrated Gradients on the token embeddings (baseline: [PAD] for "
                        "every sequence token, [CLS] and [SEP] kept), each token's attribution "
                        "spread evenly over the bases it covers")

    def _tokens(self, codes: np.ndarray, offsets: bool = False):
        return tokenize(self.tokenizer, decode_codes(codes), self.max_length,
                        return_offsets=offsets, warn=False)

    def predict(self, model: nn.Module, codes: np.ndarray, device: torch.device,
                batch_size: int = 256, progress: bool = True) -> np.ndarray:
        """(N, 2) float64 class probabilities of base-code rows (N, L)."""
        out = []
        with Borrowed(model, device), torch.no_grad():
            for start in tqdm(range(0, len(codes), batch_size), desc="predicting", leave=False,
                              disable=not progress or None):
                batch = self._tokens(codes[start:start + batch_size])
                logits = model(torch.from_numpy(batch.input_ids).long().to(device),
                               attention_mask=torch.from_numpy(batch.attention_mask).to(device))
                out.append(logits.float().softmax(dim=1).cpu())
        return torch.cat(out).double().numpy() if out else np.zeros((0, 2))

    def attribute(self, model: nn.Module, codes: np.ndarray, targets: np.ndarray,
                  device: torch.device, steps: int = 50, method: str = "gausslegendre",
                  batch_size: int = 256, progress: bool = True) -> Attributions:
        """Token IG of base-code rows (N, L), spread to their bases: attributions (N, 4, L),
        each base's score placed on its one-hot entries (ambiguity codes share it), zero in
        padding and in bases cut off by max_length; `max(1, batch_size // steps)` sequences
        per captum call."""
        tokenizer = self.tokenizer
        keep = [i for i in (tokenizer.cls_token_id, tokenizer.sep_token_id) if i is not None]
        per_call = max(1, batch_size // steps)
        length = codes.shape[1] if codes.ndim == 2 else 0
        parts = []
        bar = tqdm(total=len(codes), desc="integrated gradients", unit="seq", leave=False,
                   disable=not progress or None)
        with Borrowed(model, device):
            for begin in range(0, len(codes), per_call):
                chunk = codes[begin:begin + per_call]
                batch = self._tokens(chunk, offsets=True)
                target = torch.from_numpy(np.asarray(targets[begin:begin + per_call])).long()
                scores, delta, change = token_integrated_gradients(
                    model, torch.from_numpy(batch.input_ids).long(),
                    torch.from_numpy(batch.attention_mask), target, steps,
                    baseline_token=tokenizer.pad_token_id, keep_tokens=keep, method=method)
                parts.append((per_base_attributions(scores.cpu().numpy(), batch.offsets, chunk),
                              delta.cpu().numpy(), change.cpu().numpy()))
                bar.update(len(chunk))
        bar.close()
        if not parts:
            return Attributions(np.zeros((0, 4, length), np.float32), np.zeros(0, np.float32),
                                np.zeros(0, np.float32))
        return Attributions(*(np.concatenate(p) for p in zip(*parts)))


def per_base_attributions(token_scores: np.ndarray, offsets: np.ndarray,
                          codes: np.ndarray) -> np.ndarray:
    """(N, 4, L) float32: token scores (N, T) spread over the bases of code rows (N, L) (each
    sequence centred in padding), placed on each base's one-hot entries.

    Offsets (N, T, 2) count from the first base of each sequence; the sum over the four rows
    of a column is that base's score."""
    codes = np.asarray(codes)
    present = codes != PAD_CODE
    starts = np.argmax(present, axis=1)
    lengths = present.sum(axis=1)
    out = np.zeros((len(codes), 4, codes.shape[1]), dtype=np.float32)
    for row, (scores, spans) in enumerate(zip(token_scores, offsets)):
        start, n = int(starts[row]), int(lengths[row])
        per_base = spread_to_bases(scores, spans, n)
        bases = codes[row, start:start + n]
        out[row, :, start:start + n] = (CODE_TO_ONE_HOT[bases] * per_base[:, None]).T
    return out


def token_integration_inputs(config, model_path: Path, model: nn.Module,
                             checkpoint: dict) -> SimpleNamespace:
    """`src.interpret.attribute.integration_inputs` for a token model: its tokenizer and
    max_length from the checkpoint, the valid + test data of the run that trained it (the
    sequences centred in the longest), the model on its device, checked on one sequence."""
    from .attribute import load_attribution_data

    extra = checkpoint.get("extra") or {}
    settings = checkpoint.get("config") or {}
    if not extra.get("tokenizer_files"):
        raise InputError(f"{model_path} holds no tokenizer files: it was not written by "
                         f"DNABert2.py")
    tokenizer = tokenizer_from_files(extra["tokenizer_files"], str(model_path))
    max_length = extra.get("max_length", settings.get("max_length"))
    if not isinstance(max_length, int) or isinstance(max_length, bool):
        raise InputError(f"{model_path} records no max_length: it was not written by DNABert2.py")
    try:
        data_config = SimpleNamespace(
            data_path=config.data_path or settings["data_path"],
            use_reverse_complement=bool(settings.get("use_reverse_complement", True)),
            targets_for_reverse_complement=list(
                settings.get("targets_for_reverse_complement", [0, 1])),
            seed=settings.get("seed", 100))
    except KeyError:
        raise InputError(f"{model_path} records no data_path: pass the data folder with the "
                         f"JSON's data_path") from None
    table = read_sequence_table(Path(data_config.data_path) / DATA_FILE)
    data_config.sequence_length = max(map(len, table.sequences))
    if config.window > data_config.sequence_length:
        raise InputError(f"-w {config.window} is longer than the model's sequences (at most "
                         f"{data_config.sequence_length} bp): choose a smaller window")
    device = choose_device(config.device)
    model.to(device).eval()
    check = tokenize(tokenizer, [table.sequences[0]], max_length, warn=False)
    with torch.no_grad():
        out = model(torch.from_numpy(check.input_ids).long().to(device),
                    attention_mask=torch.from_numpy(check.attention_mask).to(device))
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, 2):
        raise InputError(f"{model_path}: the model returns {getattr(out, 'shape', out)} for one "
                         f"sequence, not (1, 2) logits")
    if not hasattr(model, "embedding_layer"):
        raise InputError(f"{model_path}: the {checkpoint.get('model_name')} model has no token "
                         f"embedding layer to attribute to")
    data = load_attribution_data(data_config, table=table)
    return SimpleNamespace(model=model, checkpoint=checkpoint, data=data, device=device,
                           methods=TokenAttribution(tokenizer, max_length))
