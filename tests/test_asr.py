"""ASR benchmark: text normalisation, corpus-level rates, PocketSphinx (real model) and Whisper (random init)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from _judges import tiny_whisper
from dasb.audio import load_audio
from dasb.data.corpus import load_corpus
from dasb.metrics.text import char_edits, normalize_text, number_to_words, word_edits
from dasb.runner import Runner
from dasb.stats import summarize_ratio
from dasb.suites import Suite
from dasb.threads import JUDGE_THREADS, torch_threads

jiwer = pytest.importorskip("jiwer", reason="needs jiwer: pip install 'dasb[asr]'")


def test_casing_punctuation_and_numbers_are_not_errors():
    assert word_edits("The 25 dogs, sir!", "the twenty five dogs sir").edits == 0
    assert word_edits("In 1990 it cost $3.50 (50%).", "in nineteen ninety it cost three point five zero fifty percent").edits == 0
    assert word_edits("He came 21st; twenty-one left.", "he came twenty first twenty one left").edits == 0
    assert word_edits("“It’s well,” she said.", "it's well she said").edits == 0
    assert char_edits("Hello, World!", "hello world").edits == 0
    # Real differences still count.
    assert word_edits("the red dog", "the dog").edits == 1
    assert word_edits("the red dog", "").edits == 3


def test_number_words():
    assert [number_to_words(n) for n in (0, 13, 40, 105, 1000, 2024)] == [
        "zero", "thirteen", "forty", "one hundred five", "one thousand", "two thousand twenty four"]
    assert normalize_text("1905 and 2005") == "nineteen oh five and two thousand five"


def test_corpus_rate_sums_edits_like_jiwer():
    refs = ["a", "b c d e f g h i j"]
    hyps = ["x", "b c d e f g h i j"]
    counts = [word_edits(r, h) for r, h in zip(refs, hyps)]
    s = summarize_ratio([c.edits for c in counts], [c.length for c in counts])
    assert s.mean == pytest.approx(jiwer.wer(refs, hyps)) == pytest.approx(0.1)  # not the mean rate 0.5
    assert s.ci_low <= s.mean <= s.ci_high


def _run(tmp_path, data: str, tokenizers: list[str], settings: dict) -> dict:
    suite = Suite("t", data, tokenizers, {"asr": settings})
    Runner(suite, tmp_path, progress=False).run()
    recs = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    return {(r["tokenizer"], r["metric"]): r for r in recs if r["utterance"] is None}


def _check_identity_and_degradation(agg: dict) -> None:
    assert agg[("pcm16", "dwer")]["value"] <= 0.02
    assert agg[("pcm16", "dcer")]["value"] <= 0.02
    assert agg[("pcm4", "dwer")]["value"] >= 0.3
    assert agg[("pcm4", "wer")]["value"] > agg[("ground-truth", "wer")]["value"] + 0.2
    gt = agg[("ground-truth", "wer")]
    assert gt["status"] == "ok" and gt["ci_low"] <= gt["value"] <= gt["ci_high"]


def test_pocketsphinx_identity_vs_4bit_pcm_on_mini(tmp_path):
    pytest.importorskip("pocketsphinx", reason="needs pocketsphinx: pip install 'dasb[asr]'")
    agg = _run(tmp_path, "mini", ["pcm16", "pcm4"], {"max_utterances": 4})
    _check_identity_and_degradation(agg)
    assert agg[("pcm16", "wer")]["n"] == 4
    # Resumed, nothing is pending: every subject has each metric it reports (the original no dWER, only it "dropped").
    before = (tmp_path / "records.jsonl").read_bytes()
    assert _run(tmp_path, "mini", ["pcm16", "pcm4"], {"max_utterances": 4}) == agg
    assert (tmp_path / "records.jsonl").read_bytes() == before


@pytest.mark.slow
def test_pocketsphinx_identity_vs_4bit_pcm_on_real_speech(tmp_path, speech_dev):
    pytest.importorskip("pocketsphinx", reason="needs pocketsphinx: pip install 'dasb[asr]'")
    _check_identity_and_degradation(_run(tmp_path, str(speech_dev), ["pcm16", "pcm4"], {}))


def test_original_transcripts_are_cached_by_content(tmp_path):
    pytest.importorskip("pocketsphinx", reason="needs pocketsphinx: pip install 'dasb[asr]'")
    from dasb.benchmarks.asr import ASR

    bench = ASR()
    bench.setup()
    seen: list[int] = []
    real = bench._model.transcribe
    bench._model.transcribe = lambda waves: seen.append(len(waves)) or real(waves)
    utt = load_corpus("mini").utterances[0]
    wave = load_audio(utt.audio)[0][0]
    first = bench.transcribe([wave, wave.copy()])
    assert first[0] == first[1] != ""
    assert bench.transcribe([wave]) == first[:1]
    assert seen == [1]  # one recognition for identical audio, none on the second call


# ---- Whisper, random-initialised tiny model of the real architecture ---------------------------------
def test_split_windows_covers_long_audio():
    from dasb.judges.asr import split_windows

    wave = np.arange(int(35 * 16000), dtype=np.float32)
    parts = split_windows(wave)
    assert len(parts) == 2 and max(len(p) for p in parts) <= 30 * 16000
    assert np.array_equal(np.concatenate(parts), wave)
    assert len(split_windows(np.zeros(30 * 16000, np.float32))) == 1
    assert len(split_windows(np.zeros(0, np.float32))) == 1


def test_whisper_transcribes_every_window_batched():
    whisper, model = tiny_whisper()
    from dasb.judges.asr import Whisper

    asr = Whisper(module=model, sample_len=3, batch_size=8)
    batches: list[int] = []
    threads: list[int] = []
    model.encoder.register_forward_hook(lambda mod, inp, out: batches.append(inp[0].shape[0]))
    model.decoder.register_forward_hook(lambda mod, inp, out: threads.append(torch.get_num_threads()))
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(35 * 16000).astype(np.float32) * 0.1, rng.standard_normal(32000).astype(np.float32) * 0.1]
    with torch_threads(1):  # the judge's thread count is its own, whatever the process uses
        texts = asr.transcribe(waves)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    assert batches == [3]  # two windows for the 35 s input, one for the 2 s input, in one batch
    assert set(threads) == {JUDGE_THREADS} and asr.config()["threads"] == JUDGE_THREADS
    assert asr.normalize("Twenty-Five DOGS!") == whisper.normalizers.EnglishTextNormalizer()("Twenty-Five DOGS!")


def test_whisper_without_weights_says_what_to_provide(tmp_path):
    pytest.importorskip("whisper", reason="needs openai-whisper: pip install 'dasb[whisper]'")
    from dasb.judges.asr import Whisper

    with pytest.raises(RuntimeError, match="tiny.pt"):
        Whisper(model="tiny", download_root=str(tmp_path))
