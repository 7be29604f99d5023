"""Motif databases: JASPAR from the `pyjaspar` package (offline) and MEME text files.

A motif is a position probability matrix, shape (4, W), rows A, C, G, T, columns summing to 1.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import read_text

JASPAR_RELEASE_PATTERN = re.compile(r"^jaspar(\d{4})$", re.IGNORECASE)


@dataclass(frozen=True)
class Motif:
    """A named position probability matrix.

    matrix_id : database identifier, e.g. "MA0139.2"
    name : transcription factor name, e.g. "CTCF"
    probabilities : np.ndarray, shape (4, W), rows A, C, G, T, each column sums to 1
    """

    matrix_id: str
    name: str
    probabilities: np.ndarray

    @property
    def width(self) -> int:
        return self.probabilities.shape[1]


def load_motifs(source: str | Path) -> list[Motif]:
    """Motifs from a MEME file, or JASPAR CORE vertebrates of a release named like "jaspar2024"."""
    match = JASPAR_RELEASE_PATTERN.match(str(source))
    if match and not Path(source).exists():
        return load_jaspar(f"JASPAR{match.group(1)}")
    return read_meme(source)


def load_jaspar(release: str = "JASPAR2024", tax_group: str = "vertebrates") -> list[Motif]:
    """JASPAR CORE motifs (latest version of each) from the `pyjaspar` package, without network."""
    from pyjaspar import jaspardb

    try:
        database = jaspardb(release=release)
    except Exception as err:  # pyjaspar raises bare exceptions for unknown releases
        raise InputError(f"JASPAR release {release!r} is not available in pyjaspar ({err}); "
                         f"use e.g. jaspar2024, or a MEME file") from None
    motifs = []
    for record in database.fetch_motifs(collection="CORE", tax_group=[tax_group],
                                        all_versions=False):
        counts = np.array([record.counts[base] for base in "ACGT"], dtype=np.float64)
        motifs.append(Motif(record.matrix_id, record.name, counts / counts.sum(axis=0)))
    return motifs


def read_meme(path: str | Path) -> list[Motif]:
    """Parse the letter-probability matrices of a MEME text file (e.g. JASPAR's MEME export).

    Raises
    ------
    InputError
        The file is missing, has no motif, or a matrix is malformed (wrong number of columns,
        not numbers, fewer rows than `w=` says, rows that do not sum to 1); the message names the
        line.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"motif file {path} not found: pass a MEME file with -d, or a JASPAR "
                         f"release name such as jaspar2024")
    lines = read_text(path, "a MEME motif file").splitlines()
    motifs, i = [], 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("MOTIF"):
            parts = line.split()
            if len(parts) < 2:
                raise InputError(f"{path}, line {i + 1}: MOTIF without an identifier")
            matrix_id = parts[1]
            name = parts[2] if len(parts) > 2 else parts[1]
            if name.startswith(matrix_id + "."):  # JASPAR's "MA0002.1 MA0002.1.RUNX1"
                name = name[len(matrix_id) + 1:]
            i, matrix = _read_matrix(lines, i + 1, path, matrix_id)
            motifs.append(Motif(matrix_id, name, matrix))
            continue
        i += 1
    if not motifs:
        raise InputError(f"{path} holds no MOTIF entry: is it a MEME motif file?")
    return motifs


def _read_matrix(lines, i, path, matrix_id) -> tuple[int, np.ndarray]:
    while i < len(lines) and not lines[i].strip().startswith("letter-probability matrix"):
        if lines[i].strip().startswith("MOTIF"):
            raise InputError(f"{path}, line {i + 1}: motif {matrix_id} has no "
                             f"'letter-probability matrix' line")
        i += 1
    if i == len(lines):
        raise InputError(f"{path}: motif {matrix_id} has no 'letter-probability matrix' line")
    header = lines[i]
    width_match = re.search(r"w=\s*(\d+)", header)
    alength = re.search(r"alength=\s*(\d+)", header)
    if alength and int(alength.group(1)) != 4:
        raise InputError(f"{path}, line {i + 1}: motif {matrix_id} has alength="
                         f"{alength.group(1)}; only DNA motifs (alength= 4) are supported")
    rows, i = [], i + 1
    while i < len(lines):
        text = lines[i].strip()
        if not text or text.startswith(("URL", "MOTIF")) or (width_match and len(rows) == int(
                width_match.group(1))):
            break
        try:
            values = [float(v) for v in text.split()]
        except ValueError:
            raise InputError(f"{path}, line {i + 1}: motif {matrix_id}: {text!r} is not a row of "
                             f"4 probabilities") from None
        if len(values) != 4 or not all(math.isfinite(v) and v >= 0 for v in values):
            raise InputError(f"{path}, line {i + 1}: motif {matrix_id}: a matrix row needs 4 "
                             f"non-negative probabilities (A C G T), got {text!r}")
        if abs(sum(values) - 1) > 0.02:
            raise InputError(f"{path}, line {i + 1}: motif {matrix_id}: the row sums to "
                             f"{sum(values):.3f}, not 1")
        rows.append(values)
        i += 1
    if not rows:
        raise InputError(f"{path}, line {i + 1}: motif {matrix_id} has an empty matrix")
    if width_match and len(rows) != int(width_match.group(1)):
        raise InputError(f"{path}, line {i + 1}: motif {matrix_id} has {len(rows)} rows but its "
                         f"header says w= {width_match.group(1)}")
    matrix = np.asarray(rows, dtype=np.float64).T
    return i, matrix / matrix.sum(axis=0, keepdims=True)


def write_meme(motifs: list[Motif], path: str | Path,
               background: tuple[float, ...] = (0.25, 0.25, 0.25, 0.25)) -> Path:
    """Write motifs as a MEME (version 4) text file that `read_meme` and MEME tools read."""
    out = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
           "Background letter frequencies",
           " ".join(f"{b} {p:.3f}" for b, p in zip("ACGT", background)), ""]
    for motif in motifs:
        out += [f"MOTIF {motif.matrix_id} {motif.name}",
                f"letter-probability matrix: alength= 4 w= {motif.width} nsites= 20 E= 0"]
        out += [" ".join(f"{p:.6f}" for p in column) for column in motif.probabilities.T]
        out.append("")
    Path(path).write_text("\n".join(out) + "\n")
    return Path(path)
