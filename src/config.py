"""Strict JSON configs: one pydantic model per script, validated on load.

An unknown key (usually a typo), a value of the wrong type or a missing required value is an
`InputError` that names the file, the key, the line and what to write instead. Defaults are the
study's settings; `json/` holds the study's configs and `json/demo/` small ones for a laptop CPU.
Relative paths in a config are relative to the directory the script is run from (the repository
root in the README's commands).
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Annotated, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import InputError
from .io import read_text


def _binary_labels(value: list[int]) -> list[int]:
    if not set(value) <= {0, 1}:
        raise ValueError(f"labels must be 0 or 1, got {value}")
    return value


# `targets_for_reverse_complement`: a list of labels, each 0 or 1
BinaryLabels = Annotated[list[int], AfterValidator(_binary_labels)]


def _adam_betas(value: list[float]) -> list[float]:
    if len(value) != 2 or not all(0 <= b < 1 for b in value):
        raise ValueError(f"adam_betas must be two numbers in [0, 1), e.g. [0.9, 0.99], got {value}")
    return value


# `adam_betas`: Adam's (beta1, beta2)
AdamBetas = Annotated[list[float], AfterValidator(_adam_betas)]


class StrictConfig(BaseModel):
    """Base of every config: unknown keys and silent type coercion are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True)


class TrainingConfig(StrictConfig):
    """Settings of the shared training loop (`src.train.loop`), common to every PyTorch model.

    The learning rate is set once per epoch: a linear warm-up from `warmup_begin_lr` to `max_lr`
    over `warmup_steps` epochs, then a cosine decay to `final_lr` at `max_epochs`
    (`use_scheduler=false` keeps `max_lr` throughout).
    """

    optimizer_type: Literal["sgd", "adamw", "adam"] = "sgd"
    adam_betas: AdamBetas = Field(
        default_factory=lambda: [0.9, 0.99],
        description="AdamW/Adam (beta1, beta2); the study's [0.9, 0.99] (PyTorch's default "
                    "is [0.9, 0.999])")
    use_scheduler: bool = True
    warmup_steps: int = Field(5, ge=0, description="warm-up length in epochs")
    warmup_begin_lr: float = Field(1e-4, ge=0)
    max_lr: float = Field(1e-3, gt=0)
    final_lr: float = Field(1e-5, ge=0)
    weight_decay: float = Field(0.01, ge=0)
    momentum: float = Field(0.95, ge=0, lt=1, description="SGD momentum (ignored by Adam/AdamW)")
    max_epochs: int = Field(100, gt=0)
    batch_size: int = Field(512, gt=0)
    counter_for_early_stop_threshold: int = Field(
        10, gt=0, description="stop after this many checks without a better validation loss")
    epochs_to_check_loss: int = Field(1, gt=0, description="check validation loss every N epochs")
    batch_accumulation: bool = False
    n_accumulated_batches: int = Field(1, gt=0)
    mixed_precision: bool = Field(
        False, description="bf16 autocast on CUDA (faster; the study trained in fp32); CPU always "
                           "runs fp32")
    num_workers: int = Field(4, ge=0, description="DataLoader worker processes")
    seed: int = 100
    results_path: str

    @field_validator("optimizer_type", mode="before")
    @classmethod
    def _lowercase_optimizer(cls, value):
        # The study's configs wrote "SGD" as well as "sgd".
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_schedule(self):
        if self.warmup_steps >= self.max_epochs and self.use_scheduler:
            raise ValueError(
                f"warmup_steps ({self.warmup_steps}) must be smaller than max_epochs "
                f"({self.max_epochs}); lower warmup_steps or raise max_epochs")
        if self.final_lr > self.max_lr:
            raise ValueError(f"final_lr ({self.final_lr}) must not exceed max_lr ({self.max_lr})")
        return self

    @property
    def accumulation_steps(self) -> int:
        """Batches whose gradients are summed before one optimiser step."""
        return self.n_accumulated_batches if self.batch_accumulation else 1


