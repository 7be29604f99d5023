"""Hot-spot windows: where a sequence's attribution is high, cut windows of fixed width.

A position's score is, by `hot_spot_rule` (`position_scores`), the largest of its four bases'
attributions (`max_base`, the study's code) or their sum (`sum`). Two placements
(`window_placement`):

`study` (`study_windows`), the rule of the study's code (attribution_utils.motif_indices): a
    position is hot when its score exceeds `threshold` x the sequence's maximum; scanning i =
    0, 1, ..., a window [i, i + w) is emitted when position i + w/2 is hot and i is more than 1
    past the start of the previous window (the first start counts from 0, so i >= 2). Windows
    thus overlap (every 2 bp along a run of hot positions), the first w/2 + 1 positions are never
    centres, and a window past the 3' end is cut short.
`cover` (`hot_spot_windows`): hot spots reach `threshold` x the maximum; around the strongest one
    a window is cut, every hot spot inside it is covered, and the next uncovered one gets the next
    window. A window that would cross a sequence end is shifted inside the sequence (it keeps its
    full width and its real attributions); only a sequence shorter than the window gives a shorter
    window.

Saved by `Attribute.py -i` (this module owns the names): `windows.csv` (one row per window),
`attributions.npz` (the (4, w) attribution matrix of each window) and `integration.json`
(counts, background, settings).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.encoding import CODE_LETTERS
from ..errors import InputError
from ..io import atomic_write, atomic_write_text, require_files

CLASS_NAMES = {0: "non-IR", 1: "IR"}
WINDOWS_FILE = "windows.csv"
ATTRIBUTIONS_FILE = "attributions.npz"
SUMMARY_FILE = "integration.json"
WINDOW_COLUMNS = ("window", "class", "label", "header", "split", "reverse_complement", "start",
                  "end", "peak", "peak_score", "window_score", "probability", "ig_delta",
                  "sequence")
HOT_SPOT_RULES = ("max_base", "sum")
PLACEMENTS = ("study", "cover")


def position_scores(attributions: np.ndarray, rule: str = "max_base") -> np.ndarray:
    """The score of each position: (..., 4, L) attributions -> (..., L).

    rule : "max_base" = the largest of the four bases' attributions (the study's code; in a
        one-hot input the bases that are absent get attributions too, of the opposite sign to
        their gradient), "sum" = their sum (the position's share of the logit change)
    """
    if rule == "max_base":
        return attributions.max(axis=-2)
    if rule == "sum":
        return attributions.sum(axis=-2)
    raise ValueError(f"unknown hot_spot_rule {rule!r}; use one of {HOT_SPOT_RULES}")


def study_windows(scores: np.ndarray, start: int, end: int, threshold: float,
                  window: int) -> list[tuple[int, int, int]]:
    """Windows of one sequence by the study's rule (see the module docstring).

    Parameters
    ----------
    scores : np.ndarray (L,), score per position (`position_scores`)
    start, end : the real sequence occupies columns [start, end) (the rest is padding)
    threshold : a position is hot when its score is > threshold x the maximum over the sequence
    window : window width w

    Returns
    -------
    list of (window_start, window_end, centre) columns, left to right; window_end is cut at `end`
    """
    region = scores[start:end]
    half = window // 2
    if len(region) <= half:
        return []
    top = float(region.max())
    if not top > 0:
        return []
    candidates = np.nonzero(region[half:] > threshold * top)[0]  # i with i + half hot
    windows, last = [], 0
    for i in candidates.tolist():
        if i - last > 1:
            last = i
            windows.append((start + i, start + min(i + window, len(region)), start + i + half))
    return windows


def hot_spot_windows(scores: np.ndarray, start: int, end: int, threshold: float,
                     window: int) -> list[tuple[int, int, int]]:
    """Windows around the hot spots of one sequence.

    Parameters
    ----------
    scores : np.ndarray (L,), attribution per position (summed over bases)
    start, end : the real sequence occupies columns [start, end) (the rest is padding)
    threshold : a hot spot scores >= threshold x the maximum over the sequence
    window : window width w

    Returns
    -------
    list of (window_start, window_end, peak) columns, strongest peak first. Every hot spot lies in
    some window; each window is centred on its peak unless that would cross a sequence end, in
    which case it is shifted to lie inside [start, end). A sequence shorter than w gives one
    window [start, end). No hot spot when the maximum is not positive.
    """
    region = scores[start:end]
    if len(region) == 0:
        return []
    top = float(region.max())
    if not top > 0:
        return []
    hot = np.nonzero(region >= threshold * top)[0] + start
    order = hot[np.argsort(-scores[hot], kind="stable")]
    covered = np.zeros(len(scores), dtype=bool)
    windows = []
    for peak in order:
        if covered[peak]:
            continue
        if end - start <= window:
            lo, hi = start, end
        else:
            lo = min(max(int(peak) - window // 2, start), end - window)
            hi = lo + window
        covered[lo:hi] = True
        windows.append((lo, hi, int(peak)))
    return windows


def cut_windows(attributions: np.ndarray, codes: np.ndarray, starts: np.ndarray,
                ends: np.ndarray, threshold: float, window: int, scores: np.ndarray,
                placement: str = "study"
                ) -> tuple[list[tuple[int, int, int, int]], np.ndarray, list[str]]:
    """Hot-spot windows of N sequences.

    Parameters
    ----------
    attributions : (N, 4, L) float; codes : (N, L) uint8 base codes
    starts, ends : (N,), the real sequence of row i occupies columns [starts[i], ends[i])
    threshold, window : as `study_windows` / `hot_spot_windows`
    scores : (N, L) score per position (`position_scores` of `attributions`, by the hot-spot
        rule); placement : "study" (`study_windows`) or "cover" (`hot_spot_windows`)

    Returns
    -------
    spans : list of (row, window_start, window_end, peak) in columns, rows in order
    matrices : (M, 4, window) float32 attribution of each window (zero past a short window's end)
    sequences : the M window sequences (letters)
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown window_placement {placement!r}; use one of {PLACEMENTS}")
    place = study_windows if placement == "study" else hot_spot_windows
    spans, matrices, sequences = [], [], []
    for row in range(len(attributions)):
        for lo, hi, peak in place(scores[row], int(starts[row]), int(ends[row]), threshold,
                                  window):
            matrix = np.zeros((4, window), dtype=np.float32)
            matrix[:, :hi - lo] = attributions[row, :, lo:hi]
            matrices.append(matrix)
            spans.append((row, lo, hi, peak))
            sequences.append("".join(CODE_LETTERS[codes[row, lo:hi]]))  # no padding here
    stacked = np.stack(matrices) if matrices else np.zeros((0, 4, window), dtype=np.float32)
    return spans, stacked, sequences


@dataclass
class Windows:
    """Hot-spot windows: one table row and one attribution matrix per window.

    table : DataFrame with `WINDOW_COLUMNS`; start, end, peak are 0-based positions in the
        sequence (without padding) on the strand of the row (a `_r` header is the reverse
        complement)
    attributions : np.ndarray (M, 4, w) float32; columns past a window's end are zero
    summary : counts, settings and background (integration.json)
    maps : the full attribution maps of the attributed sequences (`src.interpret.maps`), set by
        `-i` and saved by it apart from the windows; None when the windows were read back
    """

    table: pd.DataFrame
    attributions: np.ndarray
    summary: dict
    maps: object = field(default=None, repr=False, compare=False)

    @property
    def is_ir(self) -> np.ndarray:
        return self.table["label"].to_numpy() == 1


def save_windows(folder: Path, windows: Windows) -> None:
    """Write windows.csv, attributions.npz and integration.json into `folder` (atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / WINDOWS_FILE, windows.table.to_csv(index=False))

    def write(tmp):  # a file object: given a name without .npz, numpy would append one
        with open(tmp, "wb") as out:
            np.savez_compressed(out, attributions=windows.attributions,
                                window=windows.table["window"].to_numpy())

    atomic_write(folder / ATTRIBUTIONS_FILE, write)
    atomic_write_text(folder / SUMMARY_FILE, json.dumps(windows.summary, indent=2) + "\n")


def load_windows(folder: Path) -> Windows:
    """Read what `save_windows` wrote; a missing or inconsistent file is an `InputError`."""
    paths = [folder / WINDOWS_FILE, folder / ATTRIBUTIONS_FILE, folder / SUMMARY_FILE]
    require_files(paths, ": run Attribute.py with -i first (it computes the hot-spot windows "
                         "that -b scans), with the same -m and -r")
    try:
        table = pd.read_csv(paths[0], dtype={"header": str, "sequence": str, "class": str,
                                             "split": str}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"{paths[0]} is not a readable windows table ({err}); rerun -i") from None
    absent = [c for c in WINDOW_COLUMNS if c not in table.columns]
    if absent:
        raise InputError(f"{paths[0]} lacks the column(s) {', '.join(absent)}: it was not "
                         f"written by Attribute.py -i; rerun -i")
    if not set(table["label"].unique()) <= {0, 1}:
        raise InputError(f"{paths[0]}: the label column must hold 0 or 1; rerun -i")
    try:
        with np.load(paths[1], allow_pickle=False) as stored:
            attributions = stored["attributions"]
            ids = stored["window"]
        summary = json.loads(paths[2].read_text())
    # a damaged file: BadZipFile, KeyError, ValueError (JSON, pickled arrays), OSError, ...
    except Exception as err:  # noqa: BLE001
        raise InputError(f"{folder}: the saved windows cannot be read ({err}); rerun -i") from None
    if len(ids) != len(table) or not np.array_equal(ids, table["window"].to_numpy()):
        raise InputError(f"{paths[0]} and {paths[1]} describe different windows (edited or from "
                         f"two runs); rerun -i")
    if not isinstance(summary, dict):
        raise InputError(f"{paths[2]} is not the JSON object that -i writes; rerun -i")
    for key in ("counts", "background", "window"):
        if key not in summary:
            raise InputError(f"{paths[2]} lacks '{key}'; rerun -i")
    width = summary["window"]
    if not (isinstance(width, int) and attributions.ndim == 3
            and attributions.shape[:2] == (len(table), 4) and attributions.shape[2] == width
            and np.shape(summary["background"]) == (4,)):
        raise InputError(f"{folder}: the window width in {paths[2].name}, the background and "
                         f"the attributions of {paths[1].name} do not fit together (edited?); "
                         f"rerun -i")
    return Windows(table, attributions, summary)


def is_complete(folder: str | Path) -> bool:
    """The files of `Attribute.py -i` are in `folder`."""
    folder = Path(folder)
    return all((folder / name).is_file() for name in (WINDOWS_FILE, ATTRIBUTIONS_FILE,
                                                      SUMMARY_FILE))
