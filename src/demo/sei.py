"""A small Sei trained on synthetic chromatin profiles, for the demo (`--make-demo-sei`).

The real Sei predicts 21,907 chromatin profiles (transcription-factor binding, histone marks,
accessibility) from DNA; its outputs carry signal because the profiles depend on the motifs in the
sequence. The demo Sei imitates that on a laptop CPU in about a minute:

* **Profiles.** Random sequences of intron-like composition carry instances of a few dozen JASPAR
  2024 motifs (`DEMO_MOTIFS`: the six planted by `src.demo.data` and ten others), each present with
  probability `p_motif`, sampled from its probability matrix on a random strand. A
  transcription-factor profile (`cell | CTCF | ID:n`) is 1 when its motif is present; a
  histone-mark profile is 1 when any motif of a small set is (`HISTONE_MARKS`, e.g. H3K9me3 <-
  ZNF274 and other KRAB zinc fingers; each cell type drops a different member, so the cell types
  differ); an accessibility profile (DNase, ATAC-seq) is 1 when at least two (three) motifs are.
* **Training.** The Sei architecture with a narrow trunk learns those profiles (binary
  cross-entropy, Adam) from inputs laid out as `Preprocess_data_to_numpy.py` lays them out: the
  sequence centred in `input_length` bp of zero padding.
* **Names.** `target.names` lines in the official format, `cell type | assay target | ID:n`, so
  the TF / histone-mark grouping of `src.models.sei_targets` applies unchanged.

Everything is seeded; on one machine and thread count the weights are the same on every run.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from ..io import atomic_write_text
from ..models.sei import Sei, write_official_checkpoint
from .data import BACKGROUND, IR_MOTIFS, NON_IR_MOTIFS, planted_motifs

# JASPAR 2024 CORE vertebrates: the six motifs planted in the demo data first, then ten others
# of at least 13 bits (shorter, vaguer motifs occur by chance in every sequence, which would make
# "presence" meaningless); none is a near copy of a planted motif. One trunk channel per motif:
# sixteen motifs fit the demo trunk's 16 first-stage channels.
OTHER_MOTIFS = (
    "MA0139.2",  # CTCF
    "MA0079.5",  # SP1
    "MA0028.3",  # ELK1
    "MA0466.4",  # CEBPB
    "MA0488.2",  # JUN
    "MA0105.4",  # NFKB1
    "MA0112.4",  # ESR1
    "MA0046.3",  # HNF1A
    "MA0509.3",  # RFX1
    "MA1124.1",  # ZNF24
)
DEMO_MOTIFS = IR_MOTIFS + NON_IR_MOTIFS + OTHER_MOTIFS

# Histone marks as combinations of motifs (any one present). Loosely biological: KRAB zinc
# fingers (ZNF274, ZNF24) recruit SETDB1, which lays down H3K9me3; REST recruits repressive
# complexes; ZNF143 binds promoters with SP1 and ELK1 (H3K4me3) and beside CTCF (H2A.Z).
HISTONE_MARKS = (
    ("H3K9me3", ("ZNF274", "ZNF24", "RFX1")),
    ("H3K27me3", ("REST", "RFX1", "ESR1")),
    ("H3K4me3", ("ZNF143", "SP1", "ELK1")),
    ("H2A.Z", ("CTCF", "ZNF143", "SP1")),
    ("H3K27ac", ("JUN", "CEBPB", "NFKB1")),
    ("H3K4me1", ("CEBPB", "ESR1", "HNF1A")),
    ("H3K36me3", ("TP53", "ELK1", "ZNF24")),
    ("H3K79me2", ("SRF", "JUN", "RFX1")),
    ("H4K20me1", ("HNF4A", "HNF1A", "NFKB1")),
    ("H3K9ac", ("SP1", "JUN", "ESR1")),
)
ACCESSIBILITY = (("DNase", 2), ("ATAC-seq", 3))  # open when at least this many motifs are present
CELL_TYPES = ("K562_Erythroblast_Bone_Marrow", "HepG2_Epithelium_Liver",
              "GM12878_B_Lymphocyte_Blood", "HeLa-S3_Epithelium_Cervix",
              "MCF-7_Epithelium_Breast", "A549_Epithelium_Lung")


@dataclass(frozen=True)
class Profile:
    """One synthetic chromatin profile: its `target.names` line and the motifs it reads.

    motifs : indices into the motif list; the profile is 1 when at least `min_present` of them
        are present in the sequence
    """

    name: str
    group: str  # "TF", "HM" or "ACC"
    motifs: tuple[int, ...]
    min_present: int = 1


def demo_profiles(motif_names: list[str], n_targets: int) -> list[Profile]:
    """`n_targets` profiles: about half transcription factors, 40% histone marks, 10%
    accessibility, cycling through the motifs / marks and then the cell types.

    Parameters
    ----------
    motif_names : the TF name of each motif, in `DEMO_MOTIFS` order (the planted ones first, so
        every demo Sei of 12 or more outputs has a profile for each planted motif)
    """
    if n_targets < 1:
        raise InputError(f"a demo Sei needs at least one output, got n_targets={n_targets}")
    n_acc = n_targets // 10
    n_hm = (n_targets * 4) // 10
    n_tf = n_targets - n_hm - n_acc
    index = {name: i for i, name in enumerate(motif_names)}
    every = tuple(range(len(motif_names)))
    planned = []  # (cell index, group, assay, motifs, min_present)
    for k in range(n_tf):
        i = k % len(motif_names)
        planned.append((k // len(motif_names), "TF", motif_names[i], (i,), 1))
    for k in range(n_hm):
        cell = k // len(HISTONE_MARKS)
        mark, members = HISTONE_MARKS[k % len(HISTONE_MARKS)]
        chosen = [index[m] for m in members if m in index]
        if cell and len(chosen) > 2:  # each further cell type lacks one member (not the first)
            chosen.pop(1 + (cell - 1) % (len(chosen) - 1))
        planned.append((cell, "HM", mark, tuple(chosen), 1))
    for k in range(n_acc):
        assay, at_least = ACCESSIBILITY[k % len(ACCESSIBILITY)]
        planned.append((k // len(ACCESSIBILITY), "ACC", assay, every, at_least))
    planned.sort(key=lambda p: p[0])  # grouped by cell type, as in the real file (stable)
    return [Profile(f"{CELL_TYPES[cell % len(CELL_TYPES)]} | {assay} | ID:{n + 1}", group,
                    motifs, at_least)
            for n, (cell, group, assay, motifs, at_least) in enumerate(planned)]


def synthetic_sequences(n: int, length: int, motifs: list, p_motif: float,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random sequences with motif instances planted in non-overlapping slots.

    Parameters
    ----------
    motifs : list of `src.interpret.motifs.Motif` (probabilities (4, W))
    p_motif : probability that a sequence carries a given motif (one instance)

    Returns
    -------
    bases : np.ndarray (n, length) uint8, 0..3 = A, C, G, T
    present : np.ndarray (n, M) bool, motif m was planted in sequence i
    """
    width = max(m.width for m in motifs)
    n_slots = length // width
    if n_slots < 1:
        raise InputError(f"demo Sei sequences of {length} bp cannot hold a {width} bp motif")
    bases = rng.choice(4, size=(n, length), p=BACKGROUND).astype(np.uint8)
    present = rng.random((n, len(motifs))) < p_motif
    # each planted motif gets its own slot of `width` bp; motifs beyond the slots are dropped
    slot_of = np.argsort(rng.random((n, max(n_slots, len(motifs)))), axis=1)[:, :len(motifs)]
    present &= slot_of < n_slots
    for m, motif in enumerate(motifs):
        rows = np.flatnonzero(present[:, m])
        if len(rows) == 0:
            continue
        cumulative = np.cumsum(motif.probabilities / motif.probabilities.sum(0), axis=0)
        draws = rng.random((len(rows), motif.width))
        instance = (draws[:, None, :] > cumulative[None, :, :]).sum(axis=1).clip(0, 3)
        minus = rng.random(len(rows)) < 0.5
        instance[minus] = 3 - instance[minus, ::-1]  # reverse complement (A,C,G,T order)
        offset = rng.integers(0, width - motif.width + 1, size=len(rows))
        starts = slot_of[rows, m] * width + offset
        columns = starts[:, None] + np.arange(motif.width)[None, :]
        bases[rows[:, None], columns] = instance
    return bases, present