class SequenceDataConfig(StrictConfig):
    """Where the sequences are and how they are encoded (README, "Format")."""

    data_path: str = Field("data", description="folder with final_data.csv and the split files")
    sequence_length: int = Field(
        600, gt=0, description="model input length; shorter sequences are centred in zeros")
    lazy_loading: bool = Field(False, description="encode each sequence when it is read")
    use_reverse_complement: bool = True
    targets_for_reverse_complement: BinaryLabels = Field(
        default_factory=lambda: [0, 1],
        description="labels whose sequences get a reverse-complement copy, in every split")


class SequenceModelConfig(TrainingConfig, SequenceDataConfig):
    """Config of a model trained on one-hot sequences (Basset, ConvNet, FSei)."""


class BassetArchitecture(StrictConfig):
    """The study's Basset-like CNN: three conv/BatchNorm/ReLU/max-pool layers, then 3 linear layers.

    `FC1inputSize` must equal CNN3filters × the length after the third pooling (2500 for 600 bp).
    """

    CNN1filters: int = Field(200, gt=0)
    CNN1filterSize: int = Field(13, gt=0)
    CNN1poolSize: int = Field(6, gt=0)
    CNN1padding: int = Field(6, ge=0)
    CNN2filters: int = Field(100, gt=0)
    CNN2filterSize: int = Field(5, gt=0)
    CNN2poolSize: int = Field(1, gt=0)
    CNN2padding: int = Field(2, ge=0)
    CNN3filters: int = Field(50, gt=0)
    CNN3filterSize: int = Field(8, gt=0)
    CNN3poolSize: int = Field(2, gt=0)
    CNN3padding: int = Field(4, ge=0)
    FC1inputSize: int = Field(2500, gt=0)
    FC1outputSize: int = Field(800, gt=0)
    FC2outputSize: int = Field(300, gt=0)
    numClasses: Literal[2] = 2


class ConvNetArchitecture(StrictConfig):
    """The study's dilated-residual CNN; the defaults are the published widths."""

    channels: list[int] = Field(default_factory=lambda: [480, 640, 720, 960], min_length=4,
                                max_length=4)
    dilations: list[int] = Field(default_factory=lambda: [2, 4, 8], min_length=1)
    residual_width: int = Field(1280, gt=0, description="inner width of each dilated block")
    embed_dim: int = Field(1280, gt=0, description="width of the attention-pool head")
    feedforward_dim: int = Field(2048, gt=0)
    dropout: float = Field(0.2, ge=0, lt=1)


class BassetConfig(SequenceModelConfig):
    results_path: str = "results/Basset"
    model_architecture: BassetArchitecture = Field(default_factory=BassetArchitecture)


class ConvNetConfig(SequenceModelConfig):
    results_path: str = "results/ConvNet"
    model_architecture: ConvNetArchitecture = Field(default_factory=ConvNetArchitecture)


FEATURE_FILE_KEYS = ("train_data", "train_target", "valid_data", "valid_target", "test_data",
                     "test_target")


class FeatureDataConfig(StrictConfig):
    """Where the Sei feature files are (written by Preprocess_data_to_numpy.py; see
    `src.features.files`). Either `features_path` + `feature_set` (the folder and ALL / TF / HM), or
    the study's six keys `train_data` ... `test_target` naming each file (+ `feature_names`)."""

    features_path: str | None = Field(
        None, description="the --result folder of Preprocess_data_to_numpy.py")
    feature_set: Literal["ALL", "TF", "HM"] = Field(
        "ALL", description="ALL = all 21,907 Sei outputs, TF = transcription factors, HM = "
                           "histone marks")
    train_data: str | None = None
    train_target: str | None = None
    valid_data: str | None = None
    valid_target: str | None = None
    test_data: str | None = None
    test_target: str | None = None
    feature_names: str | None = Field(
        None, description="names file for the study's keys; default features_<SET>.txt beside "
                          "train_data")
    imbalanced_data: bool = Field(False, description="balance the two classes in training")

    @model_validator(mode="after")
    def _one_way_to_name_the_files(self):
        given = [key for key in FEATURE_FILE_KEYS if getattr(self, key) is not None]
        if self.features_path is not None:
            extra = given + (["feature_names"] if self.feature_names is not None else [])
            if extra:
                raise ValueError(
                    f"give either features_path (+ feature_set) or the file keys "
                    f"{', '.join(FEATURE_FILE_KEYS)}, not both: remove {', '.join(extra)} or "
                    f"features_path")
            return self
        missing = [key for key in FEATURE_FILE_KEYS if key not in given]
        if missing:
            raise ValueError(
                f"no feature files named: set features_path (the --result folder of "
                f"Preprocess_data_to_numpy.py) and feature_set (ALL, TF or HM), or all six keys "
                f"{', '.join(FEATURE_FILE_KEYS)} (missing: {', '.join(missing)})")
        if "feature_set" in self.model_fields_set:
            raise ValueError("feature_set only applies with features_path; with the file keys "
                             "train_data ... test_target the files themselves choose the set: "
                             "remove feature_set")
        return self


