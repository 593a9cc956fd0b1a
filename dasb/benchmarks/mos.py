"""Predicted listening quality without a reference: DNSMOS on decoded audio.

Intrusive metrics (PESQ, STOI) punish a decoder for any waveform difference;
generative decoders that sound clean but differ in phase or detail score low
there. A non-intrusive predictor rates the decoded audio alone. The
ground-truth row rates the original audio: a tokenizer cannot sound better than
the corpus by much, and the gap to that row is what the tokenizer costs.
Predictions are cached by audio content, so originals are rated once.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dasb.audio import content_hash, resample
from dasb.benchmarks.base import CorpusBenchmark, Item, Result
from dasb.items import describe
from dasb.models.mos import DNSMOS, SAMPLE_RATE
from dasb.results.record import GROUND_TRUTH
from dasb.stats import summarize
from dasb.tokenizers.base import AudioTokenizer


class MOS(CorpusBenchmark):
    """DNSMOS (P.835 SIG/BAK/OVRL and P.808) of decoded and original audio.

    Settings: ``personalized`` (DNSMOS's personalised P.835 model),
    ``max_utterances``.
    """

    name = "mos"
    needs_decoded = True

    def __init__(self, personalized: bool = False, **settings: Any) -> None:
        super().__init__(personalized=personalized, **settings)
        self._model: DNSMOS | None = None
        self._cache: dict[str, tuple[dict[str, float], str | None] | Exception] = {}

    def metrics(self) -> dict[str, bool | None]:
        return {f"dnsmos_{k}": True for k in DNSMOS.outputs}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "model": DNSMOS.describe(bool(self.settings["personalized"]))}

    def setup(self) -> None:
        if self._model is None:
            self._model = DNSMOS(personalized=bool(self.settings["personalized"]))

    def _rate(self, wave: np.ndarray, sr: int) -> tuple[dict[str, float], str | None] | Exception:
        assert self._model is not None, "setup() loads the predictor"
        audio = resample(wave[None], sr, SAMPLE_RATE)[0]
        key = content_hash(audio, SAMPLE_RATE)
        if key not in self._cache:
            try:
                self._cache[key] = self._model.predict(audio)
            except Exception as err:  # one bad clip is an error row, not a failed benchmark
                self._cache[key] = err
        return self._cache[key]

    def run(self, items: list[Item], tokenizer: AudioTokenizer) -> list[Result]:
        self.setup()
        if not items:
            raise ValueError("no utterances to rate")
        results: list[Result] = []
        for row, attr in ((None, "decoded"), (GROUND_TRUTH, "reference")):
            values: dict[str, list[float]] = {m: [] for m in self.metrics()}
            for it in items:
                rated = self._rate(getattr(it, attr), it.sample_rate)
                uid = it.utterance.id
                if isinstance(rated, Exception):
                    msg = f"utterance {uid}: {describe(rated)}"
                    results += [Result(m, None, uid, "error", msg, row=row) for m in values]
                    continue
                scores, note = rated
                for short, value in scores.items():
                    values[f"dnsmos_{short}"].append(value)
                    results.append(Result(f"dnsmos_{short}", value, uid, message=note, row=row))
            for metric, vals in values.items():
                if not vals:
                    results.append(Result(metric, None, None, "error", "no utterance could be rated", row=row))
                    continue
                s = summarize(vals)
                failed = len(items) - len(vals)
                note = f"{failed} of {len(items)} utterances could not be rated" if failed else None
                results.append(Result(metric, s.mean, None, "ok", note, s.stderr, s.ci_low, s.ci_high, s.n, row=row))
        return results
