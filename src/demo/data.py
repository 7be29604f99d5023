"""A small synthetic dataset in the real format, with planted JASPAR motifs (the `make demo` data).

Label-1 ("retained") sequences carry instances of a few IR motifs, label-0 sequences of other
motifs, each instance sampled from the motif's probability matrix and placed on a random strand in
a background of intron-like base composition. Some sequences of each class carry no motif and a
few carry a motif of the other class, so a good model reaches a high but imperfect AUROC, and
attribution has something real to find.

Written to the output folder: final_data.csv, {train,valid,test}_indices.txt, planted_motifs.meme
(the motifs used) and planted_sites.csv (header, label, motif, TF, start, strand of every site).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.encoding import ALPHABET
from ..data.sequences import DATA_FILE
from ..data.splits import split_paths, write_split_indices
from ..errors import InputError
from ..interpret.motifs import Motif, load_jaspar, write_meme

# JASPAR 2024 CORE vertebrates; ZNF274 is among the study's top IR features.
IR_MOTIFS = ("MA1592.2", "MA0138.3", "MA0088.2")  # ZNF274, REST, ZNF143
NON_IR_MOTIFS = ("MA0106.3", "MA0083.3", "MA1494.2")  # TP53, SRF, HNF4A
BACKGROUND = (0.28, 0.22, 0.22, 0.28)  # A C G T, roughly human introns
PLANTED_MOTIFS_FILE = "planted_motifs.meme"
PLANTED_SITES_FILE = "planted_sites.csv"


def planted_motifs(motifs: dict | None = None, ids=IR_MOTIFS + NON_IR_MOTIFS) -> dict:
    """The motifs the demo uses, by matrix id: from `motifs` (id -> Motif) or JASPAR 2024.

    Raises
    ------
    InputError
        One of `ids` (default: the planted IR_MOTIFS and NON_IR_MOTIFS) is not among them.
    """
    if motifs is None:
        motifs = {m.matrix_id: m for m in load_jaspar("JASPAR2024")}
    missing = [i for i in ids if i not in motifs]
    if missing:
        raise InputError(f"motif(s) {', '.join(missing)} not in the motif database")
    return motifs


@dataclass
class DemoSettings:
    n_sequences: int = 3000
    length: int = 600
    positive_fraction: float = 0.22
    p_own_motif: float = 0.9  # sequences that carry at least one motif of their class
    p_other_motif: float = 0.05  # sequences that also carry a motif of the other class
    max_sites: int = 3
    seed: int = 0


def generate_demo(out_dir: str | Path, settings: DemoSettings = DemoSettings(),
                  motifs: dict[str, Motif] | None = None, force: bool = False) -> Path:
    """Write the demo dataset to `out_dir`; refuses to replace existing files unless `force`."""
    out_dir = Path(out_dir)
    targets = [out_dir / DATA_FILE, *split_paths(out_dir).values()]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise InputError(f"{', '.join(existing)} already exist(s): choose another --out folder "
                         f"or pass --force to replace the demo data")
    if settings.n_sequences < 10:
        raise InputError(f"-n {settings.n_sequences}: the demo needs at least 10 sequences "
                         f"(train, valid and test splits each need rows)")
    if not 0 < settings.positive_fraction < 1:
        raise InputError(f"--positive-fraction {settings.positive_fraction}: use a fraction "
                         f"between 0 and 1 (exclusive), e.g. 0.22; both classes are needed")
    motifs = planted_motifs(motifs)
    widest = max(motifs[i].width for i in IR_MOTIFS + NON_IR_MOTIFS)
    if settings.length < widest:
        raise InputError(f"--length {settings.length}: the planted motifs need sequences of at "
                         f"least {widest} bp")
    rng = np.random.default_rng(settings.seed)
    n = settings.n_sequences
    labels = (rng.random(n) < settings.positive_fraction).astype(np.int64)
    bases = rng.choice(4, size=(n, settings.length), p=BACKGROUND).astype(np.int8)
    sites = []
    for row in range(n):
        own, other = ((IR_MOTIFS, NON_IR_MOTIFS) if labels[row] else (NON_IR_MOTIFS, IR_MOTIFS))
        chosen = []
        if rng.random() < settings.p_own_motif:
            chosen += list(rng.choice(own, size=rng.integers(1, settings.max_sites + 1)))
        if rng.random() < settings.p_other_motif:
            chosen.append(rng.choice(other))
        occupied = np.zeros(settings.length, dtype=bool)
        for matrix_id in chosen:
            site = _plant(bases[row], occupied, motifs[matrix_id], rng)
            if site is not None:
                sites.append({"header": f"demo_{row:05d}", "label": int(labels[row]),
                              "matrix_id": matrix_id, "tf": motifs[matrix_id].name,
                              "start": site[0], "strand": site[1]})
    letters = np.array(list(ALPHABET))[bases]
    sequences = letters.view(f"<U{settings.length}").ravel()
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in targets:
        if force:
            path.unlink(missing_ok=True)
    frame = pd.DataFrame({"header": [f"demo_{i:05d}" for i in range(n)], "sequence": sequences,
                          "label": labels})
    frame.to_csv(out_dir / DATA_FILE, index=False)
    write_split_indices(out_dir, n, seed=settings.seed)
    write_meme([motifs[i] for i in IR_MOTIFS + NON_IR_MOTIFS], out_dir / PLANTED_MOTIFS_FILE,
               background=BACKGROUND)
    pd.DataFrame(sites).to_csv(out_dir / PLANTED_SITES_FILE, index=False)
    return out_dir


def is_complete(out_dir: str | Path) -> bool:
    """Every file of the demo data is in `out_dir`."""
    out_dir = Path(out_dir)
    paths = [out_dir / DATA_FILE, *split_paths(out_dir).values(), out_dir / PLANTED_MOTIFS_FILE,
             out_dir / PLANTED_SITES_FILE]
    return all(path.is_file() for path in paths)


def _plant(row: np.ndarray, occupied: np.ndarray, motif: Motif, rng) -> tuple[int, str] | None:
    """Sample one instance of `motif` into a free stretch of `row` (in place); (start, strand)."""
    width = motif.width
    free = [s for s in range(0, len(row) - width + 1, 4) if not occupied[s:s + width].any()]
    if not free:
        return None
    start = int(rng.choice(free))
    columns = [rng.choice(4, p=p / p.sum()) for p in motif.probabilities.T]
    instance = np.array(columns, dtype=np.int8)
    strand = "+" if rng.random() < 0.5 else "-"
    if strand == "-":
        instance = 3 - instance[::-1]  # reverse complement in A,C,G,T order
    row[start:start + width] = instance
    occupied[start:start + width] = True
    return start, strand
