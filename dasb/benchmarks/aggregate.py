"""Per-utterance values to result rows, for corpus benchmarks that aggregate themselves."""
from __future__ import annotations

from dasb.benchmarks.base import Result
from dasb.stats import summarize


def utterance_results(metric: str, values: dict[str, float], note: str | None = None) -> list[Result]:
    """One row per utterance plus the aggregate (mean, stderr, bootstrap CI) of ``values``."""
    rows = [Result(metric, float(v), utt) for utt, v in sorted(values.items())]
    s = summarize(list(values.values()))
    rows.append(Result(metric, s.mean, None, "ok", note, s.stderr, s.ci_low, s.ci_high, s.n))
    return rows
