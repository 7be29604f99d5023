"""The Attribute.py workflow: Integrated Gradients hot spots of a trained sequence model, scanned
with a motif database and compared between IR and non-IR sequences.

Steps, each rerunnable on its own (outputs in `<run folder>/<-r>/`):

`-i` (integrate)
    1. Rebuild the valid + test sequences of the model's data (and their reverse complements, as
       the checkpoint's config says) (`load_attribution_data`).
    2. Keep the sequences predicted correctly with probability above the prediction threshold,
       per class: an IR (label 1) sequence needs P(IR) > p, a non-IR (label 0) one P(non-IR) > p.
    3. Integrated Gradients (`src.interpret.gradients`) towards the true class logit, from a
       uniform 0.25 baseline, with the completeness error checked and reported; with
       `ig_steps: "auto"` the steps are measured first (`src.interpret.convergence`).
    4. Hot-spot windows (`src.interpret.windows`), saved with their attributions.

`-b` (bind)
    Scan every window with every motif (`src.interpret.scanning`), compare IR and non-IR hot
    spots per window (the study's table) and per intron (`src.interpret.enrichment`), and write
    the tables and figures named below.

`-s` (de novo)
    TF-MoDISco and TOMTOM on the full attribution maps that `-i` saves (`src.interpret.maps`,
    `src.interpret.denovo`), outputs in `<result>/denovo/`.

Computing (`compute_windows`, `scan_motifs`) returns values; writing and drawing are separate
(`save_windows`, `write_motif_report`).
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

from ..config import AttributeConfig, SequenceDataConfig, config_to_dict
from ..data.encoding import (
    CODE_TO_ONE_HOT,
    PAD_CODE,
    encode_codes,
    reverse_complement_codes,
)
from ..data.sequences import DATA_FILE, SequenceTable, read_sequence_table
from ..data.splits import RC_SUFFIX, SPLITS, augment_rows, load_split_indices
from ..device import choose_device
from ..errors import InputError
from ..io import atomic_write_text
from ..runs import BEST_CHECKPOINT, CONFIG_FILE, Run, close_logger, elapsed
from .convergence import STEP_LADDER, auto_steps, steps_to_fix
from .gradients import (
    attribute_sequences,
    predict_probabilities,
    relative_delta,
    select_confident,
)
from .maps import save_attribution_maps, selected_maps
from .windows import (
    CLASS_NAMES,
    WINDOW_COLUMNS,
    WINDOWS_FILE,
    Windows,
    cut_windows,
    load_windows,
    position_scores,
    save_windows,
)

ENRICHMENT_FILE = "enrichment.csv"
NSITES_FILE = "nsites.txt"
INTRON_ENRICHMENT_FILE = "enrichment_per_intron.csv"
INTRON_NSITES_FILE = "nsites_per_intron.txt"
HITS_FILE = "motif_hits.csv"
BARS_FIGURE = "top_tfs.png"
LOGO_FIGURES = {"IR": "logos_IR.png", "non_IR": "logos_non_IR.png"}


# ----------------------------------------------------------------------------------------------
# data and model


@dataclass
class AttributionData:
    """The sequences attribution considers: valid + test rows (reverse complements appended).

    codes : np.ndarray (N, L) uint8, centred in padding like the model's input
    starts, ends : np.ndarray (N,), the columns of the real sequence, [start, end)
    background : np.ndarray (4,), base composition A, C, G, T of these sequences
    data_background : np.ndarray (4,), frequencies of the letters A, C, G, T (either case) over
        every row of final_data.csv, forward strand (the study's background)
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
    data_background: np.ndarray | None = None

    def backgrounds(self) -> dict:
        """Both backgrounds by `AttributeConfig.background` name, as lists."""
        out = {"considered": self.background.tolist()}
        if self.data_background is not None:
            out["all_data"] = self.data_background.tolist()
        return out

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
            f"one-hot DNA (FSei, ConvNet, Basset) or a DNABert2.py model")
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


def load_attribution_data(data_config, splits=("valid", "test"),
                          table: SequenceTable | None = None) -> AttributionData:
    """Valid + test sequences of the model's data, encoded as the model saw them (`table`: its
    final_data.csv when the caller has read it already)."""
    data_dir = Path(data_config.data_path)
    if table is None:
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
        ends=ends.astype(np.int64), background=counts / counts.sum(), data_path=data_dir,
        data_background=letter_composition(table.sequences))


