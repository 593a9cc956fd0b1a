"""What the leaderboard site shows, computed from merged records (no HTML here).

Definitions the site documents on its overview page:

- **Bitrate bands** (kbps, after DASB's low / medium / high): low < 1.5,
  medium 1.5 to 6 (inclusive), high > 6. The bitrate is the measured one
  (``tokens/bitrate_bps``) when recorded, else the nominal one.
- **Best in band**: per metric with a direction, the best aggregate value among
  tokenizers of the same band (ties all marked). Not a significance claim.
- **Headline metric** of a benchmark: the one its metric specs flag
  (:mod:`dasb.specs`) when recorded, else its first metric with a direction.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import pandas as pd

from dasb.fitness import unfit_columns
from dasb.leaderboard.compare import Comparison, compare
from dasb.leaderboard.merge import Merged
from dasb.leaderboard.table import build, headlines
from dasb.results.record import Record
from dasb.specs import MetricSpec

BANDS = (("low", 0.0, 1.5), ("medium", 1.5, 6.0), ("high", 6.0, math.inf))
def band(kbps: float | None) -> str:
    """Bitrate band name of ``kbps`` ("unknown" when there is no bitrate)."""
    if kbps is None or (isinstance(kbps, float) and math.isnan(kbps)):
        return "unknown"
    if kbps < BANDS[0][2]:
        return "low"
    return "medium" if kbps <= BANDS[1][2] else "high"


def _better(x: float, y: float, higher_is_better: bool) -> bool:
    return x > y if higher_is_better else x < y


@dataclass
class SiteData:
    """Everything the pages need, in table order (``build``'s row order)."""

    merged: Merged
    table: pd.DataFrame
    cells: dict[tuple[str, str, str], Record]
    metrics: dict[str, dict[str, MetricSpec]]  # benchmark -> metric -> spec, in display order
    headlines: dict[str, str]
    best: set[tuple[str, str, str]] = field(default_factory=set)
    unfit: dict[str, str] = field(default_factory=dict)  # benchmark/metric -> why its judge is unfit

    def __post_init__(self) -> None:
        self._rows = {row["tokenizer"]: row for row in self.table.to_dict("records")}

    @property
    def tokenizers(self) -> list[str]:
        return list(self._rows)

    def row(self, tokenizer: str) -> dict:
        """The tokenizer's row of ``build()``'s table (kind, kbps, kbps_from, frame_hz, codebooks, ...)."""
        return self._rows[tokenizer]

    def kbps(self, tokenizer: str) -> float | None:
        v = self.row(tokenizer)["kbps"]
        return None if v is None or pd.isna(v) else float(v)

    def value(self, tokenizer: str, benchmark: str, metric: str) -> float | None:
        rec = self.cells.get((tokenizer, benchmark, metric))
        return rec.value if rec is not None and rec.status == "ok" else None

    def ranking(self, benchmark: str, metric: str) -> list[str]:
        """Tokenizers with an ok aggregate, best first (needs a metric direction)."""
        higher = self.metrics[benchmark][metric].higher_is_better
        scored = [(self.value(t, benchmark, metric), t) for t in self.tokenizers]
        scored = [(v, t) for v, t in scored if v is not None]
        return [t for v, t in sorted(scored, key=lambda vt: (-vt[0] if higher else vt[0], vt[1]))]

    def neighbour_comparison(self, tokenizer: str, benchmark: str) -> Comparison | str:
        """Paired comparison on the headline metric with the next-better tokenizer (the runner-up for the best).

        Returns a message instead when there is nothing to compare with.
        """
        metric = self.headlines[benchmark]
        if self.metrics[benchmark][metric].higher_is_better is None:
            return f"{metric} has no better direction"
        ranking = self.ranking(benchmark, metric)
        if tokenizer not in ranking:
            return f"{benchmark}/{metric}: no result for this tokenizer"
        if len(ranking) < 2:
            return f"{benchmark}/{metric}: no other tokenizer to compare with"
        i = ranking.index(tokenizer)
        other = ranking[i - 1] if i > 0 else ranking[1]
        try:
            return compare(self.merged.records, tokenizer, other, benchmark, metric)
        except ValueError as err:
            per_utterance = any(
                r.utterance is not None and r.benchmark == benchmark and r.metric == metric for r in self.merged.records
            )
            return f"{benchmark}/{metric}: {err}" + ("" if per_utterance else " (a corpus-level metric: nothing to pair)")

    def environments(self, tokenizer: str) -> list[tuple[dict, list[str]]]:
        """Distinct environments of the invocations that wrote ``tokenizer``'s records, each with its run ids."""
        out: dict[str, tuple[dict, set[str]]] = {}
        for run in {r.run_id for r in self.merged.records if r.tokenizer == tokenizer}:
            env = self.merged.invocations.get(run, {}).get("environment") or {}
            out.setdefault(json.dumps(env, sort_keys=True, default=str), (env, set()))[1].add(run)
        return [(env, sorted(runs)) for env, runs in out.values()]


def site_data(merged: Merged) -> SiteData:
    """Collect the table, aggregate cells, metric directions, headlines and best-in-band marks."""
    table = build(merged.records, merged.meta)
    cells: dict[tuple[str, str, str], Record] = {}
    for r in merged.records:  # newest last, as in build(): the same record wins
        if r.utterance is None:
            cells[(r.tokenizer, r.benchmark, r.metric)] = r
    metrics = merged.specs
    data = SiteData(merged, table, cells, metrics, headlines(metrics), unfit=unfit_columns(merged.records))
    # Rows without a bitrate (the ground-truth row of original audio) are no contenders.
    bands = {t: b for t in data.tokenizers if (b := band(data.kbps(t))) != "unknown"}
    for bench, ms in metrics.items():
        for metric, spec in ms.items():
            higher = spec.higher_is_better
            if higher is None:
                continue
            best: dict[str, float] = {}
            for t in bands:
                v = data.value(t, bench, metric)
                if v is not None and (bands[t] not in best or _better(v, best[bands[t]], higher)):
                    best[bands[t]] = v
            data.best.update((t, bench, metric) for t in bands if data.value(t, bench, metric) == best.get(bands[t]))
    return data
