"""DNSMOS: equal to the speechmos reference packaging, sensible on known cases, and as a benchmark."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("speechmos", reason="DNSMOS needs the mos extra: pip install 'dasb[mos]'")

from dasb.audio import load_audio  # noqa: E402
from dasb.data.corpus import load_corpus  # noqa: E402
from dasb.judges.mos import DNSMOS  # noqa: E402


@pytest.fixture(scope="module")
def speech():
    wav, sr = load_audio(load_corpus("mini").utterances[0].audio)
    assert sr == 16000
    return wav[0]


@pytest.fixture(scope="module")
def model():
    return DNSMOS()


def test_equals_the_reference_packaging(model, speech):
    from speechmos import dnsmos

    ours, note = model.predict(speech)
    ref = dnsmos.run(speech, 16000)
    assert note is None
    for name, key in DNSMOS.outputs.items():
        assert ours[name] == pytest.approx(float(ref[key]), abs=1e-6)


@pytest.mark.parametrize("personalized", [False, True])
def test_shared_frames_equal_the_whole_network_window_by_window(speech, personalized):
    # speechmos's own scoring (tiling, a full network run per window) on sessions of the same thread count: 0.3 s is
    # tiled to one window, the utterance to 7 sharing their frames, 35 s gives 9 windows in two runs (Microsoft's
    # script skips windows 7-23 there, one sample short by float rounding).
    from speechmos import dnsmos

    from dasb.judges.mos import _session

    folder = Path(dnsmos.__file__).parent
    reference = dnsmos.DNSMOS.__new__(dnsmos.DNSMOS)
    variant = "pdnsmos_models" if personalized else "dnsmos_models"
    reference.onnx_sess = _session(str(folder / variant / "sig_bak_ovr.onnx"))
    reference.p808_onnx_sess = _session(str(folder / "dnsmos_models" / "model_v8.onnx"))
    ours = DNSMOS(personalized)
    noise = np.clip(0.1 * np.random.default_rng(0).standard_normal(35 * 16000), -1, 1).astype(np.float32)
    for wave in (speech, noise[:4800], noise):
        expected = reference(wave, 16000, personalized)
        scores, _ = ours.predict(wave)
        assert scores == {name: float(expected[key]) for name, key in DNSMOS.outputs.items()}


def test_windows_are_microsofts():
    from dasb.judges.dnsmos_windows import window_starts

    assert window_starts(144160) == [0]
    assert window_starts(144159) == []
    assert window_starts(2 * 35200 * 4) == [i * 16000 for i in range(7)]  # a 2.2 s clip tiled to 17.6 s
    assert window_starts(35 * 16000) == [i * 16000 for i in (0, 1, 2, 3, 4, 5, 6, 24, 25)]


def test_sessions_run_on_a_fixed_thread_count(model):
    # onnxruntime's default is the machine's cores; scores move by up to 2.3e-7 between 2 and 3 threads.
    from dasb.judges.mos import DNSMOS_THREADS

    p835 = model._p835
    for session in (p835._spectrogram, p835._front, p835._back, model._p808):
        assert session.get_session_options().intra_op_num_threads == DNSMOS_THREADS == 1


def test_clips_are_rated_two_at_a_time_with_the_values_of_one_by_one(model, speech, monkeypatch):
    import threading
    import time

    waves = [speech, speech[: speech.size // 2], np.clip(speech * 3, -1, 1)]
    one_by_one = [model.predict(wave) for wave in waves]
    lock, active, peak = threading.Lock(), [0], [0]
    real = model._p835.raw

    def spy(*args):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.2)  # holds the call open so that an overlap, if the code allows one, is seen
        try:
            return real(*args)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(model._p835, "raw", spy)
    rated = model.predict_all([*waves, np.zeros(16000, np.float32)])
    assert rated[:3] == one_by_one and peak[0] == 2
    assert isinstance(rated[3], ValueError) and "non-silent" in str(rated[3])  # an error for that clip only


def test_noise_lowers_the_predicted_quality(model, speech):
    clean, _ = model.predict(speech)
    noisy, _ = model.predict(np.clip(speech + 0.05 * np.random.default_rng(0).standard_normal(speech.size), -1, 1))
    # Measured on this flite utterance: OVRL 2.33 -> 1.92, BAK 3.74 -> 2.01, P.808 3.44 -> 2.30.
    assert clean["ovrl"] - noisy["ovrl"] > 0.3 and clean["bak"] - noisy["bak"] > 1.0 and clean["p808"] - noisy["p808"] > 0.5
    assert 2.0 < clean["ovrl"] < 4.5


def test_overshoot_is_clipped_and_said_silence_is_an_error(model, speech):
    loud = speech / np.abs(speech).max() * 1.5
    _, note = model.predict(loud)
    assert note is not None and "clipped to [-1, 1]" in note and "peak 1.500" in note
    with pytest.raises(ValueError, match="non-silent"):
        model.predict(np.zeros(16000, np.float32))


def test_benchmark_rows_and_ground_truth(tmp_path):
    from dasb.results import read_records
    from dasb.runner import Runner
    from dasb.suites import Suite

    suite = Suite("t", "mini", ["pcm16", "pcm4"], {"mos": {"max_utterances": 2}})
    Runner(suite, tmp_path / "run", progress=False, workers=1).run()
    agg = {(r.tokenizer, r.metric): r for r in read_records(tmp_path / "run") if r.utterance is None}
    # Identity PCM is the original audio: the same ratings as the ground-truth row.
    for m in ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808"):
        assert agg[("pcm16", m)].value == pytest.approx(agg[("ground-truth", m)].value, abs=1e-4)
        assert agg[("pcm16", m)].n == 2
    assert agg[("pcm4", "dnsmos_ovrl")].value < agg[("pcm16", "dnsmos_ovrl")].value - 0.3


def test_doctor_reports_a_missing_predictor_package(monkeypatch):
    import sys

    from dasb.doctor import check_benchmarks

    monkeypatch.setitem(sys.modules, "speechmos", None)  # as if the mos extra were not installed
    status = check_benchmarks()
    assert "dasb[mos]" in status["mos"] and status["reconstruction"] is None
