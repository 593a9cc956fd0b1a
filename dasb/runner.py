"""Plans tokenizer x benchmark work on one dataset, runs it, and records results.

Resumable: every record is keyed (tokenizer, benchmark, dataset, utterance,
metric and their config hashes). Work whose key is already recorded is skipped
according to ``overwrite``: ``never`` (keep everything recorded), ``errors``
(redo keys recorded as errors) or ``always`` (redo everything once).
Failures never stop the run: a tokenizer that cannot load, a file that cannot
be read, a metric that raises, each becomes an error record with its message.
"""
from __future__ import annotations

import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Iterable

import torch
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from dasb.benchmarks.base import Benchmark, CorpusBenchmark, Item, Result, UtteranceBenchmark
from dasb.data.corpus import Corpus, Utterance, load_corpus
from dasb.decode_inputs import POLICY, DecodeInputProvider
from dasb.env import environment
from dasb.external import ExternalItems, ExternalSystem
from dasb.cache import TokenCache
from dasb.hashing import hash_config
from dasb.items import ItemMaker, describe
from dasb.registry import BENCHMARKS
from dasb.results.listening import save_example
from dasb.results.record import GROUND_TRUTH, Record, RecordKey
from dasb.scoring import Scorer, checked, timed
from dasb.results.store import RunStore
from dasb.stats import summarize
from dasb.suites import Suite
from dasb.tokenizers.base import AudioTokenizer
from dasb.tokenizers.cards import Card, get_card
from dasb.weights import WeightsUnavailable, identity

OVERWRITE_POLICIES = ("never", "errors", "always")


@dataclass
class RunSummary:
    """Counts of records written by one invocation, and the run's current errors."""

    written: dict[str, int] = field(default_factory=lambda: {"ok": 0, "error": 0, "skipped": 0})
    errors: list[Record] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0