def letter_composition(sequences: list[str]) -> np.ndarray:
    """Frequencies of the letters A, C, G, T (either case; other letters not counted) over
    `sequences`, as the study's background was computed (attribution_utils.get_IGdata).

    Returns np.ndarray (4,) summing to 1 (uniform when no such letter occurs).
    """
    text = "".join(sequences).upper()
    counts = np.array([text.count(base) for base in "ACGT"], dtype=np.float64)
    return counts / counts.sum() if counts.sum() else np.full(4, 0.25)


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


# ----------------------------------------------------------------------------------------------
# -i: confident sequences, Integrated Gradients, windows


def compute_windows(model: nn.Module, data: AttributionData, config: AttributeConfig,
                    device: torch.device, log=print, progress: bool = True,
                    methods=None) -> Windows:
    """The -i step: select confident sequences, Integrated Gradients, hot-spot windows.

    methods : for a model that does not read one-hot DNA, an object with `predict` and
        `attribute` of the signatures of `predict_probabilities` and `attribute_sequences`
        (and a `description`), e.g. `src.interpret.tokens.TokenAttribution`
    """
    predict = methods.predict if methods is not None else predict_probabilities
    attribute = methods.attribute if methods is not None else attribute_sequences
    probabilities = predict(model, data.codes, device, config.batch_size, progress)
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
    codes, targets = data.codes[order], data.labels[order]
    steps = config.ig_steps
    if steps == "auto":
        steps, _ = auto_steps(model, codes, targets, device, config.ig_method, config.batch_size,
                              config.max_relative_delta, config.max_fraction_over_delta, log,
                              attribute)
    start_time = time.perf_counter()
    result = attribute(model, codes, targets, device, steps, config.ig_method,
                       config.batch_size, progress)
    scores = position_scores(result.attributions, config.hot_spot_rule)
    spans, matrices, sequences = cut_windows(result.attributions, codes, data.starts[order],
                                             data.ends[order], config.ig_threshold,
                                             config.window, scores, config.window_placement)
    table = window_table(data, order, spans, sequences, result, probabilities, scores)
    for label, name in CLASS_NAMES.items():
        of_class = table[table["label"] == label]
        counts[name]["with_hot_spots"] = int(of_class["header"].nunique())
        counts[name]["windows"] = int(len(of_class))
    delta = convergence_summary(result.delta, result.change, config.max_relative_delta)
    log(f"integrated gradients of {len(order)} sequences ({steps} steps, "
        f"{config.ig_method}) in {elapsed(start_time)} ({result.sequences_per_second:.1f} "
        f"sequences/s, {result.precision}, {result.inputs_per_pass} inputs per pass): "
        f"{len(table)} hot-spot windows of {config.window} bp ({config.window_placement} "
        f"placement, {config.hot_spot_rule} scores); convergence delta median "
        f"{delta['median_relative']:.2e}, 95th "
        f"percentile {delta['p95_relative']:.2e} of the logit change")
    if delta["fraction_above_tolerance"] > config.max_fraction_over_delta:
        needed, _ = steps_to_fix(model, codes, targets,
                                 relative_delta(result.delta, result.change), steps, device,
                                 config.ig_method, config.batch_size, config.max_relative_delta,
                                 config.max_fraction_over_delta, attribute)
        delta["steps_needed"] = needed
        advice = (f"rerun -i with --steps {needed} (measured on a sample of those sequences)"
                  if needed else f"even {STEP_LADDER[-1]} steps do not bring them under it (on a "
                                 f"sample); the model's logit may be too rough for IG")
        log(f"warning: for {100 * delta['fraction_above_tolerance']:.1f}% of the sequences "
            f"(more than {100 * config.max_fraction_over_delta:g}%) the attributions of "
            f"{steps} steps miss the logit change by more than "
            f"{100 * config.max_relative_delta:g}% (completeness error): {advice}")
    backgrounds = data.backgrounds()
    summary = {"counts": counts, "background": backgrounds.get(config.background,
                                                              backgrounds["considered"]),
               "background_source": config.background, "backgrounds": backgrounds,
               "convergence_delta": delta, "window": config.window,
               "window_placement": config.window_placement,
               "hot_spot_rule": config.hot_spot_rule, "ig_threshold": config.ig_threshold,
               "prediction_threshold": config.prediction_threshold,
               "ig_steps": steps, "ig_steps_setting": config.ig_steps,
               "ig_method": config.ig_method, "data_path": str(data.data_path)}
    if methods is not None:
        summary["attribution"] = methods.description
    return Windows(table, matrices, summary,
                   maps=selected_maps(data, order, result, probabilities, methods))


