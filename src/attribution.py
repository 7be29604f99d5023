"""Integrated Gradients hot spots of a sequence model, and the Attribute.py workflow (DESIGN 7).

Steps, each rerunnable on its own:

`-i` (integrate)
    1. Rebuild the valid + test sequences of the model's data (and their reverse complements, as
       the checkpoint's config says) with `src.data`.
    2. Keep the sequences predicted correctly with probability above the prediction threshold,
       per class: an IR (label 1) sequence needs P(IR) > p, a non-IR (label 0) one P(non-IR) > p.
    3. Integrated Gradients (captum) towards the true class logit, from a uniform 0.25 baseline,
       with the completeness error (convergence delta) checked and reported.
    4. Per position, the attribution summed over the four bases; hot spots are the positions
       whose score reaches `ig_threshold` x the sequence's maximum. Around the strongest hot spot
       a window of `window` bp is cut, every hot spot inside it is covered, and the next
       uncovered one gets the next window. A window that would cross a sequence end is shifted
       inside the sequence (it keeps its full width and its real attributions); only a sequence
       shorter than the window gives a shorter window.
    5. Saved: `windows.csv` (one row per window), `attributions.npz` (the (4, w) attribution
       matrix of each window) and `integration.json` (counts, background, settings).

`-b` (bind)
    Scan every window with every motif (`src.scanning`), compare IR and non-IR windows
    (`src.enrichment`), and write `enrichment.csv`, `nsites.txt`, `motif_hits.csv` and figures.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .config import AttributeConfig, SequenceDataConfig, config_to_dict
from .data import DATA_FILE, SPLITS, augment_rows, load_split_indices, read_sequence_table
from .encoding import CODE_TO_ONE_HOT, LETTERS, PAD_CODE, codes_to_one_hot, encode_codes, \
    reverse_complement_codes
from .errors import InputError
from .runs import atomic_write_text, elapsed
from .training import choose_device

CLASS_NAMES = {0: "non-IR", 1: "IR"}
WINDOWS_FILE = "windows.csv"
ATTRIBUTIONS_FILE = "attributions.npz"
SUMMARY_FILE = "integration.json"
WINDOW_COLUMNS = ("window", "class", "label", "header", "split", "reverse_complement", "start",
                  "end", "peak", "peak_score", "window_score", "probability", "ig_delta",
                  "sequence")
_LETTERS = np.array(["N"] + list(LETTERS))  # code -> letter (padding never reaches a window)




# ----------------------------------------------------------------------------------------------
# data and model


@dataclass
class AttributionData:
    """The sequences attribution considers: valid + test rows (reverse complements appended).

    codes : np.ndarray (N, L) uint8, centred in padding like the model's input
    starts, ends : np.ndarray (N,), the columns of the real sequence, [start, end)
    background : np.ndarray (4,), base composition A, C, G, T of these sequences
    """

    headers: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    is_reverse_complement: np.ndarray
    codes: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    background: np.ndarray
    data_path: Path

    def __len__(self) -> int:
        return len(self.labels)


def data_config_from_checkpoint(checkpoint: dict, path: str | Path,
                                data_path: str | None = None) -> SimpleNamespace:
    """The data settings of the run that trained the model: data_path, sequence_length, the
    reverse-complement protocol and the split seed (only used when no split files exist)."""
    config = checkpoint.get("config") or {}
    if "sequence_length" not in config or "data_path" not in config:
        raise InputError(
            f"{path} is a {checkpoint.get('model_name')} checkpoint without sequence settings "
            f"(sequence_length, data_path) in its config: Attribute.py needs a model that reads "
            f"one-hot DNA (FSei, ConvNet, Basset)")
    known = {k: config[k] for k in SequenceDataConfig.model_fields if k in config}
    try:
        data = SequenceDataConfig.model_validate(known)
    except Exception as err:  # noqa: BLE001 - a damaged config is the user's problem to fix
        raise InputError(f"{path}: the data settings stored in the checkpoint are invalid "
                         f"({err})") from None
    settings = data.model_dump()
    if data_path is not None:
        settings["data_path"] = data_path
    settings["seed"] = config.get("seed", 100)
    return SimpleNamespace(**settings)


def load_attribution_data(data_config, splits=("valid", "test")) -> AttributionData:
    """Valid + test sequences of the model's data, encoded as the model saw them."""
    data_dir = Path(data_config.data_path)
    table = read_sequence_table(data_dir / DATA_FILE)
    indices = load_split_indices(data_dir, len(table), seed=data_config.seed)
    parts = []
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}")
        rows = augment_rows(table, indices[split], data_config.use_reverse_complement,
                            data_config.targets_for_reverse_complement)
        parts.append((split, rows))
    source_rows = np.concatenate([rows.source_rows for _, rows in parts])
    unique_rows, inverse = np.unique(source_rows, return_inverse=True)
    unique_codes = encode_codes([table.sequences[r] for r in unique_rows],
                                data_config.sequence_length, source=str(table.path),
                                describe_row=lambda i: table.describe_row(int(unique_rows[i])))
    codes = unique_codes[inverse]
    is_rc = np.concatenate([rows.is_reverse_complement for _, rows in parts])
    if is_rc.any():
        codes[is_rc] = reverse_complement_codes(codes[is_rc])
    present = codes != PAD_CODE
    starts = np.argmax(present, axis=1)
    ends = codes.shape[1] - np.argmax(present[:, ::-1], axis=1)
    counts = np.bincount(codes.ravel(), minlength=len(CODE_TO_ONE_HOT)) @ CODE_TO_ONE_HOT
    return AttributionData(
        headers=np.concatenate([rows.headers for _, rows in parts]),
        labels=np.concatenate([rows.labels for _, rows in parts]),
        splits=np.concatenate([np.full(len(rows.labels), split, dtype=object)
                               for split, rows in parts]),
        is_reverse_complement=is_rc, codes=codes, starts=starts.astype(np.int64),
        ends=ends.astype(np.int64), background=counts / counts.sum(), data_path=data_dir)