class LRConfig(TrainingConfig, FeatureDataConfig):
    """LR.py: logistic regression on Sei features through the shared training loop. Defaults are
    the study's json/LR.json."""

    results_path: str = "results/LR"
    optimizer_type: Literal["sgd", "adamw", "adam"] = "adamw"
    warmup_steps: int = Field(10, ge=0, description="warm-up length in epochs")
    max_epochs: int = Field(1000, gt=0)
    counter_for_early_stop_threshold: int = Field(25, gt=0)
    epochs_to_check_loss: int = Field(2, gt=0)
    mixed_precision: bool = Field(False, description="bf16 autocast on CUDA (no gain for LR)")
    initial_weights: Literal["default", "zeros"] = Field(
        "default", description="default: PyTorch's nn.Linear initialisation, seeded by `seed` "
                               "(the study); zeros: every weight and the bias start at 0")
    lazy_loading: bool = Field(
        True, description="read feature rows from the memory-mapped files (page cache) on "
                          "demand; false reads the splits into memory first")


# The study's search ranges (bayes_opt bounds; `int` marks integer parameters).
LGBM_SEARCH_SPACE = {
    "num_leaves": (24, 45, int),
    "feature_fraction": (0.1, 0.9),
    "bagging_fraction": (0.8, 0.99),
    "max_depth": (5, 9, int),
    "min_split_gain": (0.001, 0.1),
    "min_child_weight": (5, 50),
}


class LGBMConfig(FeatureDataConfig):
    """LGBM.py: LightGBM on Sei features. The defaults are the study's fixed parameters (the
    path of its LGBM.py without --optimize, which produced the published importances; the
    others are LightGBM's defaults); `init_points`, `n_iter` and `cv_folds` drive the Bayesian
    search of `--optimize`."""

    results_path: str = "results/LGBM"
    n_estimators: int = Field(1000, gt=0, description="maximum number of boosting rounds")
    early_stopping_round: int = Field(
        50, gt=0, description="stop when validation AUC has not improved for this many rounds")
    learning_rate: float = Field(0.01, gt=0)
    num_leaves: int = Field(50, gt=1)
    max_depth: int = Field(-1, ge=-1, description="-1 = no limit")
    reg_alpha: float = Field(0.0, ge=0)
    reg_lambda: float = Field(0.0, ge=0)
    feature_fraction: float = Field(1.0, gt=0, le=1)
    bagging_fraction: float = Field(1.0, gt=0, le=1)
    bagging_freq: int = Field(1, ge=0, description="bag every k rounds (0 = no bagging)")
    min_split_gain: float = Field(0.0, ge=0)
    min_child_weight: float = Field(1e-3, ge=0)
    importance_type: Literal["split", "gain"] = Field(
        "split", description="ranks importance.csv: times a feature is used, or its total gain")
    device: Literal["cpu", "gpu", "cuda"] = Field(
        "cpu", description="gpu = OpenCL build of LightGBM, cuda = CUDA build")
    gpu_platform_id: int = Field(-1, ge=-1)
    gpu_device_id: int = Field(-1, ge=-1)
    num_threads: int = Field(0, ge=0, description="0 = LightGBM's default (all cores)")
    seed: int = 100
    init_points: int = Field(10, ge=1, description="--optimize: random points first")
    n_iter: int = Field(100, ge=0, description="--optimize: Bayesian steps after them")
    cv_folds: int = Field(3, ge=2, description="--optimize: folds of lgb.cv (a sequence and its "
                                               "reverse complement share a fold)")


