"""What the framework does around adapters: chunking, rates, encode-only, acceptance ranking."""
import dataclasses

import numpy as np
import pytest
import torch

from dasb.leaderboard import build, load_runs, render
from dasb.results import read_records
from dasb.runner import Runner
from dasb.suites import Suite
from dasb.testing import check_tokenizer, speech_like_signal
from dasb.tokenizers import runtime
from dasb.tokenizers.base import Tokens
from dasb.tokenizers.pcm import PCMTokenizer


class ChunkedPCM(PCMTokenizer):
    """8-bit PCM that refuses inputs longer than 1000 samples, like a model with a context limit."""

    def __init__(self, name="chunked"):
        super().__init__(name, 16000, 8)
        self.info = dataclasses.replace(self.info, max_samples=1000)

    def encode(self, audio, lengths):
        assert audio.shape[-1] <= 1000, "framework must chunk long inputs"
        return super().encode(audio, lengths)

    def decode(self, tokens):
        assert tokens.codes.shape[-1] <= 1000, "framework must chunk long token sequences"
        return super().decode(tokens)


class EncodeOnly(PCMTokenizer):
    def __init__(self, name="enc-only"):
        super().__init__(name, 16000, 8)
        self.info = dataclasses.replace(self.info, decodes=False, kind="semantic")

    def decode(self, tokens):
        raise AssertionError("never called")


def test_long_audio_is_chunked_and_stitched_exactly():
    x = speech_like_signal(0.23, 16000)
    plain, chunked = PCMTokenizer("p", 16000, 8), ChunkedPCM()
    a = runtime.encode(plain, [x], [16000])[0]
    b = runtime.encode(chunked, [x], [16000])[0]
    assert torch.equal(a.codes, b.codes)
    y = runtime.decode(chunked, [b], 16000)[0]
    assert y.shape == x.shape
    check_tokenizer(chunked, durations=(0.2, 0.07))


def test_resampling_round_trip_keeps_length_and_content():
    x = speech_like_signal(0.5, 22050)
    tok = PCMTokenizer("p16", 16000, 16)
    tokens = runtime.encode(tok, [x], [22050])
    assert int(tokens[0].lengths[0]) == round(0.5 * 16000)
    y = runtime.decode(tok, tokens, 22050)[0]
    assert y.shape == x.shape
    # Band-limited content below 8 kHz survives 22.05 -> 16 -> 22.05 kHz nearly unchanged.
    assert np.corrcoef(x[0, 500:-500], y[0, 500:-500])[0, 1] > 0.99


def test_encode_only_tokenizer_is_skipped_with_reason(tmp_path, monkeypatch):
    from dasb.registry import ADAPTERS

    monkeypatch.setitem(ADAPTERS._targets, "enc-only", "tests.test_framework:EncodeOnly")
    monkeypatch.setitem(ADAPTERS._sources, "enc-only", "test")
    monkeypatch.setitem(ADAPTERS._loaded, "enc-only", EncodeOnly)
    suite = Suite("t", "mini", ["enc-only"], {"reconstruction": {"max_utterances": 1}})
    summary = Runner(suite, tmp_path, progress=False).run()
    recs = read_records(tmp_path)
    assert recs and all(r.status == "skipped" and "encode-only" in r.message for r in recs)
    assert summary.exit_code == 0


def test_default_references_rank_as_expected(tmp_path):
    names = ["pcm16", "pcm12", "pcm8", "pcm6", "pcm4", "mulaw8-16k"]
    suite = Suite("t", "mini", names, {"reconstruction": {"max_utterances": 6}})
    assert Runner(suite, tmp_path, progress=False).run().exit_code == 0
    records, meta = load_runs([tmp_path])
    table = build(records, meta).set_index("tokenizer")
    assert table.loc["pcm16", "reconstruction/pesq_wb ↑"] >= 4.5
    assert table.loc["pcm16", "reconstruction/stoi ↑"] >= 0.99
    for col in ("reconstruction/pesq_wb ↑", "reconstruction/stoi ↑", "reconstruction/si_sdr ↑"):
        assert table.loc["mulaw8-16k", col] < table.loc["pcm16", col]
        depths = [table.loc[n, col] for n in ("pcm16", "pcm12", "pcm8", "pcm6", "pcm4")]
        assert depths == sorted(depths, reverse=True), col
    depths = [table.loc[n, "reconstruction/mel_distance ↓"] for n in ("pcm16", "pcm12", "pcm8", "pcm6", "pcm4")]
    assert depths == sorted(depths)
    md = render(build(records, meta), "md")
    assert "| pcm16" in md and "pesq_wb ↑" in md
    assert render(build(records, meta), "csv").startswith("tokenizer,")