def window_table(data: AttributionData, order: np.ndarray, spans, sequences, result,
                 probabilities: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """One row per window (`WINDOW_COLUMNS`); positions relative to the real sequence; `scores`
    (N, L) per position by the hot-spot rule (`src.interpret.windows.position_scores`)."""
    rows = []
    for (i, lo, hi, peak), sequence in zip(spans, sequences):
        row = int(order[i])
        start = int(data.starts[row])
        label = int(data.labels[row])
        rows.append({
            "class": CLASS_NAMES[label], "label": label, "header": data.headers[row],
            "split": data.splits[row],
            "reverse_complement": bool(data.is_reverse_complement[row]),
            "start": lo - start, "end": hi - start, "peak": peak - start,
            "peak_score": float(scores[i, peak]), "window_score": float(scores[i, lo:hi].sum()),
            "probability": float(probabilities[row, label]), "ig_delta": float(result.delta[i]),
            "sequence": sequence})
    table = pd.DataFrame(rows, columns=[c for c in WINDOW_COLUMNS if c != "window"])
    table.insert(0, "window", np.arange(len(table)))
    return table


def convergence_summary(delta: np.ndarray, change: np.ndarray, tolerance: float) -> dict:
    """Completeness errors of the attributions, absolute and relative to the logit change."""
    relative = relative_delta(delta, change)
    return {"median_abs": float(np.median(np.abs(delta))), "max_abs": float(np.abs(delta).max()),
            "median_relative": float(np.median(relative)),
            "p95_relative": float(np.percentile(relative, 95)),
            "max_relative": float(relative.max()),
            "fraction_above_tolerance": float((relative > tolerance).mean()),
            "tolerance": tolerance}


# ----------------------------------------------------------------------------------------------
# the Attribute.py workflow


def resolve_model_path(model: str | Path) -> Path:
    """-m accepts a checkpoint or a run folder (its best.pt)."""
    path = Path(model)
    if path.is_dir():
        path = path / BEST_CHECKPOINT
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
                    force: bool = False, progress: bool = True, window_given: bool = False,
                    denovo: bool = False) -> Path:
    """Carry out Attribute.py: `integrate` (-i), `bind` (-b) and/or `denovo` (-s, de novo motifs
    on the attribution maps that -i saves: `src.interpret.denovo`); returns the output folder.

    `window_given`: -w was on the command line (with -b alone it must match the saved windows).
    """
    if not (integrate or bind or denovo):
        raise InputError("nothing to do: add -i to compute the hot-spot windows, -b to scan "
                         "them with motifs and/or -s to find motifs de novo")
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
    if denovo:  # de novo's inputs and database, checked before any work too
        from .denovo import denovo_step, prepare_denovo

        denovo_motifs = prepare_denovo(folder, config, integrate, inputs, motifs)
    folder.mkdir(parents=True, exist_ok=True)
    run = Run(folder)
    try:
        run.log.info(f"Attribute.py on {model_path} -> {folder}")
        atomic_write_text(folder / CONFIG_FILE, json.dumps(
            {**config_to_dict(config), "model": str(model_path)}, indent=2, sort_keys=True) + "\n")
        if integrate:
            windows = integrate_step(config, model_path, run.log.info, progress, inputs)
            save_windows(folder, windows)
            run.log.info(f"windows: {folder / WINDOWS_FILE}")
            save_attribution_maps(folder, windows.maps, log=run.log.info)
        if bind:
            scan = scan_motifs(config, windows, motifs, folder / WINDOWS_FILE, run.log.info,
                               progress)
            write_motif_report(folder, config, windows, scan, run.log.info)
        if denovo:
            denovo_step(folder, config, denovo_motifs, run.log.info)
        return folder
    finally:
        close_logger(run)


