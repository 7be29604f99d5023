"""Models trained with several seeds: mean ± SD of each metric, mean curves with a band, and
paired tests of the reference model (FSei) against every other model on the same test sequences.

Writes, into one folder (this module owns the names):

    comparison_seeds.csv   one row per model and metric: mean, SD (ddof 1) over seeds, n_seeds,
                           each seed's value (seed_1, seed_2, ...), the published number, and
                           the run folders used (runs, "; "-separated)
    comparison_seeds.md    the same as mean ± SD, with the paired tests below
    comparison_seeds.png   mean ROC and precision-recall curves with a ± SD band over seeds
    paired_tests.csv       the reference model against every other model (see below)

The statistics
--------------
Every model is scored on the same test split; the study's split holds each intron and its reverse
complement (header + "_r"), so the rows come in pairs that are not independent test cases. The
resampling unit of the tests is therefore the *intron*: the header with its "_r" suffix removed.

* **Paired bootstrap over introns** (`test = bootstrap`, `seed = mean`): introns are drawn with
  replacement (`n_bootstrap` times); each draw weights every row by how often its intron was
  drawn, and every seed of every model is scored on that same draw. The statistic is the
  difference of the means over seeds, reference minus model, of AUROC, AUPRC (trapezoid, the
  published one) and AUPRC (average precision): exactly the difference of the `mean` columns of
  comparison_seeds.csv. Its 95% interval is the percentile interval; its two-sided p-value is
  twice the smaller fraction of draws on either side of zero (with the +1 correction). It answers:
  *with these trained models, is the reference's mean AUROC higher than the other model's by
  more than the choice of test introns explains?* It does not treat the seeds as a sample of all
  possible trainings; the seed SD in the table shows that spread, and a difference smaller than
  the seeds' SD is not a robust ranking even when p is small.
* **DeLong's test** (`test = delong`, `seed = k`): seed k of the reference against seed k of the
  other model, on AUROC, with each intron's strand scores averaged into one score (so that every
  case is one independent intron, as the test assumes; its reference_value and model_value are
  those intron-level AUROCs).
  It answers whether two single trained models differ; the number of seeds in which the
  reference is significantly ahead shows whether the ranking holds seed by seed.

`p_holm` adjusts each family of tests (same test, metric and seed over the compared models) for
multiple comparisons (Holm's step-down method). `verdict`: "reference better" / "other better"
when p_holm < 0.05, "not distinguishable" otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.splits import sequence_keys as intron_keys  # the intron of each row
from ..errors import InputError
from ..io import atomic_write_text
from ..metrics import METRIC_NAMES, binary_metrics
from ..runs import PREDICTIONS_FILE, find_run, newer_than, read_predictions, run_label
from .comparison import PUBLISHED, to_markdown

SEEDS_TABLE_FILE = "comparison_seeds.csv"
SEEDS_MARKDOWN_FILE = "comparison_seeds.md"
SEEDS_FIGURE_FILE = "comparison_seeds.png"
PAIRED_TESTS_FILE = "paired_tests.csv"
BOOTSTRAP_METRICS = ("auroc", "auprc_trapezoid", "auprc")
ALPHA = 0.05
FPR_GRID = np.linspace(0.0, 1.0, 201)
RECALL_GRID = np.linspace(0.0, 1.0, 201)


# ----------------------------------------------------------------------------- weighted metrics

@dataclass
class RankedScores:
    """One model's scores sorted once, so that many weightings of the rows are cheap to score.

    order : (n,) row order by ascending score; starts : first position of each tied score group;
    labels : (n,) 0/1 in that order
    """

    order: np.ndarray
    starts: np.ndarray
    labels: np.ndarray

    @classmethod
    def of(cls, labels: np.ndarray, scores: np.ndarray) -> RankedScores:
        scores = np.asarray(scores, dtype=np.float64)
        order = np.argsort(scores, kind="stable")
        ranked = scores[order]
        starts = np.concatenate(([0], np.nonzero(np.diff(ranked))[0] + 1))
        return cls(order, starts, np.asarray(labels, dtype=np.float64)[order])

    def class_weights(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Summed positive and negative weight of each tied group, ascending score.

        weights : (B, n) row weights (row order of the original arrays)
        Returns two arrays of shape (B, G).
        """
        w = np.asarray(weights, dtype=np.float64)[:, self.order]
        positive = np.add.reduceat(w * self.labels, self.starts, axis=1)
        negative = np.add.reduceat(w * (1.0 - self.labels), self.starts, axis=1)
        return positive, negative


