"""The ASR judge: its configuration reaches the record keys; utterances it cannot transcribe are dropped
from dWER with a count; corpus rates carry bootstrap intervals."""
from __future__ import annotations

import numpy as np
import pytest

from dasb.benchmarks.base import Item
from dasb.data.corpus import Utterance
from dasb.hashing import hash_config
from dasb.results.record import GROUND_TRUTH

pytest.importorskip("jiwer", reason="needs jiwer: pip install 'dasb[asr]'")


def _asr(**settings):
    from dasb.benchmarks.asr import ASR

    return ASR(**settings)


def test_pocketsphinx_config_reaches_the_record_key():
    pytest.importorskip("pocketsphinx", reason="needs pocketsphinx: pip install 'dasb[asr]'")
    default = _asr().config()
    band = _asr(options={"features": {"upperf": 3500}}).config()
    slow = _asr(options={"sample_rate": 8000, "features": {"upperf": 3800}}).config()
    assert band["judge"]["config"]["features"]["upperf"] == "3500"
    assert default["judge"]["config"]["features"]["upperf"] != "3500"
    assert default["judge"]["config"]["sample_rate"] != slow["judge"]["config"]["sample_rate"] == 8000
    keys = {hash_config(c) for c in (default, band, slow)}
    assert len(keys) == 3
    assert hash_config(_asr().config()) == hash_config(default)  # unchanged settings keep resuming


def test_pocketsphinx_rejects_features_it_does_not_have_or_cannot_use():
    pytest.importorskip("pocketsphinx", reason="needs pocketsphinx: pip install 'dasb[asr]'")
    from dasb.judges.asr import pocketsphinx_config

    with pytest.raises(ValueError, match="upperff"):
        pocketsphinx_config(features={"upperff": 3500})
    with pytest.raises(ValueError, match="half the sample rate"):
        pocketsphinx_config(sample_rate=8000, features={"upperf": 6800})


def test_pocketsphinx_config_is_applied_to_its_front_end():
    pytest.importorskip("pocketsphinx", reason="needs pocketsphinx: pip install 'dasb[asr]'")
    from dasb.judges.asr import PocketSphinx

    judge = PocketSphinx(sample_rate=8000, features={"upperf": 3500})
    assert judge._decoder.config["upperf"] == 3500.0 and judge._decoder.config["samprate"] == 8000
    assert judge.config()["features"]["upperf"] == "3500"


def test_pocketsphinx_transcripts_do_not_depend_on_what_it_heard_before():
    """Its noise estimate carried over between utterances: 2 of 6 mini transcripts changed with the order."""
    pytest.importorskip("pocketsphinx", reason="needs pocketsphinx: pip install 'dasb[asr]'")
    from dasb.audio import load_audio
    from dasb.data.corpus import load_corpus
    from dasb.judges.asr import PocketSphinx

    waves = [load_audio(u.audio)[0][0] for u in load_corpus("mini").utterances[:6]]
    judge = PocketSphinx(processes=1)
    in_order = judge.transcribe(waves)
    assert judge.transcribe(waves[::-1])[::-1] == in_order
    assert [PocketSphinx().transcribe([w])[0] for w in waves] == in_order
    assert PocketSphinx(processes=2).transcribe(waves) == in_order  # two worker processes share the work


class _Judge:
    """Transcribes a waveform as the text stored under its median level (which the judge's dither and
    low-pass controls keep)."""

    def __init__(self, texts: dict[float, str]) -> None:
        self.texts = texts

    def config(self) -> dict:
        return {"backend": "fake"}

    def normalize(self, text: str) -> str:
        return text.lower()

    def transcribe(self, waves: list[np.ndarray]) -> list[str]:
        return [self.texts[round(float(np.median(w)), 2)] for w in waves]


def _item(uid: str, text: str, ref: float, dec: float) -> Item:
    wave = lambda v: np.full(1600, v, np.float32)  # noqa: E731
    return Item(Utterance(uid, f"{uid}.wav", text), wave(ref), 16000, None, wave(dec))


def test_utterances_the_judge_cannot_transcribe_are_dropped_and_counted():
    bench = _asr(max_original_wer=0.5)
    heard = {0.1: "a b c d", 0.2: "a b c d", 0.3: "", 0.4: "x", 0.5: "w x y z", 0.6: "w x y q", 0.7: "a b x y"}
    bench._model = _Judge(heard)
    items = [_item("good", "a b c d", 0.1, 0.2),     # perfect original, perfect decoded
             _item("silent", "a b c d", 0.3, 0.4),   # judge hears nothing in the original
             _item("poor", "a b c d", 0.7, 0.4),     # judge's WER on the original is 0.5: kept (not above)
             _item("wrong", "a b c d", 0.5, 0.6)]    # judge's WER on the original is 1.0
    results = bench.run(items, tokenizer=None)
    corpus = {(r.subject, r.metric): r for r in results if r.utterance is None}
    dropped = corpus[GROUND_TRUTH, "dropped"]
    assert dropped.value == 2 and dropped.n == 4 and "silent" in dropped.message and "wrong" in dropped.message
    per_utt = {(r.utterance, r.metric): r for r in results if r.utterance is not None and r.subject is None}
    assert per_utt["silent", "dwer"].status == per_utt["wrong", "dcer"].status == "skipped"
    assert "no words" in per_utt["silent", "dwer"].message and "1.00" in per_utt["wrong", "dwer"].message
    dwer = corpus[None, "dwer"]
    assert dwer.n == 2 and "2 of 4" in dwer.message
    assert dwer.value == pytest.approx(3 / 8)  # good: 0 edits of 4; poor: "a b x y" -> "x", 3 of 4
    assert corpus[None, "wer"].n == 4  # WER against the transcript keeps every utterance


def test_corpus_rates_carry_bootstrap_intervals():
    bench = _asr()
    bench._model = _Judge({0.1: "a b c d", 0.2: "a b c", 0.3: "e f", 0.4: "e g", 0.5: "h i j", 0.6: "h i j"})
    items = [_item("u1", "a b c d", 0.1, 0.2), _item("u2", "e f", 0.3, 0.4), _item("u3", "h i j", 0.5, 0.6)]
    corpus = {(r.subject, r.metric): r for r in bench.run(items, tokenizer=None) if r.utterance is None}
    for key in [(None, "wer"), (None, "cer"), (None, "dwer"), (None, "dcer"), (GROUND_TRUTH, "wer")]:
        r = corpus[key]
        assert r.status == "ok" and r.n == 3
        assert r.ci_low is not None and r.ci_high is not None and r.ci_low <= r.value <= r.ci_high
        assert r.stderr is not None
    assert corpus[None, "wer"].value == pytest.approx(2 / 9)
    assert corpus[GROUND_TRUTH, "dropped"].value == 0
