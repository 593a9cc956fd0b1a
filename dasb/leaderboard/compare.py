"""Paired comparison of two tokenizers on the same utterances.

Both tokenizers were scored on the same utterances, so the honest test looks at
per-utterance differences d_i = a_i - b_i, aggregated as the metric's spec says,
so the compared values are the leaderboard's: for a mean, the mean difference
with its 95% percentile-bootstrap interval (dasb.stats.summarize on the d_i);
for a corpus ratio (WER: edits / reference words), d_i are edit differences
and the difference is sum(d_i) / sum(words_i), bootstrapped over utterances
(dasb.stats.summarize_ratio). Either way a two-sided sign-flip permutation
test of "the difference is zero" on the d_i (exact for n <= 16, otherwise
20,000 random sign vectors with a fixed seed). Significant means
p < 0.05 and, for a metric measured by a judge model (ASR, speaker encoder), a
difference at least the judge's floor on the same dataset (its loss on the
transparent control, :func:`dasb.fitness.floor`); with many comparisons on one
page, expect about 1 in 20 false alarms.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import product

import numpy as np

from dasb.fitness import floor
from dasb.results.record import Record
from dasb.specs import registered_spec
from dasb.stats import Summary, summarize, summarize_ratio

ALPHA = 0.05
EXACT_MAX_N = 16
PERMUTATIONS = 20_000
SEED = 0


@dataclass(frozen=True)
class Comparison:
    """Result of comparing tokenizer ``a`` with ``b`` on one metric (difference = a - b)."""

    benchmark: str
    metric: str
    a: str
    b: str
    dataset: str
    n: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float | None
    ci_high: float | None
    p_value: float
    higher_is_better: bool | None
    floor: float | None = None  # the judge's floor for this metric on this dataset, when it has one

    @property
    def below_floor(self) -> bool:
        return self.floor is not None and abs(self.diff) < self.floor

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA and not self.below_floor

    @property
    def better(self) -> str | None:
        """The significantly better tokenizer, if the metric has a direction and the test says so."""
        if not self.significant or self.higher_is_better is None or self.diff == 0:
            return None
        return self.a if (self.diff > 0) == self.higher_is_better else self.b

    def summary(self) -> str:
        """One line of plain text."""
        ci = f"[{self.ci_low:.4g}, {self.ci_high:.4g}]" if self.ci_low is not None else "[n/a]"
        if self.better:
            verdict = f"{self.better} is significantly better"
        elif self.significant:
            verdict = "significant difference"
        elif self.below_floor:
            verdict = f"no significant difference (smaller than the judge's floor {self.floor:.3g})"
        else:
            verdict = "no significant difference"
        return (
            f"{self.benchmark}/{self.metric}: {self.a} {self.mean_a:.4g} vs {self.b} {self.mean_b:.4g}, "
            f"diff {self.diff:+.4g} 95% CI {ci}, p = {self.p_value:.3g} (n = {self.n} paired utterances): {verdict}"
        )


def sign_flip_p_value(diffs: np.ndarray, permutations: int = PERMUTATIONS, seed: int = SEED) -> float:
    """Two-sided p-value of a zero mean difference under random sign flips of ``diffs``."""
    d = np.asarray(diffs, dtype=np.float64)
    if d.size == 0:
        raise ValueError("no paired differences")
    observed = abs(d.mean())
    if d.size <= EXACT_MAX_N:
        signs = np.array(list(product((1.0, -1.0), repeat=d.size)))
    else:
        signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(permutations, d.size))
    means = np.abs(signs @ d) / d.size
    extreme = int(np.count_nonzero(means >= observed - 1e-12 * max(1.0, observed)))
    if d.size <= EXACT_MAX_N:
        return extreme / len(signs)  # the identity is among the sign vectors
    return (extreme + 1) / (permutations + 1)


def paired_values(records: list[Record], a: str, b: str, benchmark: str,
                  metric: str) -> tuple[str, np.ndarray, np.ndarray, np.ndarray | None]:
    """Per-utterance ``ok`` values of ``a`` and ``b`` on the utterances both have, and their counts
    (``Record.n``: a rate's reference length) when every paired record has one.

    Records are paired only within one dataset and benchmark configuration; when
    there are several, the one with most pairs is used. Returns (dataset, va, vb, counts).
    """
    groups: dict[tuple, dict[str, dict[str, Record]]] = defaultdict(lambda: {a: {}, b: {}})
    for r in records:
        if r.utterance is None or r.status != "ok" or r.benchmark != benchmark or r.metric != metric:
            continue
        if r.tokenizer in (a, b):
            groups[(r.dataset, r.dataset_hash, r.benchmark_config_hash)][r.tokenizer][r.utterance] = r
    best: tuple[str, list[str], dict] | None = None
    for (dataset, _, _), recs in groups.items():
        common = sorted(set(recs[a]) & set(recs[b]))
        if common and (best is None or len(common) > len(best[1])):
            best = (dataset, common, recs)
    if best is None:
        raise ValueError(f"no utterance has an ok {benchmark}/{metric} record for both {a!r} and {b!r}")
    dataset, common, recs = best
    pairs = [(recs[a][u], recs[b][u]) for u in common]
    counts = [ra.n for ra, _ in pairs] if all(ra.n and ra.n == rb.n for ra, rb in pairs) else None
    return (dataset, np.array([ra.value for ra, _ in pairs]), np.array([rb.value for _, rb in pairs]),
            None if counts is None else np.array(counts, dtype=np.float64))


def compare(records: list[Record], a: str, b: str, benchmark: str, metric: str) -> Comparison:
    """Paired comparison of ``a`` and ``b`` on ``benchmark``/``metric`` (see module doc)."""
    if a == b:
        raise ValueError(f"cannot compare {a!r} with itself")
    dataset, va, vb, counts = paired_values(records, a, b, benchmark, metric)
    spec = registered_spec(benchmark, metric)  # the spec decides; a record's copy only for plugins absent here
    direction = spec.higher_is_better if spec is not None else next(
        (r.higher_is_better for r in records if r.benchmark == benchmark and r.metric == metric), None
    )
    if spec is not None and spec.aggregation == "ratio":
        if counts is None:
            raise ValueError(f"{benchmark}/{metric} is a corpus ratio, but its per-utterance records of {a!r} and "
                             f"{b!r} carry no equal reference lengths (n); rerun {benchmark} with --overwrite all")
        diffs = (va - vb) * counts  # edit differences
        mean_a, mean_b = float(va @ counts / counts.sum()), float(vb @ counts / counts.sum())
        s: Summary = summarize_ratio(list(diffs), list(counts))
    else:
        diffs = va - vb
        mean_a, mean_b, s = float(va.mean()), float(vb.mean()), summarize(list(diffs))
    return Comparison(
        benchmark, metric, a, b, dataset, len(diffs), mean_a, mean_b,
        s.mean, s.ci_low, s.ci_high, sign_flip_p_value(diffs), direction, floor(records, benchmark, metric, dataset),
    )


def comparable_metrics(records: list[Record], a: str, b: str) -> list[tuple[str, str]]:
    """(benchmark, metric) pairs with per-utterance ok records for both tokenizers."""
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in records:
        if r.utterance is not None and r.status == "ok" and r.tokenizer in (a, b):
            seen[(r.benchmark, r.metric)].add(r.tokenizer)
    return sorted(k for k, toks in seen.items() if toks == {a, b})