def weighted_metrics(ranked: RankedScores, weights: np.ndarray) -> dict[str, np.ndarray]:
    """AUROC, AUPRC (average precision) and AUPRC (trapezoid) for each row weighting.

    Parameters
    ----------
    ranked : the model's sorted scores (`RankedScores.of`)
    weights : (B, n) non-negative row weights, e.g. bootstrap counts; rows of weight 0 are left
        out, as scikit-learn's `sample_weight` does

    Returns
    -------
    {"auroc", "auprc", "auprc_trapezoid"}: arrays (B,), equal to scikit-learn's
    `roc_auc_score`, `average_precision_score` and `auc(*precision_recall_curve(...)[1::-1])`
    with `sample_weight`; ties count one half (AUROC) and form one threshold (PR). NaN where a
    weighting leaves one class without weight.
    """
    pos, neg = ranked.class_weights(np.atleast_2d(weights))
    total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
    below = np.cumsum(neg, axis=1) - neg  # negative weight strictly below each group
    with np.errstate(invalid="ignore", divide="ignore"):
        auroc = (pos * (below + 0.5 * neg)).sum(axis=1) / (total_pos * total_neg)
        # precision-recall: thresholds from the highest score down
        tp = np.cumsum(pos[:, ::-1], axis=1)
        fp = np.cumsum(neg[:, ::-1], axis=1)
        called = tp + fp
        precision = np.where(called > 0, tp / np.where(called > 0, called, 1.0), 1.0)
        recall = tp / total_pos[:, None]
        step = np.diff(recall, axis=1, prepend=0.0)
        average_precision = (step * precision).sum(axis=1)
        previous = np.concatenate([np.ones((len(precision), 1)), precision[:, :-1]], axis=1)
        trapezoid = (step * (precision + previous) / 2).sum(axis=1)
    undefined = (total_pos <= 0) | (total_neg <= 0)
    nan = np.where(undefined, np.nan, 1.0)
    return {"auroc": auroc * nan, "auprc": average_precision * nan,
            "auprc_trapezoid": trapezoid * nan}


# ----------------------------------------------------------------------------------- DeLong

@dataclass
class DeLongResult:
    """DeLong's test of two correlated AUROCs (same cases, two score sets)."""

    auroc_a: float
    auroc_b: float
    difference: float  # auroc_a - auroc_b
    se: float
    z: float
    p_value: float


def midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank, O(n log n)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    starts = np.concatenate(([0], np.nonzero(np.diff(ranked))[0] + 1, [len(values)]))
    mid = (starts[:-1] + starts[1:] + 1) / 2.0  # mean of 1-based positions start+1 .. end
    out = np.empty(len(values))
    out[order] = np.repeat(mid, np.diff(starts))
    return out


