"""Runs a suite into a run directory: planning, execution and recording, each in its own module.

- :mod:`dasb.planning` decides what is missing (record keys, ``--overwrite`` per record);
- :mod:`dasb.execution` makes items (load, encode, decode, token cache) and scores them;
- :mod:`dasb.recording` turns results into records, aggregates and run metadata.

Resumable: every record is keyed by content (:mod:`dasb.provenance`); work whose
key is recorded is skipped according to ``overwrite``: ``never`` (keep everything
recorded), ``errors`` (redo error records, per-utterance ones too) or ``always``
(redo everything once). Failures never stop the run: a tokenizer that cannot
load, a file that cannot be read, a metric that raises or returns a non-finite
value, each becomes an error record with its message.
"""
from __future__ import annotations

import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Iterable

from dasb.benchmarks.base import Benchmark, UtteranceBenchmark
from dasb.data.corpus import Corpus, load_corpus
from dasb.env import environment
from dasb.execution import Execution
from dasb.planning import OVERWRITE_POLICIES, Planner
from dasb.recording import Recorder, RunSummary
from dasb.registry import BENCHMARKS
from dasb.result_cache import Caches
from dasb.results.record import Record
from dasb.results.store import RunStore
from dasb.scoring import Scorer
from dasb.suites import Suite
from dasb.timings import Breakdown
from dasb.tokenizers.cards import Card, get_card

__all__ = ["OVERWRITE_POLICIES", "RunSummary", "Runner"]


class Runner:
    """Runs one suite into one run directory.

    ``only_utterances``, ``aggregate`` and ``ground_truth`` serve distributed runs
    (:mod:`dasb.executors`): a shard scores only some utterances and leaves the
    aggregates and the original audio's rows to the driver. ``cards`` gives cards
    that are in no card folder, by name (`dasb score`'s external systems).
    """

    def __init__(self, suite: Suite, out_dir: str | Path, device: str = "cpu", overwrite: str = "never",
                 progress: bool | None = None, cache_dir: str | Path | None = None, workers: int = 1,
                 only_utterances: set[str] | None = None, aggregate: bool = True, repair: bool = False,
                 ground_truth: bool = True, cards: dict[str, Card] | None = None) -> None:
        if overwrite not in OVERWRITE_POLICIES:
            raise ValueError(f"overwrite must be one of {OVERWRITE_POLICIES}, got {overwrite!r}")
        self.suite, self.device, self.overwrite = suite, device, overwrite
        self.progress = sys.stderr.isatty() if progress is None else progress
        # Tokens with decoded audio, and scores, reused by any run in any directory (dasb.result_cache).
        self.caches = None if cache_dir is None else Caches.at(cache_dir)
        self.scorer = Scorer(workers)  # the pool of metric workers (reusable after close)
        self.only_utterances = only_utterances
        self.aggregate, self.with_ground_truth = aggregate, ground_truth
        self.run_id = uuid.uuid4().hex[:12]
        self.env = environment(device)
        self.benchmarks: dict[str, Benchmark] = {
            name: BENCHMARKS.get(name)(**settings) for name, settings in suite.benchmarks.items()
        }
        # An unknown name is a usage error (RegistryError with suggestions) before any work, and so is a misspelt
        # card field or adapter parameter (SettingsError naming the nearest). ``cards`` gives cards that are in
        # no card folder, by name (e.g. `dasb score`'s external system).
        given = cards or {}
        self.cards: dict[str, Card] = {name: given[name] if name in given else get_card(name) for name in suite.tokenizers}
        for name, card in self.cards.items():
            if name not in given:
                card.check_params()
        if suite.half:
            self.cards = {name: card.in_half_precision() for name, card in self.cards.items()}
        self.store = RunStore(out_dir, repair=repair)
        self._corpus: Corpus | None = None
        self.recorder: Recorder | None = None
        self.summary = RunSummary()
        self.timings: Counter[str] = Counter()  # seconds in tokenizer and benchmark code (dasb bench)
        self.breakdown = Breakdown()  # per tokenizer and benchmark, saved as timings.json in the run directory

    def _recorder(self) -> Recorder:
        """The planner and recorder of this invocation (the corpus is loaded on first use)."""
        if self.recorder is None:
            self._corpus = load_corpus(self.suite.dataset)
            planner = Planner(self.store, self._corpus, self.overwrite, self.only_utterances)
            self.recorder = Recorder(self.store, planner, self.run_id)
            self.summary = self.recorder.summary
        return self.recorder

    def pending_utterances(self, card: Card) -> list[str]:
        """Ids of utterances some per-utterance benchmark still has to score for ``card``."""
        plan = self._recorder().planner
        todo = [b for b in self.benchmarks.values() if isinstance(b, UtteranceBenchmark)]
        ids = {u.id for b in todo for u in plan.pending_utterances(card, b)}
        return [u.id for u in plan.corpus.utterances if u.id in ids]

    def import_records(self, records: Iterable[Record]) -> int:
        """Append records computed elsewhere (e.g. by a distributed task) whose keys are pending."""
        return self._recorder().import_records(records)

    def run(self) -> RunSummary:
        """Run every tokenizer of the suite; returns what was written and the suite's current errors."""
        start = time.perf_counter()
        with self.store.locked():
            summary = self._run()
            self.breakdown.wall_s = time.perf_counter() - start
            self.breakdown.save(self.store.dir)
        return summary

    def _run(self) -> RunSummary:
        recorder = self._recorder()
        corpus = recorder.planner.corpus
        self.store.write_config({
            "suite": self.suite.to_dict(),
            "dataset": {"name": corpus.name, "hash": corpus.hash, "utterances": len(corpus.utterances)},
            "benchmarks": {n: b.config() for n, b in self.benchmarks.items()},
            # What each number means, so that the leaderboard reads it from the run directory alone.
            "metrics": {n: {m: s.to_dict() for m, s in b.metrics().items()} for n, b in self.benchmarks.items()},
        })
        recorder.note_invocation(self.env)
        scorer = self.scorer
        execution = Execution(self.suite, self.benchmarks, recorder, scorer, self.device, self.caches,
                              self.progress, self.aggregate, env=self.env)
        try:
            if self.with_ground_truth:
                execution.ground_truth()
            for card in self.cards.values():
                execution.run_tokenizer(card)
        finally:
            scorer.close()
            execution.timings["benchmark"] += scorer.seconds + scorer.waited  # waiting for workers: benchmark time
            for (tokenizer, bench), seconds in scorer.spent.items():
                execution.breakdown.add(tokenizer, bench, scoring_s=seconds)
            self.timings, self.breakdown = execution.timings, execution.breakdown
        # Errors of other suites or settings in the same directory do not fail this run.
        cards = list(self.cards.values())
        self.summary.errors = [r for r in self.store.records()
                               if r.status == "error" and recorder.planner.in_plan(r, cards, self.benchmarks)]
        return self.summary
