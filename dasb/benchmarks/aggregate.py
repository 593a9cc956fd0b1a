"""Aggregation as the metric spec declares it: the one place per-utterance values become an aggregate row.

A metric's :class:`~dasb.specs.MetricSpec` says how it aggregates; two of its aggregations are computed
here from per-utterance values (the others are computed whole by their benchmark):

- ``mean``: mean over utterances (or other units, e.g. ABX cells), standard error and 95% bootstrap interval;
- ``ratio``: corpus ratio of summed counts (values are ``(numerator, denominator)`` pairs, e.g. word edits and
  reference words), bootstrap over utterances.
"""
from __future__ import annotations

from typing import Sequence

from dasb.benchmarks.base import Result
from dasb.specs import MetricSpec
from dasb.stats import Summary, summarize, summarize_ratio


def _ratio(values: Sequence[tuple[float, float]]) -> Summary:
    return summarize_ratio([float(v[0]) for v in values], [float(v[1]) for v in values])


AGGREGATORS = {"mean": lambda values: summarize([float(v) for v in values]), "ratio": _ratio}


def aggregate(spec: MetricSpec, values: Sequence, note: str | None = None, subject: str | None = None) -> Result:
    """The aggregate row of ``spec``'s metric from its per-utterance ``values``; an error row saying why
    when there is nothing to aggregate (no values, a ratio over zero counts)."""
    if spec.aggregation not in AGGREGATORS:
        raise ValueError(f"metric {spec.name!r} aggregates as {spec.aggregation!r}, not from per-utterance values")
    try:
        s = AGGREGATORS[spec.aggregation](values)
    except ValueError as err:  # e.g. the recogniser heard nothing in any original
        return Result(spec.name, None, None, "error", f"{spec.name}: {err}", subject=subject)
    return Result(spec.name, s.mean, None, "ok", note, s.stderr, s.ci_low, s.ci_high, s.n, subject=subject)


def utterance_results(spec: MetricSpec, values: dict[str, float], note: str | None = None) -> list[Result]:
    """One row per utterance plus the aggregate of ``values`` as ``spec`` declares it."""
    rows = [Result(spec.name, float(v), utt) for utt, v in sorted(values.items())]
    return rows + [aggregate(spec, list(values.values()), note)]
