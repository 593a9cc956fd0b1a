"""Execution: for one tokenizer, make items (load, encode, decode, token cache) and score them.

Per-utterance benchmarks are scored as items arrive (in worker processes when
``parallel_safe``) and recorded utterance by utterance, then aggregated; corpus
benchmarks get all items at once. The workers' per-utterance scores of one tokenizer
overlap its corpus benchmarks and the next tokenizer's work; a benchmark that measures
the machine waits for them. A benchmark's ``setup`` runs once per run: if
it fails, every tokenizer gets the same error row without retrying. The original
audio is its own subject (:meth:`Execution.ground_truth`), measured once per
benchmark on the whole selection, never by whichever tokenizer runs first.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Callable

from tqdm import tqdm

from dasb.benchmarks.base import Benchmark, CorpusBenchmark, Item, Result, UtteranceBenchmark
from dasb.decode_inputs import POLICY, DecodeInputProvider
from dasb.external import ExternalItems, ExternalSystem
from dasb.items import ItemMaker, error_text, reference_items
from dasb.planning import subject_card
from dasb.provenance import token_path_identity
from dasb.recording import Recorder, with_note
from dasb.result_cache import Caches, ResultCache, item_identity, scoring_identity
from dasb.results.listening import save_example
from dasb.results.record import GROUND_TRUTH
from dasb.scoring import Scorer, timed
from dasb.specs import judge_controls
from dasb.suites import Suite
from dasb.timings import ITEMS, Breakdown
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


class Execution:
    """Runs the pending benchmarks of each tokenizer through items, the caches and the scoring pool.

    With caches, a score whose inputs were scored before (:mod:`dasb.result_cache`) is read, not
    computed; a benchmark is set up (judge models loaded) only when something has to be computed.
    """

    def __init__(self, suite: Suite, benchmarks: dict[str, Benchmark], recorder: Recorder, scorer: Scorer,
                 device: str, caches: Caches | None, progress: bool, aggregate: bool = True,
                 env: dict[str, Any] | None = None) -> None:  # the environment: part of result-cache keys
        self.suite, self.benchmarks, self.recorder, self.scorer = suite, benchmarks, recorder, scorer
        self.device, self.caches, self.progress, self.aggregate = device, caches, progress, aggregate
        self.planner = recorder.planner
        # Seconds in tokenizer code (build, encode, decode) and benchmark code (setup, scoring, corpus runs).
        self.timings: Counter[str] = Counter()
        self.breakdown = Breakdown()  # the same, per tokenizer and benchmark, with cache hits (dasb.timings)
        self.calls = BenchmarkCalls.over(scorer, caches, env, self.timings, self.breakdown)

    def run_tokenizer(self, card: Card) -> None:
        """Everything still pending for ``card``."""
        todo = self.planner.todo(card, self.benchmarks)
        if not todo:
            return
        start = time.perf_counter()
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
        finally:
            self.breakdown.add(card.name, ITEMS, build_s=time.perf_counter() - start)
        card = replace(card)  # key on the weights now present (building may have fetched them)
        self.recorder.save_tokenizer_info(card, tok)
        todo = self._runnable(card, tok, todo)
        if todo:
            self._process(card, tok, todo)

    def _runnable(self, card: Card, tok: AudioTokenizer, todo: dict[str, Benchmark]) -> dict[str, Benchmark]:
        """``todo`` without the benchmarks that skip ``tok`` or whose setup failed before (recorded as such)."""
        ready = {}
        for name, bench in todo.items():
            skip = bench.skip_reason(tok)
            failed = None if skip is not None else self.calls.setup_errors.get(bench.name)
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
        batches = self._items(card, tok, decode, per_utt, pending, whole, chosen)
        # Corpus benchmarks run while the metric workers finish this tokenizer's per-utterance scores (both cores
        # busy); those that measure the machine run last, once the workers are done, so that their timings are
        # not taken under the workers' load.
        for n, b in sorted(whole.items(), key=lambda nb: nb[1].measures_machine):
            if b.measures_machine:
                self.scorer.drain()
            self._corpus({None: card}, tok, b, [it for it in batches.kept if it.utterance.id in chosen[n]], batches.notes)
            self.scorer.deliver_finished()
        given = ", ".join(f"{n} ({POLICY[n]})" for n in tok.info.decode_inputs)
        note = f"decoded with {given}, not counted in the bitrate" if given and decode else None
        # Aggregated once their last score is in; meanwhile the next tokenizer is made and measured, so the
        # workers still scoring this one overlap it.
        for n, b in per_utt.items() if self.aggregate else ():
            notes = "; ".join(filter(None, [note if b.needs_decoded else None, *batches.fallbacks])) or None
            self.scorer.then(partial(self._aggregate, card, b, pending[n], notes))

    def _items(self, card: Card, tok: AudioTokenizer, decode: bool, per_utt: dict[str, UtteranceBenchmark],
               pending: dict[str, set[str]], corpus_benchmarks: dict[str, CorpusBenchmark],
               chosen: dict[str, set[str]]) -> Batches:
        """Make the items the benchmarks need batch by batch, submitting each to the per-utterance benchmarks."""
        needed = set().union(*pending.values(), *chosen.values())
        wanted = [u for u in self.planner.corpus.utterances if u.id in needed]
        corpus, size = self.planner.corpus, self.suite.batch_size
        out = Batches()
        maker = item_source(card, tok, decode, list(per_utt.values()) + list(corpus_benchmarks.values()), self.suite,
                            self.recorder, self.caches)
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
                    self.calls.score(card, tok, b, item, partial(self.recorder.write, card, b, decode_inputs=sources))
                if corpus_benchmarks:
                    out.kept.append(item)
        self.timings["tokenizer"] += maker.seconds
        self.breakdown.add(card.name, ITEMS, encode_s=maker.encode_seconds, decode_s=maker.decode_seconds,
                           token_hits=maker.cache_hits, token_misses=maker.cache_misses)
        out.fallbacks = maker.fallbacks
        return out

    def _aggregate(self, card: Card, bench: UtteranceBenchmark, redo: set[str], note: str | None) -> None:
        # Utterances redone now (e.g. errors under --overwrite errors) make a recorded aggregate stale.
        plan = self.planner
        redone = any(plan.key(card, bench, u, m) in plan.fresh for u in redo for m in bench.metrics())
        self.recorder.write(card, bench, self.recorder.aggregate(card, bench, note), replace=redone)

    def _corpus(self, wanted: dict[str | None, Card], tok: AudioTokenizer | None, bench: CorpusBenchmark,
                items: list[Item], notes: list[str]) -> None:
        """Run a corpus benchmark (or read its results from the cache) and record its rows about each subject
        under that subject's card (``{None: card}``: the tokenizer's rows; the original audio's pass: the ground
        truth and the judge's controls)."""
        results = self.calls.run(next(iter(wanted.values())), tok, bench, items, list(wanted))
        if isinstance(results, str):
            for c in wanted.values():
                self.recorder.fail_all(c, bench, "error", results)
            return
        for subject, c in wanted.items():
            mine = [r for r in results if r.subject == subject]
            if notes:
                mine = [r if r.utterance or r.status != "ok" else with_note(r, "; ".join(notes)) for r in mine]
            self.recorder.write(c, bench, mine, replace=True)  # one computation: its rows replace earlier ones together

    def ground_truth(self) -> None:
        """Measure the original audio once per benchmark that reports it, on the benchmark's whole selection,
        with the judge's fitness controls (:data:`dasb.specs.JUDGE_FITNESS`) as subjects of their own."""
        for name, bench in self.benchmarks.items():
            if not bench.ground_truth:
                continue
            names = [GROUND_TRUTH, *(c.name for c in judge_controls(name))]
            subjects = {s: subject_card(s) for s in names if self.planner.todo(subject_card(s), {name: bench})}
            if not subjects:
                continue
            items, errors = reference_items(self.planner.selection(bench))
            notes = [f"{len(errors)} utterance(s) could not be read, e.g. {errors[0]}"] if errors else []
            self._corpus(dict(subjects), None, bench, items, notes)


