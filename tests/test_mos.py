"""DNSMOS: equal to the speechmos reference packaging, sensible on known cases, and as a benchmark."""
from __future__ import annotations

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


def test_sessions_run_on_the_fixed_judge_thread_count(model):
    # onnxruntime's default is the machine's cores, and the scores move by up to 2.3e-7 between 2 and 3 threads.
    from dasb.threads import JUDGE_THREADS

    for session in (model._model.onnx_sess, model._model.p808_onnx_sess):
        assert session.get_session_options().intra_op_num_threads == JUDGE_THREADS


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