SEI_MIN_LENGTH = 32  # Sei's two pools of 4 must leave >= 2 positions for its B-spline layer


class FSeiArchitecture(StrictConfig):
    """FSei: the Sei trunk (stage widths `trunk_channels`) + B-spline layer + attention-pool head.

    Pretrained weights (`-p`) load only with the official widths [480, 640, 960]; smaller widths
    make a CPU-sized model for the demo.
    """

    trunk_channels: list[int] = Field(default_factory=lambda: [480, 640, 960], min_length=3,
                                      max_length=3)
    embed_dim: int = Field(520, gt=0, description="width of the head")
    kernel_size: int = Field(3, ge=1, le=16,
                             description="head convolution over the 16 B-spline coefficients")
    dropout: float = Field(0.2, ge=0, lt=1, description="dropout of the head's hidden layer")
    trunk_dropout: bool = Field(
        True, description="the official trunk's dropout layers (0.2, 0.1) active in training; "
                          "false for a narrow demo trunk, which they slow down")

    @field_validator("trunk_channels")
    @classmethod
    def _positive_widths(cls, value: list[int]) -> list[int]:
        if min(value) <= 0:
            raise ValueError(f"widths must be positive, got {value}")
        return value


class FSeiConfig(SequenceModelConfig):
    """FSei.py: fine-tune the Sei trunk with a new head (the study's json/FSei.json)."""

    results_path: str = "results/FSei"
    sei_path: str = Field("sei.pth", description="official Sei weights, read by -p")
    model_architecture: FSeiArchitecture = Field(default_factory=FSeiArchitecture)

    @model_validator(mode="after")
    def _long_enough_for_sei(self):
        if self.sequence_length < SEI_MIN_LENGTH:
            raise ValueError(f"sequence_length {self.sequence_length} is too short for the Sei "
                             f"trunk: use at least {SEI_MIN_LENGTH}")
        return self


class PreprocessConfig(StrictConfig):
    """Preprocess_data_to_numpy.py: run the full Sei over every split and save its outputs."""

    script_name: ClassVar[str] = "Preprocess_data_to_numpy.py"

    data_path: str = Field("data", description="folder with final_data.csv and the split files")
    result_path: str = Field("data/sei_features", description="output folder of the feature files")
    sei_path: str = Field("sei.pth", description="official Sei weights (sei.pth)")
    target_names: str = Field("target.names", description="Sei's target.names (21,907 lines)")
    sequence_length: int = Field(4000, ge=SEI_MIN_LENGTH,
                                 description="Sei input length; sequences are centred in it")
    batch_size: int = Field(216, gt=0, description="sequences per Sei forward pass")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$",
                        description="auto = cuda when available, else cpu")
    mixed_precision: bool = Field(
        False, description="bf16 autocast on CUDA (faster; the study computed in fp32); CPU "
                           "runs fp32")
    strand_average: bool = Field(
        False, description="average the outputs for each sequence and its reverse complement")
    use_reverse_complement: bool = True
    targets_for_reverse_complement: BinaryLabels = Field(
        default_factory=lambda: [1],
        description="labels whose sequences get a reverse-complement row, in every split (the "
                    "study's code: [1], retained introns only)")
    seed: int = Field(100, description="seeds the split files when they have to be made")


