"""Sei's chromatin-profile names (`target.names`) and their grouping into feature sets.

Each line of `target.names` names one Sei output: `cell type | assay target | source`, e.g.
`HeLa_Epithelium_Cervix | BTAF1 | ID:1` (a few lines have a fourth field). The study groups the
21,907 outputs by the assay target:

    histone marks (HM)              the target starts with CENPA, H2A, H2B, H3 or H4   10,064
    chromatin accessibility (ACC)   the target is DNase or starts with ATAC             2,372
    transcription factors (TF)      everything else (TFs and other chromatin proteins)  9,471

and uses three feature sets: ALL (every output), TF and HM. The full line is kept as the feature's
name, so every later table (LR weights, LightGBM importances) names the cell type and assay.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

HISTONE_PREFIXES = ("CENPA", "H2A", "H2B", "H3", "H4")
ACCESSIBILITY_EXACT = ("DNase",)
ACCESSIBILITY_PREFIXES = ("ATAC",)
GROUPS = ("TF", "HM", "ACC")
FEATURE_SETS = ("ALL", "TF", "HM")  # the sets written by Preprocess_data_to_numpy.py
TARGET_NAMES_DOWNLOAD = (
    "get it from the Sei framework (https://github.com/FunctionLab/sei-framework, "
    "model/target.names, 21,907 lines)")


def classify_target(assay: str) -> str:
    """Group of one assay target: "HM" (histone mark), "ACC" (accessibility) or "TF".

    As the study's `split_targets`: the prefixes are matched in any case, `DNase` exactly (so
    `DNase.hot` and the like fall in TF, which gives the published 9,471 / 10,064 / 2,372).
    """
    assay = assay.strip()
    if assay.upper().startswith(HISTONE_PREFIXES):
        return "HM"
    if assay in ACCESSIBILITY_EXACT or assay.upper().startswith(ACCESSIBILITY_PREFIXES):
        return "ACC"
    return "TF"


@dataclass(frozen=True)
class SeiTargets:
    """The Sei outputs, in model order.

    names : (T,) the full lines of target.names
    assays : (T,) the assay target (second field)
    groups : (T,) "TF", "HM" or "ACC"
    """

    names: tuple[str, ...]
    assays: tuple[str, ...]
    groups: tuple[str, ...]
    source: str = "target.names"

    def __len__(self) -> int:
        return len(self.names)

    def indices(self, feature_set: str) -> np.ndarray:
        """Column indices (int64, increasing) of a feature set: "ALL", "TF", "HM" or "ACC"."""
        if feature_set == "ALL":
            return np.arange(len(self.names), dtype=np.int64)
        if feature_set not in GROUPS:
            raise ValueError(f"unknown feature set {feature_set!r}; known: ALL, {', '.join(GROUPS)}")
        return np.flatnonzero(np.asarray(self.groups) == feature_set).astype(np.int64)

    def feature_names(self, feature_set: str) -> list[str]:
        return [self.names[i] for i in self.indices(feature_set)]

    def counts(self) -> dict[str, int]:
        """Number of outputs per group, e.g. {"TF": 9471, "HM": 10064, "ACC": 2372}."""
        return {group: int(np.sum(np.asarray(self.groups) == group)) for group in GROUPS}


def parse_target_names(lines, source: str = "target.names") -> SeiTargets:
    """Parse the lines of a `target.names` file (see the module docstring).

    Raises
    ------
    InputError
        An empty line or a line without a `|`-separated assay field, naming the line.
    """
    names, assays, groups = [], [], []
    for line_no, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        fields = [field.strip() for field in line.split("|")]
        if len(fields) < 2 or not fields[1]:
            what = "is empty" if not line.strip() else f"({line!r}) has no assay field"
            raise InputError(
                f"{source}, line {line_no} {what}: each line names one Sei output as "
                f"'cell type | assay target | source' (e.g. 'HeLa_Epithelium_Cervix | BTAF1 | "
                f"ID:1'); use the target.names of the Sei framework unchanged")
        names.append(line.strip())
        assays.append(fields[1])
        groups.append(classify_target(fields[1]))
    if not names:
        raise InputError(f"{source} is empty: it must list the Sei outputs, one per line; "
                         f"{TARGET_NAMES_DOWNLOAD}")
    return SeiTargets(tuple(names), tuple(assays), tuple(groups), source)


def read_target_names(path: str | Path, n_outputs: int | None = None) -> SeiTargets:
    """Read `target.names`; with `n_outputs`, check it names exactly that many outputs."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Sei target names file {path} not found: {TARGET_NAMES_DOWNLOAD}, and put "
                         f"it there, or set target_names in the JSON config")
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    while lines and not lines[-1].strip():  # trailing blank lines are harmless
        lines.pop()
    targets = parse_target_names(lines, source=str(path))
    if n_outputs is not None and len(targets) != n_outputs:
        raise InputError(f"{path} names {len(targets):,} outputs but the Sei model has "
                         f"{n_outputs:,}: use the target.names that belongs to the weights "
                         f"(21,907 lines for the official sei.pth)")
    return targets