def integration_inputs(config: AttributeConfig, model_path: Path) -> SimpleNamespace:
    """The model (on its device, checked against the one-hot contract), its checkpoint and the
    valid + test data of `-i`, read and validated (`InputError` otherwise). A DNABert2.py
    checkpoint gets `src.interpret.tokens.token_integration_inputs` (with `methods`)."""
    from ..train.checkpoints import load_model

    model, checkpoint = load_model(model_path)
    from .tokens import is_token_checkpoint, token_integration_inputs

    if is_token_checkpoint(checkpoint):  # DNABert2.py's language models: token IG, per base
        return token_integration_inputs(config, model_path, model, checkpoint)
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
    windows = compute_windows(model, data, config, device, log, progress,
                              getattr(inputs, "methods", None))
    windows.summary.update(model=str(model_path), model_name=checkpoint["model_name"])
    return windows


# ----------------------------------------------------------------------------------------------
# -b: motif scan and enrichment


@dataclass
class MotifScan:
    """The -b result: fitting motifs, the scan of every window and the ranked enrichment table.

    ranked : DataFrame (`src.interpret.enrichment.TABLE_COLUMNS` + max_score, threshold), one
        count per window (the study's table)
    per_intron : DataFrame (`src.interpret.enrichment.INTRON_COLUMNS`), one count per intron
    hits : DataFrame, one row per (window, motif) hit with its best site
    """

    motifs: list
    skipped: list
    motif_set: object
    codes: np.ndarray
    sites: pd.DataFrame
    ranked: pd.DataFrame
    hits: pd.DataFrame
    criterion: str
    per_intron: pd.DataFrame | None = None


def scan_motifs(config: AttributeConfig, windows: Windows, motifs: list, source: str | Path,
                log=print, progress: bool = True) -> MotifScan:
    """Scan the windows with the motifs and rank motifs by IR enrichment (no files written).

    source : the windows file, named in error messages
    """
    from .enrichment import intron_enrichment, intron_of_windows, motif_enrichment
    from .scanning import (
        consensus,
        encode_windows,
        prepare_motifs,
        scan_windows,
        site_sequences,
    )

    summary, table = windows.summary, windows.table
    width = int(summary["window"])
    is_ir = windows.is_ir
    for name, n in (("IR", int(is_ir.sum())), ("non-IR", int((~is_ir).sum()))):
        if n == 0:
            raise InputError(f"no {name} hot-spot window in {source}: the two classes cannot be "
                             f"compared; rerun -i with a lower -p or -t")
    fitting = [m for m in motifs if m.width <= width]
    skipped = [m for m in motifs if m.width > width]
    if skipped:
        log(f"{len(skipped)} motif(s) longer than the {width} bp windows cannot hit and are left "
            f"out: {', '.join(f'{m.name} ({m.matrix_id}, {m.width} bp)' for m in skipped[:10])}"
            + (" ..." if len(skipped) > 10 else ""))
    if not fitting:
        raise InputError(f"every motif of {config.database} is longer than the {width} bp windows:"
                         f" rerun -i with a larger -w")
    background = chosen_background(summary, config.background, log)
    motif_set = prepare_motifs(fitting, background, config.pseudocount, config.hit_fraction,
                               config.p_value, config.zero_probability, config.hit_rule)
    codes, lengths = encode_windows(table["sequence"].tolist(), width, source=str(source))
    start = time.perf_counter()
    result = scan_windows(codes, lengths, motif_set, chunk_size=config.scan_chunk_size,
                          progress=progress)
    log(f"scanned {len(table)} windows x {len(fitting)} motifs x 2 strands in {elapsed(start)}: "
        f"{len(result.sites)} hits")
    names = [m.name for m in fitting]
    ids = [m.matrix_id for m in fitting]
    consensuses = [consensus(m.probabilities) for m in fitting]
    ranked = motif_enrichment(result.hits, is_ir, ids, names, consensuses, motif_set.widths)
    introns = intron_of_windows(table["header"].astype(str).to_numpy(),
                                _as_bool(table["reverse_complement"]), RC_SUFFIX)
    per_intron = intron_enrichment(result.hits, is_ir, introns, ids, names, consensuses,
                                   motif_set.widths)
    position = ranked["matrix_id"].map({matrix_id: i for i, matrix_id in enumerate(ids)})
    ranked["max_score"] = motif_set.max_scores[position.to_numpy()]
    ranked["threshold"] = motif_set.thresholds[position.to_numpy()]
    sites = result.sites
    hits = pd.DataFrame({
        "window": table["window"].to_numpy()[sites["window"]],
        "class": table["class"].to_numpy()[sites["window"]],
        "header": table["header"].to_numpy()[sites["window"]],
        "matrix_id": np.array(ids, dtype=object)[sites["motif"]],
        "tf": np.array(names, dtype=object)[sites["motif"]],
        "score": sites["score"].round(3),
        "threshold": motif_set.thresholds[sites["motif"]].round(3),
        "offset": sites["offset"], "strand": sites["strand"],
        "site": site_sequences(codes, sites, motif_set.widths)})
    if config.p_value is not None:
        criterion = f"per-site p-value <= {config.p_value:g}"
    elif config.hit_rule == "max_entry":
        criterion = (f"best score >= {config.hit_fraction:g} x the motif's largest single "
                     f"log-odds entry")
    else:
        criterion = (f"best score >= {config.hit_fraction:g} x the motif's best attainable "
                     f"log-odds score")
    return MotifScan(fitting, skipped, motif_set, codes, sites, ranked, hits, criterion,
                     per_intron)


