"""Efficiency: real-time factor, parameter count and peak memory of a tokenizer.

The selected utterances are resampled to the native rate (outside the timed
region, and cropped to ``info.max_samples`` when the model has a limit) and
encoded one at a time with ``tokenizer.encode``; the tokens are then decoded
with ``tokenizer.decode``. After ``warmup`` untimed passes, ``repetitions``
timed passes are made and the median is reported as a real-time factor
(processing seconds per second of audio; below 1 is faster than real time).

Parameters are counted over every ``torch.nn.Module`` the adapter holds as an
attribute, plus floating-point tensors held directly (learned codebooks); 0 for
signal-processing tokenizers. Peak memory on CPU is the
larger of the growth of the process's resident set during one pass, sampled
every 2 ms from ``/proc/self/statm`` (Linux; includes allocator caching, may
miss allocations shorter than the sampling period), and the ``tracemalloc``
peak (Python and NumPy allocations); on CUDA it is
``torch.cuda.max_memory_allocated``.
"""
from __future__ import annotations

import os
import statistics
import threading
import time
import tracemalloc
from typing import Any, Callable

import torch

from dasb.audio import pad_batch, resample, to_channels
from dasb.benchmarks.base import CorpusBenchmark, Item, Result
from dasb.specs import LOWER, NEUTRAL, MetricSpec, spec_table
from dasb.tokenizers import runtime
from dasb.tokenizers.base import AudioTokenizer, Tokens

STATM = "/proc/self/statm"


def parameter_count(tokenizer: AudioTokenizer) -> int:
    """Parameters of the torch modules the adapter holds, plus floating-point tensors it holds directly
    (k-means centroids, RVQ codebooks); each tensor is counted once."""
    seen: dict[int, int] = {}
    for value in vars(tokenizer).values():
        values = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, torch.nn.Module):
                seen.update({id(p): p.numel() for p in v.parameters()})
            elif isinstance(v, torch.Tensor) and v.is_floating_point():
                seen[id(v)] = v.numel()
    return sum(seen.values())


def _device(tokenizer: AudioTokenizer) -> str:
    for value in vars(tokenizer).values():
        if isinstance(value, torch.nn.Module):
            for p in value.parameters():
                return str(p.device)
    return "cpu"


def _rss_bytes() -> int:
    with open(STATM) as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_memory_mb(fn: Callable[[], Any], device: str) -> float:
    """Peak memory growth in MiB while ``fn`` runs (RSS sampling, or CUDA allocator stats)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    if not os.path.exists(STATM):
        raise OSError(f"peak memory on CPU needs {STATM} (Linux)")
    tracemalloc.start()
    base = _rss_bytes()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.002)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        fn()
    finally:
        done.set()
        watcher.join()
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    peak[0] = max(peak[0], _rss_bytes())
    return max(peak[0] - base, traced) / 2**20


class Efficiency(CorpusBenchmark):
    """Encode/decode real-time factor, parameters and peak memory."""

    name = "efficiency"
    needs_model = True
    measures_machine = True

    def __init__(self, warmup: int = 1, repetitions: int = 3, **settings: Any) -> None:
        super().__init__(warmup=warmup, repetitions=repetitions, **settings)

    def metrics(self) -> dict[str, MetricSpec]:
        return spec_table(
            MetricSpec("encode_rtf", LOWER, "s/s", 0.0, None, "median", True, "encoding seconds per second of audio"),
            MetricSpec("decode_rtf", LOWER, "s/s", 0.0, None, "median", False, "decoding seconds per second of audio"),
            MetricSpec("parameters", NEUTRAL, "count", 0.0, None, "corpus"),
            MetricSpec("encode_peak_mb", LOWER, "MiB", 0.0, None, "corpus", description="peak memory growth while encoding"),
            MetricSpec("decode_peak_mb", LOWER, "MiB", 0.0, None, "corpus", description="peak memory growth while decoding"),
            MetricSpec("audio_seconds", NEUTRAL, "s", 0.0, None, "corpus", description="audio timed"))

    def run(self, items: list[Item], tokenizer: AudioTokenizer) -> list[Result]:
        if not items:
            raise ValueError("no utterances to time")
        info = tokenizer.info
        device = _device(tokenizer)
        waves = []
        for it in items:
            w = to_channels(resample(it.reference[None], it.sample_rate, info.sample_rate), info.channels)
            waves.append(w if info.max_samples is None else w[:, : info.max_samples])
        seconds = sum(w.shape[-1] for w in waves) / info.sample_rate
        inputs = [tuple(t.to(device) for t in pad_batch([w])) for w in waves]
        tokens: list[Tokens] = []

        @torch.inference_mode()
        def encode_all() -> None:
            tokens[:] = [tokenizer.encode(a, n) for a, n in inputs]
            _sync(device)

        @torch.inference_mode()
        def decode_all() -> None:
            for t, it in zip(tokens, items):
                tokenizer.decode(runtime.with_decode_values(tokenizer, t, it.decode_inputs.values) if info.decode_inputs else t)
            _sync(device)

        n = len(items)
        note = f"{n} utterances, {seconds:.1f} s of audio, device {device}"
        results = [Result("audio_seconds", seconds, n=n), Result("parameters", float(parameter_count(tokenizer)), n=n)]
        steps = [("encode", encode_all)] + ([("decode", decode_all)] if info.decodes else [])
        for label, fn in steps:
            times = self._time(fn)
            spread = f"{note}; median of {len(times)} passes (range {min(times) / seconds:.3g}..{max(times) / seconds:.3g})"
            results.append(Result(f"{label}_rtf", statistics.median(times) / seconds, None, "ok", spread, n=n))
            results.append(Result(f"{label}_peak_mb", peak_memory_mb(fn, device), None, "ok", note, n=n))
        if not info.decodes:
            reason = f"{info.name} is encode-only"
            results += [Result(m, None, status="skipped", message=reason) for m in ("decode_rtf", "decode_peak_mb")]
        return results

    def _time(self, fn: Callable[[], None]) -> list[float]:
        for _ in range(int(self.settings["warmup"])):
            fn()
        times = []
        for _ in range(max(1, int(self.settings["repetitions"]))):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return times


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