def check_sequence_model(model: nn.Module, length: int, device: torch.device,
                         path: str | Path = "model") -> None:
    """Check the model contract on one sequence: (1, 4, L) one-hot in, (1, 2) logits out."""
    try:
        with torch.no_grad():
            out = model(torch.full((1, 4, length), 0.25, device=device))
    except Exception as err:  # noqa: BLE001 - any failure means the contract does not hold
        raise InputError(f"{path}: the {getattr(model, 'model_name', 'model')} model does not take "
                         f"one-hot DNA of shape (N, 4, {length}) ({type(err).__name__}: {err}); "
                         f"Attribute.py needs a sequence model such as FSei, ConvNet or "
                         f"Basset") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, 2):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise InputError(f"{path}: the model returns {shape} for one sequence, not (1, 2) logits")


class _Borrowed:
    """Context manager: a model on `device` in eval mode, put back as it was afterwards."""

    def __init__(self, model: nn.Module, device: torch.device):
        self.model, self.device = model, device

    def __enter__(self):
        self.training = self.model.training
        first = next(self.model.parameters(), None)
        self.original = first.device if first is not None else torch.device("cpu")
        self.model.to(self.device).eval()
        return self.model

    def __exit__(self, *exc):
        self.model.to(self.original).train(self.training)
        return False


def predict_probabilities(model: nn.Module, codes: np.ndarray, device: torch.device,
                          batch_size: int = 256, progress: bool = True) -> np.ndarray:
    """Class probabilities of every sequence.

    Parameters
    ----------
    codes : np.ndarray, shape (N, L), uint8 base codes

    Returns
    -------
    np.ndarray, shape (N, 2), float64: softmax of the logits (P(non-IR), P(IR)).
    """
    out = []
    with _Borrowed(model, device), torch.no_grad():
        for start in tqdm(range(0, len(codes), batch_size), desc="predicting", leave=False,
                          disable=not progress or None):
            x = codes_to_one_hot(torch.from_numpy(codes[start:start + batch_size]).to(device))
            out.append(model(x).float().softmax(dim=1).cpu())
    return torch.cat(out).double().numpy() if out else np.zeros((0, 2))


def select_confident(labels: np.ndarray, probabilities: np.ndarray, threshold: float,
                     label: int) -> np.ndarray:
    """Rows of class `label` predicted as that class with probability above `threshold`.

    Both conditions are explicit: the row's label equals `label` (so label 0 is a class, not
    "false"), the predicted class is `label`, and P(label) > threshold.

    Returns
    -------
    np.ndarray of int64 row numbers, ascending.
    """
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities)
    correct = probabilities.argmax(axis=1) == label
    confident = probabilities[:, label] > threshold
    return np.nonzero((labels == label) & correct & confident)[0].astype(np.int64)


