"""The metric record: a pure function plus what a reader needs to interpret it."""
from __future__ import annotations

import math

from dataclasses import dataclass
from typing import Callable

import numpy as np

from dasb.specs import MetricSpec

SILENCE_PEAK = 1e-4  # -80 dBFS: below this a reference carries nothing to compare against


class MetricError(RuntimeError):
    """A metric could not be computed for this input; becomes an error record."""


def is_flat(x: np.ndarray) -> bool:
    """Silent or constant: no sample deviates from the mean by :data:`SILENCE_PEAK` (empty counts)."""
    return x.size == 0 or float(np.max(np.abs(x - x.mean()))) < SILENCE_PEAK


@dataclass(frozen=True)
class Metric:
    """An intrusive signal metric ``fn(ref, est, sr) -> float`` on aligned 1-D arrays.

    ``lower``/``upper`` bound the value where the metric has bounds; a value
    outside them, or a non-finite value, is raised as :class:`MetricError`
    rather than recorded. ``min_ms``: shorter signals are an error saying so
    (checked first). ``needs_varying_estimate``: the metric is undefined
    when ``est`` is silent or constant (SI-SDR would be epsilon over epsilon,
    STOI a correlation with a flat envelope), so such audio is an error.
    """

    name: str
    fn: Callable[[np.ndarray, np.ndarray, int], float]
    higher_is_better: bool
    description: str
    unit: str = ""
    lower: float | None = None
    upper: float | None = None
    min_ms: float = 0.0
    needs_varying_estimate: bool = False

    def spec(self, name: str | None = None, headline: bool = False) -> MetricSpec:
        """This metric's spec, under ``name`` (e.g. ``pesq_wb_k2``) when a benchmark renames it."""
        return MetricSpec(name or self.name, self.higher_is_better, self.unit, self.lower, self.upper,
                          "mean", headline, self.description)

    def __call__(self, ref: np.ndarray, est: np.ndarray, sr: int) -> float:
        if ref.ndim != 1 or est.ndim != 1 or len(ref) != len(est):
            raise MetricError(f"{self.name}: needs two aligned 1-D signals, got {ref.shape} and {est.shape}")
        if 1000 * len(ref) / sr < self.min_ms:
            raise MetricError(f"too short for {self.name}: {1000 * len(ref) / sr:.1f} ms (needs {math.ceil(self.min_ms)} ms)")
        if len(ref) == 0 or np.max(np.abs(ref)) < SILENCE_PEAK:
            raise MetricError(f"{self.name}: the reference is silent (peak below {SILENCE_PEAK}); intrusive metrics are undefined")
        if self.needs_varying_estimate and is_flat(est):
            raise MetricError(f"{self.name}: the decoded audio is silent or constant (no sample deviates from its mean "
                              f"by {SILENCE_PEAK}); {self.name} is undefined for it")
        value = float(self.fn(ref, est, sr))
        if not np.isfinite(value):
            raise MetricError(f"{self.name}: computed a non-finite value ({value})")
        if (self.lower is not None and value < self.lower - 1e-6) or (
            self.upper is not None and value > self.upper + 1e-6
        ):
            raise MetricError(f"{self.name}: value {value} outside its range [{self.lower}, {self.upper}]")
        return value


def check_metric(name: str, metric: object) -> None:
    """A registered metric must be a :class:`Metric` of that name."""
    if not isinstance(metric, Metric):
        raise TypeError(f"{metric!r} is not a dasb.metrics.base.Metric")
    if metric.name != name:
        raise ValueError(f"its name is {metric.name!r}, registered as {name!r}")
