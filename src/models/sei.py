"""The Sei chromatin model (Chen et al. 2022) and FSei, its trunk fine-tuned for intron retention.

Sei maps a one-hot DNA sequence (N, 4, L) to 21,907 chromatin-profile probabilities. Its modules
carry the names and order of the official implementation (FunctionLab/sei-framework,
`model/sei.py`), so the official checkpoint `sei.pth` (keys `module.model.<name>`, Zenodo record
4906996) loads **by name** once the prefix is stripped:

    lconv1 conv1 lconv2 conv2 lconv3 conv3 dconv1..dconv5   the convolutional trunk, 34 tensors
    spline_tr                                               dropout + B-spline basis (no weights)
    classifier                                              Linear(16 C, T) ReLU Linear(T, T) Sigmoid

The B-spline layer projects the positions of the trunk's output on 16 cubic B-spline basis
functions. The basis depends on the number of positions, so it is computed for every input length
(and device) it meets; the official code computed it once, for the first length it saw.

`FSei` (the study's fine-tuned model) is the trunk + B-spline layer followed by the head
Conv1d(960 -> 520, k=3) + BatchNorm + ReLU, attention pooling, Linear(520, 520) + ReLU +
Dropout(0.2) and Linear(520, 2).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.interpolate import BSpline
from torch import nn

from ..errors import InputError
from ..io import atomic_torch_save, safe_torch_load
from .layers import AttentionPoolHead
from .registry import build_model, register_model

OFFICIAL_PREFIX = "module.model."
SEI_CHANNELS = (480, 640, 960)  # widths of the three stages of the official trunk
N_SEI_TARGETS = 21907
SPLINE_DF = 16  # int(128 / 8) in the official code
POOLING = 16  # two max-pools of 4: the trunk's output has L // 16 positions
TRUNK_MODULES = ("lconv1", "conv1", "lconv2", "conv2", "lconv3", "conv3",
                 "dconv1", "dconv2", "dconv3", "dconv4", "dconv5")
SEI_DOWNLOAD = (
    "download the pretrained Sei model from Zenodo record 4906996 "
    "(https://doi.org/10.5281/zenodo.4906996: `wget https://zenodo.org/record/4906997/files/"
    "sei_model.tar.gz && tar -xzf sei_model.tar.gz` gives model/sei.pth; see "
    "https://github.com/FunctionLab/sei-framework)")


# --------------------------------------------------------------------------------- B-spline layer

@functools.lru_cache(maxsize=64)
def _bspline_basis_cached(n_positions: int, degrees_of_freedom: int) -> np.ndarray:
    x = np.arange(n_positions, dtype=np.float64)
    degree = 3
    # The official `bs(x, df, intercept=True)`: df - 4 inner knots at evenly spaced quantiles of
    # the positions, boundary knots repeated degree + 1 times.
    n_inner = degrees_of_freedom - (degree + 1)
    inner = (np.percentile(x, 100 * np.linspace(0, 1, n_inner + 2)[1:-1]) if n_inner > 0
             else np.empty(0))
    knots = np.sort(np.concatenate([[x.min(), x.max()] * (degree + 1), inner]))
    basis = BSpline.design_matrix(x, knots, degree).toarray()
    basis.setflags(write=False)
    return basis


def bspline_basis(n_positions: int, degrees_of_freedom: int = SPLINE_DF) -> np.ndarray:
    """Cubic B-spline basis over `n_positions` evenly spaced positions, as the official Sei.

    Same values as the official `spline_factory(n, df)` (which evaluates each basis function with
    `scipy.interpolate.splev`); here one `BSpline.design_matrix` call. Cached per size.

    Returns
    -------
    np.ndarray, shape (n_positions, degrees_of_freedom), float64 (read-only); each row sums to 1.
    """
    if n_positions < 2:
        raise InputError(
            f"the Sei trunk leaves {n_positions} position(s) for its B-spline layer, which needs "
            f"at least 2: the input must be at least {2 * POOLING} bp long (raise "
            f"sequence_length in the JSON config)")
    return _bspline_basis_cached(int(n_positions), int(degrees_of_freedom))


class BSplineTransformation(nn.Module):
    """Project the positions of (N, C, P) onto `degrees_of_freedom` B-splines: -> (N, C, df).

    The basis is made for each P (and device and dtype) met, and kept in a small per-module cache;
    it is not a weight (the official checkpoint holds none for this layer).
    """

    def __init__(self, degrees_of_freedom: int = SPLINE_DF):
        super().__init__()
        self.degrees_of_freedom = degrees_of_freedom
        self._basis: dict[tuple, torch.Tensor] = {}

    def basis(self, n_positions: int, device, dtype) -> torch.Tensor:
        key = (n_positions, str(device), dtype)
        if key not in self._basis:
            if len(self._basis) >= 16:  # a few lengths are normal; do not grow without bound
                self._basis.clear()
            values = bspline_basis(n_positions, self.degrees_of_freedom)
            self._basis[key] = torch.tensor(values, dtype=torch.float32).to(device=device,
                                                                           dtype=dtype)
        return self._basis[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(x, self.basis(x.shape[-1], x.device, x.dtype))

    def extra_repr(self) -> str:
        return f"degrees_of_freedom={self.degrees_of_freedom}"


# ------------------------------------------------------------------------------------ the models

def _check_one_hot_batch(x: torch.Tensor, name: str = "x") -> None:
    if x.dim() != 3 or x.shape[1] != 4:
        raise ValueError(f"{name} must be one-hot DNA of shape (N, 4, L), got {tuple(x.shape)}")


def _conv(c_in: int, c_out: int, kernel: int, dilation: int = 1) -> nn.Conv1d:
    return nn.Conv1d(c_in, c_out, kernel_size=kernel, dilation=dilation,
                     padding=dilation * (kernel - 1) // 2)


class SeiTrunk(nn.Module):
    """The convolutional trunk of Sei: (N, 4, L) -> (N, C3, L // 16).

    Module names, order and wiring (residual sums, two max-pools of 4, five dilated convolutions
    with dilation 2, 4, 8, 16, 25) are the official ones; `channels` = (C1, C2, C3) are the widths
    of the three stages (official: 480, 640, 960; smaller for CPU demos and tests).
    `dropout=False` sets the rate of the trunk's dropout layers (0.2 and 0.1) to 0 in training: a
    narrow trunk (a few channels) learns far more slowly when a fifth of its channels is dropped.
    """

    def __init__(self, channels=SEI_CHANNELS, dropout: bool = True):
        super().__init__()
        c1, c2, c3 = (int(c) for c in channels)
        self.channels = (c1, c2, c3)

        def drop(p: float) -> nn.Dropout:  # kept as a module either way: same indices, same keys
            return nn.Dropout(p if dropout else 0.0)

        self.lconv1 = nn.Sequential(_conv(4, c1, 9), _conv(c1, c1, 9))
        self.conv1 = nn.Sequential(_conv(c1, c1, 9), nn.ReLU(inplace=True),
                                   _conv(c1, c1, 9), nn.ReLU(inplace=True))
        self.lconv2 = nn.Sequential(nn.MaxPool1d(4, 4), drop(0.2),
                                    _conv(c1, c2, 9), _conv(c2, c2, 9))
        self.conv2 = nn.Sequential(drop(0.2), _conv(c2, c2, 9), nn.ReLU(inplace=True),
                                   _conv(c2, c2, 9), nn.ReLU(inplace=True))
        self.lconv3 = nn.Sequential(nn.MaxPool1d(4, 4), drop(0.2),
                                    _conv(c2, c3, 9), _conv(c3, c3, 9))
        self.conv3 = nn.Sequential(drop(0.2), _conv(c3, c3, 9), nn.ReLU(inplace=True),
                                   _conv(c3, c3, 9), nn.ReLU(inplace=True))
        for index, dilation in enumerate((2, 4, 8, 16, 25), start=1):
            setattr(self, f"dconv{index}", nn.Sequential(
                drop(0.10), _conv(c3, c3, 5, dilation), nn.ReLU(inplace=True)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 4, L) one-hot -> (N, C3, L // 16) trunk features (before the B-spline layer)."""
        _check_one_hot_batch(x)
        lout1 = self.lconv1(x)
        out1 = self.conv1(lout1)
        lout2 = self.lconv2(out1 + lout1)
        out2 = self.conv2(lout2)
        lout3 = self.lconv3(out2 + lout2)
        out3 = self.conv3(lout3)
        # As the official code: the first dilated block reads out3 + lout3, but the running sum
        # starts from out3 alone.
        hidden = out3 + self.dconv1(out3 + lout3)
        for block in (self.dconv2, self.dconv3, self.dconv4, self.dconv5):
            hidden = hidden + block(hidden)
        return hidden


class Sei(SeiTrunk):
    """The full Sei model: trunk, B-spline layer and the chromatin-profile classifier.

    Parameters
    ----------
    channels : (C1, C2, C3), stage widths (official 480, 640, 960)
    n_targets : int, number of chromatin profiles (official 21,907)
    strand_average : bool
        Return the mean of the predictions for the sequence and for its reverse complement, as
        the official framework does (selene's `NonStrandSpecific`, mode "mean").

    Input (N, 4, L) one-hot, rows A, C, G, T; output (N, n_targets) probabilities. The official
    model was trained on 4,096 bp; any length of at least 32 bp runs.
    """

    def __init__(self, channels=SEI_CHANNELS, n_targets: int = N_SEI_TARGETS,
                 strand_average: bool = False):
        super().__init__(channels)
        self.n_targets = int(n_targets)
        self.strand_average = bool(strand_average)
        self.spline_tr = nn.Sequential(nn.Dropout(0.5), BSplineTransformation(SPLINE_DF))
        self.classifier = nn.Sequential(
            nn.Linear(self.channels[2] * SPLINE_DF, self.n_targets), nn.ReLU(inplace=True),
            nn.Linear(self.n_targets, self.n_targets), nn.Sigmoid())

    def spline_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 4, L) -> (N, C3, 16): the output of the B-spline layer (the classifier's input)."""
        return self.spline_tr(super().forward(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 4, L) one-hot -> (N, n_targets) probabilities."""
        if not self.strand_average:
            return self._predict(x)
        # Reversing both axes of (N, 4, L) with rows A, C, G, T gives the reverse complement.
        return (self._predict(x) + self._predict(torch.flip(x, dims=(1, 2)))) / 2

    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        features = self.spline_features(x)
        return self.classifier(features.reshape(features.shape[0], -1))


@register_model("FSei")
class FSei(nn.Module):
    """The study's fine-tuned Sei: Sei trunk + B-spline layer + an attention-pool head.

    Parameters
    ----------
    trunk_channels : (C1, C2, C3), stage widths of the trunk; (480, 640, 960) to load `sei.pth`
    embed_dim : int, width of the head (520 in the study)
    kernel_size : int, kernel of the head's convolution over the 16 B-spline coefficients (3)
    dropout : float, dropout of the head's hidden layer (0.2)
    freeze_trunk : bool
        Trunk weights do not train (`requires_grad=False`); kept in the checkpoint so a resumed or
        reloaded run stays frozen.
    trunk_dropout : bool
        Keep the official dropout layers of the trunk active in training (the study); false for
        the demo's narrow trunk.

    Input (N, 4, L) one-hot, output (N, 2) logits (class 1 = retained intron).
    """

    def __init__(self, trunk_channels=SEI_CHANNELS, embed_dim: int = 520, kernel_size: int = 3,
                 dropout: float = 0.2, freeze_trunk: bool = False, trunk_dropout: bool = True):
        super().__init__()
        self.trunk = SeiTrunk(trunk_channels, dropout=trunk_dropout)
        self.spline = BSplineTransformation(SPLINE_DF)
        self.head = AttentionPoolHead(self.trunk.channels[2], embed_dim, feedforward_dim=None,
                                      kernel_size=kernel_size, n_outputs=2, dropout=dropout)
        self.freeze_trunk = bool(freeze_trunk)
        if self.freeze_trunk:
            self.trunk.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.spline(self.trunk(x)))


# ------------------------------------------------------------------- the official checkpoint

def read_official_state_dict(path: str | Path) -> dict:
    """Read a Sei checkpoint in the official format and strip the `module.model.` prefix.

    Accepts the official `sei.pth` (a state dict with keys `module.model.<name>`), a dict with a
    `state_dict` entry, and keys with the prefixes `module.` / `model.` or none. The file is
    memory-mapped when its format allows, so reading the 3.5 GB file costs little memory until
    tensors are used. Loaded with `weights_only=True` (no code is unpickled).

    Returns
    -------
    dict name -> tensor, in file order, names as in `Sei.state_dict()`.

    Raises
    ------
    InputError
        Missing, unreadable or foreign file; the message says where to download `sei.pth`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} not found: it should hold the pretrained Sei model (sei.pth, "
                         f"3.5 GB). To get it, {SEI_DOWNLOAD}; put sei.pth at {path}, or set "
                         f"sei_path in the JSON config (--weights for Preprocess_data_to_numpy.py)")
    # memory-mapped when the file allows (the zip format of torch >= 1.6)
    state = safe_torch_load(path, what="Sei weights", mmap=None,
                            fix=f"the download may be truncated or damaged; {SEI_DOWNLOAD}")
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"{path} is not a Sei state dict (expected tensors under keys "
                         f"'{OFFICIAL_PREFIX}<name>'); {SEI_DOWNLOAD}")
    return strip_official_prefix(state)


