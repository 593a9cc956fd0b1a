"""Lyra v2 with its real weights (../shared/models/lyra-v2): conformance, residual levels, quality on real speech."""
from __future__ import annotations

import json
import shutil
import time

import pytest
import torch

pytest.importorskip("ai_edge_litert", reason="Lyra needs ai-edge-litert: pip install 'dasb[lyra]'")

from dasb.audio import pad_batch  # noqa: E402
from dasb.testing import check_tokenizer, speech_like_signal  # noqa: E402
from dasb.tokenizers.cards import get_card  # noqa: E402
from dasb.weights import LYRA_V2, WeightsCorrupt, WeightsUnavailable  # noqa: E402

CARDS = {"lyra-v2-3.2k": 16, "lyra-v2-6k": 30, "lyra-v2-9.2k": 46}
# ../shared/models/README.md: PESQ-WB measured frame by frame on speech_dev by the person who prepared the weights.
README_PESQ_WB = {"lyra-v2-3.2k": 2.57, "lyra-v2-6k": 3.15, "lyra-v2-9.2k": 3.37}


@pytest.fixture
def lyra_weights(shared_weights):
    if LYRA_V2.find() is None:
        pytest.skip(f"no lyra-v2/ in {shared_weights} (developer machines only)")
    return shared_weights / "lyra-v2"


@pytest.mark.parametrize("name", sorted(CARDS))
def test_conformance_on_real_weights(name, lyra_weights):
    tok = get_card(name).build()
    assert tok.info.num_codebooks == CARDS[name] and tok.info.nominal_bitrate == CARDS[name] * 4 * 50
    check_tokenizer(tok)


def test_levels_are_residual(lyra_weights):
    """The first 16 codes of 9.2 kbps are the 3.2 kbps codes, and decoding them equals decoding 3.2 kbps."""
    audio, lengths = pad_batch([speech_like_signal(0.8, 16000, seed=3)])
    low, high = get_card("lyra-v2-3.2k").build(), get_card("lyra-v2-9.2k").build()
    t_low, t_high = low.encode(audio, lengths), high.encode(audio, lengths)
    assert torch.equal(t_high.codes[:, :16], t_low.codes)
    assert int(t_high.codes.min()) >= 0 and int(t_high.codes.max()) <= 15
    truncated = type(t_high)(t_high.codes[:, :16].clone(), t_high.lengths)
    assert torch.equal(high.decode(truncated)[0], low.decode(t_low)[0])
    assert not torch.equal(high.decode(t_high)[0], low.decode(t_low)[0])


def test_flipped_byte_is_caught(lyra_weights, tmp_path, monkeypatch):
    copy = tmp_path / "lyra-v2"
    shutil.copytree(lyra_weights, copy)
    target = copy / "quantizer.tflite"
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    monkeypatch.setenv("DASB_WEIGHTS", str(tmp_path))
    assert any("quantizer.tflite" in p and "sha256" in p for p in LYRA_V2.verify(copy))
    with pytest.raises(WeightsCorrupt, match="quantizer.tflite"):
        get_card("lyra-v2-6k").build()


def test_absent_weights_fail_fast_naming_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("DASB_WEIGHTS", str(tmp_path / "empty"))
    monkeypatch.setenv("DASB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DASB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailable) as err:
        get_card("lyra-v2-6k").build()
    assert time.perf_counter() - start < 5
    assert "dasb weights fetch lyra-v2" in str(err.value) and str(tmp_path / "empty" / "lyra-v2") in str(err.value)


@pytest.mark.slow
def test_quality_on_real_speech_matches_the_reference_figures(lyra_weights, speech_dev, tmp_path):
    """Through the runner on all of speech_dev: PESQ-WB within 0.1 of the README figures, PESQ and STOI rising
    with bitrate, measured bitrate equal to the nominal one."""
    from dasb.runner import Runner
    from dasb.suites import Suite

    suite = Suite("lyra", str(speech_dev), sorted(CARDS), {"reconstruction": {"metrics": ["pesq_wb", "stoi"]},
                                                          "tokens": {"per_codebook": False}})
    summary = Runner(suite, tmp_path / "run", progress=False).run()
    assert not summary.errors, summary.errors[:3]
    agg = {(r.tokenizer, r.metric): r.value for r in Runner(suite, tmp_path / "run", progress=False).store.records()
           if r.utterance is None}
    order = sorted(CARDS, key=CARDS.get)
    for name in order:
        assert abs(agg[(name, "pesq_wb")] - README_PESQ_WB[name]) <= 0.1, (name, agg[(name, "pesq_wb")])
        # The last partial frame of each utterance is coded too (zero-padded): at most one frame per utterance over.
        assert agg[(name, "bitrate_bps")] == pytest.approx(CARDS[name] * 200.0, rel=0.01), name
    for lo, hi in zip(order, order[1:]):
        assert agg[(hi, "pesq_wb")] > agg[(lo, "pesq_wb")] and agg[(hi, "stoi")] > agg[(lo, "stoi")]
    print(json.dumps({n: {m: agg[(n, m)] for m in ("pesq_wb", "stoi", "bitrate_bps")} for n in order}))
