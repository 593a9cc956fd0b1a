"""Speaker identity after tokenization: embedding similarity and verification EER.

``similarity`` is the cosine similarity between speaker embeddings of each
original utterance and its decoded version (mean over utterances, bootstrap
interval). ``eer`` is the equal error rate of a trial list built from the
corpus: every pair of different utterances, target when both have the same
speaker label, scored by cosine similarity of the two *decoded* utterances.
The ground-truth row holds the same measures on the original audio (the
similarity of an original with itself, and the EER of the original trials);
the encoder's fitness controls (:data:`dasb.specs.JUDGE_FITNESS`) are scored
like a tokenizer, each as its own subject. The encoder is the best available
by default (:mod:`dasb.judges.choice`).
Embeddings are cached by audio content across tokenizers.
"""
from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from dasb.audio import resample
from dasb.benchmarks.aggregate import aggregate
from dasb.benchmarks.base import Item, JudgedBenchmark, Result
from dasb.fitness import control_audio
from dasb.specs import HIGHER, LOWER, MetricSpec, judge_controls, spec_table
from dasb.results.record import GROUND_TRUTH
from dasb.data.corpus import Utterance
from dasb.data.subsets import spread_over_speakers
from dasb.metrics.verification import equal_error_rate
from dasb.judges.choice import choose_speaker
from dasb.judges.speaker import SAMPLE_RATE, SpeakerEncoder, make_speaker_encoder
from dasb.tokenizers.base import AudioTokenizer


class Speaker(JudgedBenchmark):
    """Speaker similarity (ECAPA-TDNN, or Resemblyzer) and EER on decoded audio.

    Settings: ``encoder`` ("auto": ECAPA when its weights are here or can be fetched, else
    Resemblyzer; or "resemblyzer" | "ecapa"), ``options`` (keyword arguments of the encoder),
    ``max_utterances`` (taken round-robin over speakers).
    """

    name = "speaker"
    needs_speaker = True
    judge_setting = "encoder"
    choose_judge = staticmethod(choose_speaker)
    make_judge = staticmethod(make_speaker_encoder)
    _model: SpeakerEncoder | None

    def metrics(self) -> dict[str, MetricSpec]:
        return spec_table(
            MetricSpec("similarity", HIGHER, "cosine", -1.0, 1.0, "mean", True,
                       "speaker-embedding cosine similarity of original and decoded audio"),
            MetricSpec("eer", LOWER, "fraction", 0.0, 1.0, "corpus", False,
                       "equal error rate of same/different-speaker trials on decoded audio"))

    def select(self, utterances: list[Utterance]) -> list[Utterance]:
        return spread_over_speakers(utterances, self.settings.get("max_utterances"))

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        """Unit-norm embeddings of 16 kHz waveforms, computing only those not seen before."""
        assert self._model is not None, "setup() loads the speaker encoder"
        return np.stack(self.judge_once(waves, SAMPLE_RATE, self._model.embed))

    def run(self, items: list[Item], tokenizer: AudioTokenizer | None) -> list[Result]:
        self.setup()
        if not items:
            raise ValueError("no utterances to score")
        ref = self.embed([resample(it.reference, it.sample_rate, SAMPLE_RATE) for it in items])
        heard = {None: self.embed([resample(it.decoded, it.sample_rate, SAMPLE_RATE) for it in items]),
                 GROUND_TRUTH: ref}
        if tokenizer is None:  # the original audio's pass: also the encoder's controls
            for c in judge_controls(self.name):
                waves = [control_audio(c.name, it.reference, it.sample_rate, it.utterance.id) for it in items]
                heard[c.name] = self.embed([resample(w, it.sample_rate, SAMPLE_RATE) for w, it in zip(waves, items)])
        ids = [it.utterance.id for it in items]
        speakers = [it.utterance.speaker for it in items]
        note = self.judge.describe(self.name)
        results: list[Result] = []
        for subject, b in heard.items():
            sims = np.sum(ref * b, axis=1)
            results += [Result("similarity", float(s), uid, subject=subject) for uid, s in zip(ids, sims)]
            results.append(aggregate(self.spec("similarity"), sims.tolist(), note, subject))
            results.append(_eer(b, speakers, subject))
        return results


def _eer(emb: np.ndarray, speakers: list[str | None], subject: str | None) -> Result:
    """EER over all pairs of different utterances that both carry a speaker label."""
    pairs = [(i, j) for i, j in combinations(range(len(speakers)), 2) if speakers[i] and speakers[j]]
    scores = np.array([emb[i] @ emb[j] for i, j in pairs])
    same = np.array([speakers[i] == speakers[j] for i, j in pairs], dtype=bool)
    try:
        eer = equal_error_rate(scores, same)
    except ValueError as err:
        return Result("eer", None, None, "error", f"cannot build a trial list from this corpus: {err}", subject=subject)
    note = f"{int(same.sum())} target and {int((~same).sum())} non-target trials; no interval (trials share utterances)"
    return Result("eer", eer, None, "ok", note, n=len(pairs), subject=subject)