def profile_labels(present: np.ndarray, profiles: list[Profile]) -> np.ndarray:
    """(n, M) motif presence -> (n, T) float32 profile labels."""
    labels = np.empty((len(present), len(profiles)), dtype=np.float32)
    for t, profile in enumerate(profiles):
        count = present[:, list(profile.motifs)].sum(axis=1)
        labels[:, t] = count >= profile.min_present
    return labels


def centred_one_hot(bases: np.ndarray, input_length: int) -> torch.Tensor:
    """(n, L) bases 0..3 -> (n, 4, input_length) float32 one-hot, centred in zero padding as
    `src.data.encoding.encode_codes` centres a shorter sequence (the extra column on the right)."""
    n, length = bases.shape
    x = torch.zeros((n, 4, input_length), dtype=torch.float32)
    left = (input_length - length) // 2
    index = torch.from_numpy(bases.astype(np.int64))
    x[:, :, left:left + length].scatter_(1, index[:, None, :], 1.0)
    return x


SCANNER_WIDTH = 17  # lconv1's two 9 bp convolutions compose to a 17 bp filter


def motif_filter(motif, width: int = SCANNER_WIDTH) -> np.ndarray:
    """A strand-blind linear detector of `motif`: (4, width) float64.

    The motif's probabilities minus 1/4, overlaid with those of its reverse complement on the
    same centre (both strands in one filter: each strand's term averages about zero on the other
    strand's instance). A motif wider than `width` keeps its most informative `width` columns.
    """
    probabilities = motif.probabilities / motif.probabilities.sum(axis=0, keepdims=True)
    if probabilities.shape[1] > width:
        information = 2 + (probabilities * np.log2(probabilities + 1e-9)).sum(axis=0)
        window = np.convolve(information, np.ones(width), mode="valid")
        start = int(np.argmax(window))
        probabilities = probabilities[:, start:start + width]
    centred = probabilities - 0.25
    both = centred + centred[::-1, ::-1]
    out = np.zeros((4, width))
    left = (width - both.shape[1]) // 2
    out[:, left:left + both.shape[1]] = both
    return out


