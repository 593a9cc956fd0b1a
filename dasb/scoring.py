"""Scoring items with per-utterance benchmarks, in this process or in a worker pool.

CPU-bound metrics (PESQ, STOI, ...) of benchmarks that declare
``parallel_safe = True`` run in worker processes while the model stays in the
main process; results come back in submission order, so records are written
in the same order whatever the number of workers.
"""
from __future__ import annotations

import ctypes
import dataclasses
import math
import multiprocessing
import os
import pickle
import signal
import time
import warnings
from collections import Counter, deque
from contextlib import contextmanager, nullcontext
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Callable, Hashable, Iterator

from dasb.benchmarks.base import Item, Result, UtteranceBenchmark
from dasb.items import error_text
from dasb.threads import one_thread
from dasb.tokenizers.base import AudioTokenizer, TokenizerInfo


@dataclass(frozen=True)
class TokenizerView:
    """What a worker gets instead of the model: the tokenizer's description."""

    info: TokenizerInfo


def score_item(bench: UtteranceBenchmark, item: Item, tok: AudioTokenizer | TokenizerView) -> list[Result]:
    """Per-metric results of one item; exceptions become error results naming the file."""
    uid = item.utterance.id
    where = f"utterance {uid} ({item.utterance.audio})"
    try:
        values = bench.score(item, tok)  # type: ignore[arg-type]
    except Exception as err:
        return [Result(m, None, uid, "error", f"{where}: {error_text(err)}") for m in bench.metrics()]
    return [
        Result(m, None, uid, "error", f"{where}: {error_text(v)}") if isinstance(v, Exception) else Result(m, v, uid)
        for m, v in values.items()
    ]


def timed_score(bench: UtteranceBenchmark, item: Item, tok: AudioTokenizer | TokenizerView) -> tuple[list[Result], float]:
    """:func:`score_item` and the seconds it took (measured where it ran, a worker or this process)."""
    start = time.perf_counter()
    results = score_item(bench, item, tok)
    return results, time.perf_counter() - start


def checked(result: Result, source: str) -> Result:
    """``result``, or an error result when it claims ok with a value that is not a finite number.

    Every result passes here before it is recorded, whatever produced it (a
    metric, a plugin, a corpus benchmark): NaN or inf is never an ok row.
    """
    if result.status != "ok":
        return result
    fields = {"value": result.value, "stderr": result.stderr, "ci_low": result.ci_low, "ci_high": result.ci_high}
    try:
        numbers = {k: None if v is None else float(v) for k, v in fields.items()}
        bad = numbers["value"] is None or not all(math.isfinite(v) for v in numbers.values() if v is not None)
    except (TypeError, ValueError):
        bad = True
    if not bad:
        return dataclasses.replace(result, **numbers)
    where = f"utterance {result.utterance}: " if result.utterance else ""
    shown = ", ".join(f"{k}={v!r}" for k, v in fields.items() if v is not None) or "value=None"
    return Result(result.metric, None, result.utterance, "error",
                  f"{where}{source} returned a value that is not a finite number ({shown})", subject=result.subject)


