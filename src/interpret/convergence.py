"""How many Integrated Gradients steps the attributions need: the completeness error measured on
a few sequences at increasing step counts.

Integrated Gradients is exact only in the limit of infinitely many steps; with n steps the sum of a
sequence's attributions misses the change of its logit by the completeness error (captum's
convergence delta). Both functions here rerun IG (`src.interpret.gradients.attribute_sequences`)
on a small, evenly spread sample and read the error off, so the answer is a measurement, not a
rule of thumb:

`auto_steps` (`ig_steps: "auto"`)
    the fewest steps of `STEP_LADDER` whose median relative error on a sample of the sequences is
    below the tolerance and after which at most the allowed share of the sample exceeds it (so
    that the run does not end with the warning below).
`steps_to_fix`
    after a run at n steps in which too many sequences exceeded the tolerance: the fewest larger
    steps of the ladder after which, on a sample of those sequences, few enough would remain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .gradients import attribute_sequences, relative_delta

STEP_LADDER = (10, 20, 50, 100, 200, 500, 1000)
PROBE_SIZE = 64  # sequences rerun per step count


def probe_rows(n: int, size: int = PROBE_SIZE) -> np.ndarray:
    """`size` row numbers spread evenly over 0 .. n - 1 (all of them when n <= size)."""
    if n <= size:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, size).round().astype(np.int64))


@dataclass
class Probe:
    """The completeness error of the probe sequences at one step count."""

    steps: int
    median_relative: float
    fraction_above: float  # of the probe sequences, above the tolerance


def measure(model: nn.Module, codes: np.ndarray, targets: np.ndarray, device: torch.device,
            steps: int, method: str, batch_size: int, tolerance: float,
            attribute=attribute_sequences) -> Probe:
    """IG of `codes` (N, L) towards `targets` (N,) at `steps`; their relative completeness errors
    summarised. `attribute`: the IG function (`attribute_sequences`' signature; a token model
    passes its own)."""
    result = attribute(model, codes, targets, device, steps, method, batch_size,
                                 progress=False)
    relative = relative_delta(result.delta, result.change)
    return Probe(steps, float(np.median(relative)), float((relative > tolerance).mean()))


def auto_steps(model: nn.Module, codes: np.ndarray, targets: np.ndarray, device: torch.device,
               method: str, batch_size: int, tolerance: float, max_fraction: float = 0.5,
               log=print, attribute=attribute_sequences) -> tuple[int, list[Probe]]:
    """The fewest steps of `STEP_LADDER` whose median relative completeness error, on a sample
    of up to `PROBE_SIZE` of the sequences, is below `tolerance`, with at most `max_fraction` of
    the sample above it (the largest step count when none qualifies).

    Returns (steps, the probes measured, in order).
    """
    rows = probe_rows(len(codes))
    probes = []
    for steps in STEP_LADDER:
        probe = measure(model, codes[rows], targets[rows], device, steps, method, batch_size,
                        tolerance, attribute)
        probes.append(probe)
        log(f"ig_steps auto: {steps} steps, median completeness error "
            f"{probe.median_relative:.2e} of the logit change, {100 * probe.fraction_above:.1f}% "
            f"of {len(rows)} sequences above {tolerance:g}")
        if probe.median_relative < tolerance and probe.fraction_above <= max_fraction:
            return steps, probes
    log(f"ig_steps auto: even {STEP_LADDER[-1]} steps leave a median error of "
        f"{probes[-1].median_relative:.2e} and {100 * probes[-1].fraction_above:.1f}% of the "
        f"sequences above {tolerance:g}; using {STEP_LADDER[-1]}")
    return STEP_LADDER[-1], probes


def steps_to_fix(model: nn.Module, codes: np.ndarray, targets: np.ndarray, relative: np.ndarray,
                 steps: int, device: torch.device, method: str, batch_size: int,
                 tolerance: float, max_fraction: float, attribute=attribute_sequences
                 ) -> tuple[int | None, list[Probe]]:
    """After IG at `steps` left the relative errors `relative` (N,): the fewest steps of
    `STEP_LADDER` above `steps` after which at most `max_fraction` of all N sequences would
    exceed `tolerance`.

    Only sequences above the tolerance are rerun (a sample of up to `PROBE_SIZE`): the fraction
    expected to remain is (fraction above now) x (fraction of the sample still above).

    Returns (steps, or None when even the largest step count of the ladder does not do; the
    probes measured).
    """
    above = np.nonzero(relative > tolerance)[0]
    share_now = len(above) / max(len(relative), 1)
    rows = above[probe_rows(len(above))]
    probes = []
    for candidate in (s for s in STEP_LADDER if s > steps):
        probe = measure(model, codes[rows], targets[rows], device, candidate, method, batch_size,
                        tolerance, attribute)
        probes.append(probe)
        if share_now * probe.fraction_above <= max_fraction:
            return candidate, probes
    return None, probes