def chosen_background(summary: dict, name: str, log=print) -> list[float]:
    """The background composition `name` ("all_data" or "considered") saved by -i; windows
    saved without it keep the background they were saved with (said in the log)."""
    backgrounds = summary.get("backgrounds") or {}
    if name in backgrounds:
        return backgrounds[name]
    log(f"the saved windows hold no '{name}' background; using the one saved with them "
        f"({summary.get('background_source', 'considered')}); rerun -i to choose")
    return summary["background"]


def _as_bool(column: pd.Series) -> np.ndarray:
    """A True/False column as read back from CSV (bool, or the strings "True"/"False")."""
    return column.map(lambda v: v is True or str(v).strip().lower() in ("true", "1")).to_numpy(
        dtype=bool)


def write_motif_report(folder: Path, config: AttributeConfig, windows: Windows, scan: MotifScan,
                       log=print) -> None:
    """Write the -b outputs: enrichment.csv, motif_hits.csv, nsites.txt, the bar plot of the top
    TFs and the logo sheets of the top motifs per direction."""
    from ..report.figures import plot_enrichment_bars, plot_motif_logos
    from .enrichment import format_intron_table, format_table

    ranked, summary = scan.ranked, windows.summary
    atomic_write_text(folder / ENRICHMENT_FILE, ranked.to_csv(index=False))
    atomic_write_text(folder / HITS_FILE, scan.hits.to_csv(index=False))
    header = _nsites_header(summary, config, len(scan.motifs), len(scan.skipped), scan.criterion)
    atomic_write_text(folder / NSITES_FILE, header + WINDOW_TABLE_NOTE + "\n\n"
                      + format_table(ranked) + "\n")
    if scan.per_intron is not None:
        intron = scan.per_intron
        atomic_write_text(folder / INTRON_ENRICHMENT_FILE, intron.to_csv(index=False))
        counts = (f"{int(intron['ir_introns'].iloc[0]) if len(intron) else 0} IR and "
                  f"{int(intron['non_ir_introns'].iloc[0]) if len(intron) else 0} non-IR introns "
                  f"with at least one hot-spot window")
        atomic_write_text(folder / INTRON_NSITES_FILE, header + counts + "\n" + INTRON_TABLE_NOTE
                          + "\n\n" + format_intron_table(intron) + "\n")
    plot_enrichment_bars(ranked, folder / BARS_FIGURE, top_n=config.top_n,
                         title=f"{summary.get('model_name', '')} hot spots: motif enrichment")
    order = {m.matrix_id: i for i, m in enumerate(scan.motifs)}
    is_ir, sites = windows.is_ir, scan.sites
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
            counts, attribution = site_profiles(scan.codes, windows.attributions, chosen,
                                                int(scan.motif_set.widths[k]))
            panels.append({"title": f"{row['rank']}. {row['tf']} ({row['matrix_id']}): "
                                    f"{len(chosen)} {'IR' if wanted_ir else 'non-IR'} sites, "
                                    f"diff {row['difference']:+.3f}",
                           "motif": scan.motifs[k].probabilities, "sites": counts,
                           "attribution": attribution,
                           "background": np.asarray(summary["background"])})
        plot_motif_logos(panels, folder / LOGO_FIGURES[direction])
    log("top IR-enriched motifs per window: " + ", ".join(
        f"{r.tf} ({r.matrix_id}, {r.difference:+.3f})" for r in ranked.head(5).itertuples()))
    if scan.per_intron is not None:
        log("top IR-enriched motifs per intron: " + ", ".join(
            f"{r.tf} ({r.matrix_id}, {r.difference:+.3f}, BH {r.p_bh:.1e})"
            for r in scan.per_intron.head(5).itertuples()))
    log(f"tables: {folder / NSITES_FILE} (per window, the study's), {folder / INTRON_NSITES_FILE}"
        f" (per intron); CSV: {ENRICHMENT_FILE}, {INTRON_ENRICHMENT_FILE}; hits: "
        f"{folder / HITS_FILE}; figures: {BARS_FIGURE}, logos_*.png")