def delong_components(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, ...]:
    """AUROCs and DeLong's structural components of K score sets, by midranks (Sun & Xu 2014).

    Parameters
    ----------
    labels : (n,) 0/1
    scores : (K, n) scores of K models on the same cases

    Returns
    -------
    auroc : (K,); v10 : (K, m) one value per positive case; v01 : (K, n0) per negative case.
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    positive, negative = scores[:, labels], scores[:, ~labels]
    m, n = positive.shape[1], negative.shape[1]
    if m == 0 or n == 0:
        raise InputError("DeLong's test needs positive and negative cases in the test split")
    tx = np.stack([midranks(row) for row in positive])
    ty = np.stack([midranks(row) for row in negative])
    tz = np.stack([midranks(row) for row in scores])
    tz_pos, tz_neg = tz[:, labels], tz[:, ~labels]
    auroc = (tz_pos.sum(axis=1) / m - (m + 1) / 2.0) / n
    v10 = (tz_pos - tx) / n
    v01 = 1.0 - (tz_neg - ty) / m
    return auroc, v10, v01


def delong_test(labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray) -> DeLongResult:
    """Two-sided DeLong test of AUROC(a) = AUROC(b) on the same cases (fast version, O(n log n)).

    Var(AUC_a - AUC_b) = c' (S10 / m + S01 / n) c with c = (1, -1), S10 and S01 the covariance
    matrices of the structural components over positive and negative cases (DeLong et al. 1988).
    """
    from scipy.stats import norm

    auroc, v10, v01 = delong_components(labels, np.stack([scores_a, scores_b]))
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.cov(v10) if m > 1 else np.zeros((2, 2))
    s01 = np.cov(v01) if n > 1 else np.zeros((2, 2))
    covariance = s10 / m + s01 / n
    variance = float(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    difference = float(auroc[0] - auroc[1])
    se = math.sqrt(max(variance, 0.0))
    if se == 0.0:
        z = 0.0 if difference == 0 else math.copysign(math.inf, difference)
    else:
        z = difference / se
    p = float(2 * norm.sf(abs(z)))
    return DeLongResult(float(auroc[0]), float(auroc[1]), difference, se, float(z), p)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(len(p), np.nan)
    valid = np.nonzero(~np.isnan(p))[0]
    if len(valid) == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    k = len(order)
    adjusted = np.maximum.accumulate((k - np.arange(k)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


# ------------------------------------------------------------------------------ the test split

@dataclass
class SeedGroup:
    """One model's runs (one per seed), aligned on the same test rows.

    label : the model's name; runs : run folders, seed 1 first; probabilities : (S, n)
    """

    label: str
    runs: list[Path]
    probabilities: np.ndarray


@dataclass
class TestSplit:
    """The rows every run scored, in one order: header, label, intron of each row."""

    headers: np.ndarray
    labels: np.ndarray
    introns: np.ndarray  # (n,) int: index of the row's intron
    n_introns: int


def align_groups(frames: dict[str, list[pd.DataFrame]], runs: dict[str, list[Path]]
                 ) -> tuple[TestSplit, list[SeedGroup]]:
    """Put every run's predictions in the row order of the first run, checking that all runs
    scored the same sequences with the same labels.

    frames : {model: [predictions DataFrame (header, label, probability) per seed]}

    Raises
    ------
    InputError
        A run lacks the header column, repeats a header, or scored other sequences or labels
        than the first run.
    """
    first_label = next(iter(frames))
    first_run = runs[first_label][0]
    reference = None
    groups = []
    for label, seed_frames in frames.items():
        columns = []
        for run, frame in zip(runs[label], seed_frames):
            if "header" not in frame.columns:
                raise InputError(f"{run / PREDICTIONS_FILE} has no header column: evaluate the "
                                 f"run again (-e); the paired tests match sequences by header")
            frame = frame.set_index(frame["header"].astype(str))
            if frame.index.has_duplicates:
                dup = frame.index[frame.index.duplicated()][0]
                raise InputError(f"{run / PREDICTIONS_FILE}: header {dup!r} appears twice; the "
                                 f"paired tests need one row per sequence")
            if reference is None:
                reference = frame
            elif set(frame.index) != set(reference.index):
                missing = sorted(set(reference.index) - set(frame.index))[:3]
                extra = sorted(set(frame.index) - set(reference.index))[:3]
                raise InputError(
                    f"{run} scored other sequences than {first_run} (missing e.g. {missing}, "
                    f"extra e.g. {extra}): compare runs evaluated on the same split of the "
                    f"same data")
            frame = frame.loc[reference.index]
            if not np.array_equal(frame["label"].to_numpy(), reference["label"].to_numpy()):
                raise InputError(f"{run} and {first_run} give different labels to the same "
                                 f"headers: they were evaluated on different data")
            columns.append(frame["probability"].to_numpy(dtype=np.float64))
        groups.append(SeedGroup(label, list(runs[label]), np.stack(columns)))
    headers = reference.index.to_numpy(dtype=object)
    keys = intron_keys(headers)
    _, introns = np.unique(keys, return_inverse=True)
    labels = reference["label"].to_numpy(dtype=np.int64)
    per_intron = pd.Series(labels).groupby(introns).nunique()
    if (per_intron > 1).any():
        bad = keys[np.nonzero(introns == per_intron.index[int(np.argmax(per_intron > 1))])[0][0]]
        raise InputError(f"{first_run}: intron {bad!r} and its reverse complement have different "
                         f"labels")
    return TestSplit(headers, labels, introns.astype(np.int64), int(introns.max()) + 1), groups


# ---------------------------------------------------------------------------------- the table

def seed_table(groups: list[SeedGroup], split: TestSplit) -> pd.DataFrame:
    """One row per model and metric: mean, SD (ddof 1; NaN for one seed), n_seeds, each seed's
    value, the published number (AUROC, AUPRC trapezoid) and the runs."""
    n_seeds = max(len(g.runs) for g in groups)
    rows = []
    for group in groups:
        per_seed = [binary_metrics(split.labels, p) for p in group.probabilities]
        published = dict(zip(("auroc", "auprc_trapezoid"),
                             PUBLISHED.get(group.label, (math.nan, math.nan))))
        for metric in METRIC_NAMES:
            values = np.array([m[metric] for m in per_seed], dtype=np.float64)
            row = {"model": group.label, "metric": metric, "mean": float(values.mean()),
                   "sd": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                   "n_seeds": len(values)}
            row.update({f"seed_{k + 1}": (float(values[k]) if k < len(values) else math.nan)
                        for k in range(n_seeds)})
            row["published"] = published.get(metric, math.nan)
            row["runs"] = "; ".join(str(r) for r in group.runs)
            rows.append(row)
    return pd.DataFrame(rows)


def bootstrap_weights(introns: np.ndarray, n_introns: int, n_bootstrap: int,
                      rng: np.random.Generator) -> np.ndarray:
    """(n_bootstrap, n) row weights: how often each row's intron was drawn in each resample of
    the introns with replacement."""
    counts = rng.multinomial(n_introns, np.full(n_introns, 1.0 / n_introns), size=n_bootstrap)
    return counts[:, introns].astype(np.float64)


def paired_bootstrap(split: TestSplit, groups: list[SeedGroup], reference: str,
                     n_bootstrap: int = 2000, seed: int = 0, chunk: int = 250) -> pd.DataFrame:
    """The reference against every other model: difference of the means over seeds (reference
    minus model) of each metric of `BOOTSTRAP_METRICS`, its percentile 95% interval and
    two-sided p-value over `n_bootstrap` resamples of the introns (the same resamples for every
    model and seed)."""
    rng = np.random.default_rng(seed)
    ranked = {g.label: [RankedScores.of(split.labels, p) for p in g.probabilities]
              for g in groups}
    draws = {g.label: {m: [] for m in BOOTSTRAP_METRICS} for g in groups}
    for begin in range(0, n_bootstrap, chunk):
        weights = bootstrap_weights(split.introns, split.n_introns,
                                    min(chunk, n_bootstrap - begin), rng)
        for label, seeds in ranked.items():
            values = [weighted_metrics(r, weights) for r in seeds]
            for metric in BOOTSTRAP_METRICS:
                draws[label][metric].append(np.mean([v[metric] for v in values], axis=0))
    ones = np.ones((1, len(split.labels)))
    observed = {}
    for label, seeds in ranked.items():  # each seed's metrics once, then the mean per metric
        values = [weighted_metrics(r, ones) for r in seeds]
        observed[label] = {m: float(np.mean([v[m][0] for v in values]))
                           for m in BOOTSTRAP_METRICS}
    rows = []
    for group in groups:
        if group.label == reference:
            continue
        for metric in BOOTSTRAP_METRICS:
            diff = (np.concatenate(draws[reference][metric])
                    - np.concatenate(draws[group.label][metric]))
            diff = diff[~np.isnan(diff)]
            below = (np.sum(diff <= 0) + 1) / (len(diff) + 1)
            above = (np.sum(diff >= 0) + 1) / (len(diff) + 1)
            rows.append({
                "reference": reference, "model": group.label, "test": "bootstrap",
                "metric": metric, "seed": "mean",
                "reference_value": observed[reference][metric],
                "model_value": observed[group.label][metric],
                "difference": observed[reference][metric] - observed[group.label][metric],
                "ci_low": float(np.percentile(diff, 2.5)) if len(diff) else math.nan,
                "ci_high": float(np.percentile(diff, 97.5)) if len(diff) else math.nan,
                "z": math.nan, "p_value": float(min(1.0, 2 * min(below, above))),
                "n_introns": split.n_introns, "n_bootstrap": int(len(diff))})
    return pd.DataFrame(rows)


def intron_scores(split: TestSplit, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels (n_introns,) and scores (..., n_introns): each intron's rows averaged."""
    counts = np.bincount(split.introns, minlength=split.n_introns)
    labels = np.zeros(split.n_introns, dtype=np.int64)
    labels[split.introns] = split.labels
    probabilities = np.atleast_2d(probabilities)
    sums = np.stack([np.bincount(split.introns, weights=p, minlength=split.n_introns)
                     for p in probabilities])
    return labels, sums / counts