def uniform_baseline(x: torch.Tensor) -> torch.Tensor:
    """0.25 for each base where the input has a base, 0 in padding columns (which then get no
    attribution); for the study's fixed-length sequences this is the uniform 0.25 baseline."""
    return 0.25 * x.sum(dim=1, keepdim=True).expand_as(x)


def integrated_gradients(model: nn.Module, x: torch.Tensor, targets: torch.Tensor,
                         steps: int = 50, method: str = "gausslegendre"
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integrated Gradients of the target logit, from the uniform baseline (captum).

    Parameters
    ----------
    model : in eval mode, on the device of `x`
    x : torch.Tensor, shape (B, 4, L), one-hot
    targets : torch.Tensor, shape (B,), int64 class of each sequence (the true label)

    Returns
    -------
    attributions : (B, 4, L) float32
    delta : (B,) completeness error, sum(attributions) - (F(x) - F(baseline)) of the target logit
    change : (B,) F(x) - F(baseline) of the target logit, to put `delta` in proportion
    """
    from captum.attr import IntegratedGradients

    ig = IntegratedGradients(model)
    attributions, delta = ig.attribute(x, baselines=uniform_baseline(x), target=targets,
                                       n_steps=steps, method=method,
                                       return_convergence_delta=True)
    attributions = attributions.detach().float()
    delta = delta.detach().float()
    change = attributions.sum(dim=(1, 2)) - delta
    return attributions, delta, change


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


@dataclass
class Windows:
    """Hot-spot windows: one table row and one attribution matrix per window.

    table : DataFrame with `WINDOW_COLUMNS`; start, end, peak are 0-based positions in the
        sequence (without padding) on the strand of the row (a `_r` header is the reverse
        complement)
    attributions : np.ndarray (M, 4, w) float32; columns past a window's end are zero
    summary : counts, settings and background (integration.json)
    """

    table: pd.DataFrame
    attributions: np.ndarray
    summary: dict

    @property
    def is_ir(self) -> np.ndarray:
        return self.table["label"].to_numpy() == 1


def compute_windows(model: nn.Module, data: AttributionData, config: AttributeConfig,
                    device: torch.device, log=print, progress: bool = True) -> Windows:
    """The -i step: select confident sequences, Integrated Gradients, hot-spot windows."""
    w = config.window
    probabilities = predict_probabilities(model, data.codes, device, config.batch_size, progress)
    selected = {label: select_confident(data.labels, probabilities, config.prediction_threshold,
                                        label) for label in (0, 1)}
    counts = {}
    for label, rows in selected.items():
        considered = int((data.labels == label).sum())
        counts[CLASS_NAMES[label]] = {"considered": considered, "selected": len(rows)}
        log(f"{CLASS_NAMES[label]}: {len(rows)} of {considered} sequences predicted correctly "
            f"with probability > {config.prediction_threshold}")
        if len(rows) == 0:
            raise InputError(
                f"no {CLASS_NAMES[label]} sequence (label {label}) of the valid and test splits "
                f"is predicted correctly with probability above {config.prediction_threshold}: "
                f"lower the prediction threshold (-p) or use a better model")
    order = np.sort(np.concatenate(list(selected.values())))
    per_call = max(1, config.batch_size // config.ig_steps)
    rows_out, attributions, deltas, changes = [], [], [], []
    start_time = time.perf_counter()
    bar = tqdm(total=len(order), desc="integrated gradients", unit="seq", leave=False,
               disable=not progress or None)
    with _Borrowed(model, device):
        for begin in range(0, len(order), per_call):
            batch = order[begin:begin + per_call]
            x = codes_to_one_hot(torch.from_numpy(data.codes[batch]).to(device))
            targets = torch.from_numpy(data.labels[batch]).to(device)
            attribution, delta, change = integrated_gradients(model, x, targets,
                                                              config.ig_steps, config.ig_method)
            attribution = attribution.cpu().numpy()
            scores = attribution.sum(axis=1)
            deltas.append(delta.cpu().numpy())
            changes.append(change.cpu().numpy())
            for i, row in enumerate(batch):
                start, end = int(data.starts[row]), int(data.ends[row])
                for lo, hi, peak in hot_spot_windows(scores[i], start, end, config.ig_threshold,
                                                     w):
                    matrix = np.zeros((4, w), dtype=np.float32)
                    matrix[:, :hi - lo] = attribution[i, :, lo:hi]
                    attributions.append(matrix)
                    label = int(data.labels[row])
                    rows_out.append({
                        "class": CLASS_NAMES[label], "label": label,
                        "header": data.headers[row], "split": data.splits[row],
                        "reverse_complement": bool(data.is_reverse_complement[row]),
                        "start": lo - start, "end": hi - start, "peak": peak - start,
                        "peak_score": float(scores[i, peak]),
                        "window_score": float(scores[i, lo:hi].sum()),
                        "probability": float(probabilities[row, label]),
                        "ig_delta": float(delta[i]),
                        "sequence": "".join(_LETTERS[data.codes[row, lo:hi]]),
                    })
            bar.update(len(batch))
    bar.close()
    deltas, changes = np.concatenate(deltas), np.concatenate(changes)
    # delta in proportion to the logit change; a change near zero is measured against a tenth
    # of the typical change instead, so that it does not blow the ratio up
    scale = np.maximum(np.abs(changes), 0.1 * np.median(np.abs(changes)) + 1e-6)
    relative = np.abs(deltas) / scale
    table = pd.DataFrame(rows_out, columns=[c for c in WINDOW_COLUMNS if c != "window"])
    table.insert(0, "window", np.arange(len(table)))
    attributions = (np.stack(attributions) if attributions
                    else np.zeros((0, 4, w), dtype=np.float32))
    for label, name in CLASS_NAMES.items():
        of_class = table[table["label"] == label]
        counts[name]["with_hot_spots"] = int(of_class["header"].nunique())
        counts[name]["windows"] = int(len(of_class))
    delta_summary = {"median_abs": float(np.median(np.abs(deltas))),
                     "max_abs": float(np.abs(deltas).max()),
                     "median_relative": float(np.median(relative)),
                     "p95_relative": float(np.percentile(relative, 95)),
                     "max_relative": float(relative.max()),
                     "fraction_above_tolerance":
                         float((relative > config.max_relative_delta).mean()),
                     "tolerance": config.max_relative_delta}
    log(f"integrated gradients of {len(order)} sequences ({config.ig_steps} steps, "
        f"{config.ig_method}) in {elapsed(start_time)}: {len(table)} hot-spot windows of {w} bp; "
        f"convergence delta median {delta_summary['median_relative']:.2e}, 95th percentile "
        f"{delta_summary['p95_relative']:.2e} of the logit change")
    if delta_summary["fraction_above_tolerance"] > 0.05:
        log(f"warning: for {100 * delta_summary['fraction_above_tolerance']:.1f}% of the "
            f"sequences the attributions miss the logit change by more than "
            f"{100 * config.max_relative_delta:g}% (convergence delta): raise --steps")
    summary = {"counts": counts, "background": data.background.tolist(),
               "convergence_delta": delta_summary, "window": w,
               "ig_threshold": config.ig_threshold,
               "prediction_threshold": config.prediction_threshold,
               "ig_steps": config.ig_steps, "ig_method": config.ig_method,
               "data_path": str(data.data_path)}
    return Windows(table, attributions, summary)


def save_windows(folder: Path, windows: Windows) -> None:
    """Write windows.csv, attributions.npz and integration.json into `folder` (atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / WINDOWS_FILE, windows.table.to_csv(index=False))
    tmp = folder / f".{ATTRIBUTIONS_FILE}.tmp.npz"
    np.savez_compressed(tmp, attributions=windows.attributions,
                        window=windows.table["window"].to_numpy())
    tmp.replace(folder / ATTRIBUTIONS_FILE)
    atomic_write_text(folder / SUMMARY_FILE, json.dumps(windows.summary, indent=2) + "\n")


def load_windows(folder: Path) -> Windows:
    """Read what `save_windows` wrote; a missing or inconsistent file is an `InputError`."""
    paths = [folder / WINDOWS_FILE, folder / ATTRIBUTIONS_FILE, folder / SUMMARY_FILE]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputError(f"{', '.join(missing)} not found: run Attribute.py with -i first (it "
                         f"computes the hot-spot windows that -b scans), with the same -m and -r")
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


# ----------------------------------------------------------------------------------------------
# the Attribute.py workflow


def resolve_model_path(model: str | Path) -> Path:
    """-m accepts a checkpoint or a run folder (its best.pt)."""
    path = Path(model)
    if path.is_dir():
        path = path / "best.pt"
    if not path.is_file():
        raise InputError(f"checkpoint {path} not found: pass a run's best.pt (or its run folder) "
                         f"with -m")
    return path


def output_folder(model_path: Path, result: str) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", result) or result in (".", ".."):
        raise InputError(f"-r {result!r}: the result name must be a plain folder name (letters, "
                         f"digits, '_', '-', '.'); it is created inside the model's run folder")
    return model_path.parent / result


def run_attribution(config: AttributeConfig, model: str | Path, integrate: bool, bind: bool,
                    force: bool = False, progress: bool = True, window_given: bool = False
                    ) -> Path:
    """Carry out Attribute.py: `integrate` (-i) and/or `bind` (-b); returns the output folder.

    `window_given`: -w was on the command line (with -b alone it must match the saved windows).
    """
    from .runs import Run, close_logger

    if not (integrate or bind):
        raise InputError("nothing to do: add -i to compute the hot-spot windows and/or -b to scan "
                         "them with motifs")
    model_path = resolve_model_path(model)
    folder = output_folder(model_path, config.result)
    if integrate and (folder / WINDOWS_FILE).exists() and not force:
        raise InputError(f"{folder / WINDOWS_FILE} already exists: choose another result name "
                         f"with -r, run only -b to rescan those windows, or pass --force to "
                         f"replace them")
    motifs = None
    if bind:  # read the motif database first: a typo should fail before an hour of IG
        from .motifs import load_motifs

        motifs = load_motifs(config.database)
    if bind and not integrate:
        windows = load_windows(folder)
        if windows.summary["window"] != config.window and window_given:
            raise InputError(f"the windows in {folder} are {windows.summary['window']} bp, but "
                             f"-w {config.window} was given: rerun -i to cut new windows")
    # the model and its data are read and checked before anything is written
    inputs = integration_inputs(config, model_path) if integrate else None
    folder.mkdir(parents=True, exist_ok=True)
    run = Run(folder)
    try:
        run.log.info(f"Attribute.py on {model_path} -> {folder}")
        atomic_write_text(folder / "config.json", json.dumps(
            {**config_to_dict(config), "model": str(model_path)}, indent=2, sort_keys=True) + "\n")
        if integrate:
            windows = integrate_step(config, model_path, run.log.info, progress, inputs)
            save_windows(folder, windows)
            run.log.info(f"windows: {folder / WINDOWS_FILE}")
        if bind:
            bind_step(config, windows, motifs, folder, run.log.info, progress)
        return folder
    finally:
        close_logger(run)


def integration_inputs(config: AttributeConfig, model_path: Path) -> SimpleNamespace:
    """The model (on its device, checked against the one-hot contract), its checkpoint and the
    valid + test data of `-i`, read and validated (`InputError` otherwise)."""
    from .checkpoints import load_model

    model, checkpoint = load_model(model_path)
    data_config = data_config_from_checkpoint(checkpoint, model_path, config.data_path)
    device = choose_device(config.device)
    if config.window > data_config.sequence_length:
        raise InputError(f"-w {config.window} is longer than the model's sequences "
                         f"({data_config.sequence_length} bp): choose a smaller window")
    model.to(device)
    check_sequence_model(model.eval(), data_config.sequence_length, device, model_path)
    data = load_attribution_data(data_config)
    return SimpleNamespace(model=model, checkpoint=checkpoint, data=data, device=device)


def integrate_step(config: AttributeConfig, model_path: Path, log=print,
                   progress: bool = True, inputs: SimpleNamespace | None = None) -> Windows:
    """The -i step on the inputs of `integration_inputs` (read here when not given)."""
    inputs = inputs or integration_inputs(config, model_path)
    model, checkpoint, data, device = inputs.model, inputs.checkpoint, inputs.data, inputs.device
    log(f"{checkpoint['model_name']} model, {len(data)} valid + test sequences "
        f"(reverse complements: {'yes' if data.is_reverse_complement.any() else 'no'}) from "
        f"{data.data_path}, device {device}")
    windows = compute_windows(model, data, config, device, log, progress)
    windows.summary.update(model=str(model_path), model_name=checkpoint["model_name"])
    return windows


def bind_step(config: AttributeConfig, windows: Windows, motifs: list, folder: Path, log=print,
              progress: bool = True) -> pd.DataFrame:
    """The -b step: scan the windows with the motifs, rank motifs by IR enrichment, write
    enrichment.csv, nsites.txt, motif_hits.csv, top_tfs.png and the logo figures."""
    from .enrichment import format_table, motif_enrichment
    from .figures import plot_enrichment_bars, plot_motif_logos
    from .scanning import consensus, encode_windows, prepare_motifs, scan_windows, site_sequences

    summary, table = windows.summary, windows.table
    width = int(summary["window"])
    is_ir = windows.is_ir
    for name, n in (("IR", int(is_ir.sum())), ("non-IR", int((~is_ir).sum()))):
        if n == 0:
            raise InputError(f"no {name} hot-spot window in {folder / WINDOWS_FILE}: the two "
                             f"classes cannot be compared; rerun -i with a lower -p or -t")
    fitting = [m for m in motifs if m.width <= width]
    skipped = [m for m in motifs if m.width > width]
    if skipped:
        log(f"{len(skipped)} motif(s) longer than the {width} bp windows cannot hit and are left "
            f"out: {', '.join(f'{m.name} ({m.matrix_id}, {m.width} bp)' for m in skipped[:10])}"
            + (" ..." if len(skipped) > 10 else ""))
    if not fitting:
        raise InputError(f"every motif of {config.database} is longer than the {width} bp windows:"
                         f" rerun -i with a larger -w")
    motif_set = prepare_motifs(fitting, summary["background"], config.pseudocount,
                               config.hit_fraction, config.p_value)
    codes, lengths = encode_windows(table["sequence"].tolist(), width,
                                    source=str(folder / WINDOWS_FILE))
    start = time.perf_counter()
    result = scan_windows(codes, lengths, motif_set, chunk_size=config.scan_chunk_size,
                          progress=progress)
    log(f"scanned {len(table)} windows x {len(fitting)} motifs x 2 strands in {elapsed(start)}: "
        f"{len(result.sites)} hits")
    names = [m.name for m in fitting]
    ids = [m.matrix_id for m in fitting]
    ranked = motif_enrichment(result.hits, is_ir, ids, names,
                              [consensus(m.probabilities) for m in fitting], motif_set.widths)
    order = {matrix_id: i for i, matrix_id in enumerate(ids)}
    position = ranked["matrix_id"].map(order).to_numpy()
    ranked["max_score"] = motif_set.max_scores[position]
    ranked["threshold"] = motif_set.thresholds[position]
    atomic_write_text(folder / "enrichment.csv", ranked.to_csv(index=False))

    sites = result.sites
    hits_table = pd.DataFrame({
        "window": table["window"].to_numpy()[sites["window"]],
        "class": table["class"].to_numpy()[sites["window"]],
        "header": table["header"].to_numpy()[sites["window"]],
        "matrix_id": np.array(ids, dtype=object)[sites["motif"]],
        "tf": np.array(names, dtype=object)[sites["motif"]],
        "score": sites["score"].round(3),
        "threshold": motif_set.thresholds[sites["motif"]].round(3),
        "offset": sites["offset"], "strand": sites["strand"],
        "site": site_sequences(codes, sites, motif_set.widths)})
    atomic_write_text(folder / "motif_hits.csv", hits_table.to_csv(index=False))

    criterion = (f"per-site p-value <= {config.p_value:g}" if config.p_value is not None else
                 f"best score >= {config.hit_fraction:g} x the motif's best attainable log-odds "
                 f"score")
    header = _nsites_header(summary, config, len(fitting), len(skipped), criterion)
    atomic_write_text(folder / "nsites.txt", header + format_table(ranked) + "\n")
    plot_enrichment_bars(ranked, folder / "top_tfs.png", top_n=config.top_n,
                         title=f"{summary.get('model_name', '')} hot spots: motif enrichment")
    for direction, rows in (("IR", ranked[ranked["difference"] > 0].head(config.n_logos)),
                            ("non_IR", ranked[ranked["difference"] < 0].tail(config.n_logos)
                             .iloc[::-1])):
        if config.n_logos == 0 or rows.empty:
            continue
        wanted_ir = direction == "IR"
        panels = []
        for _, row in rows.iterrows():
            k = order[row["matrix_id"]]
            chosen = sites[(sites["motif"] == k) & (is_ir[sites["window"]] == wanted_ir)]
            counts, attribution = site_profiles(codes, windows.attributions, chosen,
                                                int(motif_set.widths[k]))
            panels.append({"title": f"{row['rank']}. {row['tf']} ({row['matrix_id']}): "
                                    f"{len(chosen)} {'IR' if wanted_ir else 'non-IR'} sites, "
                                    f"diff {row['difference']:+.3f}",
                           "motif": fitting[k].probabilities, "sites": counts,
                           "attribution": attribution,
                           "background": np.asarray(summary["background"])})
        plot_motif_logos(panels, folder / f"logos_{direction}.png")
    log(f"top IR-enriched motifs: " + ", ".join(
        f"{r.tf} ({r.matrix_id}, {r.difference:+.3f})" for r in ranked.head(5).itertuples()))
    log(f"tables: {folder / 'nsites.txt'}, {folder / 'enrichment.csv'}; hits: "
        f"{folder / 'motif_hits.csv'}; figures: top_tfs.png, logos_*.png")
    return ranked


def site_profiles(codes: np.ndarray, attributions: np.ndarray, sites: pd.DataFrame,
                  width: int) -> tuple[np.ndarray, np.ndarray]:
    """Base counts and mean attribution of the hit sites of one motif, on the motif's strand.

    Parameters
    ----------
    codes : (M, w) uint8 window codes (left-aligned); attributions : (M, 4, w)
    sites : rows of `ScanResult.sites` for one motif (window, offset, strand)

    Returns
    -------
    counts : (4, W) base counts of the sites
    attribution : (4, W) mean over sites of the attribution of each position (summed over bases)
        placed on the observed base, so a logo shows the bases that carried the attribution
    """
    counts = np.zeros((4, width))
    attribution = np.zeros((4, width))
    for window, offset, strand in zip(sites["window"], sites["offset"], sites["strand"]):
        one_hot = CODE_TO_ONE_HOT[codes[window, offset:offset + width]].T  # (4, W)
        scores = attributions[window][:, offset:offset + width].sum(axis=0)
        weighted = one_hot * scores
        if strand == "-":  # read on the motif's strand
            one_hot, weighted = one_hot[::-1, ::-1], weighted[::-1, ::-1]
        counts += one_hot
        attribution += weighted
    return counts, attribution / max(len(sites), 1)


def _nsites_header(summary: dict, config: AttributeConfig, n_motifs: int, n_skipped: int,
                   criterion: str) -> str:
    counts = summary["counts"]
    lines = [f"Model: {summary.get('model', '?')} ({summary.get('model_name', '?')}); data: "
             f"{summary.get('data_path', '?')} (valid + test splits)",
             f"Windows of {summary['window']} bp around positions with attribution >= "
             f"{summary['ig_threshold']} x the sequence maximum; prediction threshold "
             f"{summary['prediction_threshold']}; Integrated Gradients: {summary['ig_steps']} "
             f"steps ({summary['ig_method']})"]
    for name in ("non-IR", "IR"):
        c = counts[name]
        lines += [f"{c['considered']} total sequences associated with {name}",
                  f"{c['selected']} sequences predicted correctly with probability > "
                  f"{summary['prediction_threshold']}",
                  f"{c['with_hot_spots']} sequences are selected by IG (with hot spots)",
                  f"{c['windows']} hot spots are selected"]
    delta = summary.get("convergence_delta", {})
    if delta:
        lines.append(f"IG convergence delta (completeness error): median "
                     f"{delta['median_relative']:.2e}, 95th percentile "
                     f"{delta.get('p95_relative', float('nan')):.2e}, max "
                     f"{delta['max_relative']:.2e} of the logit change")
    lines.append("Background probabilities (A C G T): "
                 + " ".join(f"{p:.4f}" for p in summary["background"]))
    lines.append(f"Motifs: {n_motifs} from {config.database}"
                 + (f" ({n_skipped} longer than the window left out)" if n_skipped else "")
                 + f"; hit: {criterion}, either strand; pseudocount {config.pseudocount:g}")
    lines.append("Ranked by diff prob = IR proportion - non-IR proportion of windows with a hit; "
                 "two-proportion z-test, Bonferroni and Benjamini-Hochberg adjusted")
    return "\n".join(lines) + "\n\n"