def item_source(card: Card, tok: AudioTokenizer, decode: bool, benches: list[Benchmark], suite: Suite,
                recorder: Recorder, caches: Caches | None) -> ItemMaker | ExternalItems:
    """What turns utterances into items: the tokenizer (with the token cache), or an external system's files
    (files it holds beyond the corpus are recorded as errors)."""
    corpus = recorder.planner.corpus
    if isinstance(tok, ExternalSystem):  # outputs are read, not computed
        for uid, problem in tok.extra_files({u.id for u in corpus.utterances}):
            for b in benches:
                recorder.fail_all(card, b, "error", problem, utterance=uid)
        return ExternalItems(tok)
    provider = DecodeInputProvider(corpus, tok.info.decode_inputs, tok.info.sample_rate) if decode else None
    tokens = None if caches is None else caches.tokens
    return ItemMaker(tok, card.config_hash, suite.batch_size, tokens, suite.max_batch_seconds, provider)


class BenchmarkCalls:
    """Calls benchmarks: each set up at most once per run and only when something must be computed, scores read
    from the result cache when it has them, computed (and stored) otherwise, times and hits counted."""

    def __init__(self, scorer: Scorer, reuse: "Reuse | None", timings: Counter[str], breakdown: Breakdown) -> None:
        self.scorer, self.reuse, self.timings, self.breakdown = scorer, reuse, timings, breakdown
        self.setup_errors: dict[str, str | None] = {}  # benchmark name -> why its setup failed (None: it worked)

    @classmethod
    def over(cls, scorer: Scorer, caches: Caches | None, env: dict[str, Any] | None, timings: Counter[str],
             breakdown: Breakdown) -> "BenchmarkCalls":
        """Calls through the result cache of ``caches`` (keyed by the environment ``env``), if any."""
        if caches is not None and env is None:
            raise ValueError("the result cache needs the environment its scores are keyed by")
        return cls(scorer, None if caches is None else Reuse(caches.results, env, breakdown), timings, breakdown)

    def setup(self, bench: Benchmark) -> str | None:
        """Set ``bench`` up once per run; the reason it failed, or None."""
        if bench.name not in self.setup_errors:
            start = time.perf_counter()
            try:
                bench.setup()
                self.setup_errors[bench.name] = None
            except Exception as err:
                self.setup_errors[bench.name] = f"setup failed: {error_text(err)}"
            spent = time.perf_counter() - start
            self.timings["benchmark"] += spent
            self.breakdown.add("(setup)", bench.name, setup_s=spent)
        return self.setup_errors[bench.name]

    def score(self, card: Card, tok: AudioTokenizer, bench: UtteranceBenchmark, item: Item,
              done: Callable[[list[Result]], None]) -> None:
        """Hand ``done`` the results of ``item`` (in submission order): from the cache, or scored and stored."""
        key = None if self.reuse is None else self.reuse.key(card, tok, bench, [item], [None])
        hit = None if key is None else self.reuse.get(card, bench, key)
        if hit is not None:
            self.scorer.submit_done(hit, done)
            return
        failed = self.setup(bench)
        if failed is not None:
            self.scorer.submit_done([Result(m, None, item.utterance.id, "error", failed) for m in bench.metrics()], done)
            return
        keep = done if key is None else partial(_store_then, self.reuse.cache, key, done)
        self.scorer.submit(bench, item, tok, keep, label=(card.name, bench.name))

    def run(self, card: Card, tok: AudioTokenizer | None, bench: CorpusBenchmark, items: list[Item],
            subjects: list[str | None]) -> list[Result] | str:
        """A corpus benchmark's rows about ``subjects`` (None: the tokenizer), from the cache or computed and
        stored; the error message when its setup or run failed."""
        key = None if self.reuse is None else self.reuse.key(card, tok, bench, items, subjects)
        found = None if key is None else self.reuse.get(card, bench, key)
        if found is not None:
            return found
        failed = self.setup(bench)
        if failed is not None:
            return failed
        start = time.perf_counter()
        try:
            results = [r for r in bench.run(items, tok) if r.subject in subjects]
        except Exception as err:
            return error_text(err)
        finally:
            spent = time.perf_counter() - start
            self.timings["benchmark"] += spent
            self.breakdown.add(card.name, bench.name, scoring_s=spent)
        if key is not None:
            self.reuse.cache.put(key, results)
        return results


