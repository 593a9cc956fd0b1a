"""Intelligibility of decoded speech: WER/CER against the transcript, and dWER/dCER.

An ASR backend transcribes the original and the decoded audio of each
utterance. ``wer``/``cer`` score the decoded audio's transcript against the
reference text; ``dwer``/``dcer`` score it against the transcript of the
original audio, i.e. the intelligibility the tokenizer loses, with the
recogniser's own errors factored out. Rates are corpus-level (edits summed over
utterances, divided by summed reference lengths) with a 95% bootstrap interval
over utterances. The original audio's ``wer``/``cer`` form the ground-truth row;
the judge's fitness controls (:data:`dasb.specs.JUDGE_FITNESS`: the original with
±1 LSB dither, and low-passed to 4 kHz) are scored like a tokenizer, each as its
own subject. The judge is the best available by default (:mod:`dasb.models.judges`).
Transcripts are cached by audio content, so the originals are recognised once
per process however many tokenizers run.
"""
from __future__ import annotations

from typing import Any

import sys

import numpy as np

from dasb.audio import content_hash, resample
from dasb.benchmarks.base import CorpusBenchmark, Item, Result
from dasb.fitness import control_audio
from dasb.specs import LOWER, MetricSpec, judge_controls, spec_table
from dasb.results.record import GROUND_TRUTH
from dasb.data.corpus import Utterance
from dasb.data.subsets import spread_over_speakers
from dasb.metrics.text import EditCounts, char_edits, word_edits
from dasb.models.asr import SAMPLE_RATE, ASRBackend, make_asr
from dasb.models.judges import AUTO, Judge, choose_asr
from dasb.stats import summarize_ratio
from dasb.tokenizers.base import AudioTokenizer


class ASR(CorpusBenchmark):
    """dWER/dCER and WER/CER of decoded audio with Whisper or PocketSphinx.

    Settings: ``backend`` ("auto": Whisper when its weights are here or can be fetched, else
    PocketSphinx; or "pocketsphinx" | "whisper"), ``options`` (keyword arguments of the backend,
    e.g. ``{model: small, language: en}``), ``max_utterances`` (taken round-robin over speakers).
    """

    name = "asr"
    needs_decoded = True
    needs_tokens = False
    needs_text = True
    ground_truth = True

    def __init__(self, backend: str = AUTO, options: dict[str, Any] | None = None, **settings: Any) -> None:
        super().__init__(backend=backend, options=dict(options or {}), **settings)
        self._asr: ASRBackend | None = None
        self._judge: Judge | None = None
        self._transcripts: dict[str, str] = {}

    def metrics(self) -> dict[str, MetricSpec]:
        what = {"wer": "word error rate against the transcript", "cer": "character error rate against the transcript",
                "dwer": "word error rate against the ASR transcript of the original audio",
                "dcer": "character error rate against the ASR transcript of the original audio"}
        return spec_table(*(MetricSpec(m, LOWER, "ratio", 0.0, None, "ratio", m == "dwer", d) for m, d in what.items()))

    @property
    def judge(self) -> Judge:
        """The recogniser this run uses (resolved once: ``auto`` looks for Whisper's weights)."""
        if self._judge is None:
            self._judge = choose_asr(self.settings["backend"], self.settings["options"])
        return self._judge

    def config(self) -> dict[str, Any]:
        j = self.judge
        # The resolved judge, not "auto", so that the same recogniser gives the same keys however it was named.
        return {**super().config(), "backend": j.backend, "options": j.identity_options(), "judge": j.identity()}

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

    def setup(self) -> None:
        if self._asr is None:
            print(self.judge.describe(self.name), file=sys.stderr)
            self._asr = make_asr(self.judge.backend, **self.judge.options)

    def transcribe(self, waves: list[np.ndarray]) -> list[str]:
        """Transcripts of 16 kHz waveforms, recognising only audio not seen before."""
        assert self._asr is not None, "setup() loads the ASR backend"
        keys = [content_hash(w, SAMPLE_RATE) for w in waves]
        todo = {k: w for k, w in zip(keys, waves) if k not in self._transcripts}
        if todo:
            self._transcripts.update(zip(todo, self._asr.transcribe(list(todo.values()))))
        return [self._transcripts[k] for k in keys]

    def run(self, items: list[Item], tokenizer: AudioTokenizer | None) -> list[Result]:
        self.setup()
        assert self._asr is not None
        untranscribed = [it.utterance.id for it in items if not it.utterance.text]
        items = [it for it in items if it.utterance.text]
        if not items:
            raise ValueError("the asr benchmark needs utterances with transcripts")
        skipped = [Result(m, None, uid, "skipped", "no transcript") for uid in untranscribed for m in self.metrics()]
        originals = self.transcribe([resample(it.reference, it.sample_rate, SAMPLE_RATE) for it in items])
        heard = {None: self.transcribe([resample(it.decoded, it.sample_rate, SAMPLE_RATE) for it in items])}
        if tokenizer is None:  # the original audio's pass: also the judge's controls
            for c in judge_controls(self.name):
                waves = [control_audio(c.name, it.reference, it.sample_rate, it.utterance.id) for it in items]
                heard[c.name] = self.transcribe([resample(w, it.sample_rate, SAMPLE_RATE) for w, it in zip(waves, items)])
        scores: dict[tuple[str | None, str], list[EditCounts]] = {}
        results: list[Result] = []
        for i, (it, orig) in enumerate(zip(items, originals)):
            rows = {(GROUND_TRUTH, "wer"): (word_edits(it.utterance.text, orig, self._asr.normalize), orig),
                    (GROUND_TRUTH, "cer"): (char_edits(it.utterance.text, orig, self._asr.normalize), None)}
            for row, hyps in heard.items():
                rows.update(self._rows(row, it.utterance.text, orig, hyps[i]))
            for (row, metric), (counts, hyp) in rows.items():
                scores.setdefault((row, metric), []).append(counts)
                if counts.length > 0:
                    note = None if hyp is None else f"hypothesis: {hyp!r}"
                    results.append(Result(metric, counts.rate, it.utterance.id, message=note, row=row))
        notes = [self.judge.describe(self.name)]
        if untranscribed:
            notes.append(f"{len(untranscribed)} utterance(s) without a transcript not scored")
        for (row, metric), counts in scores.items():
            results.append(_corpus_rate(metric, counts, row, "; ".join(notes)))
        return skipped + results

    def _rows(self, row: str | None, text: str, orig: str, dec: str) -> dict[tuple[str | None, str], tuple[EditCounts, str | None]]:
        """The four rates of one utterance as heard in ``row`` (the tokenizer's decoded audio, or a control)."""
        assert self._asr is not None
        norm = self._asr.normalize
        return {(row, "wer"): (word_edits(text, dec, norm), dec), (row, "cer"): (char_edits(text, dec, norm), None),
                (row, "dwer"): (word_edits(orig, dec, norm), None), (row, "dcer"): (char_edits(orig, dec, norm), None)}


def _corpus_rate(metric: str, counts: list[EditCounts], row: str | None, note: str | None = None) -> Result:
    try:
        s = summarize_ratio([c.edits for c in counts], [c.length for c in counts])
    except ValueError as err:  # e.g. the recogniser heard nothing in any original
        return Result(metric, None, None, "error", f"{metric}: {err}", row=row)
    return Result(metric, s.mean, None, "ok", note, s.stderr, s.ci_low, s.ci_high, s.n, row=row)