class DNABert2Config(TrainingConfig):
    """DNABert2.py: fine-tune DNABERT-2 (or another Hugging Face sequence classifier with a fast
    tokenizer) on tokenised sequences; see `src.models.dnabert2` and `src.train.dnabert2`.

    `model_name_or_path` is a local folder (works offline) or a hub id, looked up in the local
    Hugging Face cache first. DNABERT-2 runs in plain PyTorch (no code of the model folder
    runs); `trust_remote_code` lets another model run the Python files its folder ships.
    `load` "original_study" reproduces the original study's load of DNABERT-2 (transformers'
    standard BERT class fed the released checkpoint: most of it dropped or new).
    """

    results_path: str = "results/DNABert2"
    data_path: str = Field("data", description="folder with final_data.csv and the split files")
    use_reverse_complement: bool = True
    targets_for_reverse_complement: BinaryLabels = Field(
        default_factory=lambda: [0, 1],
        description="labels whose sequences get a reverse-complement copy, in every split")
    model_name_or_path: str = Field(
        "zhihan1996/DNABERT-2-117M", min_length=1,
        description="local model folder, or a Hugging Face hub id (looked up in the cache first)")
    max_length: int = Field(
        150, ge=3, description="tokens per sequence including [CLS] and [SEP]: shorter ones are "
                               "padded, longer ones truncated (the study: 150)")
    trust_remote_code: bool = Field(
        False, description="let a model other than DNABERT-2 run its own Python code (DNABERT-2 "
                           "never does: it is built in plain PyTorch)")
    load: Literal["native", "original_study"] = Field(
        "native", description="native: the whole pretrained DNABERT-2 encoder; original_study: "
                              "the original study's load (transformers' standard BERT class "
                              "fed the released checkpoint; 52 tensors loaded, 90 dropped, 149 "
                              "new)")


class DenovoConfig(StrictConfig):
    """Attribute.py -s: TF-MoDISco (modisco-lite) on the IG maps, TOMTOM (memelite) matching
    (`src.interpret.denovo`). TF-MoDISco's defaults are those of its `modisco motifs` command,
    except `max_seqlets_per_metacluster`, which bounds time and memory."""

    sliding_window_size: int = Field(20, ge=6, description="seqlet core width (bp)")
    flank_size: int = Field(5, ge=0, description="bp added to each side of a seqlet core")
    target_seqlet_fdr: float = Field(0.05, gt=0, lt=1, description="seqlet FDR")
    max_seqlets_per_metacluster: int = Field(
        5000, ge=100, description="seqlets clustered per class and sign; time grows ~ its square")
    min_metacluster_size: int = Field(
        100, ge=1, description="fewer seqlets of a class and sign: no pattern of that sign")
    n_leiden_runs: int = Field(2, ge=1, description="Leiden clusterings (best one kept)")
    trim_to_window_size: int = Field(30, ge=6, description="pattern width after trimming")
    initial_flank_to_add: int = Field(10, ge=0)
    final_flank_to_add: int = Field(0, ge=0)
    final_min_cluster_size: int = Field(20, ge=1, description="seqlets of the smallest pattern")
    nearest_neighbors_to_compute: int = Field(500, ge=10)
    trim_threshold: float = Field(
        0.3, gt=0, le=1, description="pattern core: columns with |contribution| >= this x max")
    q_threshold: float = Field(
        0.05, gt=0, le=1, description="a database motif is called when TOMTOM's q <= this")
    top_matches: int = Field(3, ge=1, description="matches listed per pattern (with q)")
    chunk_size: int = Field(1024, gt=0, description="sequences converted per chunk")
    database: str | None = Field(
        None, min_length=1, description="motifs the patterns are matched to (a MEME file or a "
                                        "JASPAR release, 50 motifs or more); null: the -d one")


