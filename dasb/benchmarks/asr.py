"""Intelligibility of decoded speech: WER/CER against the transcript, and dWER/dCER.

An ASR backend transcribes the original and the decoded audio of each
utterance. ``wer``/``cer`` score the decoded audio's transcript against the
reference text; ``dwer``/``dcer`` score it against the transcript of the
original audio, i.e. the intelligibility the tokenizer loses, with the
recogniser's own errors factored out. Utterances whose original the recogniser
cannot transcribe (no words, or WER above ``max_original_wer``) are left out of
``dwer``/``dcer``, whose reference would be noise; the ground-truth row counts
them (``dropped``). Rates are corpus-level (edits summed over
utterances, divided by summed reference lengths) with a 95% bootstrap interval
over utterances. The original audio's ``wer``/``cer`` form the ground-truth row;
the judge's fitness controls (:data:`dasb.specs.JUDGE_FITNESS`: the original with
±1 LSB dither, and low-passed to 4 kHz) are scored like a tokenizer, each as its
own subject. The judge is the best available by default (:mod:`dasb.judges.choice`).
Transcripts are cached by audio content, so the originals are recognised once
per process however many tokenizers run.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dasb.audio import resample
from dasb.benchmarks.aggregate import aggregate
from dasb.benchmarks.base import Item, JudgedBenchmark, Result
from dasb.fitness import control_audio
from dasb.specs import LOWER, MetricSpec, judge_controls, spec_table
from dasb.results.record import GROUND_TRUTH
from dasb.data.corpus import Utterance
from dasb.data.subsets import spread_over_speakers
from dasb.metrics.text import EditCounts, char_edits, word_edits
from dasb.judges.asr import SAMPLE_RATE, ASRBackend, asr_config, make_asr
from dasb.judges.choice import choose_asr
from dasb.tokenizers.base import AudioTokenizer


RATES = ("wer", "cer", "dwer", "dcer")


class ASR(JudgedBenchmark):
    """dWER/dCER and WER/CER of decoded audio with Whisper or PocketSphinx.

    Settings: ``backend`` ("auto": Whisper when its weights are here or can be fetched, else
    PocketSphinx; or "pocketsphinx" | "whisper"), ``options`` (keyword arguments of the backend,
    e.g. ``{model: small, language: en}`` for Whisper or ``{sample_rate: 8000, features: {upperf: 3800}}``
    for PocketSphinx), ``max_utterances`` (taken round-robin over speakers), ``max_original_wer``
    (utterances whose original the judge transcribes worse than this are left out of dwer/dcer).
    """

    name = "asr"
    # 2: dwer/dcer leave out utterances the judge cannot transcribe on the original;
    # 3: per-utterance rows carry their reference length (n), so paired comparisons weigh them as the corpus rate
    # does; PocketSphinx decodes each utterance from a fresh front end (its transcripts depended on decoding order)
    version = 3
    needs_text = True
    judge_setting = "backend"
    choose_judge = staticmethod(choose_asr)
    make_judge = staticmethod(make_asr)
    _model: ASRBackend | None

    def __init__(self, max_original_wer: float = 0.75, **settings: Any) -> None:
        super().__init__(max_original_wer=max_original_wer, **settings)

    def metrics(self) -> dict[str, MetricSpec]:
        what = {"wer": "word error rate against the transcript", "cer": "character error rate against the transcript",
                "dwer": "word error rate against the ASR transcript of the original audio",
                "dcer": "character error rate against the ASR transcript of the original audio"}
        dropped = MetricSpec("dropped", None, "utterances", 0.0, None, "corpus", False,
                             "utterances left out of dwer/dcer: the judge cannot transcribe their original "
                             "(no words, or WER above max_original_wer); a ground-truth row")
        return spec_table(*(MetricSpec(m, LOWER, "ratio", 0.0, None, "ratio", m == "dwer", d) for m, d in what.items()),
                          dropped)

    def reported_metrics(self, subject: str | None) -> list[str]:
        if subject == GROUND_TRUTH:  # the original has no dWER against itself; its row counts the dropped utterances
            return ["wer", "cer", "dropped"]
        return list(RATES)

    def judge_identity(self) -> dict[str, Any]:
        j = self.judge
        return {**j.identity(), "config": asr_config(j.backend, j.identity_options())}

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
        assert self._model is not None, "setup() loads the ASR backend"
        return self.judge_once(waves, SAMPLE_RATE, self._model.transcribe)

    def run(self, items: list[Item], tokenizer: AudioTokenizer | None) -> list[Result]:
        self.setup()
        untranscribed = [it.utterance.id for it in items if not it.utterance.text]
        items = [it for it in items if it.utterance.text]
        if not items:
            raise ValueError("the asr benchmark needs utterances with transcripts")
        skipped = [Result(m, None, uid, "skipped", "no transcript") for uid in untranscribed for m in RATES]
        originals = self.transcribe([resample(it.reference, it.sample_rate, SAMPLE_RATE) for it in items])
        heard = {None: self.transcribe([resample(it.decoded, it.sample_rate, SAMPLE_RATE) for it in items])}
        if tokenizer is None:  # the original audio's pass: also the judge's controls
            for c in judge_controls(self.name):
                waves = [control_audio(c.name, it.reference, it.sample_rate, it.utterance.id) for it in items]
                heard[c.name] = self.transcribe([resample(w, it.sample_rate, SAMPLE_RATE) for w, it in zip(waves, items)])
        scores: dict[tuple[str | None, str], list[EditCounts]] = {}
        results: list[Result] = []
        dropped: list[str] = []
        for i, (it, orig) in enumerate(zip(items, originals)):
            text, uid = it.utterance.text, it.utterance.id
            rows = {(GROUND_TRUTH, "wer"): (word_edits(text, orig, self._model.normalize), orig),
                    (GROUND_TRUTH, "cer"): (char_edits(text, orig, self._model.normalize), None)}
            unfit = self._unfit(rows[GROUND_TRUTH, "wer"][0], orig)
            if unfit:
                dropped.append(uid)
                results += [Result(m, None, uid, "skipped", unfit, subject=subject) for subject in heard for m in ("dwer", "dcer")]
            for subject, hyps in heard.items():
                rows.update(self._rows(subject, text, orig, hyps[i], with_d=not unfit))
            for (subject, metric), (counts, hyp) in rows.items():
                scores.setdefault((subject, metric), []).append(counts)
                if counts.length > 0:
                    note = None if hyp is None else f"hypothesis: {hyp!r}"
                    results.append(Result(metric, counts.rate, uid, message=note, n=counts.length, subject=subject))
        judge = self.judge.describe(self.name)
        notes = {m: "; ".join(filter(None, [judge, f"{len(untranscribed)} utterance(s) without a transcript not scored"
                                            if untranscribed else None])) for m in RATES}
        if dropped:
            for m in ("dwer", "dcer"):
                notes[m] += f"; {len(dropped)} of {len(items)} utterance(s) dropped: the judge cannot transcribe their original"
        for (subject, metric), counts in scores.items():
            results.append(aggregate(self.spec(metric), [(c.edits, c.length) for c in counts], notes[metric], subject))
        results.append(Result("dropped", float(len(dropped)), None, "ok",
                              f"dropped: {', '.join(dropped)}" if dropped else None, n=len(items), subject=GROUND_TRUTH))
        return skipped + results

    def _rows(self, subject: str | None, text: str, orig: str, dec: str,
              with_d: bool) -> dict[tuple[str | None, str], tuple[EditCounts, str | None]]:
        """The rates of one utterance as heard in ``subject`` (the tokenizer's decoded audio, or a control);
        dwer/dcer only ``with_d`` (the judge could transcribe the original)."""
        assert self._model is not None
        norm = self._model.normalize
        rows = {(subject, "wer"): (word_edits(text, dec, norm), dec), (subject, "cer"): (char_edits(text, dec, norm), None)}
        if with_d:
            rows.update({(subject, "dwer"): (word_edits(orig, dec, norm), None), (subject, "dcer"): (char_edits(orig, dec, norm), None)})
        return rows

    def _unfit(self, truth: EditCounts, original: str) -> str | None:
        """Why dWER/dCER cannot use an utterance whose original the judge transcribed as ``original``
        with ``truth`` edits against the transcript, or None when it can."""
        assert self._model is not None
        if not self._model.normalize(original).split():
            return "the judge heard no words in the original"
        limit = self.settings["max_original_wer"]
        if truth.rate > limit:
            return f"the judge's WER on the original is {truth.rate:.2f} (> max_original_wer {limit:g})"
        return None
