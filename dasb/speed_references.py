"""``dasb bench --references``: dasb's scoring path against the reference libraries called by hand.

The same reference/decoded pairs (utterances of a corpus through offline
reference codecs) are scored twice in one process:

(a) serially by the reference libraries, one call per metric and pair, as a
    user would by hand: ``pesq.pesq(16000, ref, est, "wb")``,
    ``pystoi.stoi(ref, est, 16000)`` and ``pystoi.stoi(..., extended=True)``,
    and SI-SDR by its usual numpy formula;
(b) by dasb's scoring path: the reconstruction benchmark (PESQ-WB, STOI, ESTOI,
    SI-SDR) through :class:`dasb.scoring.Scorer` with N worker processes.

Delay: dasb estimates and removes each pair's delay before scoring. The
reference libraries get the pairs already aligned with that same delay
(estimated beforehand, outside the timing), so both score identical arrays and
their values should agree to 1e-6 on every pair; pairs whose delay was not 0
are listed. pystoi's ESTOI dithers with numpy's global generator (its value
moves from call to call where a decoded band is constant, by up to 1e-3 on
pcm4), so it is seeded before each call as dasb seeds its own dither. dasb's
time includes its delay estimation; the reference time does not.
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from dasb.align import NothingToAlign, apply_delay, estimate_delay
from dasb.audio import resample
from dasb.benchmarks.base import Item
from dasb.benchmarks.reconstruction import Reconstruction
from dasb.data.corpus import load_corpus
from dasb.items import ItemMaker
from dasb.metrics.stoi import DITHER_SEED
from dasb.scoring import Scorer, TokenizerView
from dasb.settings import shared_data_dir
from dasb.tokenizers.base import AudioTokenizer, TokenizerInfo
from dasb.tokenizers.cards import get_card

RATE = 16000  # PESQ-WB's rate: pairs are brought to it once, before either side is timed
METRICS = ("pesq_wb", "stoi", "estoi", "si_sdr")
# Offline reference codecs, in the order pairs are taken from (first 7: the usual 40 x 7 = 280 pairs).
SETTINGS = ("pcm8", "pcm6", "mulaw8-8k", "codec2-3200", "opus-24k", "opus-6k", "codec2-1200",
            "pcm4", "opus-12k", "mulaw8-16k", "codec2-2400", "opus-16k")


@dataclass
class Pair:
    """One utterance through one codec: reference and decoded audio at :data:`RATE`, and dasb's delay."""

    setting: str
    utterance: str
    item: Item  # what dasb's path scores (unaligned; dasb aligns it)
    info: TokenizerInfo  # the codec's description (how to align it)
    lag: int | None  # samples removed before scoring; None: nothing to align on (no shift)

    def aligned(self) -> tuple[np.ndarray, np.ndarray]:
        """The float64 arrays the reference libraries get: aligned with dasb's delay."""
        assert self.item.decoded is not None
        ref, est = apply_delay(self.item.reference, self.item.decoded, self.lag or 0)
        return ref.astype(np.float64), est.astype(np.float64)


def default_data() -> str:
    """The real speech set ``speech_dev`` of the shared data folder when present, else the embedded corpus.

    The folder is :func:`dasb.settings.shared_data_dir`.
    """
    shared = shared_data_dir()
    return str(shared / "speech_dev") if (shared / "speech_dev" / "manifest.jsonl").exists() else "mini"


def make_pairs(data: str, utterances: int, pairs: int, settings: tuple[str, ...] = SETTINGS) -> list[Pair]:
    """The first ``pairs`` pairs: the first ``utterances`` utterances through each setting in turn."""
    utts = load_corpus(data).utterances[:utterances]
    out: list[Pair] = []
    for name in settings:
        if len(out) >= pairs:
            break
        card = get_card(name)
        tok = card.build()
        for utt, item in ItemMaker(tok, card.config_hash, 8).make(utts[: pairs - len(out)], decode=True):
            if isinstance(item, str):
                raise RuntimeError(f"{name}: {item}")
            assert item.decoded is not None
            ref, dec = (resample(x[None], item.sample_rate, RATE)[0] for x in (item.reference, item.decoded))
            item = Item(utt, ref, RATE, None, dec)
            try:
                lag: int | None = estimate_delay(ref, dec, RATE, tok.info.align)
            except NothingToAlign:
                lag = None
            out.append(Pair(name, utt.id, item, tok.info, lag))
    return out


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """SI-SDR in dB by the usual formula (zero-mean signals, optimal scaling of the reference)."""
    ref, est = ref - ref.mean(), est - est.mean()
    target = (est @ ref) / (ref @ ref) * ref
    return float(10 * np.log10((target @ target) / ((est - target) @ (est - target))))


def reference_scores(pairs: list[Pair]) -> tuple[list[dict[str, float | str]], float, float]:
    """Each pair's metrics from the reference libraries, serially with one BLAS thread; and the wall and
    CPU seconds spent in the calls."""
    from pesq import pesq
    from pystoi import stoi

    calls = {"pesq_wb": lambda r, e: pesq(RATE, r, e, "wb"), "stoi": lambda r, e: stoi(r, e, RATE),
             "estoi": lambda r, e: seeded_estoi(stoi, r, e), "si_sdr": si_sdr}
    arrays = [p.aligned() for p in pairs]
    out: list[dict[str, float | str]] = []
    start, cpu_start = time.perf_counter(), time.process_time()
    # One BLAS thread, as in dasb's workers: both sides do their work on one core per process, and spinning
    # BLAS threads on a busy machine would slow the reference side for no reason of its own.
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")  # pystoi warns on short speech; its placeholder value shows up as a difference
        for ref, est in arrays:
            row: dict[str, float | str] = {}
            for metric, call in calls.items():
                try:
                    row[metric] = float(call(ref, est))
                except Exception as err:  # a failing call is reported, as a user would see it
                    row[metric] = f"{type(err).__name__}: {err}"
            out.append(row)
    return out, time.perf_counter() - start, time.process_time() - cpu_start