@contextmanager
def timed(counter: Counter[str], key: str) -> Iterator[None]:
    """Add the wall time of the block to ``counter[key]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        counter[key] += time.perf_counter() - start


def _die_with(parent: int) -> None:
    """End this worker when ``parent`` dies, even by SIGKILL (Linux: PR_SET_PDEATHSIG)."""
    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: workers end when the pool's pipes close
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _init_worker(parent: int) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    _die_with(parent)

    # One process per core: BLAS or torch threads inside a worker would oversubscribe the cores. Serial scoring
    # of the same benchmarks uses the same setting (dasb.threads.one_thread).
    torch.set_num_threads(1)
    threadpool_limits(1)


class Scorer:
    """Scores items; with ``workers > 1``, parallel-safe benchmarks go to a process pool.

    ``submit`` queues work; ``drain`` hands finished results, in submission
    order, to the callback given with each submission.
    """

    def __init__(self, workers: int = 1, max_pending: int = 64, flush_seconds: float = 1.0) -> None:
        self.workers = workers
        self.max_pending = max_pending
        # Finished results are handed on (and so recorded) at least this often: a kill loses little work,
        # and records are not fsync'ed one utterance at a time.
        self.flush_seconds = flush_seconds
        self._last_flush = time.monotonic()
        self._pool: ProcessPoolExecutor | None = None
        self._pending: deque[tuple[Future | list[Result], Callable[[list[Result]], None], Hashable]] = deque()
        self._picklable: dict[int, bool] = {}
        self.seconds = 0.0  # in-process scoring time (worker time runs in parallel and is not counted)
        self.waited = 0.0  # time this process waited for a worker's results
        self.spent: Counter[Hashable] = Counter()  # scoring seconds by submission label, workers' included

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")  # fork after torch/OpenMP start-up can deadlock
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(),))
        return self._pool

    def _can_ship(self, bench: UtteranceBenchmark) -> bool:
        """Whether ``bench`` can go to a worker: parallel-safe and picklable (plugin metrics may be lambdas)."""
        if self.workers <= 1 or not getattr(bench, "parallel_safe", False):
            return False
        if id(bench) not in self._picklable:
            try:
                pickle.dumps(bench)
                self._picklable[id(bench)] = True
            except Exception as err:  # scoring in this process is slower but gives the same records
                warnings.warn(f"benchmark {bench.name!r} cannot be sent to worker processes ({err}); scoring it in-process")
                self._picklable[id(bench)] = False
        return self._picklable[id(bench)]

    def submit(self, bench: UtteranceBenchmark, item: Item, tok: AudioTokenizer, done: Callable[[list[Result]], None],
               label: Hashable = None) -> None:
        """Score ``item`` now or in a worker; ``done`` receives its results in order; the scoring time
        is added to ``spent[label]``."""
        if self._can_ship(bench):
            # Workers need the audio, not the tokens; leaving them out keeps the transfer small.
            light = dataclasses.replace(item, tokens=None)
            self._pending.append((self._get_pool().submit(timed_score, bench, light, TokenizerView(tok.info)), done, label))
        else:
            # A benchmark a worker could score gets a worker's thread setting, so its scores do not depend on --workers.
            with one_thread() if getattr(bench, "parallel_safe", False) else nullcontext():
                results, seconds = timed_score(bench, item, tok)
            self._pending.append(((results, seconds), done, label))
            self.seconds += seconds
        if len(self._pending) > self.max_pending:
            self.drain(keep=self.max_pending // 2)

    def submit_done(self, results: list[Result], done: Callable[[list[Result]], None]) -> None:
        """Queue results obtained without scoring (a result-cache hit), in submission order with the rest."""
        self._pending.append(((results, 0.0), done, None))

    def then(self, action: Callable[[], None]) -> None:
        """Call ``action`` once the results of everything submitted so far have been handed on."""
        self.submit_done([], lambda _: action())

    def _deliver(self) -> None:
        work, done, label = self._pending.popleft()
        if isinstance(work, Future):
            start = time.perf_counter()
            results, seconds = work.result()
            self.waited += time.perf_counter() - start
        else:
            results, seconds = work
        if label is not None:
            self.spent[label] += seconds
        done(results)

    def deliver_finished(self) -> None:
        """Deliver the finished results at the head of the queue, at most every ``flush_seconds``."""
        if time.monotonic() - self._last_flush < self.flush_seconds:
            return
        while self._pending and (not isinstance(self._pending[0][0], Future) or self._pending[0][0].done()):
            self._deliver()
        self._last_flush = time.monotonic()

    @property
    def outstanding(self) -> int:
        """Submissions whose results have not been handed on yet (scored or not)."""
        return len(self._pending)

    def drain(self, keep: int = 0) -> None:
        """Deliver results until at most ``keep`` submissions are outstanding."""
        while len(self._pending) > keep:
            self._deliver()

    def close(self) -> None:
        self.drain()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
