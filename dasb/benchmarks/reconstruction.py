"""Reconstruction quality: how close decoded audio is to the original.

Decoded audio is brought to the reference's rate by the framework, aligned
(waveform or envelope cross-correlation, as the tokenizer declares), and scored
with intrusive metrics. The estimated delay is recorded as ``delay_ms``.
"""
from __future__ import annotations

from typing import Any

from dasb.align import align
from dasb.benchmarks.base import Item, UtteranceBenchmark
from dasb.registry import METRICS
from dasb.tokenizers.base import AudioTokenizer

DEFAULT_METRICS = ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "mel_distance")


class Reconstruction(UtteranceBenchmark):
    """PESQ (WB and NB), STOI, ESTOI, SI-SDR and log-mel distance after delay compensation."""

    name = "reconstruction"
    needs_decoded = True
    parallel_safe = True

    def __init__(self, metrics: list[str] | tuple[str, ...] = DEFAULT_METRICS, **settings: Any) -> None:
        super().__init__(metrics=list(metrics), **settings)
        self._metrics = [METRICS.get(m) for m in metrics]

    def metrics(self) -> dict[str, bool | None]:
        out: dict[str, bool | None] = {m.name: m.higher_is_better for m in self._metrics}
        out["delay_ms"] = None
        return out

    def score(self, item: Item, tokenizer: AudioTokenizer) -> dict[str, float | Exception]:
        assert item.decoded is not None
        sr = item.sample_rate
        ref, est, lag = align(item.reference, item.decoded, sr, tokenizer.info.align)
        out: dict[str, float | Exception] = {"delay_ms": 1000.0 * lag / sr}
        for metric in self._metrics:
            try:
                out[metric.name] = metric(ref, est, sr)
            except Exception as err:  # recorded as an error row with its message
                out[metric.name] = err
        return out
