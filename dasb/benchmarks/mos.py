"""Predicted listening quality without a reference: DNSMOS and NISQA on decoded audio.

Intrusive metrics (PESQ, STOI) punish a decoder for any waveform difference;
generative decoders that sound clean but differ in phase or detail score low
there. A non-intrusive predictor rates the decoded audio alone. The
ground-truth row rates the original audio: a tokenizer cannot sound better than
the corpus by much, and the gap to that row is what the tokenizer costs.
Predictions are cached by audio content, so originals are rated once.

NISQA needs its weights (non-commercial licence, not shipped): without them its
metrics are recorded as skipped with how to get them, and DNSMOS still runs.
"""
from __future__ import annotations

from functools import cached_property
from typing import Any, Callable

import numpy as np

from dasb.audio import content_hash, resample
from dasb.benchmarks.aggregate import aggregate
from dasb.benchmarks.base import CorpusBenchmark, Item, Result
from dasb.items import error_text
from dasb.judges.dnsmos_windows import SAMPLE_RATE
from dasb.judges.mos import DNSMOS, attempt
from dasb.judges.nisqa import NISQA
from dasb.results.record import GROUND_TRUTH
from dasb.specs import HIGHER, MetricSpec, spec_table
from dasb.tokenizers.base import AudioTokenizer
from dasb.weights import WeightsUnavailable

PREDICTORS = ("dnsmos", "nisqa")
Rating = tuple[dict[str, float], str | None]
Clip = tuple[np.ndarray, int]  # audio and its sample rate
RateAll = Callable[[list[Clip]], list[Rating | Exception]]  # a rating, or why there is none, per clip


class MOS(CorpusBenchmark):
    """DNSMOS (P.835 SIG/BAK/OVRL and P.808) and NISQA (MOS, noisiness, discontinuity,
    coloration, loudness; NISQA-TTS naturalness) of decoded and original audio.

    Settings: ``predictors`` (which of dnsmos and nisqa to run; both by default),
    ``personalized`` (DNSMOS's personalised P.835 model), ``max_utterances``.
    """

    name = "mos"
    needs_decoded = True
    needs_tokens = False
    ground_truth = True

    def __init__(self, predictors: str | list[str] | tuple[str, ...] = PREDICTORS, personalized: bool = False,
                 **settings: Any) -> None:
        predictors = [predictors] if isinstance(predictors, str) else list(predictors)
        unknown = sorted(set(predictors) - set(PREDICTORS))
        if unknown or not predictors:
            raise ValueError(f"mos: predictors {predictors} must name some of {', '.join(PREDICTORS)}")
        super().__init__(predictors=[p for p in PREDICTORS if p in predictors], personalized=personalized, **settings)
        # Predictor name -> its rating function, or (status, message) when it cannot run.
        self._predictors: dict[str, RateAll | tuple[str, str]] = {}
        self._cache: dict[tuple[str, str], Rating | Exception] = {}

    def _outputs(self) -> dict[str, tuple[str, ...]]:
        outputs = {"dnsmos": tuple(DNSMOS.outputs), "nisqa": NISQA.outputs}
        return {p: outputs[p] for p in self.settings["predictors"]}

    def metrics(self) -> dict[str, MetricSpec]:
        # DNSMOS's range is checked on every prediction; NISQA's heads are unbounded regressions on a MOS scale.
        bounds = {"dnsmos": (1.0, 5.0), "nisqa": (None, None)}
        return spec_table(*(MetricSpec(f"{p}_{k}", HIGHER, "MOS", *bounds[p], "mean", f"{p}_{k}" == "dnsmos_ovrl",
                                       f"{p.upper()} {k} prediction")
                            for p, names in self._outputs().items() for k in names))

    @cached_property
    def _identity(self) -> dict[str, Any]:
        # Hashing the NISQA weights once: config() is called for every record key.
        chosen = self.settings["predictors"]
        identity: dict[str, Any] = {}
        if "dnsmos" in chosen:
            identity["dnsmos"] = DNSMOS.identity(bool(self.settings["personalized"]))
        if "nisqa" in chosen:
            identity["nisqa"] = NISQA.identity()
        return identity

    def config(self) -> dict[str, Any]:
        return {**super().config(), **self._identity}

    def setup(self) -> None:
        chosen = self.settings["predictors"]
        if "dnsmos" in chosen and "dnsmos" not in self._predictors:
            dnsmos = DNSMOS(personalized=bool(self.settings["personalized"]))
            self._predictors["dnsmos"] = lambda clips: dnsmos.predict_all(
                [resample(wave[None], sr, SAMPLE_RATE)[0] for wave, sr in clips])
        if "nisqa" in chosen and "nisqa" not in self._predictors:
            try:
                nisqa = NISQA()  # rates audio at its own sample rate
                self._predictors["nisqa"] = lambda clips: [attempt(nisqa.predict, *clip) for clip in clips]
            except WeightsUnavailable as err:  # not shipped: a skip saying how to get them, not an error per run
                self._predictors["nisqa"] = ("skipped", str(err))
            except Exception as err:  # a corrupt or wrong file: NISQA's rows are errors, DNSMOS still runs
                self._predictors["nisqa"] = ("error", f"cannot load NISQA: {error_text(err)}")

    def _rate(self, predictor: str, clips: list[Clip]) -> list[Rating | Exception]:
        """Ratings of ``clips``; each distinct audio content is rated once per benchmark instance."""
        rate_all = self._predictors[predictor]
        assert callable(rate_all), "only loaded predictors rate audio"
        keys = [(predictor, content_hash(wave, sr)) for wave, sr in clips]
        new = {key: clip for key, clip in zip(keys, clips) if key not in self._cache}
        if new:
            self._cache.update(zip(new, rate_all(list(new.values()))))
        return [self._cache[key] for key in keys]

    def run(self, items: list[Item], tokenizer: AudioTokenizer) -> list[Result]:
        self.setup()
        if not items:
            raise ValueError("no utterances to rate")
        results: list[Result] = []
        for subject, attr in ((None, "decoded"), (GROUND_TRUTH, "reference")):
            for predictor, outputs in self._outputs().items():
                names = [f"{predictor}_{k}" for k in outputs]
                state = self._predictors[predictor]
                if isinstance(state, tuple):
                    results += [Result(m, None, None, state[0], state[1], subject=subject) for m in names]
                else:
                    results += self._rate_all(predictor, names, items, attr, subject)
        return results

    def _rate_all(self, predictor: str, names: list[str], items: list[Item], attr: str, subject: str | None) -> list[Result]:
        """Per-utterance and aggregate rows of one predictor's metrics for one side (decoded or reference)."""
        results: list[Result] = []
        values: dict[str, list[float]] = {m: [] for m in names}
        ratings = self._rate(predictor, [(getattr(it, attr), it.sample_rate) for it in items])
        for it, rated in zip(items, ratings):
            uid = it.utterance.id
            if isinstance(rated, Exception):
                msg = f"utterance {uid}: {error_text(rated)}"
                results += [Result(m, None, uid, "error", msg, subject=subject) for m in names]
                continue
            scores, note = rated
            for short, value in scores.items():
                values[f"{predictor}_{short}"].append(value)
                results.append(Result(f"{predictor}_{short}", value, uid, message=note, subject=subject))
        for metric, vals in values.items():
            if not vals:
                results.append(Result(metric, None, None, "error", "no utterance could be rated", subject=subject))
                continue
            failed = len(items) - len(vals)
            note = f"{failed} of {len(items)} utterances could not be rated" if failed else None
            results.append(aggregate(self.spec(metric), vals, note, subject))
        return results
