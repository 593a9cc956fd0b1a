"""Speaker benchmark: EER against a reference computation, Resemblyzer (real model), ECAPA (random init)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dasb.metrics.verification import equal_error_rate
from dasb.runner import Runner
from dasb.suites import Suite
from dasb.threads import JUDGE_THREADS, torch_threads


def test_eer_known_cases():
    same = np.array([True, True, False, False])
    assert equal_error_rate(np.array([0.9, 0.8, 0.2, 0.1]), same) == 0.0
    assert equal_error_rate(np.array([0.1, 0.2, 0.8, 0.9]), same) == 1.0
    with pytest.raises(ValueError):
        equal_error_rate(np.array([0.1, 0.2]), np.array([True, True]))


def test_eer_matches_roc_reference():
    metrics = pytest.importorskip("sklearn.metrics", reason="reference EER uses scikit-learn (dasb[learned])")
    rng = np.random.default_rng(0)
    same = rng.random(4000) < 0.3
    scores = rng.normal(size=4000) + 1.5 * same
    fpr, tpr, _ = metrics.roc_curve(same, scores)
    fnr = 1 - tpr
    i = np.nanargmin(np.abs(fnr - fpr))
    assert equal_error_rate(scores, same) == pytest.approx((fpr[i] + fnr[i]) / 2, abs=2e-3)


def _run(tmp_path, data: str, tokenizers: list[str], settings: dict) -> dict:
    Runner(Suite("t", data, tokenizers, {"speaker": settings}), tmp_path, progress=False).run()
    recs = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    return {(r["tokenizer"], r["metric"]): r for r in recs if r["utterance"] is None}


def _check(agg: dict) -> None:
    assert agg[("pcm16", "similarity")]["value"] >= 0.99
    assert agg[("pcm4", "similarity")]["value"] <= 0.9
    assert agg[("ground-truth", "similarity")]["value"] == pytest.approx(1.0)
    assert agg[("pcm16", "eer")]["value"] == pytest.approx(agg[("ground-truth", "eer")]["value"], abs=0.05)
    assert agg[("pcm4", "eer")]["status"] == "ok"


@pytest.fixture
def resemblyzer():
    return pytest.importorskip("resemblyzer", reason="needs resemblyzer: pip install 'dasb[speaker]'")


def test_resemblyzer_identity_vs_4bit_pcm_on_mini(tmp_path, resemblyzer):
    agg = _run(tmp_path, "mini", ["pcm16", "pcm4"], {"max_utterances": 8})
    _check(agg)
    assert agg[("pcm16", "eer")]["n"] == 28  # all pairs of 8 utterances
    assert agg[("ground-truth", "eer")]["value"] <= 0.1  # four distinct voices


def test_resemblyzer_identity_vs_4bit_pcm_on_real_speech(tmp_path, speech_dev, resemblyzer):
    _check(_run(tmp_path, str(speech_dev), ["pcm16", "pcm4"], {}))


def test_ecapa_random_init_embeds_and_compares():
    pytest.importorskip("speechbrain", reason="needs speechbrain: pip install 'dasb[speechbrain]'")
    from speechbrain.inference.speaker import EncoderClassifier
    from speechbrain.lobes.features import Fbank
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
    from speechbrain.processing.features import InputNormalization

    from dasb.judges.speaker import Ecapa

    torch.manual_seed(0)
    modules = {  # the architecture of speechbrain/spkrec-ecapa-voxceleb, random weights
        "compute_features": Fbank(n_mels=80),
        "mean_var_norm": InputNormalization(norm_type="sentence", std_norm=False),
        "embedding_model": ECAPA_TDNN(input_size=80, channels=[1024, 1024, 1024, 1024, 3072],
                                      kernel_sizes=[5, 3, 3, 3, 1], dilations=[1, 2, 3, 4, 1],
                                      attention_channels=128, lin_neurons=192),
    }
    enc = Ecapa(classifier=EncoderClassifier(modules=modules, hparams={}))
    threads: list[int] = []
    modules["embedding_model"].register_forward_hook(lambda mod, inp, out: threads.append(torch.get_num_threads()))
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(24000).astype(np.float32) * 0.1 for _ in range(2))
    with torch_threads(1):  # the judge's thread count is its own, whatever the process uses
        emb = enc.embed([a, a.copy(), b])
    assert threads == [JUDGE_THREADS] * 3 and enc.config()["threads"] == JUDGE_THREADS
    assert emb.shape == (3, 192)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0)
    assert emb[0] @ emb[1] == pytest.approx(1.0, abs=1e-6)
    assert emb[0] @ emb[2] < 1.0 - 1e-6


def test_ecapa_without_weights_says_what_to_provide(tmp_path, monkeypatch):
    pytest.importorskip("speechbrain", reason="needs speechbrain: pip install 'dasb[speechbrain]'")
    from dasb.judges.speaker import Ecapa

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="spkrec-ecapa-voxceleb"):
        Ecapa(savedir=str(tmp_path / "ecapa"))
