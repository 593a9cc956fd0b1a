"""Recording: results become keyed records, aggregates and run metadata in the run directory.

Every record carries its metric's direction from the benchmark's spec
(:mod:`dasb.specs`); a result under a metric the benchmark does not declare is
recorded as an error saying so. Non-finite values become error records
(:func:`dasb.scoring.checked`), they never abort a run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from dasb.benchmarks.aggregate import aggregate
from dasb.benchmarks.base import Benchmark, Result
from dasb.decode_inputs import POLICY
from dasb.planning import Planner, subject_card
from dasb.results.record import Record, RecordKey
from dasb.results.store import RunStore
from dasb.scoring import checked
from dasb.tokenizers.base import AudioTokenizer
from dasb.tokenizers.cards import Card
from dasb.weights import identity


@dataclass
class RunSummary:
    """Counts of records written by one invocation, and the run's current errors."""

    written: dict[str, int] = field(default_factory=lambda: {"ok": 0, "error": 0, "skipped": 0})
    errors: list[Record] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0


class Recorder:
    """Writes the records of one invocation (one run id) through a :class:`Planner`."""

    def __init__(self, store: RunStore, planner: Planner, run_id: str) -> None:
        self.store = store
        self.planner = planner
        self.run_id = run_id
        self.summary = RunSummary()

    def note_invocation(self, environment: dict[str, Any]) -> None:
        """Store this invocation's environment once in the run directory; its records refer to it by run id."""
        self.store.add_invocation(self.run_id, _now(), environment)

    def _record(self, key: RecordKey, result: Result, higher_is_better: bool | None,
                decode_inputs: dict[str, str] | None) -> Record:
        return Record(
            **key._asdict(), value=result.value, status=result.status, message=result.message,
            stderr=result.stderr, ci_low=result.ci_low, ci_high=result.ci_high, n=result.n,
            higher_is_better=higher_is_better, run_id=self.run_id,
            created_at=_now(),
            decode_inputs=decode_inputs or {},
        )

    def write(self, card: Card, bench: Benchmark, results: Iterable[Result],
              decode_inputs: dict[str, str] | None = None, replace: bool = False) -> None:
        """Record ``results`` whose keys are pending (``replace``: also those recorded by earlier runs)."""
        plan, records = self.planner, []
        for res in results:
            res = checked(res, f"benchmark {bench.name!r}, metric {res.metric!r}")
            # A result about the original audio (res.subject) goes to that row, not the tokenizer's.
            key = plan.key(card if res.subject is None else subject_card(res.subject), bench, res.utterance, res.metric)
            if key in plan.fresh or not (replace or plan.pending(key)):
                continue
            try:
                higher = bench.spec(res.metric).higher_is_better
            except KeyError as err:  # a benchmark bug, shown as such rather than recorded without meaning
                res, higher = Result(res.metric, None, res.utterance, "error", str(err), subject=res.subject), None
            records.append(self._record(key, res, higher, decode_inputs if res.subject is None else None))
            plan.fresh.add(key)
            self.summary.written[res.status] += 1
        self.store.append(records)

    def import_records(self, records: Iterable[Record]) -> int:
        """Append records computed elsewhere (e.g. by a distributed task) whose keys are pending."""
        new = [r for r in records if self.planner.pending(r.key)]
        self.store.append(new)
        self.planner.fresh.update(r.key for r in new)
        for r in new:
            self.summary.written[r.status] += 1
        return len(new)

    def fail_all(self, card: Card, bench: Benchmark, status: str, message: str, utterance: str | None = None) -> None:
        """One ``status`` row per metric of ``bench`` (for ``utterance``, or the aggregate)."""
        self.write(card, bench, [Result(m, None, utterance, status, message) for m in bench.metrics()])

    def aggregate(self, card: Card, bench: Benchmark, note: str | None = None) -> list[Result]:
        """Each metric's aggregate over the recorded utterances, as its spec declares
        (:func:`dasb.benchmarks.aggregate.aggregate`); ``note`` goes on every row."""
        results = []
        for metric in bench.metrics():
            recs = [self.store.get(self.planner.key(card, bench, u.id, metric)) for u in bench.select(self.planner.corpus.utterances)]
            values = [r.value for r in recs if r is not None and r.status == "ok"]
            failed = [r for r in recs if r is None or r.status != "ok"]
            if not values:
                first = next((r.message for r in failed if r is not None and r.message), "no records")
                results.append(Result(metric, None, None, "error", f"no utterance could be scored; first error: {first}"))
                continue
            notes = [note] if note else []
            if failed:
                notes.append(f"{len(failed)} of {len(recs)} utterances failed and are excluded (see per-utterance errors)")
            results.append(aggregate(bench.spec(metric), values, "; ".join(notes) or None))
        return results

    def save_tokenizer_info(self, card: Card, tok: AudioTokenizer) -> None:
        """Keep what the leaderboard shows about each tokenizer beside the records."""
        info = tok.info
        self.store.update_tokenizers(card.name, {
            "card": {k: v for k, v in card.to_dict().items() if k != "source"},
            "config_hash": card.config_hash, "kind": info.kind, "sample_rate": info.sample_rate,
            "num_codebooks": info.num_codebooks, "codebook_sizes": list(info.codebook_sizes),
            "frame_rate": info.frame_rate if info.num_codebooks else None,
            # External systems: declared, from coded-file sizes or from their token files (bitrate_from).
            "nominal_bitrate": info.extras["bitrate"] if "bitrate" in info.extras else info.nominal_bitrate,
            "bitrate_from": info.extras.get("bitrate_from"),
            "variable_rate": info.variable_rate, "causal": info.causal, "decodes": info.decodes,
            "precision": "float16" if card.params.get("half") else "float32",
            # The commit the weights were loaded from (the card's revision may be a branch such as `main`).
            "resolved_revision": info.extras.get("resolved_revision"),
            # What the weights are (commit or sha256; dasb.weights.identity), part of config_hash.
            "weights": identity(card),
            # Not counted in any bitrate: the leaderboard flags tokenizers decoded with these.
            "decode_inputs": {n: POLICY[n] for n in info.decode_inputs},
        })


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def with_note(result: Result, note: str) -> Result:
    """``result`` with ``note`` appended to its message."""
    return Result(**{**result.__dict__, "message": "; ".join(filter(None, [result.message, note]))})
