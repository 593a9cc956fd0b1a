"""What the framework does around adapters: chunking, rates, encode-only, acceptance ranking."""
import dataclasses

import numpy as np
import pytest
import torch

from dasb.leaderboard import build, load_runs, record_specs, render
from dasb.results import read_records
from dasb.runner import Runner
from dasb.suites import Suite
from dasb.testing import check_tokenizer, speech_like_signal
from dasb.tokenizers import runtime
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
    assert table.loc["pcm16", "reconstruction/pesq_wb"] >= 4.5
    assert table.loc["pcm16", "reconstruction/stoi"] >= 0.99
    for col in ("reconstruction/pesq_wb", "reconstruction/stoi", "reconstruction/si_sdr"):
        assert table.loc["mulaw8-16k", col] < table.loc["pcm16", col]
        depths = [table.loc[n, col] for n in ("pcm16", "pcm12", "pcm8", "pcm6", "pcm4")]
        assert depths == sorted(depths, reverse=True), col
    depths = [table.loc[n, "reconstruction/mel_distance"] for n in ("pcm16", "pcm12", "pcm8", "pcm6", "pcm4")]
    assert depths == sorted(depths)
    specs = record_specs(records)
    md = render(build(records, meta), "md", specs)
    assert "| pcm16" in md and "reconstruction/pesq_wb ↑" in md and "## reconstruction" in md
    assert render(build(records, meta), "csv", specs).startswith("tokenizer,")


class SmoothingPCM(ChunkedPCM):
    """Codes depend on neighbouring samples (a 5-tap average), like any convolutional encoder."""

    def encode(self, audio, lengths):
        assert self.info.max_samples is None or audio.shape[-1] <= self.info.max_samples
        kernel = torch.ones(1, 1, 5) / 5
        smooth = torch.nn.functional.conv1d(audio.mean(1, keepdim=True), kernel, padding=2)
        return PCMTokenizer.encode(self, smooth, lengths)


def test_overlapping_windows_hide_chunk_edges():
    x = speech_like_signal(0.3, 16000)
    whole = SmoothingPCM()
    whole.info = dataclasses.replace(whole.info, max_samples=None)
    chunked = SmoothingPCM()
    a = runtime.encode(whole, [x], [16000])[0]
    b = runtime.encode(chunked, [x], [16000])[0]
    assert a.codes.shape == b.codes.shape and torch.equal(a.codes, b.codes)


class OOMPCM(PCMTokenizer):
    def encode(self, audio, lengths):
        if audio.shape[0] > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return super().encode(audio, lengths)


def test_out_of_memory_batches_are_split_with_a_warning():
    waves = [speech_like_signal(0.05 * (i + 1), 16000, seed=i) for i in range(5)]
    plain = runtime.encode(PCMTokenizer("p", 16000, 8), waves, [16000] * 5, batch_size=8)
    with pytest.warns(UserWarning, match="out of memory"):
        split = runtime.encode(OOMPCM("o", 16000, 8), waves, [16000] * 5, batch_size=8)
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(plain, split))


def test_batches_respect_count_and_sample_budgets():
    sizes = [100, 900, 300, 200, 800]
    assert runtime._batches(sizes, 2, None) == [[0, 3], [2, 4], [1]]
    assert runtime._batches(sizes, 8, 1000) == [[0, 3, 2], [4], [1]]


@pytest.mark.parametrize("rates", [(16000, 8000), (16000, 24000), (44100, 16000)])
def test_blockwise_resampling_of_long_signals_matches_whole(monkeypatch, rates):
    import dasb.audio as audio

    x = np.random.default_rng(0).standard_normal((1, 50_000)).astype(np.float32)
    whole = audio._resample_whole(x, *rates)
    monkeypatch.setattr(audio, "BLOCK_SAMPLES", 4096)
    blocks = audio.resample(x, *rates)
    assert blocks.shape == whole.shape
    assert np.abs(blocks - whole).max() < 1e-5
