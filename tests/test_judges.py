"""Judge fitness controls (dither, 4 kHz low-pass), their flags on the leaderboard and in compare, and the
choice of the best judge available (Whisper / ECAPA when their weights are here, else the offline ones)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from _judges import save_ecapa_folder, save_whisper_checkpoint
from dasb.fitness import control_audio, floor, unfit_columns
from dasb.leaderboard import build, render
from dasb.leaderboard.compare import compare
from dasb.leaderboard.html import _unfit
from dasb.leaderboard.site import site_data
from dasb.leaderboard.merge import merge_runs
from dasb.metrics.text import normalize_text
from dasb.judges import asr as asr_models
from dasb.runner import Runner
from dasb.suites import Suite

SR = 16000


def test_controls_are_transparent_and_telephone_band():
    t = np.arange(SR) / SR
    wave = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 6000 * t)).astype(np.float32)
    dithered = control_audio("control:dither", wave, SR, "u1")
    steps = np.round((dithered - wave) * 32768)
    assert set(np.unique(steps)) == {-1.0, 0.0, 1.0}  # ±1 LSB at 16 bits
    assert np.array_equal(dithered, control_audio("control:dither", wave, SR, "u1"))  # seeded by the utterance
    low = control_audio("control:lowpass4k", wave, SR, "u1")
    spectrum = np.abs(np.fft.rfft(low))
    assert low.shape == wave.shape
    assert spectrum[6000] < 1e-3 * spectrum[440]  # the upper band is gone, the lower one kept
    assert spectrum[440] == pytest.approx(np.abs(np.fft.rfft(wave))[440], rel=0.01)


class UpperBandJudge:
    """A recogniser that hears speech only when energy above 4 kHz is present (PocketSphinx's failure, made
    extreme): it answers a fixed sentence, or nothing. ``fit=True`` makes it ignore the band (a fit judge)."""

    def __init__(self, fit: bool = False) -> None:
        self.fit = fit

    def config(self) -> dict:
        return {"backend": "upperband", "fit": self.fit}

    def normalize(self, text: str) -> str:
        return normalize_text(text)

    def transcribe(self, waves: list[np.ndarray]) -> list[str]:
        out = []
        for w in waves:
            power = np.abs(np.fft.rfft(w)) ** 2
            upper = power[len(power) // 2 :].sum() / max(power.sum(), 1e-12)  # above 4 kHz at 16 kHz
            out.append("the birch canoe slid on the smooth planks" if self.fit or upper > 1e-4 else "")
        return out


def _run(tmp_path, benchmarks: dict, tokenizers=("pcm16", "mulaw8-8k")) -> list:
    Runner(Suite("t", "mini", list(tokenizers), benchmarks), tmp_path, progress=False).run()
    return merge_runs([tmp_path]).records


@pytest.mark.parametrize("fit", [False, True])
def test_a_judge_that_ignores_the_upper_band_is_flagged(tmp_path, monkeypatch, fit):
    monkeypatch.setitem(asr_models.BACKENDS, "upperband", UpperBandJudge)
    records = _run(tmp_path, {"asr": {"backend": "upperband", "options": {"fit": fit}, "max_utterances": 3}})
    agg = {(r.tokenizer, r.metric): r for r in records if r.utterance is None}
    assert agg[("control:dither", "dwer")].value == 0.0
    assert agg[("control:lowpass4k", "dwer")].value == (0.0 if fit else 1.0)
    unfit = unfit_columns(records)
    merged = merge_runs([tmp_path])
    text = render(build(merged.records, merged.meta), "md", merged.specs, unfit)
    if fit:
        assert unfit == {} and "⚠" not in text
    else:
        why = "judge upperband unfit: dwer blind spot (control:lowpass4k) 1, limit 0.1"
        assert unfit == {"asr/dwer": why}
        assert "asr/dwer ↓ ⚠" in text and f"⚠ asr/dwer: {why}" in text
        assert "control:lowpass4k" in text and "judge control" in text
        data = site_data(merged)
        assert data.unfit == unfit and why in _unfit(data, [("asr", "dwer")])  # the HTML pages' warning


def test_compare_does_not_call_a_difference_below_the_floor_significant(tmp_path, monkeypatch):
    pytest.importorskip("pocketsphinx", reason="needs pocketsphinx: pip install 'dasb[asr]'")
    records = _run(tmp_path, {"asr": {"backend": "pocketsphinx", "max_utterances": 4}}, ("pcm16", "pcm4"))
    found = floor(records, "asr", "dwer")
    assert found is not None and found >= 0
    c = compare(records, "pcm4", "pcm16", "asr", "dwer")
    corpus = {r.tokenizer: r.value for r in records if r.metric == "dwer" and r.utterance is None and r.status == "ok"}
    # the comparison's values are the corpus rates the leaderboard shows
    assert (c.mean_a, c.mean_b) == (pytest.approx(corpus["pcm4"]), pytest.approx(corpus["pcm16"]))
    assert c.floor == found
    assert c.below_floor == (abs(c.diff) < found)
    if c.below_floor:
        assert not c.significant and "judge's floor" in c.summary()


def _no_judge_weights(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("DASB_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("DASB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DASB_WHISPER_DIR", str(tmp_path / "whisper"))


def test_without_whisper_weights_the_run_says_which_judge_and_why(tmp_path, monkeypatch, capsys):
    pytest.importorskip("pocketsphinx", reason="needs pocketsphinx: pip install 'dasb[asr]'")
    pytest.importorskip("whisper", reason="needs openai-whisper: pip install 'dasb[whisper]'")
    _no_judge_weights(tmp_path, monkeypatch)
    records = _run(tmp_path / "run", {"asr": {"max_utterances": 2}}, ("pcm16",))
    why = "asr: judge pocketsphinx (whisper-base weights not found in "
    assert why in capsys.readouterr().err
    agg = [r for r in records if r.utterance is None and r.metric == "dwer" and r.tokenizer == "pcm16"]
    assert why in agg[0].message and "`dasb weights fetch whisper-base`" in agg[0].message


def test_whisper_weights_where_a_user_puts_them_become_the_judge(tmp_path, monkeypatch):
    pytest.importorskip("pocketsphinx", reason="needs pocketsphinx: pip install 'dasb[asr]'")
    from dasb.benchmarks.asr import ASR
    from dasb.weights.base import file_sha256

    _no_judge_weights(tmp_path, monkeypatch)
    before = ASR(max_utterances=1).config()
    checkpoint = save_whisper_checkpoint(tmp_path / "weights" / "whisper" / "base.pt")
    bench = ASR(max_utterances=1, options={"sample_len": 3})
    after = bench.config()
    assert before["backend"] == "pocketsphinx" and after["backend"] == "whisper"
    assert after["judge"]["weights"] == f"sha256:{file_sha256(checkpoint)}"
    assert str(tmp_path) not in json.dumps(after)  # where the file is does not change keys; its content does
    records = _run(tmp_path / "run", {"asr": {"max_utterances": 1, "options": {"sample_len": 3}}}, ("pcm16",))
    agg = [r for r in records if r.utterance is None and r.metric == "wer" and r.tokenizer == "pcm16"]
    assert agg[0].status == "ok" and f"asr: judge whisper base (weights {checkpoint}" in agg[0].message


def test_ecapa_weights_where_a_user_puts_them_become_the_judge(tmp_path, monkeypatch):
    pytest.importorskip("resemblyzer", reason="needs resemblyzer: pip install 'dasb[speaker]'")
    from dasb.benchmarks.speaker import Speaker

    _no_judge_weights(tmp_path, monkeypatch)
    before = Speaker().config()
    assert before["encoder"] == "resemblyzer"
    save_ecapa_folder(tmp_path / "weights" / "speechbrain" / "spkrec-ecapa-voxceleb")
    after = Speaker().config()
    assert after["encoder"] == "ecapa" and after["judge"]["weights"].startswith("sha256:")
    records = _run(tmp_path / "run", {"speaker": {"max_utterances": 4}}, ("pcm16",))
    agg = {(r.tokenizer, r.metric): r for r in records if r.utterance is None}
    assert agg[("pcm16", "similarity")].value == pytest.approx(1.0)
    assert "speaker: judge ecapa (weights " in agg[("pcm16", "similarity")].message
    assert agg[("control:lowpass4k", "similarity")].status == "ok"


def test_judges_appear_in_weights_list(tmp_path, monkeypatch):
    from dasb.weights.command import entries, list_rows

    _no_judge_weights(tmp_path, monkeypatch)
    rows = "\n".join(list_rows(entries(["whisper-base", "ecapa"])))
    assert "whisper-base" in rows and "speechbrain/spkrec-ecapa-voxceleb" in rows and "missing" in rows
    save_whisper_checkpoint(tmp_path / "whisper" / "base.pt")
    assert "present" in list_rows(entries(["whisper-base"]))[1]


def test_whisper_pins_agree_with_openai_whisper():
    whisper = pytest.importorskip("whisper", reason="needs openai-whisper: pip install 'dasb[whisper]'")
    from dasb.weights.judges import WHISPER_SHA256, WhisperCheckpoint

    assert all(WhisperCheckpoint.of(m).url == whisper._MODELS[m] for m in WHISPER_SHA256)
