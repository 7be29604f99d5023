"""A trained model as a scorer: DNA strings in, P(IR) on both strands out.

`load_scorer(-m PATH)` accepts every model the project trains:

    FSei, Basset, ConvNet   best.pt (or its run folder): one-hot input (N, 4, L), L = the
                            checkpoint's `sequence_length`
    DNABERT-2               best.pt: tokenised with the tokenizer stored in the checkpoint,
                            `max_length` tokens as in training
    LR                      best.pt: Sei features computed on the fly, the columns the model
                            was trained on (the checkpoint's `feature_names`)
    LightGBM                its run folder (or model.txt): Sei features as for LR, the
                            columns of the feature set named in the run's config.json

Every scorer returns, for N sequences, P(IR) of each sequence as given and of its reverse
complement, shape (N, 2): the study's two-strand protocol scores every intron on both strands
(see README, "What the reverse-complement evaluation means"); their mean is the reported P(IR).

Lengths
-------
`Scorer.window` is the length of the genome window taken around a BED interval and the length
longer sequences are cropped to (`sources.fit_to_length`). For one-hot models it is the model
input length; for DNABERT-2 and the Sei-feature models, whose input has no fixed length, it is the
length of the sequences the model was trained on (the first sequence of the training data, 600 bp
in the study), or `--window`. Shorter sequences are scored as they are: centred in zero padding
(one-hot models, the encoder's rule), padded with [PAD] tokens (DNABERT-2), or centred in the
Sei features' `sequence_length` bp of zero padding (LR, LightGBM), exactly as in training.

Sei features on the fly (LR, LightGBM)
--------------------------------------
The features folder the model was trained on (`features_source` in an LR checkpoint,
`features_path` or `train_data` in a LightGBM run's config.json; `--features` overrides) holds
the completion markers `sei_features_<split>.json` that Preprocess_data_to_numpy.py wrote. The
training split's marker gives the Sei weights (`sei_path`, `--sei` overrides), its target names
(`target_names`, `--sei-names` overrides), `sequence_length` and `strand_average`. The weights and
names used are checked against the SHA-256 fingerprints in the marker, so features are never
computed with another Sei than the model was trained on. Sei runs in fp32.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..data.encoding import (
    codes_to_one_hot,
    encode_codes,
    reverse_complement,
    reverse_complement_codes,
)
from ..errors import InputError
from ..runs import (
    BEST_CHECKPOINT,
    CONFIG_FILE,
    LIGHTGBM_MODEL_FILE,
    PREDICTIONS_FILE,
    console_logger,
    is_training_run,
    newest_run,
)

MODEL_HINT = ("pass a run folder (results/<Model>/<Model>_<time>: its best.pt, or a LightGBM "
              "run's model.txt), a results folder (its newest run), or a checkpoint file")

log = console_logger("ir_sei.predict")


# ---------------------------------------------------------------------------------------------
# Which model -m names


@dataclass(frozen=True)
class ModelSource:
    """What `-m` names.

    kind : "checkpoint" (a project checkpoint) or "lightgbm" (LGBM.py's model.txt)
    path : the checkpoint or model.txt
    run_folder : the folder holding it (its config.json, predictions.csv)
    """

    kind: str
    path: Path
    run_folder: Path


def resolve_model(path: str | Path) -> ModelSource:
    """The model file of `-m`: a run folder (its best.pt, or a LightGBM run's model.txt), a
    results folder (its newest training run with either), a checkpoint, or a LightGBM model.txt.

    Raises
    ------
    InputError
        Nothing there; a folder without best.pt or model.txt; a .txt that is not a LightGBM
        model. (A file that is not a checkpoint is reported when it is read.)
    """
    path = Path(path)
    if path.is_dir():
        if (path / BEST_CHECKPOINT).is_file():
            return ModelSource("checkpoint", path / BEST_CHECKPOINT, path)
        if (path / LIGHTGBM_MODEL_FILE).is_file():
            return ModelSource("lightgbm", path / LIGHTGBM_MODEL_FILE, path)
        runs = [run for run in (newest_run(path, BEST_CHECKPOINT, is_training_run),
                                newest_run(path, LIGHTGBM_MODEL_FILE, is_training_run)) if run]
        if runs:  # a results folder: its newest training run
            run = max(runs, key=lambda r: ((r / CONFIG_FILE).stat().st_mtime_ns, r.name))
            log.info(f"-m {path}: using its newest run, {run.name}")
            return resolve_model(run)
        raise InputError(f"-m {path}: the folder holds neither {BEST_CHECKPOINT} nor "
                         f"{LIGHTGBM_MODEL_FILE}: {MODEL_HINT}")
    if not path.is_file():
        raise InputError(f"-m {path}: model not found: {MODEL_HINT}")
    if path.suffix == ".txt":
        with open(path, "rb") as handle:
            head = handle.read(5)
        if head != b"tree\n":
            raise InputError(f"-m {path} is not a LightGBM model (a model.txt starts with the "
                             f"line 'tree'): {MODEL_HINT}")
        return ModelSource("lightgbm", path, path.parent)
    return ModelSource("checkpoint", path, path.parent)


# ---------------------------------------------------------------------------------------------
# Pure pieces


def strand_codes(sequences: Sequence[str], length: int, source: str = "sequences") -> np.ndarray:
    """Codes of N sequences followed by those of their reverse complements.

    Parameters
    ----------
    sequences : N strings of at most `length` IUPAC letters (shorter ones are centred in padding,
        the study's encoder)
    length : L, the model input length

    Returns
    -------
    np.ndarray, shape (2N, L), uint8: rows 0..N-1 as given, rows N..2N-1 reverse-complemented
    (each still centred as the encoder centres a sequence of its length)
    """
    codes = encode_codes(list(sequences), length, source=source)
    return np.concatenate([codes, reverse_complement_codes(codes)])


def pair_strands(p_ir: np.ndarray) -> np.ndarray:
    """(2N,) P(IR) of sequences then their reverse complements -> (N, 2)."""
    p_ir = np.asarray(p_ir, dtype=np.float64)
    n = len(p_ir) // 2
    return np.stack([p_ir[:n], p_ir[n:]], axis=1)


def ir_probability(logits: torch.Tensor) -> np.ndarray:
    """(N, 2) logits -> (N,) P(IR), float64 (softmax in float32, as the training loop does)."""
    return logits.float().softmax(dim=1)[:, 1].double().cpu().numpy()


def logit(p: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """log(p / (1 - p)), with p clipped to [eps, 1 - eps] so that 0 and 1 stay finite."""
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


# ---------------------------------------------------------------------------------------------
# Scorers


class Scorer:
    """Base class. Subclasses set the attributes and implement `_score`.

    Attributes
    ----------
    model_name : registry name ("ConvNet", ..., "LR", "LGBM")
    window : genome window / crop length (see the module docstring)
    description : one line for the log
    gradient_model : an nn.Module taking (N, 4, gradient_length) one-hot and returning (N, 2)
        logits, for Integrated Gradients (`--explain`), or None when the model has no such input
    gradient_length : its input length (a window is centred in it)
    device : torch.device the model runs on
    """

    model_name: str
    window: int
    description: str
    gradient_model: nn.Module | None = None
    gradient_length: int = 0
    device: torch.device = torch.device("cpu")
    batch_size: int = 256

    def score(self, sequences: Sequence[str]) -> np.ndarray:
        """P(IR) of each sequence and of its reverse complement.

        Parameters
        ----------
        sequences : N strings, each at most `window` letters (crop longer ones first)

        Returns
        -------
        np.ndarray, shape (N, 2), float64: column 0 the sequence as given, column 1 its reverse
        complement
        """
        if not len(sequences):
            return np.zeros((0, 2))
        too_long = [i for i, s in enumerate(sequences) if len(s) > self.window]
        if too_long:
            raise ValueError(f"sequence {too_long[0]} has {len(sequences[too_long[0]])} bases, "
                             f"more than the window of {self.window}: crop it first")
        return self._score(list(sequences))

    def _score(self, sequences: list[str]) -> np.ndarray:
        raise NotImplementedError


class OneHotScorer(Scorer):
    """FSei, Basset, ConvNet: one-hot (N, 4, L) input, (N, 2) logits."""

    def __init__(self, model: nn.Module, model_name: str, length: int, device: torch.device,
                 window: int | None = None, batch_size: int = 256):
        self.model = model.to(device).eval()
        self.model_name, self.length, self.device = model_name, int(length), device
        self.window = int(window or length)
        self.batch_size = batch_size
        self.gradient_model, self.gradient_length = self.model, self.length
        self.description = f"{model_name}, one-hot input of {self.length} bp"

    def _score(self, sequences: list[str]) -> np.ndarray:
        from ..interpret.gradients import predict_probabilities

        codes = strand_codes(sequences, self.length)
        return pair_strands(predict_probabilities(self.model, codes, self.device,
                                                  2 * self.batch_size, progress=False)[:, 1])


class TokenScorer(Scorer):
    """DNABERT-2 (any token model whose checkpoint stores its tokenizer): strings are
    upper-cased and tokenised to `max_length` tokens as in training (`src.data.tokens`)."""

    def __init__(self, model: nn.Module, model_name: str, tokenizer, max_length: int,
                 window: int, device: torch.device, batch_size: int = 64):
        self.model = model.to(device).eval()
        self.model_name, self.tokenizer, self.max_length = model_name, tokenizer, int(max_length)
        self.window, self.device, self.batch_size = int(window), device, batch_size
        self.description = (f"{model_name}, tokenised to {self.max_length} tokens, windows of "
                            f"{self.window} bp")

    def _score(self, sequences: list[str]) -> np.ndarray:
        from ..data.tokens import tokenize

        texts = sequences + [reverse_complement(s) for s in sequences]
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), 2 * self.batch_size):
                tokens = tokenize(self.tokenizer, texts[start:start + 2 * self.batch_size],
                                  self.max_length, warn=False)
                batch = {name: torch.from_numpy(values).long().to(self.device)
                         for name, values in tokens.inputs().items()}
                out.append(ir_probability(self.model(**batch)))
        return pair_strands(np.concatenate(out))


class SeiFeatureScorer(Scorer):
    """LR and LightGBM: the Sei outputs of each sequence (centred in `sei_length` bp of zero
    padding, as Preprocess_data_to_numpy.py lays it out), the model's columns, then the model.

    head : callable (B, F) float32 array -> (B,) P(IR)
    """

    def __init__(self, sei: nn.Module, columns: np.ndarray, sei_length: int, head,
                 model_name: str, window: int, device: torch.device, batch_size: int = 64,
                 gradient_model: nn.Module | None = None, settings: str = ""):
        self.sei = sei.to(device).eval()
        self.columns = torch.as_tensor(np.asarray(columns, dtype=np.int64), device=device)
        self.sei_length, self.head = int(sei_length), head
        self.model_name, self.window, self.device = model_name, int(window), device
        self.batch_size = batch_size
        self.gradient_model, self.gradient_length = gradient_model, self.window
        self.description = (f"{model_name} on {len(columns):,} Sei features computed on the fly "
                            f"({settings}), windows of {self.window} bp")

    def features(self, sequences: list[str]) -> np.ndarray:
        """(2N, F) float32 Sei features of the sequences then of their reverse complements."""
        codes = strand_codes(sequences, self.sei_length)
        out = []
        with torch.inference_mode():
            for start in range(0, len(codes), 2 * self.batch_size):
                x = codes_to_one_hot(torch.from_numpy(codes[start:start + 2 * self.batch_size])
                                     .to(self.device))
                out.append(self.sei(x).float().index_select(1, self.columns).cpu().numpy())
        return np.concatenate(out)

    def _score(self, sequences: list[str]) -> np.ndarray:
        return pair_strands(self.head(self.features(sequences)))


class LinearHead:
    """An LR checkpoint's model as a head: (B, F) features -> (B,) P(IR)."""

    def __init__(self, model: nn.Module, device: torch.device):
        self.model, self.device = model.to(device).eval(), device

    def __call__(self, features: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return ir_probability(self.model(torch.from_numpy(features).to(self.device)))


class BoosterHead:
    """A LightGBM booster as a head: (B, F) features -> (B,) P(IR)."""

    def __init__(self, booster):
        self.booster = booster

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(features), dtype=np.float64)


class SeiThenLinear(nn.Module):
    """(N, 4, window) one-hot -> (N, 2) logits through Sei and an LR model: the window centred
    in `sei_length` columns of zeros (the encoder's rule), Sei, the model's columns, LR. A
    one-hot model, so Integrated Gradients apply to LR as to the CNNs."""

    def __init__(self, sei: nn.Module, columns: torch.Tensor, sei_length: int, linear: nn.Module):
        super().__init__()
        self.sei, self.linear, self.sei_length = sei, linear, int(sei_length)
        self.register_buffer("columns", columns.clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = (self.sei_length - x.shape[-1]) // 2
        x = nn.functional.pad(x, (left, self.sei_length - x.shape[-1] - left))
        return self.linear(self.sei(x).index_select(1, self.columns))


# ---------------------------------------------------------------------------------------------
# Loading


@dataclass
class FeatureOverrides:
    """The user's overrides for the Sei-feature models (None: from the features folder)."""

    features: str | None = None
    sei: str | None = None
    sei_names: str | None = None


def load_scorer(source: ModelSource, device: torch.device, batch_size: int = 256,
                window: int | None = None, overrides: FeatureOverrides | None = None) -> Scorer:
    """The scorer of a model (see the module docstring).

    Parameters
    ----------
    source : `resolve_model` output
    device : where the model runs (LightGBM always on the CPU)
    batch_size : sequences per forward pass (each is scored on both strands)
    window : `--window`, or None for the model's own (see the module docstring)
    overrides : `--features`, `--sei`, `--sei-names` for LR / LightGBM

    Raises
    ------
    InputError
        Unreadable or foreign model file; a window the model cannot take; a Sei-feature model
        whose features folder, Sei weights or target names cannot be found or do not match.
    """
    overrides = overrides or FeatureOverrides()
    if window is not None and window < 1:
        raise InputError(f"--window {window}: give a positive number of bases")
    if source.kind == "lightgbm":
        return _lightgbm_scorer(source, device, batch_size, window, overrides)
    from ..train.checkpoints import load_model

    model, checkpoint = load_model(source.path)
    name = checkpoint["model_name"]
    extra = checkpoint.get("extra") or {}
    config = checkpoint.get("config") or {}
    if "tokenizer_files" in extra:
        return _token_scorer(model, name, checkpoint, source, device, batch_size, window)
    if "feature_names" in extra:
        return _linear_scorer(model, name, extra, source, device, batch_size, window, overrides)
    length = config.get("sequence_length") or checkpoint["architecture"].get("sequence_length")
    if not isinstance(length, int):
        raise InputError(f"{source.path}: a {name} checkpoint without sequence_length in its "
                         f"config: it was not written by this project's training scripts")
    if window is not None and window > length:
        raise InputError(f"--window {window}: the {name} model takes inputs of {length} bp; "
                         f"give at most {length} (shorter windows are centred in padding)")
    return OneHotScorer(model, name, length, device, window, batch_size)


def _token_scorer(model, name, checkpoint, source, device, batch_size, window) -> TokenScorer:
    from ..data.tokens import tokenizer_from_files

    extra = checkpoint["extra"]
    tokenizer = tokenizer_from_files(dict(extra["tokenizer_files"]), str(source.path))
    max_length = extra.get("max_length") or checkpoint["config"].get("max_length")
    if not isinstance(max_length, int):
        raise InputError(f"{source.path} records no max_length: it was not written by "
                         f"DNABert2.py")
    if window is None:
        data_path = checkpoint["config"].get("data_path")
        window = training_sequence_length(Path(data_path) / "final_data.csv") if data_path \
            else None
        if window is None:
            raise InputError(f"{source.path}: the training data {data_path}/final_data.csv "
                             f"cannot be read to learn the sequence length the model was "
                             f"trained on: give it with --window (600 for the study's data)")
    return TokenScorer(model, name, tokenizer, max_length, window, device,
                       max(1, batch_size // 4))


def _linear_scorer(model, name, extra, source, device, batch_size, window, overrides
                   ) -> SeiFeatureScorer:
    folder = Path(overrides.features or extra.get("features_source") or "")
    if folder == Path("."):
        raise InputError(f"{source.path} does not record the features folder it was trained on: "
                         f"pass it with --features (the --result folder of "
                         f"Preprocess_data_to_numpy.py)")
    names = list(extra["feature_names"])
    sei_setup = SeiSetup.from_features(folder, overrides, f"{source.path} (features_source)")
    sei, columns = sei_setup.load(names, str(source.path))
    window = window or sei_setup.window()
    sei_setup.check_window(window)
    head = LinearHead(model, device)
    gradient = SeiThenLinear(sei, torch.as_tensor(columns), sei_setup.sequence_length,
                             head.model).to(device).eval()
    return SeiFeatureScorer(sei, columns, sei_setup.sequence_length, head, name, window, device,
                            max(1, batch_size // 8), gradient, sei_setup.summary())


def _lightgbm_scorer(source, device, batch_size, window, overrides) -> SeiFeatureScorer:
    import lightgbm

    from ..config import LGBMConfig, load_config
    from ..features.files import feature_files, read_lines

    try:
        booster = lightgbm.Booster(model_file=str(source.path))
    except lightgbm.basic.LightGBMError as err:
        raise InputError(f"{source.path} cannot be read as a LightGBM model "
                         f"({str(err).strip().splitlines()[0]}): {MODEL_HINT}") from None
    if overrides.features:
        folder, names_file = Path(overrides.features), None
    else:
        config_path = source.run_folder / CONFIG_FILE
        if not config_path.is_file():
            raise InputError(f"{source.path}: no {CONFIG_FILE} beside it to name the features "
                             f"the model was trained on: pass the Preprocess --result folder "
                             f"with --features")
        config = load_config(config_path, LGBMConfig)
        files = feature_files(config, "train")
        folder, names_file = files.data.parent, files.names
    if names_file is None:  # --features: the folder's names file of the model's width
        names_file = _names_file_for(folder, booster.num_feature(), source.path)
    if not names_file.is_file():
        raise InputError(f"{names_file} (the names of the model's feature columns) not found: "
                         f"pass the Preprocess --result folder the model was trained on with "
                         f"--features")
    names = read_lines(names_file, "feature names")
    if len(names) != booster.num_feature():
        raise InputError(f"{source.path} has {booster.num_feature():,} features but "
                         f"{names_file} names {len(names):,}: use the features folder the "
                         f"model was trained on (--features)")
    sei_setup = SeiSetup.from_features(folder, overrides, f"{source.run_folder / CONFIG_FILE}")
    sei, columns = sei_setup.load(names, str(source.path))
    window = window or sei_setup.window()
    sei_setup.check_window(window)
    return SeiFeatureScorer(sei, columns, sei_setup.sequence_length, BoosterHead(booster),
                            "LGBM", window, device, max(1, batch_size // 8), None,
                            sei_setup.summary())


def _names_file_for(folder: Path, n_features: int, model_path: Path) -> Path:
    """The features_<SET>.txt of `folder` with `n_features` lines (for --features)."""
    from ..features.files import names_path
    from ..models.sei_targets import FEATURE_SETS

    for fset in FEATURE_SETS:
        path = names_path(folder, fset)
        if path.is_file():
            with open(path, encoding="utf-8") as handle:
                if sum(1 for line in handle if line.strip()) == n_features:
                    return path
    raise InputError(f"no features_<SET>.txt in {folder} names {n_features:,} columns, as "
                     f"{model_path} needs: pass the features folder the model was trained on")


@dataclass
class SeiSetup:
    """The Sei settings of a features folder (its training split's marker), with overrides."""

    folder: Path
    marker: dict
    marker_path: Path
    sei_path: Path
    names_path: Path
    sequence_length: int
    strand_average: bool

    @classmethod
    def from_features(cls, folder: Path, overrides: FeatureOverrides, named_by: str
                      ) -> "SeiSetup":
        from ..features.files import SPLITS, marker_path

        folder = Path(folder)
        markers = [marker_path(folder, split) for split in SPLITS]
        found = next((m for m in markers if m.is_file()), None)
        if found is None:
            raise InputError(
                f"the features folder {folder} (named by {named_by}) holds no marker "
                f"sei_features_<split>.json, so the Sei settings the model was trained with are "
                f"unknown: pass the Preprocess_data_to_numpy.py --result folder the model was "
                f"trained on with --features")
        try:
            marker = json.loads(found.read_text())
            sequence_length = int(marker["sequence_length"])
            strand_average = bool(marker["strand_average"])
        except (ValueError, KeyError, TypeError):
            raise InputError(f"{found} is damaged (no sequence_length / strand_average): make "
                             f"the features again with Preprocess_data_to_numpy.py") from None
        sei_path = Path(overrides.sei or marker.get("sei_path") or "sei.pth")
        names = Path(overrides.sei_names or marker.get("target_names") or "target.names")
        for path, flag, what in ((sei_path, "--sei", "Sei weights"),
                                 (names, "--sei-names", "Sei target names")):
            if not path.is_file():
                recorded = "given" if (overrides.sei if flag == "--sei" else
                                       overrides.sei_names) else f"recorded in {found}"
                raise InputError(f"{what} {path} ({recorded}) not found: pass the file the "
                                 f"features were made with using {flag}")
        return cls(folder, marker, found, sei_path, names, sequence_length, strand_average)

    def load(self, feature_names: list[str], model_path: str) -> tuple[nn.Module, np.ndarray]:
        """The Sei model, and the column of its output that feeds each model feature.

        Raises
        ------
        InputError
            The weights or names are not those of the features (SHA-256 in the marker); a
            model feature is not a Sei output.
        """
        from ..io import file_sha256
        from ..models.sei import load_sei
        from ..models.sei_targets import read_target_names

        for path, key, flag in ((self.sei_path, "sei_sha256", "--sei"),
                                (self.names_path, "target_names_sha256", "--sei-names")):
            recorded = self.marker.get(key)
            if recorded and file_sha256(path) != recorded:
                raise InputError(f"{path} is not the file the features in {self.folder} were "
                                 f"made with (SHA-256 differs from {key} in "
                                 f"{self.marker_path.name}): pass that file with {flag}")
        sei = load_sei(self.sei_path, strand_average=self.strand_average)
        targets = read_target_names(self.names_path, n_outputs=sei.n_targets)
        return sei, feature_columns(targets, feature_names, model_path)

    def window(self) -> int:
        """The training sequences' length (first sequence of the data file in the marker)."""
        data_file = self.marker.get("data_file")
        length = training_sequence_length(Path(data_file)) if data_file else None
        if length is None:
            raise InputError(f"the training data {data_file} (recorded in {self.marker_path}) "
                             f"cannot be read to learn the length of the sequences the model "
                             f"was trained on: give it with --window (600 for the study's data)")
        return length

    def check_window(self, window: int) -> None:
        if window > self.sequence_length:
            raise InputError(f"--window {window}: the Sei features were made from sequences "
                             f"centred in {self.sequence_length} bp; give at most that")

    def summary(self) -> str:
        return (f"{self.sei_path}, input {self.sequence_length} bp"
                + (", strands averaged" if self.strand_average else ""))


def feature_columns(targets, feature_names: list[str], source: str) -> np.ndarray:
    """Index of each model feature among the Sei outputs (`SeiTargets`), shape (F,) int64.

    A feature set written by Preprocess (ALL, TF, HM) is recognised as a whole; otherwise each
    name is looked up (the names of target.names must then be unique).
    """
    from ..models.sei_targets import FEATURE_SETS

    names = list(feature_names)
    for fset in FEATURE_SETS:
        if targets.feature_names(fset) == names:
            return targets.indices(fset)
    where = {}
    for i, name in enumerate(targets.names):
        where.setdefault(name, i)
    missing = [name for name in names if name not in where]
    if missing:
        raise InputError(f"{source}: {len(missing):,} of its {len(names):,} features are not "
                         f"outputs of the Sei in {targets.source} (e.g. {missing[0]!r}): use the "
                         f"Sei target names the features were made with (--sei-names)")
    return np.array([where[name] for name in names], dtype=np.int64)


def training_sequence_length(data_file: Path) -> int | None:
    """Length of the first sequence of a `final_data.csv`, or None when it cannot be read."""
    try:
        with open(data_file, newline="", encoding="utf-8-sig") as handle:
            rows = csv.reader(handle)
            header = [c.strip() for c in next(rows)]
            first = next(rows)
            return len(first[header.index("sequence")].strip()) or None
    except (OSError, StopIteration, ValueError, IndexError, UnicodeDecodeError, csv.Error):
        return None


def model_test_predictions(source: ModelSource) -> Path | None:
    """The model's own evaluation (`predictions.csv` of its run folder), if there is one."""
    path = source.run_folder / PREDICTIONS_FILE
    return path if path.is_file() else None