class AttributeConfig(StrictConfig):
    """Attribute.py: Integrated Gradients hot spots and motif enrichment (`src.interpret`).

    The defaults are the rules of the study's code that produced its published motif table
    (Attribute.py and attribution_utils.py at commit 525136a), except `database`: the study's
    `jaspar.meme.txt` does not ship with this project, so the default is JASPAR 2024 from
    pyjaspar and `json/Attribute.json` names `data/jaspar.meme.txt`. `json/improved/Attribute.json`
    holds the alternatives (README, "Improved settings").

    The flags -w -t -p -d -r --steps --batch-size --device --p-value override these values.
    The data (data_path, sequence_length, reverse complements) come from the model's checkpoint;
    `data_path` here only points elsewhere when the data moved.
    """

    window: int = Field(42, ge=4, description="-w: hot-spot window width (bp)")
    ig_threshold: float = Field(
        0.7, gt=0, le=1, description="-t: hot spot = position score above this x the sequence "
                                     "maximum")
    hot_spot_rule: Literal["max_base", "sum"] = Field(
        "max_base", description="score of a position: the largest of its four bases' "
                                "attributions (the study) or their sum")
    window_placement: Literal["study", "cover"] = Field(
        "study", description="study: a window [i, i + w) whenever position i + w/2 is hot and "
                             "i is at least 2 past the last window's start (overlapping, cut at "
                             "the 3' end); cover: windows around the strongest hot spots until "
                             "every hot spot is covered, kept inside the sequence")
    prediction_threshold: float = Field(
        0.8, ge=0, lt=1, description="-p: keep sequences predicted correctly with P > this")
    database: str = Field("jaspar2024", min_length=1,
                          description="-d: a MEME file, or jaspar2024-style JASPAR CORE release")
    result: str = Field("IG", min_length=1, description="-r: output folder in the run folder")
    ig_steps: int | Literal["auto"] = Field(
        20, description="--steps: Integrated Gradients steps, or auto: the fewest of "
                        "10, 20, 50, 100, 200, 500, 1000 whose median completeness error on a "
                        "sample of the sequences is below max_relative_delta, with at most "
                        "max_fraction_over_delta of them above it")
    ig_method: Literal["gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right",
                       "riemann_middle"] = "gausslegendre"
    batch_size: int = Field(
        256, gt=0, description="--batch-size: model inputs (steps x sequences) per IG forward/"
                               "backward pass on the CPU; on a GPU the passes are sized to its "
                               "free memory (and run in bf16)")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$",
                        description="--device: auto = cuda when available, else cpu")
    max_relative_delta: float = Field(
        0.05, gt=0, description="tolerance of the IG completeness error, as a fraction of the "
                                "logit change")
    max_fraction_over_delta: float = Field(
        0.05, ge=0, lt=1, description="warn (and name the steps that would do) when more than "
                                      "this fraction of the sequences exceed max_relative_delta")
    background: Literal["all_data", "considered"] = Field(
        "all_data", description="base composition for the log-odds: the A/C/G/T letters of "
                                "every row of final_data.csv (the study), or the valid + test "
                                "sequences considered")
    pseudocount: float = Field(0.0, ge=0, description="background-weighted motif pseudocount")
    zero_probability: float | None = Field(
        0.001, gt=0, lt=1, description="replace a zero motif probability by this before the log "
                                       "(the study's code: 0.001); null with a pseudocount")
    hit_rule: Literal["max_entry", "best_score"] = Field(
        "max_entry", description="hit = best score >= hit_fraction x the largest single "
                                 "log-odds entry of the motif (the study's code) or x its best "
                                 "attainable score")
    hit_fraction: float = Field(
        0.8, gt=0, le=1, description="the fraction of hit_rule")
    p_value: float | None = Field(
        None, gt=0, lt=1, description="--p-value: hit = per-site p-value <= this (replaces "
                                      "hit_rule)")
    scan_chunk_size: int = Field(64, gt=0, description="windows scanned together")
    top_n: int = Field(20, gt=0, description="TFs per direction in the bar plot")
    n_logos: int = Field(4, ge=0, description="logos of the top motifs per direction")
    data_path: str | None = Field(None, description="override the checkpoint's data_path")
    denovo: DenovoConfig = Field(default_factory=DenovoConfig,
                                 description="-s: de novo motif settings")

    @field_validator("ig_steps", mode="before")
    @classmethod
    def _steps_or_auto(cls, value):
        # one message for the two accepted forms (pydantic would report each union member)
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool)
                               and value >= 2):
            return value
        raise ValueError("Input should be a valid integer of at least 2 (steps), or \"auto\"")

    @model_validator(mode="after")
    def _one_smoothing(self):
        if self.zero_probability is not None and self.pseudocount > 0:
            raise ValueError(
                f"pseudocount {self.pseudocount:g} leaves no zero probability, so "
                f"zero_probability {self.zero_probability:g} would do nothing: set "
                f"\"zero_probability\": null to use the pseudocount, or \"pseudocount\": 0 to "
                f"replace zeros as the study did")
        return self


ConfigT = TypeVar("ConfigT", bound=StrictConfig)