def _strip_prefix(key: str) -> str:
    for prefix in (OFFICIAL_PREFIX, "module.", "model."):
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def to_official_state_dict(model: nn.Module) -> dict:
    """State dict of a `Sei` with the official key names (`module.model.<name>`), CPU tensors."""
    return {OFFICIAL_PREFIX + key: value.detach().cpu() for key, value in model.state_dict().items()}


def check_state_dict(module: nn.Module, state: dict, source: str, ignore=()) -> None:
    """Compare `state` with the tensors `module` expects, by name and shape.

    Raises
    ------
    InputError
        Listing the missing, unexpected (not in `ignore`) and mis-shaped tensors.
    """
    expected = {key: tuple(value.shape) for key, value in module.state_dict().items()}
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected and key not in ignore]
    misshaped = [f"{key} {_shape(state[key].shape)} (expected {_shape(expected[key])})"
                 for key in expected if key in state and tuple(state[key].shape) != expected[key]]
    if missing or unexpected or misshaped:
        parts = [f"{label} ({len(items)}): {_listing(items)}"
                 for label, items in (("missing", missing), ("unexpected", unexpected),
                                      ("wrong shape", misshaped)) if items]
        raise InputError(f"{source} does not match the {type(module).__name__} architecture: "
                         + "; ".join(parts))


