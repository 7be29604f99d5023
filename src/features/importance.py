"""Feature importance tables of the models on Sei features: LR weights and LightGBM importances.

Each LR or LGBM run writes `importance.csv` (this module owns the name): one row per Sei output,
most important first, with its Sei target name split into assay and cell type.
Plot_importance.py reads two of them for the paper's bar plot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io import atomic_write_text
from ..runs import newest_run

IMPORTANCE_FILE = "importance.csv"
IMPORTANCE_PLOT = "importance_top20.png"  # the paper's bar plot, in the comparison folder


def split_target_name(name: str) -> tuple[str, str]:
    """Sei target name `cell type | assay target | source` -> (assay target, cell type)."""
    parts = [part.strip() for part in name.split("|")]
    return (parts[1], parts[0]) if len(parts) >= 2 else (name.strip(), "")


def importance_table(names: Sequence[str], values: dict[str, np.ndarray], rank_by: str,
                     by_magnitude: bool = False) -> pd.DataFrame:
    """One row per feature, most important first.

    Parameters
    ----------
    names : (F,) Sei target names
    values : columns of per-feature numbers, each (F,)
    rank_by : the column of `values` to sort by (descending; ties keep column order)
    by_magnitude : sort by the absolute value (LR weights of either sign)

    Returns
    -------
    DataFrame with rank, column (0-based index in the data file), name, assay, cell_type and
    the `values` columns.
    """
    split = [split_target_name(n) for n in names]
    frame = pd.DataFrame({"column": np.arange(len(names)), "name": list(names),
                          "assay": [s[0] for s in split], "cell_type": [s[1] for s in split],
                          **{k: np.asarray(v) for k, v in values.items()}})
    key = np.abs(frame[rank_by].to_numpy()) if by_magnitude else frame[rank_by].to_numpy()
    frame = frame.iloc[np.argsort(-key, kind="stable")].reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame


IMPORTANCE_COLUMNS = {"LR": "weight", "LGBM": "importance"}


def top_importance(table: pd.DataFrame, model: str, top: int = 20) -> pd.DataFrame:
    """The `top` rows of an importance table, most important first: LR by |weight| (the sign
    kept), LightGBM by importance. Adds `value` (the weight or importance)."""
    values = table[IMPORTANCE_COLUMNS[model]]
    key = values.abs() if model == "LR" else values
    chosen = table.loc[key.sort_values(ascending=False, kind="stable").index].head(top).copy()
    chosen["value"] = chosen[IMPORTANCE_COLUMNS[model]]
    chosen["cell_type"] = chosen["cell_type"].fillna("")
    return chosen.reset_index(drop=True)


def read_importance_table(path: str | Path, model: str) -> tuple[pd.DataFrame, Path]:
    """The importance.csv of an LR or LGBM run, found from a run folder, the CSV itself, or a
    results folder (then its newest run with an importance.csv). Returns (table, csv path).

    Raises
    ------
    InputError
        Nothing found, or the table is not the `model`'s (LR tables have `weight`, LightGBM
        tables `importance`).
    """
    path = Path(path)
    flag = f"--{model.lower()}"
    if path.is_dir():
        run = newest_run(path, IMPORTANCE_FILE)
        if run is None:
            raise InputError(f"{flag} {path}: no importance.csv in this folder or its run "
                             f"folders; pass a run folder written by {model}.py")
        path = run / IMPORTANCE_FILE
    elif not path.is_file():
        raise InputError(f"{flag} {path}: not found; pass a run folder of {model}.py (or its "
                         f"importance.csv)")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"{path} is not a readable importance table ({err})") from None
    column = IMPORTANCE_COLUMNS[model]
    missing = [c for c in ("assay", "cell_type", column) if c not in table.columns]
    if missing:
        other = [m for m, c in IMPORTANCE_COLUMNS.items() if m != model and c in table.columns]
        hint = (f"it is the table of a {other[0]}.py run: pass it with --{other[0].lower()}"
                if other
                else f"pass the importance.csv of a {model}.py run")
        raise InputError(f"{path} has no column(s) {', '.join(missing)}: {hint}")
    if table.empty:
        raise InputError(f"{path} has no rows: pass the importance.csv of a finished {model}.py "
                         f"run")
    values = pd.to_numeric(table[column], errors="coerce")
    if not np.isfinite(values.to_numpy(dtype=float)).all():
        row = int(np.argmax(~np.isfinite(values.to_numpy(dtype=float))))
        raise InputError(f"{path}, line {row + 2}: {column} {table[column].iloc[row]!r} is not a "
                         f"finite number; the table was edited or damaged: write it again with "
                         f"{model}.py")
    table[column] = values
    return table, path


def write_importance_table(folder: str | Path, table: pd.DataFrame) -> Path:
    """Write `importance.csv` into a run folder; returns its path."""
    path = Path(folder) / IMPORTANCE_FILE
    atomic_write_text(path, table.to_csv(index=False, float_format="%.6g"))
    return path