WINDOW_TABLE_NOTE = (
    "Counted per window (the study's table): a window is one unit, although the windows of a "
    "sequence overlap and a sequence and its reverse complement give two sets of windows; the "
    "z-test treats them as independent, so its p-values are too small. For a test per intron see "
    f"{INTRON_NSITES_FILE}.")
INTRON_TABLE_NOTE = (
    "Counted per intron: a motif counts once for an intron when any hot-spot window of it, on "
    "either strand (the reverse-complement copy '_r' collapsed into its intron), hits it; "
    "proportions of the introns with at least one window; two-sided Fisher's exact test, "
    "Bonferroni and Benjamini-Hochberg adjusted over the motifs with at least one hit.")


def is_complete(folder: str | Path) -> bool:
    """The tables of `Attribute.py -b` are in `folder`."""
    folder = Path(folder)
    return all((folder / name).is_file() for name in (
        ENRICHMENT_FILE, NSITES_FILE, HITS_FILE, INTRON_ENRICHMENT_FILE, INTRON_NSITES_FILE))


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
    rule = {"max_base": "the largest of the 4 bases' attributions",
            "sum": "the attribution summed over the 4 bases"}.get(summary.get("hot_spot_rule"),
                                                                   "the attribution summed over "
                                                                   "the 4 bases")
    placement = {"study": "the study's placement: overlapping, every 2 bp, cut at the 3' end",
                 "cover": "non-overlapping, kept inside the sequence"}.get(
        summary.get("window_placement"), "non-overlapping, kept inside the sequence")
    lines = [f"Model: {summary.get('model', '?')} ({summary.get('model_name', '?')}); data: "
             f"{summary.get('data_path', '?')} (valid + test splits)",
             f"Windows of {summary['window']} bp ({placement}) around positions where {rule} "
             f"exceeds {summary['ig_threshold']} x the sequence maximum; prediction threshold "
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
    source = {"all_data": "every row of final_data.csv",
              "considered": "the valid + test sequences"}
    lines.append(f"Background probabilities (A C G T, {source.get(config.background, '')}): "
                 + " ".join(f"{p:.4f}" for p in chosen_background(summary, config.background,
                                                                   lambda _: None)))
    smoothing = (f"zero probabilities replaced by {config.zero_probability:g}"
                 if config.zero_probability is not None else
                 f"pseudocount {config.pseudocount:g}")
    lines.append(f"Motifs: {n_motifs} from {config.database}"
                 + (f" ({n_skipped} longer than the window left out)" if n_skipped else "")
                 + f"; hit: {criterion}, either strand; {smoothing}")
    lines.append("Ranked by diff prob = IR proportion - non-IR proportion with a hit; "
                 "Bonferroni and Benjamini-Hochberg adjusted over the motifs with a hit")
    return "\n".join(lines) + "\n\n"
