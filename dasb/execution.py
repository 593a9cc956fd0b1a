"""Execution: for one tokenizer, make items (load, encode, decode, token cache) and score them.

Per-utterance benchmarks are scored as items arrive (in worker processes when
``parallel_safe``) and recorded utterance by utterance, then aggregated; corpus
benchmarks get all items at once. A benchmark's ``setup`` runs once per run: if
it fails, every tokenizer gets the same error row without retrying. The original
audio is its own subject (:meth:`Execution.ground_truth`), measured once per
benchmark on the whole selection, never by whichever tokenizer runs first.
"""
from __future__ import annotations

import os
from collections import Counter
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Iterator

from threadpoolctl import threadpool_limits
from tqdm import tqdm

from dasb.benchmarks.base import Benchmark, CorpusBenchmark, Item, UtteranceBenchmark
from dasb.cache import TokenCache
from dasb.decode_inputs import POLICY, DecodeInputProvider
from dasb.external import ExternalItems, ExternalSystem
from dasb.items import ItemMaker, error_text, reference_items
from dasb.planning import subject_card
from dasb.recording import Recorder, with_note
from dasb.results.listening import save_example
from dasb.results.record import GROUND_TRUTH
from dasb.scoring import Scorer, timed
from dasb.suites import Suite
from dasb.threads import torch_threads
from dasb.tokenizers.base import AudioTokenizer
from dasb.tokenizers.cards import Card
from dasb.weights import WeightsUnavailable


@dataclass
class Batches:
    """What the item loop of one tokenizer kept for corpus benchmarks, and what went wrong."""

    kept: list[Item] = field(default_factory=list)
    load_errors: list[str] = field(default_factory=list)  # utterances that could not be read or tokenized
    fallbacks: list[str] = field(default_factory=list)  # batches that failed and were redone one by one

    @property
    def notes(self) -> list[str]:
        """What a corpus benchmark's aggregate rows say about missing utterances and batch fallbacks."""
        failed = self.load_errors
        return ([f"{len(failed)} utterance(s) could not be processed, e.g. {failed[0]}"] if failed else []) + self.fallbacks


@contextmanager
def threads_beside_pool(workers: int | None) -> Iterator[None]:
    """While a pool of ``workers`` metric processes runs (None: no pool), this process's torch and BLAS
    threads are limited to the cores the pool leaves (at least one): OpenMP threads spinning against the
    workers made Griffin-Lim decoding 30x slower. Only the item loop is limited, never the whole process."""
    with ExitStack() as stack:
        if workers is not None:
            count = max(1, (os.cpu_count() or 1) - workers)
            stack.enter_context(torch_threads(count))
            stack.enter_context(threadpool_limits(count))
        yield


