"""What the framework does around every adapter: rates, channels, batches, chunks.

Adapters only ever see padded batches at their native rate and channel count;
callers only ever see one :class:`Tokens` per utterance and decoded audio at
the rate they ask for.

- Batches hold items of similar length (sorted), at most ``batch_size`` items
  and at most ``max_batch_samples`` padded samples; a batch that runs out of
  memory is retried in halves, with a warning.
- Audio longer than ``info.max_samples`` is cut into windows that overlap by
  an eighth of a window on each side; only each window's central frames are
  kept, so no kept frame is computed at a window edge. Decoding does the same
  on token frames.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import numpy as np
import torch

from dasb.audio import conform, pad_batch
from dasb.tokenizers.base import AudioTokenizer, Tokens

T = TypeVar("T")
X = TypeVar("X")


@dataclass(frozen=True)
class Window:
    """Frames ``[start, stop)`` of an utterance, kept from a window starting at frame ``begin``."""

    item: int
    begin: int
    start: int
    stop: int
    end: int


def _windows(item: int, total_frames: int, tok: AudioTokenizer) -> list[Window]:
    """Overlapping windows covering ``total_frames`` token frames (one window if no limit)."""
    info = tok.info
    if info.max_samples is None:
        return [Window(item, 0, 0, total_frames, total_frames)]
    spf = info.samples_per_frame
    if info.variable_rate or abs(spf - round(spf)) > 1e-6:
        raise ValueError(f"tokenizer {info.name!r}: chunking needs a whole number of samples per frame")
    size = max(1, info.max_samples // int(round(spf)))
    context = size // 8
    core = size - 2 * context
    return [
        Window(item, max(0, s - context), s, min(s + core, total_frames), min(total_frames, s + core + context))
        for s in range(0, max(total_frames, 1), core)
    ]


def _batches(sizes: list[int], batch_size: int, max_batch_samples: int | None) -> list[list[int]]:
    """Indices grouped by ascending size, within the item count and padded-size budgets."""
    order = sorted(range(len(sizes)), key=lambda j: sizes[j])
    batches: list[list[int]] = []
    for j in order:
        last = batches[-1] if batches else None
        fits = last is not None and len(last) < batch_size and (
            max_batch_samples is None or (len(last) + 1) * sizes[j] <= max_batch_samples
        )
        if fits:
            last.append(j)
        else:
            batches.append([j])
    return batches


def _with_oom_fallback(fn: Callable[[list[X]], list[T]], items: list[X]) -> list[T]:
    """``fn(items)``; on out-of-memory, the same in two halves (recursively)."""
    try:
        return fn(items)
    except RuntimeError as err:  # torch.OutOfMemoryError is a RuntimeError
        if "out of memory" not in str(err).lower() or len(items) == 1:
            raise
        warnings.warn(f"out of memory on a batch of {len(items)}; retrying as two batches of {len(items) // 2}+")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = len(items) // 2
        return _with_oom_fallback(fn, items[:half]) + _with_oom_fallback(fn, items[half:])


@torch.inference_mode()
def encode(
    tok: AudioTokenizer,
    waves: list[np.ndarray],
    sample_rates: list[int],
    batch_size: int = 8,
    max_batch_samples: int | None = None,
) -> list[Tokens]:
    """Encode each ``[C, N]`` waveform (any rate, any channels) to one :class:`Tokens`."""
    info = tok.info
    native = [conform(w, sr, info.sample_rate, info.channels) for w, sr in zip(waves, sample_rates)]
    spf = info.samples_per_frame
    frames = [int(np.ceil(x.shape[-1] / spf)) for x in native]
    windows = [w for i, n in enumerate(frames) for w in _windows(i, n, tok)]
    clips = [
        native[w.item] if info.max_samples is None
        else native[w.item][:, int(round(w.begin * spf)) : int(round(w.end * spf))]
        for w in windows
    ]

    def run(batch: list[int]) -> list[Tokens]:
        audio, lengths = pad_batch([clips[j] for j in batch])
        out = tok.encode(audio, lengths)
        return [out.item(b) for b in range(len(batch))]

    encoded: dict[int, Tokens] = {}
    for batch in _batches([c.shape[-1] for c in clips], batch_size, max_batch_samples):
        encoded.update(zip(batch, _with_oom_fallback(run, batch)))
    result = []
    for i in range(len(waves)):
        parts = [(windows[j], encoded[j]) for j in range(len(windows)) if windows[j].item == i]
        result.append(parts[0][1] if info.max_samples is None else _stitch(parts))
    return result


def _slice(t: Tokens, a: int, b: int) -> Tokens:
    b = min(b, int(t.lengths[0]))
    mask = None if t.mask is None else t.mask[:, :, a:b]
    return Tokens(t.codes[:, :, a:b], torch.tensor([max(b - a, 0)]), mask, dict(t.side))


def _stitch(parts: list[tuple[Window, Tokens]]) -> Tokens:
    kept = [_slice(t, w.start - w.begin, w.stop - w.begin) for w, t in parts]
    codes = torch.cat([k.codes for k in kept], dim=-1)
    mask = None if kept[0].mask is None else torch.cat([k.mask for k in kept], dim=-1)
    return Tokens(codes, torch.tensor([codes.shape[-1]]), mask, dict(kept[0].side))


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
        side[key] = torch.cat([x.side[key] for x in items]) if torch.is_tensor(val) else [v for x in items for v in x.side[key]]
    lengths = torch.tensor([int(x.lengths[0]) for x in items], dtype=torch.int64)
    return Tokens(codes, lengths, mask, side)


@torch.inference_mode()
def decode(
    tok: AudioTokenizer,
    tokens: list[Tokens],
    out_rate: int,
    out_channels: int = 1,
    batch_size: int = 8,
    max_batch_samples: int | None = None,
    decode_values: list[dict[str, Any]] | None = None,
) -> list[np.ndarray]:
    """Decode per-utterance tokens to float32 ``[out_channels, N]`` at ``out_rate``.

    ``inputs`` holds, per utterance, the values of ``info.decode_inputs`` (see
    :mod:`dasb.decode_inputs`); they reach the decoder through ``Tokens.side``.
    """
    info = tok.info
    if not info.decodes:
        raise NotImplementedError(f"tokenizer {info.name!r} is encode-only")
    if info.decode_inputs:
        tokens = [with_decode_values(tok, t, None if decode_values is None else decode_values[i]) for i, t in enumerate(tokens)]
    spf = info.samples_per_frame
    windows = [w for i, t in enumerate(tokens) for w in _windows(i, int(t.lengths[0]), tok)]
    if info.decode_inputs and len(windows) > len(tokens):
        raise ValueError(f"tokenizer {info.name!r}: a decoder given {', '.join(info.decode_inputs)} cannot be run on "
                         f"windows of a long utterance (the decode values belong to the whole utterance)")
    pieces = [_slice(tokens[w.item], w.begin, w.end) for w in windows]

    def run(batch: list[int]) -> list[np.ndarray]:
        audio, lengths = tok.decode(_pad_tokens([pieces[j] for j in batch]))
        return [audio[b, :, : int(lengths[b])].float().cpu().numpy() for b in range(len(batch))]

    decoded: dict[int, np.ndarray] = {}
    sizes = [int(round(int(p.lengths[0]) * spf)) for p in pieces]
    for batch in _batches(sizes, batch_size, max_batch_samples):
        decoded.update(zip(batch, _with_oom_fallback(run, batch)))
    result = []
    for i in range(len(tokens)):
        parts = []
        for j, w in enumerate(windows):
            if w.item == i:
                a = int(round((w.start - w.begin) * spf))
                b = None if w.stop == w.end else int(round((w.stop - w.begin) * spf))
                parts.append(decoded[j][:, a:b])
        wav = np.concatenate(parts, axis=-1)
        result.append(conform(wav, info.sample_rate, out_rate, out_channels))
    return result


def with_decode_values(tok: AudioTokenizer, tokens: Tokens, values: dict[str, Any] | None) -> Tokens:
    """One utterance's ``tokens`` with the decoder inputs ``tok`` declares added to ``side``."""
    needs = tok.info.decode_inputs
    missing = [n for n in needs if values is None or n not in values]
    if missing:
        raise ValueError(f"tokenizer {tok.info.name!r} decodes with {', '.join(needs)}; missing: {', '.join(missing)}")
    side = {**tokens.side, **{n: [values[n]] for n in needs}}
    return Tokens(tokens.codes, tokens.lengths, tokens.mask, side)