def init_motif_scanners(model, motifs, generator: torch.Generator | None = None,
                        threshold: float = 3.0) -> int:
    """Start the first stage of a Sei trunk as motif scanners; returns the number of scanners.

    `lconv1` is two 9 bp convolutions without a nonlinearity between them; they compose to one
    17 bp filter per output channel. The first convolution copies the one-hot input at offsets
    -4 and +4 (8 channels), the second places a `motif_filter` over them, so output channel j
    scores motif j on both strands, standardised on the demo background (mean 0, sd 1 on random
    sequence). The residual branches after it (conv1 ... dconv5) start near zero (their last
    convolution scaled by 0.1, a common residual-network initialisation), so the scores reach
    the B-spline layer from the start; training then adapts every layer.
    """
    trunk_in, trunk_out = model.lconv1[0], model.lconv1[1]
    channels = trunk_out.out_channels
    if channels < 8:
        raise InputError(f"motif scanners need a first stage of at least 8 channels, got "
                         f"{channels}")
    n = min(len(motifs), channels)
    background = np.asarray(BACKGROUND)
    with torch.no_grad():
        first = torch.zeros_like(trunk_in.weight)  # (C1, 4, 9)
        for base in range(4):
            first[2 * base, base, 0] = 1.0  # reads x[base, p - 4]
            first[2 * base + 1, base, 8] = 1.0  # reads x[base, p + 4]
        if channels > 8:  # spare channels: small random, free to learn
            first[8:] = 0.1 * torch.randn(first[8:].shape, generator=generator)
        trunk_in.weight.copy_(first)
        trunk_in.bias.zero_()
        second = torch.zeros_like(trunk_out.weight)  # (C1, C1, 9)
        bias = torch.zeros(channels)
        for j in range(n):
            weights = motif_filter(motifs[j])  # (4, 17), offsets -8 .. 8
            mean = float((background @ weights).sum())
            sd = float(np.sqrt((background @ weights ** 2 - (background @ weights) ** 2).sum()))
            weights = weights / sd
            for base in range(4):
                # offsets -8..0 through channel (base, -4) taps 0..8; 1..8 through (base, +4)
                second[j, 2 * base, :] = torch.from_numpy(weights[base, :9])
                second[j, 2 * base + 1, 1:] = torch.from_numpy(weights[base, 9:])
            bias[j] = -mean / sd
        if channels > n:
            second[n:] = 0.1 * torch.randn(second[n:].shape, generator=generator)
        trunk_out.weight.copy_(second)
        trunk_out.bias.copy_(bias)
        # the path to the B-spline layer: pooled scores through near-identity convolutions
        # (lconv2, lconv3 and conv3, whose output the dilated blocks add to), residual
        # branches (conv1, conv2, dconv1-5) small
        for conv in (model.lconv2[2], model.lconv2[3], model.lconv3[2], model.lconv3[3],
                     model.conv3[1], model.conv3[3]):
            _near_identity(conv, generator)
        # a motif hit stands out of the background's maxima after pooling: threshold the
        # pooled scores (ReLU(score - threshold)) before the B-spline layer averages positions
        model.conv3[1].bias.fill_(-threshold)
        for block in (model.conv1, model.conv2):
            block[-2].weight.mul_(0.1)
        for name in ("dconv1", "dconv2", "dconv3", "dconv4", "dconv5"):
            getattr(model, name)[1].weight.mul_(0.1)
    return n


