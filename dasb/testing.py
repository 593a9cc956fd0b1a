"""Conformance kit: checks any adapter, ours or a plugin's, must pass.

Use it in a test::

    from dasb.testing import check_tokenizer
    def test_my_codec():
        check_tokenizer(MyCodec(name="mycodec"))

It raises :class:`ConformanceError` naming the first violated property and
returns a small report (shapes, frame counts) when everything holds.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dasb.audio import pad_batch
from dasb.tokenizers import runtime
from dasb.tokenizers.base import AudioTokenizer, Tokens


class ConformanceError(AssertionError):
    """An adapter violates the tokenizer interface contract."""


def _check(cond: bool, name: str, message: str) -> None:
    if not cond:
        raise ConformanceError(f"tokenizer {name!r}: {message}")


def speech_like_signal(seconds: float, sample_rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A speech-like test signal ``[channels, N]``: gliding harmonics, syllable envelope, a little noise."""
    rng = np.random.default_rng(seed)
    n = max(1, int(round(seconds * sample_rate)))
    t = np.arange(n) / sample_rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t) ** 2
    x = 0.2 * envelope * voiced + 0.01 * rng.standard_normal(n)
    return np.repeat(x[None].astype(np.float32), channels, axis=0)


def randomise_codebooks(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random entries for every Euclidean codebook of ``model``, in place.

    Random initialisation leaves the codebooks of EnCodec, Mimi, X-Codec and
    S3 v1 at zero, which would make every code 0; tests and compute benchmarks
    on random-init models of the real architectures call this first.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if type(m).__name__.endswith("EuclideanCodebook"):
                if hasattr(m, "embed_sum"):  # Mimi: embed = embed_sum / usage, cached
                    m.embed_sum.copy_(torch.randn(m.embed_sum.shape, generator=g))
                    m._embed = None
                else:
                    m.embed.copy_(torch.randn(m.embed.shape, generator=g))
    return model


def stand_in_decode_values(needs: tuple[str, ...], sample_rate: int) -> dict[str, Any]:
    """Decoder inputs for checks: a fixed sentence and a speech-like prompt ``[1, N]`` of another "voice"."""
    values: dict[str, Any] = {}
    if "transcript" in needs:
        values["transcript"] = "a short test sentence"
    if "speaker_prompt" in needs:
        values["speaker_prompt"] = speech_like_signal(1.0, sample_rate, seed=11)
    return values


def _valid_codes(tokens: Tokens, i: int) -> torch.Tensor:
    n = int(tokens.lengths[i])
    codes = tokens.codes[i, :, :n]
    if tokens.mask is not None:
        return codes[tokens.mask[i, :, :n]]
    return codes


def check_tokenizer(
    tok: AudioTokenizer, durations: tuple[float, ...] = (0.6, 1.1, 0.35), check_batch: bool = True
) -> dict:
    """Check shapes, dtypes, code ranges, frame counts, determinism, batching and decoding.

    ``durations`` are the test clips in seconds (use clips longer than the
    model's receptive field). Returns a report of what was measured.
    """
    info = tok.info
    name = info.name
    _check(info.sample_rate > 0 and info.frame_rate > 0, name, "sample_rate and frame_rate must be positive")
    _check(all(s >= 2 for s in info.codebook_sizes), name, f"codebook sizes must be >= 2, got {info.codebook_sizes}")
    sr = info.sample_rate
    if info.max_samples is not None:  # direct calls must respect the model's limit; runtime chunks the rest
        durations = tuple(min(d, info.max_samples / sr) for d in durations)
    waves = [speech_like_signal(d, sr, info.channels, seed=i) for i, d in enumerate(durations)]
    audio, lengths = pad_batch(waves)

    with torch.inference_mode():
        tokens = tok.encode(audio, lengths)
        again = tok.encode(audio, lengths)
    b, k, t = tokens.codes.shape
    _check(tokens.codes.dtype == torch.int64, name, f"codes must be int64, got {tokens.codes.dtype}")
    _check((b, k) == (len(waves), info.num_codebooks), name, f"codes shape {(b, k, t)} != (B={len(waves)}, K={info.num_codebooks}, T)")
    _check(bool((tokens.lengths <= t).all() and (tokens.lengths >= 1).all()), name, f"lengths {tokens.lengths.tolist()} outside 1..T={t}")
    for i in range(b):
        valid = _valid_codes(tokens, i)
        for cb, size in enumerate(info.codebook_sizes):
            row = tokens.codes[i, cb, : int(tokens.lengths[i])]
            if tokens.mask is not None:
                row = row[tokens.mask[i, cb, : int(tokens.lengths[i])]]
            _check(bool(((row >= 0) & (row < size)).all()), name, f"item {i} codebook {cb}: codes outside [0, {size})")
        _check(valid.numel() > 0, name, f"item {i} has no valid codes")
    expected = [w.shape[-1] * info.frame_rate / sr for w in waves]
    if not info.variable_rate:
        for i, exp in enumerate(expected):
            got = int(tokens.lengths[i])
            _check(abs(got - exp) <= 1.0 + 1e-6, name, f"item {i}: {got} frames for {waves[i].shape[-1]} samples, expected {exp:.2f} at {info.frame_rate} Hz")
    _check(torch.equal(tokens.codes, again.codes) and torch.equal(tokens.lengths, again.lengths), name, "encoding is not deterministic")

    if check_batch:
        for i, w in enumerate(waves):
            one_audio, one_len = pad_batch([w])
            with torch.inference_mode():
                single = tok.encode(one_audio, one_len)
            n = int(tokens.lengths[i])
            _check(int(single.lengths[0]) == n, name, f"item {i}: {int(single.lengths[0])} frames alone vs {n} in a batch")
            _check(torch.equal(single.codes[0, :, :n], tokens.codes[i, :, :n]), name, f"item {i}: codes differ between batched and one-by-one encoding")

    report = {"frames": tokens.lengths.tolist(), "expected_frames": expected, "decoded_samples": None}
    values = stand_in_decode_values(info.decode_inputs, sr)
    if info.decodes:
        side = {**tokens.side, **{n: [values[n]] * b for n in info.decode_inputs}}
        with torch.inference_mode():
            out, out_len = tok.decode(Tokens(tokens.codes, tokens.lengths, tokens.mask, side))
        _check(out.dim() == 3 and out.shape[0] == b, name, f"decoded audio must be [B, C, N], got {tuple(out.shape)}")
        _check(out.shape[1] == info.channels, name, f"decoded {out.shape[1]} channels, info says {info.channels}")
        _check(bool(torch.isfinite(out).all()), name, "decoded audio has NaN or infinite samples")
        spf = info.samples_per_frame
        for i, w in enumerate(waves):
            got = int(out_len[i])
            _check(abs(got - w.shape[-1]) <= spf + 1, name, f"item {i}: decoded {got} samples for {w.shape[-1]} input samples (more than one frame = {spf:.1f} samples apart)")
        report["decoded_samples"] = out_len.tolist()
        if info.residual and k > 1:  # residual levels: the first codebook alone must decode too
            first = Tokens(tokens.codes[:, :1], tokens.lengths, None if tokens.mask is None else tokens.mask[:, :1], side)
            with torch.inference_mode():
                coarse, coarse_len = tok.decode(first)
            _check(torch.equal(coarse_len, out_len) and bool(torch.isfinite(coarse).all()), name,
                   f"residual=True, but decoding the first codebook alone gave lengths {coarse_len.tolist()} "
                   f"(all codebooks: {out_len.tolist()})")

    # The framework path: another rate and stereo in, the caller's rate out.
    other_sr = 22050 if sr != 22050 else 16000
    stereo = np.concatenate([speech_like_signal(0.5, other_sr, 1, seed=7)] * 2)
    through = runtime.encode(tok, [stereo], [other_sr])
    _check(through[0].codes.shape[1] == info.num_codebooks, name, "runtime.encode returned the wrong codebook count")
    if info.decodes:
        back = runtime.decode(tok, through, other_sr, decode_values=[values])[0]
        _check(back.shape[0] == 1 and abs(back.shape[-1] - stereo.shape[-1]) <= other_sr / info.frame_rate + 2, name,
               f"runtime.decode returned shape {back.shape} for a {stereo.shape[-1]}-sample input")
    return report
