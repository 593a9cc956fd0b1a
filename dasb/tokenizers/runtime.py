"""What the framework does around every adapter: rates, channels, batches, chunks.

Adapters only ever see padded batches at their native rate and channel count;
callers only ever see one :class:`Tokens` per utterance and decoded audio at
the rate they ask for.
"""
from __future__ import annotations

import numpy as np
import torch

from dasb.audio import pad_batch, resample, to_channels
from dasb.tokenizers.base import AudioTokenizer, Tokens


def _chunk_frames(tok: AudioTokenizer) -> int | None:
    """Token frames per chunk when inputs must be chunked, else None."""
    info = tok.info
    if info.max_samples is None:
        return None
    spf = info.samples_per_frame
    if info.variable_rate or abs(spf - round(spf)) > 1e-6:
        raise ValueError(f"tokenizer {info.name!r}: chunking needs a whole number of samples per frame")
    return max(1, info.max_samples // int(round(spf)))


def _batches(order: list[int], batch_size: int) -> list[list[int]]:
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@torch.inference_mode()
def encode(
    tok: AudioTokenizer, waves: list[np.ndarray], sample_rates: list[int], batch_size: int = 8
) -> list[Tokens]:
    """Encode each ``[C, N]`` waveform (any rate, any channels) to one :class:`Tokens`.

    Audio is resampled to the native rate and mapped to the native channel
    count; items are batched by similar length; audio longer than
    ``info.max_samples`` is encoded in consecutive chunks whose tokens are
    concatenated.
    """
    info = tok.info
    native = [to_channels(resample(w, sr, info.sample_rate), info.channels) for w, sr in zip(waves, sample_rates)]
    frames = _chunk_frames(tok)
    pieces: list[tuple[int, np.ndarray]] = []  # (utterance index, chunk)
    for i, w in enumerate(native):
        if frames is None:
            pieces.append((i, w))
        else:
            step = frames * int(round(info.samples_per_frame))
            pieces.extend((i, w[:, s : s + step]) for s in range(0, w.shape[-1], step))
    order = sorted(range(len(pieces)), key=lambda j: pieces[j][1].shape[-1])
    encoded: dict[int, Tokens] = {}
    for batch in _batches(order, batch_size):
        audio, lengths = pad_batch([pieces[j][1] for j in batch])
        out = tok.encode(audio, lengths)
        for b, j in enumerate(batch):
            encoded[j] = out.item(b)
    result: list[Tokens] = []
    for i in range(len(waves)):
        parts = [encoded[j] for j in range(len(pieces)) if pieces[j][0] == i]
        result.append(parts[0] if len(parts) == 1 else _concat(parts))
    return result


def _concat(parts: list[Tokens]) -> Tokens:
    codes = torch.cat([p.codes for p in parts], dim=-1)
    mask = None if parts[0].mask is None else torch.cat([p.mask for p in parts], dim=-1)
    return Tokens(codes, torch.tensor([codes.shape[-1]]), mask, dict(parts[0].side))


def _pad_tokens(items: list[Tokens]) -> Tokens:
    k = items[0].codes.shape[1]
    t = max(int(x.lengths[0]) for x in items)
    codes = torch.zeros(len(items), k, t, dtype=torch.int64)
    mask = None if items[0].mask is None else torch.zeros(len(items), k, t, dtype=torch.bool)
    for b, x in enumerate(items):
        n = int(x.lengths[0])
        codes[b, :, :n] = x.codes[0, :, :n]
        if mask is not None:
            mask[b, :, :n] = x.mask[0, :, :n]
    side: dict = {}
    for key, val in items[0].side.items():
        side[key] = torch.cat([x.side[key] for x in items]) if torch.is_tensor(val) else [x.side[key] for x in items]
    lengths = torch.tensor([int(x.lengths[0]) for x in items], dtype=torch.int64)
    return Tokens(codes, lengths, mask, side)


@torch.inference_mode()
def decode(
    tok: AudioTokenizer, tokens: list[Tokens], out_rate: int, out_channels: int = 1, batch_size: int = 8
) -> list[np.ndarray]:
    """Decode per-utterance tokens to float32 ``[out_channels, N]`` at ``out_rate``."""
    info = tok.info
    if not info.decodes:
        raise NotImplementedError(f"tokenizer {info.name!r} is encode-only")
    frames = _chunk_frames(tok)
    pieces: list[tuple[int, Tokens]] = []
    for i, t in enumerate(tokens):
        n = int(t.lengths[0])
        step = n if frames is None else frames
        for s in range(0, max(n, 1), max(step, 1)):
            e = min(n, s + step)
            mask = None if t.mask is None else t.mask[:, :, s:e]
            pieces.append((i, Tokens(t.codes[:, :, s:e], torch.tensor([e - s]), mask, dict(t.side))))
    order = sorted(range(len(pieces)), key=lambda j: int(pieces[j][1].lengths[0]))
    decoded: dict[int, np.ndarray] = {}
    for batch in _batches(order, batch_size):
        audio, lengths = tok.decode(_pad_tokens([pieces[j][1] for j in batch]))
        for b, j in enumerate(batch):
            decoded[j] = audio[b, :, : int(lengths[b])].float().cpu().numpy()
    result = []
    for i in range(len(tokens)):
        wav = np.concatenate([decoded[j] for j in range(len(pieces)) if pieces[j][0] == i], axis=-1)
        result.append(to_channels(resample(wav, info.sample_rate, out_rate), out_channels))
    return result
