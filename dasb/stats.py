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


def summarize_ratio(numerators: list[float], denominators: list[float]) -> Summary:
    """Ratio of sums (e.g. corpus WER = total edits / total words) with a 95% bootstrap interval.

    Resampling is over the paired items (utterances), with the same seed and
    count as :func:`summarize`; ``stderr`` is the bootstrap standard deviation.
    """
    num = np.asarray(numerators, dtype=np.float64)
    den = np.asarray(denominators, dtype=np.float64)
    if num.shape != den.shape or num.size == 0:
        raise ValueError("need the same non-zero number of numerators and denominators")
    if den.sum() <= 0:
        raise ValueError("ratio of sums is undefined: the denominators sum to zero")
    value = float(num.sum() / den.sum())
    if num.size == 1:
        return Summary(value, None, None, None, 1)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    idx = rng.integers(0, num.size, size=(BOOTSTRAP_RESAMPLES, num.size))
    den_b = den[idx].sum(axis=1)
    ratios = num[idx].sum(axis=1)[den_b > 0] / den_b[den_b > 0]
    low, high = np.percentile(ratios, [2.5, 97.5])
    return Summary(value, float(ratios.std(ddof=1)), float(low), float(high), int(num.size))
