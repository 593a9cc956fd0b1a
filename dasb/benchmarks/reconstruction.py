"""Reconstruction quality: how close decoded audio is to the original.

Decoded audio is brought to the reference's rate by the framework, aligned
(waveform or envelope cross-correlation, as the tokenizer declares), and scored
with intrusive metrics. The estimated delay is recorded as ``delay_ms``.

Files longer than 45 s are scored in 30 s segments (the delay is estimated on
the first segment) and each metric is the duration-weighted mean over
segments, so memory and PESQ's cost stay bounded on hour-long recordings.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dasb.align import NothingToAlign, apply_delay, estimate_delay
from dasb.audio import shared_work
from dasb.benchmarks.base import Item, UtteranceBenchmark
from dasb.specs import NEUTRAL, MetricSpec, spec_table
from dasb.metrics.base import Metric
from dasb.registry import METRICS
from dasb.tokenizers.base import AudioTokenizer

DEFAULT_METRICS = ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "mel_distance")
SEGMENT_S = 30.0


def segments(n: int, size: int) -> list[tuple[int, int]]:
    """``[a, b)`` spans of about ``size`` samples; a tail shorter than half a segment joins the last."""
    bounds = list(range(0, n, size)) + [n]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < size // 2:
        del bounds[-2]
    return list(zip(bounds[:-1], bounds[1:]))


class Reconstruction(UtteranceBenchmark):
    """PESQ (WB and NB), STOI, ESTOI, SI-SDR and log-mel distance after delay compensation."""

    name = "reconstruction"
    version = 4  # 2: delay compensation by waveform or envelope cross-correlation, 30 s segments; 3: one shared
    # STOI/ESTOI analysis and each rate resampled once per item; 4: ESTOI's dither drawn as pystoi's, seeded
    needs_decoded = True
    needs_tokens = False
    parallel_safe = True

    def __init__(self, metrics: list[str] | tuple[str, ...] = DEFAULT_METRICS, **settings: Any) -> None:
        super().__init__(metrics=list(metrics), **settings)
        self._metrics = [METRICS.get(m) for m in metrics]

    def metrics(self) -> dict[str, MetricSpec]:
        return spec_table(*(m.spec(headline=m.name == "pesq_wb") for m in self._metrics),
                          MetricSpec("delay_ms", NEUTRAL, "ms", description="delay compensated before scoring"))

    def score(self, item: Item, tokenizer: AudioTokenizer) -> dict[str, float | Exception]:
        assert item.decoded is not None
        return score_decoded(item.reference, item.decoded, item.sample_rate, tokenizer.info.align, self._metrics)


def score_decoded(reference: np.ndarray, decoded: np.ndarray, sr: int, align: str,
                  metrics: list[Metric]) -> dict[str, float | Exception]:
    """``delay_ms`` and each metric of ``decoded`` against ``reference`` (mono, same rate) after alignment.

    A metric that fails maps to its exception (an error row naming it), never to a number; so does
    ``delay_ms`` when there is nothing to correlate (silent or constant audio).
    """
    size = int(SEGMENT_S * sr)
    out: dict[str, float | Exception] = {}
    try:
        lag = estimate_delay(reference[:size], decoded[:size], sr, align)
        out["delay_ms"] = 1000.0 * lag / sr
    except NothingToAlign as err:  # an error row, not a measured 0; the metrics say what they can
        lag, out["delay_ms"] = 0, err
    ref, est = apply_delay(reference, decoded, lag)
    spans = segments(len(ref), size)
    per_span = [_score_span(ref[a:b], est[a:b], sr, metrics) for a, b in spans]
    for metric in metrics:
        values = [scores[metric.name] for scores in per_span]
        failed = [v for v in values if isinstance(v, Exception)]
        out[metric.name] = failed[0] if failed else sum(
            v * (b - a) for v, (a, b) in zip(values, spans)) / len(ref)  # type: ignore[operator]
    return out


def _score_span(ref: np.ndarray, est: np.ndarray, sr: int, metrics: list[Metric]) -> dict[str, float | Exception]:
    """Each metric of one aligned span; the metrics share resampling and analyses (one shared_work block)."""
    scores: dict[str, float | Exception] = {}
    with shared_work():
        for metric in metrics:
            try:
                scores[metric.name] = metric(ref, est, sr)
            except Exception as err:  # recorded as an error row with its message
                scores[metric.name] = err
    return scores