def _shape(shape) -> str:
    return "x".join(str(s) for s in tuple(shape)) or "scalar"


def _listing(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... and {len(items) - limit} more" if len(items) > limit else "")


def sei_architecture(state: dict, source: str = "checkpoint") -> dict:
    """Channels and number of targets of the Sei whose (prefix-stripped) weights are `state`."""
    try:
        channels = [int(state[f"{name}.weight"].shape[0])
                    for name in ("lconv1.0", "lconv2.2", "lconv3.2")]
        n_targets = int(state["classifier.2.weight"].shape[0])
    except KeyError as err:
        raise InputError(f"{source} has no tensor {err.args[0]!r}: it is not a Sei checkpoint in "
                         f"the official format; {SEI_DOWNLOAD}") from None
    return {"channels": tuple(channels), "n_targets": n_targets}


def load_sei(path: str | Path, strand_average: bool = False) -> Sei:
    """Build a Sei and load its weights, by name, from an official-format checkpoint.

    The channels and number of targets are read from the checkpoint (21,907 for `sei.pth`), so
    small test and demo checkpoints load the same way. The model is built without initialising
    its 890 M parameters and takes the (memory-mapped) tensors of the file as they are.

    Returns the model in eval mode, on the CPU.
    """
    return sei_from_state_dict(read_official_state_dict(path), str(path), strand_average)


def sei_from_state_dict(state: dict, source: str = "state dict",
                        strand_average: bool = False) -> Sei:
    """A Sei holding the tensors of a (prefix-stripped) official state dict, taken by name.

    Channels and number of targets come from the tensors' shapes; the model is built on the meta
    device (no initialisation of weights that are replaced anyway) and takes the tensors as they
    are. Returns the model in eval mode.
    """
    arch = sei_architecture(state, source)
    with torch.device("meta"):
        model = Sei(arch["channels"], arch["n_targets"], strand_average=strand_average)
    check_state_dict(model, state, source)
    model.load_state_dict(state, assign=True)
    return model.eval()


def strip_official_prefix(state: dict) -> dict:
    """Keys `module.model.<name>` (or `module.<name>`, `model.<name>`) -> `<name>`."""
    return {_strip_prefix(key): value for key, value in state.items()}


def load_trunk_weights(trunk: SeiTrunk, path: str | Path) -> None:
    """Copy the 34 trunk tensors of an official-format Sei checkpoint into `trunk`, by name.

    The classifier tensors of the file are ignored; anything else that does not fit (missing,
    unexpected or mis-shaped tensors) is an `InputError` that lists them.
    """
    state = read_official_state_dict(path)
    file_channels = sei_architecture(state, str(path))["channels"]
    if tuple(file_channels) != tuple(trunk.channels):
        raise InputError(
            f"{path} holds a Sei trunk of widths {list(file_channels)}, but the model's "
            f"trunk_channels are {list(trunk.channels)}: pretrained weights load only into a trunk "
            f"of the same widths. Set model_architecture.trunk_channels to {list(file_channels)} "
            f"in the JSON config, or train without -p")
    classifier = {key for key in state if key.startswith("classifier.")}
    check_state_dict(trunk, state, str(path), ignore=classifier)
    trunk.load_state_dict({key: state[key] for key in trunk.state_dict()})


def write_official_checkpoint(model: Sei, path: str | Path) -> Path:
    """Save a `Sei`'s weights as the official `sei.pth` is laid out (keys `module.model.<name>`),
    atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(to_official_state_dict(model), path)
    return path


# ----------------------------------------------------------------------------- FSei.py helpers

def fsei_architecture(config, freeze_trunk: bool = False) -> dict:
    """Constructor arguments of `FSei` from an `FSeiConfig` (stored in its checkpoints)."""
    arch = config.model_architecture
    return {"trunk_channels": list(arch.trunk_channels), "embed_dim": arch.embed_dim,
            "kernel_size": arch.kernel_size, "dropout": arch.dropout,
            "trunk_dropout": arch.trunk_dropout, "freeze_trunk": bool(freeze_trunk)}


def check_fsei_flags(config, args) -> None:
    """FSei.py's own flag rules, checked before any data is read or run folder is made.

    `-f` only with `-p`; with `-p` the weights file must exist and hold a trunk of the config's
    widths (the official sei.pth: [480, 640, 960]).
    """
    if getattr(args, "freeze", False) and not getattr(args, "pretrain", False):
        raise InputError("-f freezes the pretrained Sei trunk, so it needs -p (use -n -p -f); "
                         "without -p the trunk is randomly initialised and must train")
    if getattr(args, "pretrain", False):
        state = read_official_state_dict(config.sei_path)
        file_channels = sei_architecture(state, config.sei_path)["channels"]
        wanted = tuple(config.model_architecture.trunk_channels)
        if tuple(file_channels) != wanted:
            raise InputError(
                f"-p loads {config.sei_path}, a Sei trunk of widths {list(file_channels)}, but "
                f"model_architecture.trunk_channels is {list(wanted)} (a reduced width, as in "
                f"json/demo/FSei.json, cannot take pretrained weights): set trunk_channels to "
                f"{list(file_channels)} or train without -p")


def new_fsei(config, args) -> FSei:
    """A new FSei for `-n`; with `-p` its trunk is loaded from `config.sei_path` (by name), with
    `-f` that trunk is frozen."""
    model = build_model("FSei", fsei_architecture(config, getattr(args, "freeze", False)))
    if getattr(args, "pretrain", False):
        load_trunk_weights(model.trunk, config.sei_path)
        frozen = ", frozen" if model.freeze_trunk else ""
        print(f"Sei trunk loaded from {config.sei_path} ({len(model.trunk.state_dict())} "
              f"tensors{frozen})", file=sys.stderr)
    return model
