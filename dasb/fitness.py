"""Judge fitness: the control audio every ASR and speaker run measures its judge on, and the verdicts.

The controls and limits are declared in :data:`dasb.specs.JUDGE_FITNESS`. A benchmark with a judge
records, beside the ground truth, one subject per control (``control:dither``, ``control:lowpass4k``)
scored exactly like a tokenizer. :func:`verdicts` reads those records back: the leaderboard marks a
judge column unfit with the figures, and ``dasb compare`` does not call a difference smaller than the
judge's floor significant (:func:`floor`).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

from dasb.audio import resample
from dasb.results.record import Record
from dasb.specs import DITHER, JUDGE_FITNESS, LOWPASS_4K, FitnessLimit, MetricSpec, registered_spec

LSB_16BIT = 1.0 / 32768
JUDGE_NOTE = re.compile(r"\w+: judge (.+?) \(")  # the start of dasb.judges.choice.Judge.describe()
TELEPHONE_RATE = 8000


def control_audio(control: str, wave: np.ndarray, sample_rate: int, seed_text: str) -> np.ndarray:
    """``wave`` (mono float32) under ``control``; the dither is seeded by ``seed_text`` (the utterance id)."""
    if control == DITHER.name:
        seed = int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:8], "little")
        lsb = np.random.default_rng(seed).integers(-1, 2, size=wave.shape)  # -1, 0 or +1 LSB
        return (wave + lsb * LSB_16BIT).astype(np.float32)
    if control == LOWPASS_4K.name:
        if sample_rate <= TELEPHONE_RATE:
            return wave
        return resample(resample(wave, sample_rate, TELEPHONE_RATE), TELEPHONE_RATE, sample_rate)[..., : wave.shape[-1]]
    raise ValueError(f"unknown control {control!r}")


@dataclass(frozen=True)
class Verdict:
    """One fitness limit checked on one run's records."""

    benchmark: str
    limit: FitnessLimit
    loss: float | None  # None: the control was not recorded (or failed)

    @property
    def unfit(self) -> bool:
        return self.loss is not None and self.loss > self.limit.limit

    def figure(self) -> str:
        """E.g. ``dwer floor (control:dither) 0.12, limit 0.05``."""
        loss = "not measured" if self.loss is None else f"{self.loss:.3g}"
        return f"{self.limit.metric} {self.limit.what} ({self.limit.control}) {loss}, limit {self.limit.limit:g}"


def _control_values(records: list[Record], benchmark: str, metric: str, dataset: str | None = None) -> dict[str, float]:
    """The aggregate ok value of each control subject of ``benchmark``/``metric`` (on ``dataset`` if given)."""
    return {r.tokenizer: float(r.value) for r in records
            if r.benchmark == benchmark and r.metric == metric and r.utterance is None and r.status == "ok"
            and r.value is not None and r.tokenizer.startswith("control:") and dataset in (None, r.dataset)}


def _spec(benchmark: str, metric: str) -> MetricSpec:
    return registered_spec(benchmark, metric) or MetricSpec(metric, None)


def verdicts(records: list[Record]) -> dict[str, list[Verdict]]:
    """Per benchmark with a judge and control records: each fitness limit and the loss measured."""
    out: dict[str, list[Verdict]] = {}
    present = {r.benchmark for r in records if r.tokenizer.startswith("control:")}
    for bench in sorted(present & set(JUDGE_FITNESS)):
        for lim in JUDGE_FITNESS[bench]:
            value = _control_values(records, bench, lim.metric).get(lim.control)
            loss = None if value is None else lim.loss(value, _spec(bench, lim.metric))
            out.setdefault(bench, []).append(Verdict(bench, lim, loss))
    return out


def _judge_name(records: list[Record], benchmark: str) -> str:
    """The judge a control of ``benchmark`` was scored with, from its note (``asr: judge pocketsphinx (...)``)."""
    for r in records:
        if r.benchmark == benchmark and r.tokenizer.startswith("control:") and r.utterance is None and r.message:
            found = JUDGE_NOTE.search(r.message)
            if found:
                return f"judge {found.group(1)}"
    return "judge"


def unfit_columns(records: list[Record]) -> dict[str, str]:
    """``benchmark/metric`` -> why its judge is unfit (the failing figures), for each failing column."""
    out: dict[str, list[str]] = {}
    for bench, found in verdicts(records).items():
        for v in found:
            if v.unfit:
                out.setdefault(f"{bench}/{v.limit.metric}", []).append(v.figure())
    return {col: f"{_judge_name(records, col.partition('/')[0])} unfit: " + "; ".join(why) for col, why in out.items()}


def floor(records: list[Record], benchmark: str, metric: str, dataset: str | None = None) -> float | None:
    """The judge's floor for ``benchmark``/``metric``: its loss on the transparent control, if recorded."""
    for lim in JUDGE_FITNESS.get(benchmark, ()):
        if lim.metric == metric and lim.control == DITHER.name:
            value = _control_values(records, benchmark, metric, dataset).get(lim.control)
            return None if value is None else lim.loss(value, _spec(benchmark, metric))
    return None