class TimedReconstruction(Reconstruction):
    """The reconstruction benchmark, also returning the CPU seconds each item took in its worker (``cpu_s``)."""

    def score(self, item: Item, tokenizer: AudioTokenizer) -> dict[str, float | Exception]:
        start = time.process_time()
        values = super().score(item, tokenizer)
        return {**values, "cpu_s": time.process_time() - start}


def dasb_scores(pairs: list[Pair], workers: int) -> tuple[list[dict[str, float | str]], float, float]:
    """Each pair's metrics (and ``cpu_s``) from dasb's scoring path with ``workers`` processes; the seconds
    of the scoring and of starting the workers (one warm-up item per worker, not counted in the first)."""
    bench = TimedReconstruction(metrics=list(METRICS))
    scorer = Scorer(workers)
    out: list[dict[str, float | str]] = [{} for _ in pairs]

    def keep(i: int):
        def done(results: list) -> None:
            out[i].update({r.metric: r.value if r.status == "ok" else str(r.message) for r in results})
        return done

    start = time.perf_counter()
    for p in pairs[:workers]:
        scorer.submit(bench, p.item, TokenizerView(p.info), lambda results: None)
    scorer.drain()
    startup = time.perf_counter() - start
    start = time.perf_counter()
    for i, p in enumerate(pairs):
        scorer.submit(bench, p.item, TokenizerView(p.info), keep(i))
    scorer.drain()
    seconds = time.perf_counter() - start
    scorer.close()
    return out, seconds, startup


def differences(pairs: list[Pair], ours: list[dict], theirs: list[dict]) -> dict[str, dict[str, float | int]]:
    """Per metric: the largest absolute difference on pairs scored without and with a delay removed,
    and how many pairs only one side could score (an error message on one side, a number on the other)."""
    out: dict[str, dict[str, float | int]] = {}
    for metric in METRICS:
        worst = {"no_delay": 0.0, "delay": 0.0, "one_side_only": 0, "both_failed": 0}
        for p, a, b in zip(pairs, ours, theirs):
            x, y = a.get(metric), b.get(metric)
            if isinstance(x, float) and isinstance(y, float):
                key = "delay" if p.lag else "no_delay"
                worst[key] = max(worst[key], abs(x - y))
            else:
                worst["both_failed" if isinstance(x, str) and isinstance(y, str) else "one_side_only"] += 1
        out[metric] = worst
    return out


def seeded_estoi(stoi: Callable[..., float], ref: np.ndarray, est: np.ndarray) -> float:
    """pystoi's ESTOI with numpy's global generator seeded as dasb's dither is (reproducible, see
    :func:`dasb.metrics.stoi._normalised`)."""
    np.random.seed(DITHER_SEED)
    return stoi(ref, est, RATE, extended=True)


def compensated(pairs: list[Pair]) -> dict[str, list[str]]:
    """Per setting, the pairs whose delay was removed: ``utterance delay_ms``."""
    out: dict[str, list[str]] = {}
    for p in pairs:
        if p.lag:
            out.setdefault(p.setting, []).append(f"{p.utterance} {1000 * p.lag / RATE:+.2f} ms")
    return out


def main(data: str | None = None, workers: int = 2, utterances: int = 40, pairs: int = 280) -> dict:
    """Make the pairs, score them both ways, print the report; returns its numbers."""
    data = data or default_data()
    chosen = make_pairs(data, utterances, pairs)
    theirs, reference_s, reference_cpu_s = reference_scores(chosen)
    ours, dasb_s, startup_s = dasb_scores(chosen, workers)
    dasb_cpu_s = sum(float(row.get("cpu_s", 0.0)) for row in ours)
    results: dict = {
        "data": data, "pairs": len(chosen), "utterances": len({p.utterance for p in chosen}),
        "settings": ",".join(dict.fromkeys(p.setting for p in chosen)), "metrics": ",".join(METRICS),
        "workers": workers, "load_average_1min": os.getloadavg()[0],
        "reference_serial_s": reference_s, "dasb_s": dasb_s, "dasb_worker_startup_s": startup_s,
        "ratio_dasb_to_reference": dasb_s / reference_s,
        "ratio_with_worker_startup": (dasb_s + startup_s) / reference_s,
        # CPU seconds (the reference loop's process, the items' time in dasb's workers): the work each side does,
        # which a busy machine does not distort as it does wall times.
        "reference_serial_cpu_s": reference_cpu_s, "dasb_workers_cpu_s": dasb_cpu_s,
        "cpu_ratio_dasb_to_reference": dasb_cpu_s / reference_cpu_s,
    }
    for metric, worst in differences(chosen, ours, theirs).items():
        results.update({f"{metric}_max_abs_diff_{k}" if isinstance(v, float) else f"{metric}_{k}": v
                        for k, v in worst.items()})
    delayed = compensated(chosen)
    results["pairs_with_delay_compensated"] = sum(len(v) for v in delayed.values())
    width = max(len(k) for k in results)
    for key, value in results.items():
        shown = f"{value:.3g}" if isinstance(value, float) and ("diff" in key or "max" in key) else (
            f"{value:.3f}" if isinstance(value, float) else str(value))
        print(f"{key:<{width}}  {shown}")
    for setting, which in delayed.items():
        print(f"delay compensated, {setting} ({len(which)} pairs): {', '.join(which)}")
    return results