class Execution:
    """Runs the pending benchmarks of each tokenizer through items, the token cache and the scoring pool."""

    def __init__(self, suite: Suite, benchmarks: dict[str, Benchmark], recorder: Recorder, scorer: Scorer,
                 device: str, cache: TokenCache | None, progress: bool, aggregate: bool = True) -> None:
        self.suite, self.benchmarks, self.recorder, self.scorer = suite, benchmarks, recorder, scorer
        self.device, self.cache, self.progress, self.aggregate = device, cache, progress, aggregate
        self.planner = recorder.planner
        # Seconds in tokenizer code (build, encode, decode) and benchmark code (setup, scoring, corpus runs).
        self.timings: Counter[str] = Counter()
        self._setup_errors: dict[str, str | None] = {}  # benchmark name -> why its setup failed (None: it worked)

    def setup(self, bench: Benchmark) -> str | None:
        """Set ``bench`` up once per run; the reason it failed, or None."""
        if bench.name not in self._setup_errors:
            try:
                with timed(self.timings, "benchmark"):
                    bench.setup()
                self._setup_errors[bench.name] = None
            except Exception as err:
                self._setup_errors[bench.name] = f"setup failed: {error_text(err)}"
        return self._setup_errors[bench.name]

    def run_tokenizer(self, card: Card) -> None:
        """Everything still pending for ``card``."""
        todo = self.planner.todo(card, self.benchmarks)
        if not todo:
            return
        try:
            with timed(self.timings, "tokenizer"):
                tok = card.build(self.device)
        except Exception as err:
            # A suite's optional tokenizer without weights is skipped with the fix; asked for by name, an error.
            optional = isinstance(err, WeightsUnavailable) and card.name in self.suite.optional
            for bench in todo.values():
                self.recorder.fail_all(card, bench, "skipped" if optional else "error",
                                       f"cannot load tokenizer {card.name!r}: {error_text(err)}")
            return
        card = replace(card)  # key on the weights now present (building may have fetched them)
        self.recorder.save_tokenizer_info(card, tok)
        todo = self._runnable(card, tok, todo)
        if todo:
            self._process(card, tok, todo)

    def _runnable(self, card: Card, tok: AudioTokenizer, todo: dict[str, Benchmark]) -> dict[str, Benchmark]:
        """``todo`` without the benchmarks that skip ``tok`` or failed to set up (recorded as such)."""
        ready = {}
        for name, bench in todo.items():
            skip = bench.skip_reason(tok)
            failed = None if skip is not None else self.setup(bench)
            if skip is not None or failed is not None:
                self.recorder.fail_all(card, bench, "skipped" if skip else "error", skip or failed)
            else:
                ready[name] = bench
        return ready

    def _process(self, card: Card, tok: AudioTokenizer, todo: dict[str, Benchmark]) -> None:
        per_utt = {n: b for n, b in todo.items() if isinstance(b, UtteranceBenchmark)}
        whole = {n: b for n, b in todo.items() if isinstance(b, CorpusBenchmark)}
        pending = {n: {u.id for u in self.planner.pending_utterances(card, b)} for n, b in per_utt.items()}
        chosen = {n: {u.id for u in b.select(self.planner.corpus.utterances)} for n, b in whole.items()}
        decode = tok.info.decodes and any(b.needs_decoded for b in todo.values())
        parallel = self.scorer.workers > 1 and any(b.parallel_safe for b in per_utt.values())
        with threads_beside_pool(self.scorer.workers if parallel else None):
            batches = self._items(card, tok, decode, per_utt, pending, whole, chosen)
            self.scorer.drain()
        given = ", ".join(f"{n} ({POLICY[n]})" for n in tok.info.decode_inputs)
        note = f"decoded with {given}, not counted in the bitrate" if given and decode else None
        for n, b in per_utt.items() if self.aggregate else ():
            self._aggregate(card, b, pending[n], "; ".join(filter(None, [note if b.needs_decoded else None, *batches.fallbacks])) or None)
        for n, b in whole.items():
            self._corpus(card, tok, b, [it for it in batches.kept if it.utterance.id in chosen[n]], batches.notes)

    def _maker(self, card: Card, tok: AudioTokenizer, decode: bool, benches: list[Benchmark]) -> ItemMaker | ExternalItems:
        """What turns utterances into items: the tokenizer (with the cache), or an external system's files."""
        corpus = self.planner.corpus
        if isinstance(tok, ExternalSystem):  # outputs are read, not computed
            for uid, problem in tok.extra_files({u.id for u in corpus.utterances}):
                for b in benches:
                    self.recorder.fail_all(card, b, "error", problem, utterance=uid)
            return ExternalItems(tok)
        provider = DecodeInputProvider(corpus, tok.info.decode_inputs, tok.info.sample_rate) if decode else None
        return ItemMaker(tok, card.config_hash, self.suite.batch_size, self.cache, self.suite.max_batch_seconds, provider)

    def _items(self, card: Card, tok: AudioTokenizer, decode: bool, per_utt: dict[str, UtteranceBenchmark],
               pending: dict[str, set[str]], corpus_benchmarks: dict[str, CorpusBenchmark],
               chosen: dict[str, set[str]]) -> Batches:
        """Make the items the benchmarks need batch by batch, submitting each to the per-utterance benchmarks."""
        needed = set().union(*pending.values(), *chosen.values())
        wanted = [u for u in self.planner.corpus.utterances if u.id in needed]
        corpus, size = self.planner.corpus, self.suite.batch_size
        out = Batches()
        maker = self._maker(card, tok, decode, list(per_utt.values()) + list(corpus_benchmarks.values()))
        for start in tqdm(range(0, len(wanted), size), desc=card.name, unit="batch", disable=not self.progress, leave=False):
            self.scorer.deliver_finished()
            for utt, item in maker.make(wanted[start : start + size], decode):
                todo = {n: b for n, b in per_utt.items() if utt.id in pending[n]}
                if isinstance(item, str):
                    out.load_errors.append(item)
                    # Corpus benchmarks leave the utterance out; its error row says so.
                    for b in [*todo.values(), *(b for n, b in corpus_benchmarks.items() if utt.id in chosen[n])]:
                        self.recorder.fail_all(card, b, "error", item, utterance=utt.id)
                    continue
                save_example(self.recorder.store.dir, card.name, item, corpus)  # listening examples for the site
                for b in todo.values():
                    sources = item.decode_inputs.sources if b.needs_decoded else None
                    self.scorer.submit(b, item, tok, partial(self.recorder.write, card, b, decode_inputs=sources))
                if corpus_benchmarks:
                    out.kept.append(item)
        self.timings["tokenizer"] += maker.seconds
        out.fallbacks = getattr(maker, "fallbacks", [])
        return out

    def _aggregate(self, card: Card, bench: UtteranceBenchmark, redo: set[str], note: str | None) -> None:
        # Utterances redone now (e.g. errors under --overwrite errors) make a recorded aggregate stale.
        plan = self.planner
        redone = any(plan.key(card, bench, u, m) in plan.fresh for u in redo for m in bench.metrics())
        self.recorder.write(card, bench, self.recorder.aggregate(card, bench, note), replace=redone)

    def _corpus(self, card: Card, tok: AudioTokenizer | None, bench: CorpusBenchmark, items: list[Item],
                notes: list[str], subject: str | None = None) -> None:
        """Run a corpus benchmark and record its rows about ``subject`` (None: the tokenizer)."""
        try:
            with timed(self.timings, "benchmark"):
                results = [r for r in bench.run(items, tok) if r.row == subject]
        except Exception as err:
            self.recorder.fail_all(card, bench, "error", error_text(err))
            return
        if notes:
            results = [r if r.utterance or r.status != "ok" else with_note(r, "; ".join(notes)) for r in results]
        self.recorder.write(card, bench, results, replace=True)  # one computation: its rows replace earlier ones together

    def ground_truth(self) -> None:
        """Measure the original audio once per benchmark that reports it, on the benchmark's whole selection."""
        card = subject_card(GROUND_TRUTH)
        for name, bench in self.benchmarks.items():
            if not bench.ground_truth or not self.planner.todo(card, {name: bench}):
                continue
            failed = self.setup(bench)
            if failed is not None:
                self.recorder.fail_all(card, bench, "error", failed)
                continue
            items, errors = reference_items(self.planner.selection(bench))
            notes = [f"{len(errors)} utterance(s) could not be read, e.g. {errors[0]}"] if errors else []
            self._corpus(card, None, bench, items, notes, subject=GROUND_TRUTH)