def delong_per_seed(split: TestSplit, groups: list[SeedGroup], reference: str) -> pd.DataFrame:
    """DeLong's test of seed k of the reference against seed k of every other model, on
    intron-level scores (each intron's strands averaged)."""
    from scipy.stats import norm

    by_label = {g.label: g for g in groups}
    labels, ref_scores = intron_scores(split, by_label[reference].probabilities)
    half_width = norm.ppf(1 - ALPHA / 2)
    rows = []
    for group in groups:
        if group.label == reference:
            continue
        _, scores = intron_scores(split, group.probabilities)
        for k in range(min(len(ref_scores), len(scores))):
            result = delong_test(labels, ref_scores[k], scores[k])
            rows.append({
                "reference": reference, "model": group.label, "test": "delong",
                "metric": "auroc", "seed": str(k + 1), "reference_value": result.auroc_a,
                "model_value": result.auroc_b, "difference": result.difference,
                "ci_low": result.difference - half_width * result.se,
                "ci_high": result.difference + half_width * result.se,
                "z": result.z, "p_value": result.p_value, "n_introns": split.n_introns,
                "n_bootstrap": math.nan})
    return pd.DataFrame(rows)


def paired_tests(split: TestSplit, groups: list[SeedGroup], reference: str,
                 n_bootstrap: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Bootstrap and DeLong rows (module docstring), with Holm-adjusted p-values and a verdict."""
    labels = [g.label for g in groups]
    if reference not in labels:
        raise InputError(f"--reference {reference!r} is none of the compared models "
                         f"({', '.join(labels)})")
    frames = [paired_bootstrap(split, groups, reference, n_bootstrap, seed),
              delong_per_seed(split, groups, reference)]
    table = pd.concat([f for f in frames if not f.empty], ignore_index=True)
    if table.empty:
        return table
    table["p_holm"] = np.nan
    for _, family in table.groupby(["test", "metric", "seed"], sort=False):
        table.loc[family.index, "p_holm"] = holm(family["p_value"].to_numpy())
    significant = table["p_holm"] < ALPHA
    table["verdict"] = np.where(~significant, "not distinguishable",
                                np.where(table["difference"] > 0, "reference better",
                                         "other better"))
    return table


# --------------------------------------------------------------------------------- the curves

def mean_curves(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, np.ndarray]:
    """Mean and SD over seeds of the ROC curve (TPR at `FPR_GRID`) and of the precision-recall
    curve (precision at `RECALL_GRID`), each seed's curve interpolated linearly on the grid.

    probabilities : (S, n). Returns tpr_mean, tpr_sd, precision_mean, precision_sd (SD 0 for
    one seed).
    """
    from sklearn.metrics import precision_recall_curve, roc_curve

    tprs, precisions = [], []
    for p in np.atleast_2d(probabilities):
        fpr, tpr, _ = roc_curve(labels, p)
        curve = np.interp(FPR_GRID, fpr, tpr)
        curve[0] = 0.0
        tprs.append(curve)
        precision, recall, _ = precision_recall_curve(labels, p)
        # recall comes decreasing: reverse for np.interp
        precisions.append(np.interp(RECALL_GRID, recall[::-1], precision[::-1]))
    tprs, precisions = np.stack(tprs), np.stack(precisions)
    ddof = 1 if len(tprs) > 1 else 0
    return {"tpr_mean": tprs.mean(0), "tpr_sd": tprs.std(0, ddof=ddof),
            "precision_mean": precisions.mean(0), "precision_sd": precisions.std(0, ddof=ddof)}


def plot_seed_curves(split: TestSplit, groups: list[SeedGroup], table: pd.DataFrame,
                     path: str | Path) -> Path:
    """ROC and precision-recall panels: each model's mean curve over seeds, a ± SD band, and
    mean ± SD of AUROC / AUPRC (trapezoid) in the legends."""
    from .figures import plt

    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(12, 5.2))
    stats = table.set_index(["model", "metric"])
    def legend(group, metric):
        mean, sd = stats.loc[(group.label, metric), ["mean", "sd"]]
        spread = f" ± {sd:.3f}" if not np.isnan(sd) else ""
        return f"{group.label}: {mean:.3f}{spread} (n={len(group.runs)})"

    for group in groups:
        curves = mean_curves(split.labels, group.probabilities)
        line, = roc_ax.plot(FPR_GRID, curves["tpr_mean"], lw=1.5, label=legend(group, "auroc"))
        roc_ax.fill_between(FPR_GRID, np.clip(curves["tpr_mean"] - curves["tpr_sd"], 0, 1),
                            np.clip(curves["tpr_mean"] + curves["tpr_sd"], 0, 1),
                            color=line.get_color(), alpha=0.2, lw=0)
        pr_ax.plot(RECALL_GRID, curves["precision_mean"], lw=1.5, color=line.get_color(),
                   label=legend(group, "auprc_trapezoid"))
        pr_ax.fill_between(RECALL_GRID,
                           np.clip(curves["precision_mean"] - curves["precision_sd"], 0, 1),
                           np.clip(curves["precision_mean"] + curves["precision_sd"], 0, 1),
                           color=line.get_color(), alpha=0.2, lw=0)
    roc_ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate",
               title="ROC: mean over seeds ± SD (AUROC)", xlim=(0, 1), ylim=(0, 1.01))
    prevalence = float(np.mean(split.labels))
    pr_ax.axhline(prevalence, color="grey", lw=0.8, ls="--")
    pr_ax.set(xlabel="recall", ylabel="precision",
              title="precision-recall: mean over seeds ± SD (AUPRC, trapezoid)", xlim=(0, 1),
              ylim=(0, 1.01))
    for ax in (roc_ax, pr_ax):
        ax.legend(loc="lower right" if ax is roc_ax else "lower left", fontsize=8,
                  frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


# -------------------------------------------------------------------------- the whole thing

def seeds_markdown(table: pd.DataFrame, tests: pd.DataFrame) -> str:
    """comparison_seeds.md: mean ± SD per model, each seed's AUROC, and the paired tests."""
    def mean_sd(by_metric, metric):
        mean, sd = by_metric.loc[metric, "mean"], by_metric.loc[metric, "sd"]
        return f"{mean:.3f}" + ("" if np.isnan(sd) else f" ± {sd:.3f}")

    def difference(boot, metric):
        r = boot.loc[metric]
        return (f"{r['difference']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}], "
                f"p {r['p_holm']:.3g}")

    seeds = [c for c in table.columns if c.startswith("seed_")]
    wide = []
    for model, rows in table.groupby("model", sort=False):
        by_metric = rows.set_index("metric")
        per_seed = by_metric.loc["auroc", seeds].dropna()
        wide.append({"model": model, "seeds": int(by_metric.loc["auroc", "n_seeds"]),
                     "AUROC": mean_sd(by_metric, "auroc"),
                     "AUPRC (trapezoid)": mean_sd(by_metric, "auprc_trapezoid"),
                     "AUPRC (AP)": mean_sd(by_metric, "auprc"),
                     "accuracy": mean_sd(by_metric, "accuracy"),
                     "AUROC per seed": ", ".join(f"{v:.3f}" for v in per_seed),
                     "published AUROC": by_metric.loc["auroc", "published"]})
    text = to_markdown(pd.DataFrame(wide))
    if tests.empty:
        return text
    reference = tests["reference"].iloc[0]
    lines = []
    for model, rows in tests.groupby("model", sort=False):
        boot = rows[rows["test"] == "bootstrap"].set_index("metric")
        delong = rows[rows["test"] == "delong"]
        ahead = int(((delong["p_holm"] < ALPHA) & (delong["difference"] > 0)).sum())
        lines.append({"model": model, "Δ AUROC [95% CI], p (Holm)": difference(boot, "auroc"),
                      "Δ AUPRC trapezoid [95% CI], p (Holm)":
                          difference(boot, "auprc_trapezoid"),
                      "verdict (AUROC)": boot.loc["auroc", "verdict"],
                      f"DeLong: seeds with {reference} ahead (p_holm < {ALPHA})":
                          f"{ahead} of {len(delong)}"})
    return (text + f"\nPaired tests, {reference} minus each model (bootstrap over "
            f"{int(tests['n_introns'].iloc[0])} test introns of the difference of the means "
            f"over seeds; DeLong per seed on intron-level scores):\n\n"
            + to_markdown(pd.DataFrame(lines)))


def compare_seed_groups(groups, out: str | Path, labels=None, reference: str | None = None,
                        n_bootstrap: int = 2000, seed: int = 0
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compare models run with several seeds; write the four files of this module into `out`.

    Parameters
    ----------
    groups : one list of paths per model (run folders, or results folders standing for their
        newest evaluated run), seed 1 first
    labels : one name per model (default: the model of its first run, `src.runs.run_label`)
    reference : the model tested against all others (default: the first)

    Returns
    -------
    (comparison_seeds table, paired tests table)

    Raises
    ------
    InputError
        A path holds no evaluated run, the runs scored different sequences, a model has no
        runs, or the labels do not fit.
    """
    groups = [list(g) for g in groups]
    if not groups or any(not g for g in groups):
        raise InputError("--group needs at least one run folder after it")
    if labels and len(labels) != len(groups):
        raise InputError(f"--labels gives {len(labels)} names for {len(groups)} groups: give one "
                         f"name per group")
    folders = [[find_run(path) for path in group] for group in groups]
    labels = list(labels) if labels else [run_label(group[0]) for group in folders]
    if len(set(labels)) != len(labels):
        raise InputError(f"two groups have the same name ({', '.join(labels)}): name them with "
                         f"--labels")
    for label, group in zip(labels, folders):
        if len(set(group)) != len(group):
            raise InputError(f"{label}: the same run is given twice in its group ({group})")
    runs = dict(zip(labels, folders))
    frames = {label: [read_predictions(run / PREDICTIONS_FILE) for run in group]
              for label, group in runs.items()}
    split, seed_groups = align_groups(frames, runs)
    table = seed_table(seed_groups, split)
    tests = paired_tests(split, seed_groups, reference or labels[0], n_bootstrap, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / PAIRED_TESTS_FILE, tests.to_csv(index=False))
    atomic_write_text(out / SEEDS_MARKDOWN_FILE, seeds_markdown(table, tests))
    plot_seed_curves(split, seed_groups, table, out / SEEDS_FIGURE_FILE)
    # last: the table lists the runs, so it marks the comparison complete
    atomic_write_text(out / SEEDS_TABLE_FILE, table.to_csv(index=False))
    return table, tests


def is_complete(out: str | Path, groups: list[list[Path | None]]) -> bool:
    """comparison_seeds.csv in `out` lists exactly these runs per model (in order), is newer than
    each run's predictions, and paired_tests.csv is there."""
    out = Path(out)
    table = out / SEEDS_TABLE_FILE
    runs = [run for group in groups for run in group]
    if not table.is_file() or not (out / PAIRED_TESTS_FILE).is_file() \
            or any(run is None for run in runs):
        return False
    try:
        listed = pd.read_csv(table).drop_duplicates("model")["runs"].tolist()
    except (OSError, ValueError, KeyError):
        return False
    return (listed == ["; ".join(str(r) for r in group) for group in groups]
            and newer_than(table, runs, PREDICTIONS_FILE))
