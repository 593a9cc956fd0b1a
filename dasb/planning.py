"""Planning: which records of a suite are missing, under the ``--overwrite`` policy.

A record's key is (tokenizer, its identity hash, benchmark, its config hash, dataset,
its content hash, utterance, metric); see :mod:`dasb.provenance`. A key is pending
when nothing is recorded for it, when ``overwrite`` is ``always``, or when it is
``errors`` and the record is an error, including a per-utterance error under an ok
aggregate (:meth:`Planner.errors_to_redo`). A key written by this invocation is
never pending again.
"""
from __future__ import annotations

from dasb.benchmarks.base import Benchmark
from dasb.data.corpus import Corpus, Utterance
from dasb.hashing import hash_config
from dasb.results.record import GROUND_TRUTH, Record, RecordKey
from dasb.results.store import RunStore
from dasb.specs import CONTROLS
from dasb.tokenizers.cards import Card

OVERWRITE_POLICIES = ("never", "errors", "always")
SUBJECTS = (GROUND_TRUTH, *CONTROLS)  # what rows are about besides tokenizers: the original audio, judge controls


def subject_card(subject: str) -> Card:
    """The card under which results about a non-tokenizer subject (the original audio) are keyed."""
    return Card(name=subject, adapter="none")


class Planner:
    """Keys and pending work of one run directory on one corpus."""

    def __init__(self, store: RunStore, corpus: Corpus, overwrite: str = "never",
                 only_utterances: set[str] | None = None) -> None:
        if overwrite not in OVERWRITE_POLICIES:
            raise ValueError(f"overwrite must be one of {OVERWRITE_POLICIES}, got {overwrite!r}")
        self.store = store
        self.corpus = corpus
        self.overwrite = overwrite
        # A shard of a distributed run scores only these utterances.
        self.only_utterances = only_utterances
        self.fresh: set[RecordKey] = set()  # written by this invocation

    def key(self, card: Card, bench: Benchmark, utt: str | None, metric: str) -> RecordKey:
        return RecordKey(card.name, card.config_hash, bench.name, hash_config(bench.config()),
                         self.corpus.name, self.corpus.hash, utt, metric)

    def pending(self, key: RecordKey) -> bool:
        if key in self.fresh:
            return False
        rec = self.store.get(key)
        return rec is None or self.overwrite == "always" or (self.overwrite == "errors" and rec.status == "error")

    def selection(self, bench: Benchmark) -> list[Utterance]:
        """The utterances ``bench`` scores (restricted to this shard's)."""
        chosen = bench.select(self.corpus.utterances)
        if self.only_utterances is not None:
            chosen = [u for u in chosen if u.id in self.only_utterances]
        return chosen

    def pending_utterances(self, card: Card, bench: Benchmark) -> list[Utterance]:
        """Utterances with a pending per-utterance key of ``card`` x ``bench``."""
        names = bench.metrics()
        return [u for u in self.selection(bench) if any(self.pending(self.key(card, bench, u.id, m)) for m in names)]

    def aggregate_pending(self, card: Card, bench: Benchmark) -> bool:
        subject = card.name if card.name in SUBJECTS else None
        return any(self.pending(self.key(card, bench, None, m)) for m in bench.reported_metrics(subject))

    def errors_to_redo(self, card: Card, bench: Benchmark) -> bool:
        """Under ``--overwrite errors``: whether any record of ``card`` x ``bench`` (per-utterance too) is an error."""
        if self.overwrite != "errors":
            return False
        scope = self.key(card, bench, None, "")[:6]
        return any(r.status == "error" and r.key[:6] == scope for r in self.store.records())

    def todo(self, card: Card, benchmarks: dict[str, Benchmark]) -> dict[str, Benchmark]:
        """The benchmarks with work left for ``card``."""
        return {n: b for n, b in benchmarks.items() if self.aggregate_pending(card, b) or self.errors_to_redo(card, b)}

    def in_plan(self, rec: Record, cards: list[Card], benchmarks: dict[str, Benchmark]) -> bool:
        """Whether ``rec`` is one of this suite's records (its tokenizers and benchmarks, current settings)."""
        subjects = [subject_card(s) for s in SUBJECTS]
        rows = {c.name: c.config_hash for c in [*cards, *subjects]}
        benches = {n: hash_config(b.config()) for n, b in benchmarks.items()}
        return (rows.get(rec.tokenizer) == rec.tokenizer_config_hash and rec.dataset_hash == self.corpus.hash
                and benches.get(rec.benchmark) == rec.benchmark_config_hash)