class Reuse:
    """The result cache as execution uses it: scoring identities computed once per (tokenizer, benchmark),
    hits and misses counted in the time breakdown."""

    def __init__(self, cache: ResultCache, env: dict[str, Any], breakdown: Breakdown) -> None:
        self.cache, self.env, self.breakdown = cache, env, breakdown
        self._identities: dict[tuple[str, str, str], dict[str, Any]] = {}

    def key(self, card: Card, tok: AudioTokenizer | None, bench: Benchmark, items: list[Item],
            subjects: list[str | None]) -> dict[str, Any]:
        """The cache key of ``bench`` scoring ``items`` of ``card`` (rows about ``subjects``)."""
        memo = (card.name, card.config_hash, bench.name)
        if memo not in self._identities:
            who = None if tok is None else token_path_identity(card.config_hash, type(tok))
            self._identities[memo] = scoring_identity(bench, None if tok is None else tok.info, who, self.env)
        return {**self._identities[memo], "subjects": subjects, "items": [item_identity(it, bench) for it in items]}

    def get(self, card: Card, bench: Benchmark, key: dict[str, Any]) -> list[Result] | None:
        found = self.cache.get(key)
        self.breakdown.add(card.name, bench.name, result_hits=found is not None, result_misses=found is None)
        return found


def _store_then(cache: ResultCache, key: dict[str, Any], done: Callable[[list[Result]], None], results: list[Result]) -> None:
    """Store freshly scored ``results`` in the result cache, then hand them on."""
    cache.put(key, results)
    done(results)
