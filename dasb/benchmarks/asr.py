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
over utterances. The original audio's ``wer``/``cer`` form the ground-truth row.
Transcripts are cached by audio content, so the originals are recognised once
per process however many tokenizers run.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dasb.audio import content_hash, resample
from dasb.benchmarks.base import CorpusBenchmark, Item, Result
from dasb.specs import LOWER, MetricSpec, spec_table
from dasb.results.record import GROUND_TRUTH
from dasb.data.corpus import Utterance
from dasb.data.subsets import spread_over_speakers
from dasb.metrics.text import EditCounts, char_edits, word_edits
from dasb.models.asr import SAMPLE_RATE, ASRBackend, asr_config, make_asr
from dasb.provenance import judge_identity
from dasb.stats import summarize_ratio
from dasb.tokenizers.base import AudioTokenizer


RATES = ("wer", "cer", "dwer", "dcer")


class ASR(CorpusBenchmark):
    """dWER/dCER and WER/CER of decoded audio with PocketSphinx (default) or Whisper.

    Settings: ``backend`` ("pocketsphinx" | "whisper"), ``options`` (keyword
    arguments of the backend, e.g. ``{model: small, language: en}`` for Whisper or
    ``{sample_rate: 8000, features: {upperf: 3800}}`` for PocketSphinx),
    ``max_utterances`` (taken round-robin over speakers), ``max_original_wer`` (utterances whose
    original the judge transcribes worse than this are left out of dwer/dcer).
    """

    name = "asr"
    version = 2  # 2: dwer/dcer leave out utterances the judge cannot transcribe on the original
    needs_decoded = True
    needs_tokens = False
    needs_text = True
    ground_truth = True

    def __init__(self, backend: str = "pocketsphinx", options: dict[str, Any] | None = None,
                 max_original_wer: float = 0.75, **settings: Any) -> None:
        super().__init__(backend=backend, options=dict(options or {}), max_original_wer=max_original_wer, **settings)
        self._asr: ASRBackend | None = None
        self._transcripts: dict[str, str] = {}

    def metrics(self) -> dict[str, MetricSpec]:
        what = {"wer": "word error rate against the transcript", "cer": "character error rate against the transcript",
                "dwer": "word error rate against the ASR transcript of the original audio",
                "dcer": "character error rate against the ASR transcript of the original audio"}
        dropped = MetricSpec("dropped", None, "utterances", 0.0, None, "corpus", False,
                             "utterances left out of dwer/dcer: the judge cannot transcribe their original "
                             "(no words, or WER above max_original_wer); a ground-truth row")
        return spec_table(*(MetricSpec(m, LOWER, "ratio", 0.0, None, "ratio", m == "dwer", d) for m, d in what.items()),
                          dropped)

    def config(self) -> dict[str, Any]:
        backend, options = self.settings["backend"], self.settings["options"]
        return {**super().config(), "judge": {**judge_identity(backend, options), "config": asr_config(backend, options)}}

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
            self._asr = make_asr(self.settings["backend"], **self.settings["options"])

    def transcribe(self, waves: list[np.ndarray]) -> list[str]:
        """Transcripts of 16 kHz waveforms, recognising only audio not seen before."""
        assert self._asr is not None, "setup() loads the ASR backend"
        keys = [content_hash(w, SAMPLE_RATE) for w in waves]
        todo = {k: w for k, w in zip(keys, waves) if k not in self._transcripts}
        if todo:
            self._transcripts.update(zip(todo, self._asr.transcribe(list(todo.values()))))
        return [self._transcripts[k] for k in keys]

    def run(self, items: list[Item], tokenizer: AudioTokenizer) -> list[Result]:
        self.setup()
        assert self._asr is not None
        untranscribed = [it.utterance.id for it in items if not it.utterance.text]
        items = [it for it in items if it.utterance.text]
        if not items:
            raise ValueError("the asr benchmark needs utterances with transcripts")
        skipped = [Result(m, None, uid, "skipped", "no transcript") for uid in untranscribed for m in RATES]
        originals = self.transcribe([resample(it.reference, it.sample_rate, SAMPLE_RATE) for it in items])
        decoded = self.transcribe([resample(it.decoded, it.sample_rate, SAMPLE_RATE) for it in items])
        norm = self._asr.normalize
        scores: dict[tuple[str | None, str], list[EditCounts]] = {}
        results: list[Result] = []
        dropped: list[str] = []
        for it, orig, dec in zip(items, originals, decoded):
            text, uid = it.utterance.text, it.utterance.id
            rows = {
                (None, "wer"): (word_edits(text, dec, norm), dec),
                (None, "cer"): (char_edits(text, dec, norm), None),
                (GROUND_TRUTH, "wer"): (word_edits(text, orig, norm), orig),
                (GROUND_TRUTH, "cer"): (char_edits(text, orig, norm), None),
            }
            unfit = self._unfit(rows[GROUND_TRUTH, "wer"][0], orig)
            if unfit:
                dropped.append(uid)
                results += [Result(m, None, uid, "skipped", unfit) for m in ("dwer", "dcer")]
            else:
                rows[None, "dwer"] = (word_edits(orig, dec, norm), None)
                rows[None, "dcer"] = (char_edits(orig, dec, norm), None)
            for (row, metric), (counts, hyp) in rows.items():
                scores.setdefault((row, metric), []).append(counts)
                if counts.length > 0:
                    note = None if hyp is None else f"hypothesis: {hyp!r}"
                    results.append(Result(metric, counts.rate, uid, message=note, row=row))
        notes = {m: f"{len(untranscribed)} utterance(s) without a transcript not scored" if untranscribed else None
                 for m in RATES}
        if dropped:
            for m in ("dwer", "dcer"):
                notes[m] = "; ".join(filter(None, [notes[m], f"{len(dropped)} of {len(items)} utterance(s) dropped: "
                                                   "the judge cannot transcribe their original"]))
        for (row, metric), counts in scores.items():
            results.append(_corpus_rate(metric, counts, row, notes[metric]))
        results.append(Result("dropped", float(len(dropped)), None, "ok",
                              f"dropped: {', '.join(dropped)}" if dropped else None, n=len(items), row=GROUND_TRUTH))
        return skipped + results

    def _unfit(self, truth: EditCounts, original: str) -> str | None:
        """Why dWER/dCER cannot use an utterance whose original the judge transcribed as ``original``
        with ``truth`` edits against the transcript, or None when it can."""
        assert self._asr is not None
        if not self._asr.normalize(original).split():
            return "the judge heard no words in the original"
        limit = self.settings["max_original_wer"]
        if truth.rate > limit:
            return f"the judge's WER on the original is {truth.rate:.2f} (> max_original_wer {limit:g})"
        return None


def _corpus_rate(metric: str, counts: list[EditCounts], row: str | None, note: str | None = None) -> Result:
    try:
        s = summarize_ratio([c.edits for c in counts], [c.length for c in counts])
    except ValueError as err:  # e.g. the recogniser heard nothing in any original
        return Result(metric, None, None, "error", f"{metric}: {err}", row=row)
    return Result(metric, s.mean, None, "ok", note, s.stderr, s.ci_low, s.ci_high, s.n, row=row)
