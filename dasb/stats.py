"""Aggregation of per-utterance values: mean, standard error, bootstrap interval."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Summary:
    mean: float
    stderr: float | None
    ci_low: float | None
    ci_high: float | None
    n: int


def summarize(values: list[float]) -> Summary:
    """Mean, standard error and 95% percentile-bootstrap interval (fixed seed)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("cannot summarise zero values")
    mean = float(x.mean())
    if x.size == 1:
        return Summary(mean, None, None, None, 1)
    stderr = float(x.std(ddof=1) / np.sqrt(x.size))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = x[rng.integers(0, x.size, size=(BOOTSTRAP_RESAMPLES, x.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Summary(mean, stderr, float(low), float(high), int(x.size))