def load_config(path: str | Path, config_class: type[ConfigT]) -> ConfigT:
    """Read a JSON config and validate it against `config_class`.

    Raises
    ------
    InputError
        The file is missing or not JSON, or a key is unknown, mistyped, missing or out of range;
        the message names the file, the key and its line.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file {path} not found: pass an existing file with --json "
                         f"(the study's configs are in json/, small demo ones in json/demo/)")
    text = read_text(path, "a JSON config")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{path}, line {err.lineno} column {err.colno}: not valid JSON "
                         f"({err.msg}); check for a missing comma, quote or brace") from None
    except RecursionError:
        raise InputError(f"{path}: the JSON is nested too deeply to be a config; a config is one "
                         f"object of settings") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: the config must be a JSON object {{\"key\": value, ...}}, "
                         f"got a {type(raw).__name__}")
    try:
        return config_class.model_validate(raw)
    except ValidationError as err:
        problems = [_describe(e, config_class, text) for e in err.errors()]
        raise InputError(f"{path}: invalid config for {_script_name(config_class)}:\n  "
                         + "\n  ".join(problems)) from None


def config_with_flags(config_class: type[ConfigT], json_path: str | Path | None,
                      default_json: str | Path, flags: dict[str, tuple[str, object]]) -> ConfigT:
    """A script's settings: its JSON config (`json_path`, else `default_json` when that file
    exists, else the defaults), with the flags given on the command line on top.

    flags : {flag name as typed (e.g. "--length"): (config key, value or None when not given)}

    Raises
    ------
    InputError
        The JSON is invalid (see `load_config`), or a flag's value is not allowed: the message
        names the flag, its value and the rule ("--length 10: Input should be ...").
    """
    if json_path is not None:
        config = load_config(json_path, config_class)
    elif Path(default_json).is_file():
        config = load_config(default_json, config_class)
    else:
        config = config_class()
    values = config.model_dump()
    given = {flag: (key, value) for flag, (key, value) in flags.items() if value is not None}
    values.update({key: value for key, value in given.values()})
    try:
        return config_class.model_validate(values)
    except ValidationError as err:
        by_key = {key: (flag, value) for flag, (key, value) in given.items()}
        problems = []
        for error in err.errors():
            key = str(error["loc"][0]) if error["loc"] else ""
            flag, value = by_key.get(key, (key or "settings", error.get("input")))
            problems.append(f"{flag} {value}: {error['msg'].removeprefix('Value error, ')}")
        raise InputError("; ".join(problems) + f" (see python {_script_name(config_class)} "
                         f"--help)") from None


def config_to_dict(config: StrictConfig) -> dict:
    """The fully resolved config as plain JSON types, keys sorted (saved in runs and checkpoints)."""
    return json.loads(json.dumps(config.model_dump(mode="json"), sort_keys=True))


def save_config(config: StrictConfig, path: str | Path) -> None:
    Path(path).write_text(json.dumps(config_to_dict(config), indent=2, sort_keys=True) + "\n")


def _script_name(config_class: type) -> str:
    if getattr(config_class, "script_name", None):  # a script not named after its config class
        return config_class.script_name
    name = config_class.__name__
    return name[: -len("Config")] + ".py" if name.endswith("Config") else name


def _describe(error: dict, config_class: type[StrictConfig], text: str) -> str:
    """One line for one pydantic error: key, line in the file, problem and fix."""
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc) if loc else "(top level)"
    where = _line_of_key(text, loc[-1]) if loc else None
    at = f" (line {where})" if where else ""
    kind = error["type"]
    if kind == "extra_forbidden":
        known = _field_names(config_class, loc[:-1])
        close = difflib.get_close_matches(loc[-1], known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(sorted(known))}"
        return f"unknown key '{key}'{at}: {hint}"
    if kind == "missing":
        return f"missing required key '{key}': add it to the config"
    value = error.get("input")
    shown = json.dumps(value) if _jsonable(value) else repr(value)
    message = error["msg"].removeprefix("Value error, ")
    if loc:
        return f"key '{key}'{at}: {message} (got {shown})"
    return f"{message}"


def _field_names(config_class: type[StrictConfig], parents: list[str]) -> list[str]:
    model = config_class
    for part in parents:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _line_of_key(text: str, key: str) -> int | None:
    match = re.search(r'"' + re.escape(key) + r'"\s*:', text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False