def _near_identity(conv: nn.Conv1d, generator, noise: float = 0.05) -> None:
    """Centre tap = identity on the shared channels, plus small noise elsewhere."""
    weight = noise * torch.randn(conv.weight.shape, generator=generator) / math.sqrt(
        conv.weight.shape[1] * conv.weight.shape[2])
    centre = conv.weight.shape[2] // 2
    for c in range(min(conv.out_channels, conv.in_channels)):
        weight[c, c, centre] += 1.0
    conv.weight.copy_(weight)
    conv.bias.zero_()


@dataclass
class DemoSeiTraining:
    """Settings of the demo Sei's training (the defaults take well under a minute on 2 cores)."""

    n_sequences: int = 6000
    insert_length: int = 600
    input_length: int = 1000
    p_motif: float = 0.15
    epochs: int = 40
    batch_size: int = 128
    learning_rate: float = 3e-3
    seed: int = 0


def train_demo_sei(model, profiles: list[Profile], motifs: list, settings: DemoSeiTraining,
                   log=print) -> dict:
    """Train the classifier of `model` (a `src.models.sei.Sei` whose trunk holds motif scanners, see
    `init_motif_scanners`) to predict the synthetic profiles.

    The sequences go through the trunk and B-spline layer once (inputs laid out as
    `Preprocess_data_to_numpy.py` lays them out); the classifier (Linear, ReLU, Linear) then
    trains on those features, standardised, with Adam, keeping the epoch of lowest held-out loss
    (10% more sequences); the standardisation is folded into its first layer afterwards, so the
    model keeps the official layout. Returns held-out metrics (mean AUROC over the profiles, the
    AUROC of each planted motif's first TF profile) and the seconds taken. The model is left in
    eval mode.
    """
    from sklearn.metrics import roc_auc_score

    if settings.insert_length > settings.input_length:
        raise InputError(f"the demo Sei's training sequences ({settings.insert_length} bp) are "
                         f"longer than its input ({settings.input_length} bp)")
    started = time.perf_counter()
    rng = np.random.default_rng(settings.seed)
    n_train = settings.n_sequences
    n_valid = max(100, n_train // 10)
    bases, present = synthetic_sequences(n_train + n_valid, settings.insert_length, motifs,
                                         settings.p_motif, rng)
    labels = torch.from_numpy(profile_labels(present, profiles))
    model.eval()
    with torch.no_grad():
        features = torch.cat([
            model.spline_features(centred_one_hot(bases[i:i + 256], settings.input_length))
            .flatten(1) for i in range(0, len(bases), 256)])
    mean, sd = features[:n_train].mean(0), features[:n_train].std(0) + 1e-3
    standard = (features - mean) / sd
    train_x, valid_x = standard[:n_train], standard[n_train:]
    train_y, valid_y = labels[:n_train], labels[n_train:]
    log(f"demo Sei: trunk features of {len(bases):,} synthetic sequences "
        f"({time.perf_counter() - started:.0f} s)")

    classifier = model.classifier
    generator = torch.Generator().manual_seed(settings.seed)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=settings.learning_rate)
    loss_function = nn.BCEWithLogitsLoss()
    logits = classifier[:-1]  # Linear, ReLU, Linear: the sigmoid is in the loss
    best = (float("inf"), None)
    for epoch in range(settings.epochs):
        classifier.train()
        order = torch.randperm(n_train, generator=generator)
        for first in range(0, n_train, settings.batch_size):
            rows = order[first:first + settings.batch_size]
            loss = loss_function(logits(train_x[rows]), train_y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        classifier.eval()
        with torch.no_grad():
            valid_loss = float(loss_function(logits(valid_x), valid_y))
        if valid_loss < best[0]:
            best = (valid_loss, {k: v.clone() for k, v in classifier.state_dict().items()})
    classifier.load_state_dict(best[1])
    with torch.no_grad():  # fold (x - mean) / sd into the first linear layer
        first = classifier[0]
        first.bias.sub_(first.weight @ (mean / sd))
        first.weight.div_(sd)
        predicted = torch.cat([model(centred_one_hot(bases[i:i + 256], settings.input_length))
                               for i in range(n_train, len(bases), 256)]).numpy()
    truth = valid_y.numpy()
    aurocs = {t: roc_auc_score(truth[:, t], predicted[:, t]) for t in range(len(profiles))
              if 0 < truth[:, t].sum() < len(truth)}
    seconds = time.perf_counter() - started
    log(f"demo Sei: classifier trained, held-out loss {best[0]:.4f}, mean AUROC "
        f"{np.mean(list(aurocs.values())):.3f} over {len(aurocs)} profiles ({seconds:.0f} s)")
    return {"valid_loss": best[0], "mean_auroc": float(np.mean(list(aurocs.values()))),
            "auroc": {profiles[t].name: float(a) for t, a in aurocs.items()},
            "seconds": round(seconds, 1)}


DEMO_CHANNELS = (16, 16, 16)  # one first-stage channel per demo motif
DEMO_TARGETS = 96


def write_demo_sei(folder: str | Path, channels=DEMO_CHANNELS, n_targets: int = DEMO_TARGETS,
                   seed: int = 0, force: bool = False, train: bool = True,
                   training=None, motifs=None, log=print) -> tuple[Path, Path]:
    """Write a small Sei in the official format, with its target names, for the demo.

    `folder/sei.pth` has the keys and layout of the official checkpoint (`module.model.<name>`,
    narrower trunk, `n_targets` outputs) and `folder/target.names` names each output in the
    official `cell type | assay target | ID:n` format (transcription factors, histone marks,
    accessibility), so the loading and feature code runs exactly as with the real files.

    With `train` (the demo) the model is trained on synthetic chromatin profiles of JASPAR
    motifs, the six motifs planted in the demo data among them (`this module`): its first stage
    starts as motif scanners, its classifier learns which profiles a sequence's motifs switch on
    (about half a minute on 2 CPU cores at 1,000 bp), and `folder/training.json` records the
    settings and held-out AUROCs. Without it the weights are random (N(0, 1 / fan_in), biases
    N(0, 0.01^2)) and the outputs mean nothing.

    Parameters
    ----------
    training : `src.DemoSeiTraining`, the training settings (defaults if None); its
        `input_length` should be the `sequence_length` the features will be made at
    motifs : {matrix id: Motif} with every `src.DEMO_MOTIFS` id (default: JASPAR 2024
        from pyjaspar)

    Returns (path of sei.pth, path of target.names).
    """
    folder = Path(folder)
    weights, names = folder / "sei.pth", folder / "target.names"
    existing = [str(p) for p in (weights, names) if p.exists()]
    if existing and not force:
        raise InputError(f"{', '.join(existing)} already exist(s): choose another folder or "
                         f"delete them to write a new demo Sei")
    model = Sei(channels, n_targets)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            values = torch.randn(param.shape, generator=generator)
            param.copy_(values / math.sqrt(math.prod(param.shape[1:])) if param.ndim > 1
                        else values * 0.01)
    if train:
        settings = training or DemoSeiTraining(seed=seed)
        motifs = planted_motifs(motifs, DEMO_MOTIFS)
        # one first-stage channel per motif: a narrower trunk uses the first motifs only
        chosen = [motifs[i] for i in DEMO_MOTIFS][:model.channels[0]]
        profiles = demo_profiles([m.name for m in chosen], n_targets)
        n_scanners = init_motif_scanners(model, chosen, generator)
        log(f"demo Sei: {n_scanners} motif scanners, {n_targets} synthetic profiles, inputs of "
            f"{settings.input_length} bp")
        result = train_demo_sei(model, profiles, chosen, settings, log)
        lines = [profile.name for profile in profiles]
        report = {"settings": vars(settings), "channels": list(channels),
                  "motifs": [f"{m.matrix_id} {m.name}" for m in chosen],
                  "profiles": {p.name: {"group": p.group, "motifs": [chosen[i].name for i in
                                                                     p.motifs],
                                        "at_least": p.min_present} for p in profiles},
                  **result}
    else:
        lines = demo_target_names(n_targets)
    folder.mkdir(parents=True, exist_ok=True)
    # names first: an existing sei.pth is the sign that both files are there
    atomic_write_text(names, "".join(f"{name}\n" for name in lines))
    if train:
        atomic_write_text(folder / "training.json", json.dumps(report, indent=2) + "\n")
    write_official_checkpoint(model, weights)
    return weights, names


_DEMO_CELLS = ("HepG2", "K562", "GM12878", "HeLa-S3", "A549", "MCF-7")
_DEMO_ASSAYS = (
    ("TF", ("CTCF", "REST", "ZNF274", "ZNF143", "TP53", "SRF", "HNF4A", "POLR2A", "EP300", "YY1")),
    ("HM", ("H3K4me3", "H3K27ac", "H3K4me1", "H3K36me3", "H3K27me3", "H3K9me3", "H2A.Z",
            "H4K20me1")),
    ("ACC", ("DNase", "ATAC-seq")),
)


def is_complete(folder: str | Path) -> bool:
    """The demo Sei is in `folder` (sei.pth is written last, after target.names)."""
    return (Path(folder) / "target.names").is_file() and (Path(folder) / "sei.pth").is_file()


def demo_target_names(n: int) -> list[str]:
    """`n` target names in the official style for a small demo Sei: about 45% transcription
    factors, 45% histone marks and 10% accessibility profiles, in a fixed interleaved order."""
    plan = []
    for i in range(n):
        group = "ACC" if i % 10 == 9 else ("TF" if i % 2 == 0 else "HM")
        plan.append(group)
    assays = {group: names for group, names in _DEMO_ASSAYS}
    used = {group: 0 for group in assays}
    lines = []
    for i, group in enumerate(plan):
        k = used[group]
        used[group] += 1
        assay = assays[group][k % len(assays[group])]
        cell = _DEMO_CELLS[(k // len(assays[group])) % len(_DEMO_CELLS)]
        lines.append(f"{cell} | {assay} | ID:{i + 1}")
    return lines