class Runner:
    """Runs one suite into one run directory."""

    def __init__(
        self,
        suite: Suite,
        out_dir: str | Path,
        device: str = "cpu",
        overwrite: str = "never",
        progress: bool | None = None,
        cache_dir: str | Path | None = None,
        workers: int = 1,
        only_utterances: set[str] | None = None,
        aggregate: bool = True,
        repair: bool = False,
        cards: dict[str, Card] | None = None,
    ) -> None:
        if overwrite not in OVERWRITE_POLICIES:
            raise ValueError(f"overwrite must be one of {OVERWRITE_POLICIES}, got {overwrite!r}")
        self.suite = suite
        self.device = device
        self.overwrite = overwrite
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.cache = None if cache_dir is None else TokenCache(cache_dir)
        self.scorer = Scorer(workers)
        if workers > 1:
            # Metric workers take the cores; a multi-threaded model beside them makes OpenMP threads
            # spin against each other (measured: Griffin-Lim decoding 30x slower), so the model gets one.
            torch.set_num_threads(1)
            threadpool_limits(1)
        # A shard of a distributed run scores only these utterances and leaves aggregation to the driver.
        self.only_utterances = only_utterances
        self.aggregate = aggregate
        # Seconds spent in tokenizer code (build, encode, decode) and benchmark code
        # (setup, scoring, corpus runs); the rest of the wall time is framework overhead.
        self.timings: Counter[str] = Counter()
        self.run_id = uuid.uuid4().hex[:12]
        self.env = environment(device)
        self.summary = RunSummary()
        self._fresh: set[RecordKey] = set()
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

    # ---- records -------------------------------------------------------------------------
    def _key(self, card: Card, bench: Benchmark, corpus: Corpus, utt: str | None, metric: str) -> RecordKey:
        return RecordKey(
            card.name, card.config_hash, bench.name, hash_config(bench.config()),
            corpus.name, corpus.hash, utt, metric,
        )

    def _pending(self, key: RecordKey) -> bool:
        if key in self._fresh:
            return False
        rec = self.store.get(key)
        return (
            rec is None
            or self.overwrite == "always"
            or (self.overwrite == "errors" and rec.status == "error")
        )

    def _record(self, key: RecordKey, result: Result, higher_is_better: bool | None,
                decode_inputs: dict[str, str] | None = None) -> Record:
        return Record(
            **key._asdict(),
            value=result.value,
            status=result.status,
            message=result.message,
            stderr=result.stderr,
            ci_low=result.ci_low,
            ci_high=result.ci_high,
            n=result.n,
            higher_is_better=higher_is_better,
            run_id=self.run_id,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            env=self.env,
            decode_inputs=decode_inputs or {},
        )

    def _write(self, card: Card, bench: Benchmark, corpus: Corpus, results: Iterable[Result],
               decode_inputs: dict[str, str] | None = None, replace: bool = False) -> None:
        """Record ``results`` whose keys are pending (``replace``: also those recorded by earlier runs)."""
        records = []
        for res in results:
            res = checked(res, f"benchmark {bench.name!r}, metric {res.metric!r}")
            # A result about the original audio (res.row) goes to that row, not the tokenizer's.
            row = card if res.row is None else _row_card(res.row)
            key = self._key(row, bench, corpus, res.utterance, res.metric)
            if key in self._fresh or not (replace or self._pending(key)):
                continue
            try:
                higher = bench.spec(res.metric).higher_is_better
            except KeyError as err:  # a benchmark bug, shown as such rather than recorded without meaning
                res, higher = Result(res.metric, None, res.utterance, "error", str(err), row=res.row), None
            records.append(self._record(key, res, higher, decode_inputs if res.row is None else None))
            self._fresh.add(key)
            self.summary.written[res.status] += 1
        self.store.append(records)

    def import_records(self, records: Iterable[Record]) -> int:
        """Append records computed elsewhere (e.g. by a distributed task) whose keys are pending."""
        new = [r for r in records if self._pending(r.key)]
        self.store.append(new)
        self._fresh.update(r.key for r in new)
        for r in new:
            self.summary.written[r.status] += 1
        return len(new)

    def pending_utterances(self, card: Card, corpus: Corpus) -> list[str]:
        """Ids of utterances some per-utterance benchmark still has to score for ``card``."""
        todo = [b for b in self.benchmarks.values() if isinstance(b, UtteranceBenchmark)]
        ids = {u.id for b in todo for u in self._pending_utterances(card, b, corpus)}
        return [u.id for u in corpus.utterances if u.id in ids]

    def _fail_all(self, card: Card, bench: Benchmark, corpus: Corpus, status: str, message: str) -> None:
        self._write(card, bench, corpus, [Result(m, None, None, status, message) for m in bench.metrics()])

    # ---- planning ------------------------------------------------------------------------
    def _pending_utterances(self, card: Card, bench: Benchmark, corpus: Corpus) -> list[Utterance]:
        names = bench.metrics()
        chosen = bench.select(corpus.utterances)
        if self.only_utterances is not None:
            chosen = [u for u in chosen if u.id in self.only_utterances]
        return [u for u in chosen if any(self._pending(self._key(card, bench, corpus, u.id, m)) for m in names)]

    def _aggregate_pending(self, card: Card, bench: Benchmark, corpus: Corpus) -> bool:
        return any(self._pending(self._key(card, bench, corpus, None, m)) for m in bench.metrics())

    def _errors_to_redo(self, card: Card, bench: Benchmark, corpus: Corpus) -> bool:
        """Under ``--overwrite errors``: whether any record of ``card`` x ``bench`` (per-utterance, ground truth) is an error."""
        if self.overwrite != "errors":
            return False
        rows = {(c.name, c.config_hash) for c in (card, _row_card(GROUND_TRUTH))}  # the benchmark may fill both
        scope = self._key(card, bench, corpus, None, "")[2:6]
        return any(r.status == "error" and r.key[2:6] == scope and r.key[:2] in rows for r in self.store.records())

    def _in_plan(self, rec: Record, corpus: Corpus) -> bool:
        """Whether ``rec`` is one of this suite's records (its tokenizers and benchmarks, current settings)."""
        rows = {c.name: c.config_hash for c in [*self.cards.values(), _row_card(GROUND_TRUTH)]}
        benches = {n: hash_config(b.config()) for n, b in self.benchmarks.items()}
        return (rows.get(rec.tokenizer) == rec.tokenizer_config_hash and rec.dataset_hash == corpus.hash
                and benches.get(rec.benchmark) == rec.benchmark_config_hash)

    # ---- running -------------------------------------------------------------------------
    def run(self) -> RunSummary:
        """Run every tokenizer of the suite; returns what was written and the suite's current errors."""
        with self.store.locked():
            return self._run()

    def _run(self) -> RunSummary:
        corpus = load_corpus(self.suite.dataset)
        self.store.write_config(
            {
                "suite": self.suite.to_dict(),
                "dataset": {"name": corpus.name, "hash": corpus.hash, "utterances": len(corpus.utterances)},
                "benchmarks": {n: b.config() for n, b in self.benchmarks.items()},
                # What each number means, so that the leaderboard reads it from the run directory alone.
                "metrics": {n: {m: s.to_dict() for m, s in b.metrics().items()} for n, b in self.benchmarks.items()},
                "env": self.env,
            }
        )
        try:
            for name in self.suite.tokenizers:
                self._run_tokenizer(name, corpus)
        finally:
            self.scorer.close()
            self.timings["benchmark"] += self.scorer.seconds
        # Errors of other suites or settings in the same directory do not fail this run.
        self.summary.errors = [r for r in self.store.records() if r.status == "error" and self._in_plan(r, corpus)]
        return self.summary

    def _run_tokenizer(self, name: str, corpus: Corpus) -> None:
        card = self.cards[name]
        todo = {n: b for n, b in self.benchmarks.items()
                if self._aggregate_pending(card, b, corpus) or self._errors_to_redo(card, b, corpus)}
        if not todo:
            return
        try:
            with timed(self.timings, "tokenizer"):
                tok = card.build(self.device)
        except Exception as err:
            # A suite's optional tokenizer without weights is skipped with the fix; asked for by name, an error.
            optional = isinstance(err, WeightsUnavailable) and name in self.suite.optional
            for bench in todo.values():
                self._fail_all(card, bench, corpus, "skipped" if optional else "error",
                               f"cannot load tokenizer {name!r}: {describe(err)}")
            return
        card = replace(card)  # key on the weights now present (building may have fetched them)
        self._save_tokenizer_info(card, tok)
        for bname in list(todo):
            bench = todo[bname]
            reason = bench.skip_reason(tok)
            if reason is None:
                try:
                    with timed(self.timings, "benchmark"):
                        bench.setup()
                except Exception as err:
                    reason = f"setup failed: {describe(err)}"
                    self._fail_all(card, bench, corpus, "error", reason)
                    del todo[bname]
                    continue
            if reason is not None:
                self._fail_all(card, bench, corpus, "skipped", reason)
                del todo[bname]
        if todo:
            self._process(card, tok, corpus, todo)

    def _process(self, card: Card, tok: AudioTokenizer, corpus: Corpus, todo: dict[str, Benchmark]) -> None:
        per_utt = {n: b for n, b in todo.items() if isinstance(b, UtteranceBenchmark)}
        whole = {n: b for n, b in todo.items() if isinstance(b, CorpusBenchmark)}
        pending = {n: {u.id for u in self._pending_utterances(card, b, corpus)} for n, b in per_utt.items()}
        chosen = {n: {u.id for u in b.select(corpus.utterances)} for n, b in whole.items()}
        needed = set().union(*pending.values(), *chosen.values())
        wanted = [u for u in corpus.utterances if u.id in needed]
        decode = tok.info.decodes and any(b.needs_decoded for b in todo.values())
        provider = DecodeInputProvider(corpus, tok.info.decode_inputs, tok.info.sample_rate) if decode else None
        if isinstance(tok, ExternalSystem):  # outputs are read, not computed
            maker = ExternalItems(tok)
            for uid, problem in tok.extra_files({u.id for u in corpus.utterances}):
                for b in todo.values():
                    self._write(card, b, corpus, [Result(m, None, uid, "error", problem) for m in b.metrics()])
        else:
            maker = ItemMaker(tok, card.config_hash, self.suite.batch_size, self.cache, self.suite.max_batch_seconds, provider)
        kept: list[Item] = []
        load_errors: list[str] = []
        bar = tqdm(total=len(wanted), desc=card.name, unit="utt", disable=not self.progress, leave=False)
        for start in range(0, len(wanted), self.suite.batch_size):
            group = wanted[start : start + self.suite.batch_size]
            self.scorer.deliver_finished()
            for utt, item in maker.make(group, decode):
                if isinstance(item, str):
                    load_errors.append(item)
                    # Corpus benchmarks leave the utterance out; its error row says so.
                    for b in [b for n, b in per_utt.items() if utt.id in pending[n]] + [
                            b for n, b in whole.items() if utt.id in chosen[n]]:
                        self._write(card, b, corpus, [Result(m, None, utt.id, "error", item) for m in b.metrics()])
                    continue
                save_example(self.store.dir, card.name, item, corpus)  # listening examples for the site
                for n, b in per_utt.items():
                    if utt.id in pending[n]:
                        done = partial(self._write, card, b, corpus, decode_inputs=item.inputs.sources if b.needs_decoded else None)
                        self.scorer.submit(b, item, tok, done)
                if whole:
                    kept.append(item)
            self.scorer.deliver_finished()
            bar.update(len(group))
        bar.close()
        self.scorer.drain()
        self.timings["tokenizer"] += maker.seconds
        given = ", ".join(f"{n} ({POLICY[n]})" for n in tok.info.decode_inputs)
        given_note = f"decoded with {given}, not counted in the bitrate" if given and decode else None
        for n, b in per_utt.items() if self.aggregate else ():
            # Utterances redone now (e.g. errors under --overwrite errors) make a recorded aggregate stale.
            redone = any(self._key(card, b, corpus, u, m) in self._fresh for u in pending[n] for m in b.metrics())
            self._write(card, b, corpus, self._aggregate(card, b, corpus, given_note if b.needs_decoded else None), replace=redone)
        for n, b in whole.items():
            try:
                with timed(self.timings, "benchmark"):
                    results = b.run([it for it in kept if it.utterance.id in chosen[n]], tok)
                if load_errors:
                    note = f"{len(load_errors)} utterance(s) could not be processed, e.g. {load_errors[0]}"
                    results = [r if r.utterance or r.status != "ok" else _with_message(r, note) for r in results]
            except Exception as err:
                self._fail_all(card, b, corpus, "error", describe(err))
                continue
            self._write(card, b, corpus, results, replace=True)  # one computation: its rows replace earlier ones together

    def _aggregate(self, card: Card, bench: Benchmark, corpus: Corpus, note: str | None = None) -> list[Result]:
        """Mean and interval of each metric over the recorded utterances; ``note`` goes on every row."""
        results = []
        for metric in bench.metrics():
            recs = [self.store.get(self._key(card, bench, corpus, u.id, metric)) for u in bench.select(corpus.utterances)]
            values = [r.value for r in recs if r is not None and r.status == "ok"]
            failed = [r for r in recs if r is None or r.status != "ok"]
            if not values:
                first = next((r.message for r in failed if r is not None and r.message), "no records")
                results.append(Result(metric, None, None, "error", f"no utterance could be scored; first error: {first}"))
                continue
            s = summarize(values)
            notes = [note] if note else []
            if failed:
                notes.append(f"{len(failed)} of {len(recs)} utterances failed and are excluded (see per-utterance errors)")
            results.append(Result(metric, s.mean, None, "ok", "; ".join(notes) or None, s.stderr, s.ci_low, s.ci_high, s.n))
        return results

    def _save_tokenizer_info(self, card: Card, tok: AudioTokenizer) -> None:
        """Keep what the leaderboard shows about each tokenizer beside the records."""
        info = tok.info
        self.store.update_tokenizers(card.name, {
            "card": {k: v for k, v in card.to_dict().items() if k != "source"},
            "config_hash": card.config_hash,
            "kind": info.kind,
            "sample_rate": info.sample_rate,
            "num_codebooks": info.num_codebooks,
            "codebook_sizes": list(info.codebook_sizes),
            "frame_rate": info.frame_rate if info.num_codebooks else None,
            # External systems: declared, from coded-file sizes or from their token files (bitrate_from).
            "nominal_bitrate": info.extras["bitrate"] if "bitrate" in info.extras else info.nominal_bitrate,
            "bitrate_from": info.extras.get("bitrate_from"),
            "variable_rate": info.variable_rate,
            "causal": info.causal,
            "decodes": info.decodes,
            "precision": "float16" if card.params.get("half") else "float32",
            # The commit the weights were loaded from (the card's revision may be a branch such as `main`).
            "resolved_revision": info.extras.get("resolved_revision"),
            # What the weights are (commit or sha256; dasb.weights.identity), part of config_hash.
            "weights": identity(card),
            # Not counted in any bitrate: the leaderboard flags tokenizers decoded with these.
            "decode_inputs": {n: POLICY[n] for n in info.decode_inputs},
        })


def _row_card(row: str) -> Card:
    """The card under which results about ``row`` (e.g. the original audio) are keyed."""
    return Card(name=row, adapter="none")


def _with_message(result: Result, note: str) -> Result:
    return Result(**{**result.__dict__, "message": "; ".join(filter(None, [result.message, note]))})
