"""Intelligibility of decoded speech: WER/CER against the transcript, and dWER/dCER.

An ASR backend transcribes the original and the decoded audio of each
utterance. ``wer``/``cer`` score the decoded audio's transcript against the
reference text; ``dwer``/``dcer`` score it against the transcript of the
original audio, i.e. the intelligibility the tokenizer loses, with the
recogniser's own errors factored out. Rates are corpus-level (edits summed over
utterances, divided by summed reference lengths) with a 95% bootstrap interval
over utterances. The original audio's ``wer``/``cer`` form the ground-truth row.
Transcripts are cached by audio content, so the originals are recognised once
per process however many tokenizers run.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dasb.audio import resample
from dasb.benchmarks.aggregate import aggregate
from dasb.benchmarks.base import Item, JudgedBenchmark, Result
from dasb.specs import LOWER, MetricSpec, spec_table
from dasb.results.record import GROUND_TRUTH
from dasb.data.corpus import Utterance
from dasb.data.subsets import spread_over_speakers
from dasb.metrics.text import EditCounts, char_edits, word_edits
from dasb.models.asr import SAMPLE_RATE, ASRBackend, make_asr
from dasb.tokenizers.base import AudioTokenizer


class ASR(JudgedBenchmark):
    """dWER/dCER and WER/CER of decoded audio with PocketSphinx (default) or Whisper.

    Settings: ``backend`` ("pocketsphinx" | "whisper"), ``options`` (keyword
    arguments of the backend, e.g. ``{model: small, language: en}``),
    ``max_utterances`` (taken round-robin over speakers).
    """

    name = "asr"
    needs_text = True
    judge = ("backend", "pocketsphinx")
    make_judge = staticmethod(make_asr)

    def metrics(self) -> dict[str, MetricSpec]:
        what = {"wer": "word error rate against the transcript", "cer": "character error rate against the transcript",
                "dwer": "word error rate against the ASR transcript of the original audio",
                "dcer": "character error rate against the ASR transcript of the original audio"}
        return spec_table(*(MetricSpec(m, LOWER, "ratio", 0.0, None, "ratio", m == "dwer", d) for m, d in what.items()))

    def select(self, utterances: list[Utterance]) -> list[Utterance]:
        """Utterances with transcripts, round-robin over speakers, distinct sentences first.

        Those without a transcript follow, so that :meth:`run` reports them as skipped.
        """
        seen: set[str] = set()
        fresh, repeated = [], []
        for u in utterances:
            if u.text:
                (repeated if u.text in seen else fresh).append(u)
                seen.add(u.text)
        untranscribed = [u for u in utterances if not u.text]
        return spread_over_speakers(fresh + repeated, self.settings.get("max_utterances")) + untranscribed

    def transcribe(self, waves: list[np.ndarray]) -> list[str]:
        """Transcripts of 16 kHz waveforms, recognising only audio not seen before."""
        assert self._judge is not None, "setup() loads the ASR backend"
        return self.judge_once(waves, SAMPLE_RATE, self._judge.transcribe)

    def run(self, items: list[Item], tokenizer: AudioTokenizer) -> list[Result]:
        self.setup()
        untranscribed = [it.utterance.id for it in items if not it.utterance.text]
        items = [it for it in items if it.utterance.text]
        if not items:
            raise ValueError("the asr benchmark needs utterances with transcripts")
        skipped = [Result(m, None, uid, "skipped", "no transcript") for uid in untranscribed for m in self.metrics()]
        originals = self.transcribe([resample(it.reference, it.sample_rate, SAMPLE_RATE) for it in items])
        decoded = self.transcribe([resample(it.decoded, it.sample_rate, SAMPLE_RATE) for it in items])
        norm = self._judge.normalize
        scores: dict[tuple[str | None, str], list[EditCounts]] = {}
        results: list[Result] = []
        for it, orig, dec in zip(items, originals, decoded):
            text, uid = it.utterance.text, it.utterance.id
            rows = {
                (None, "wer"): (word_edits(text, dec, norm), dec),
                (None, "cer"): (char_edits(text, dec, norm), None),
                (None, "dwer"): (word_edits(orig, dec, norm), None),
                (None, "dcer"): (char_edits(orig, dec, norm), None),
                (GROUND_TRUTH, "wer"): (word_edits(text, orig, norm), orig),
                (GROUND_TRUTH, "cer"): (char_edits(text, orig, norm), None),
            }
            for (row, metric), (counts, hyp) in rows.items():
                scores.setdefault((row, metric), []).append(counts)
                if counts.length > 0:
                    note = None if hyp is None else f"hypothesis: {hyp!r}"
                    results.append(Result(metric, counts.rate, uid, message=note, row=row))
        note = f"{len(untranscribed)} utterance(s) without a transcript not scored" if untranscribed else None
        for (row, metric), counts in scores.items():
            results.append(aggregate(self.spec(metric), [(c.edits, c.length) for c in counts], note, row))
        return skipped + results

