"""Audio I/O and the sample-rate rules, in one place.

Every resampling in dasb goes through :func:`resample`; every file read goes
through :func:`load_audio`. Waveforms are float32 numpy arrays ``[C, N]`` in
[-1, 1] unless a function says otherwise.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
from scipy.signal import resample_poly


class AudioError(ValueError):
    """An audio file or array that cannot be used; the message names the file."""


def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read ``path`` as float32 ``[C, N]`` and its sample rate.

    Raises :class:`AudioError` naming the file when it is missing, is not a
    regular file (a FIFO, a device), cannot be decoded, is empty, or holds
    non-finite samples.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if not path.is_file():  # a FIFO or device would block or never end
        raise AudioError(f"{path}: not a regular file")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises several types for unreadable files
        raise AudioError(f"{path}: cannot decode audio ({type(err).__name__}: {err})") from err
    wav = np.ascontiguousarray(data.T)
    check_waveform(wav, str(path))
    return wav, int(sr)


def check_waveform(wav: np.ndarray, name: str) -> None:
    """Raise :class:`AudioError` if ``wav`` is empty or has NaN/inf samples."""
    if wav.shape[-1] == 0:
        raise AudioError(f"{name}: audio is empty (0 samples)")
    bad = int(np.count_nonzero(~np.isfinite(wav)))
    if bad:
        raise AudioError(f"{name}: {bad} samples are NaN or infinite")


def to_channels(wav: np.ndarray, channels: int) -> np.ndarray:
    """Down-mix ``[C, N]`` to mono by averaging, or repeat mono to ``channels``."""
    if wav.shape[0] == channels:
        return wav
    if channels == 1:
        return wav.mean(axis=0, keepdims=True)
    if wav.shape[0] == 1:
        return np.repeat(wav, channels, axis=0)
    raise AudioError(f"cannot map {wav.shape[0]} channels to {channels}")


def conform(wav: np.ndarray, sr: int, rate: int, channels: int) -> np.ndarray:
    """``wav`` ``[C, N]`` at ``sr`` brought to ``rate`` and ``channels``: resampled, then mixed.

    The one path audio takes between a tokenizer's native format and the
    reference's: inputs to an encoder, and decoded audio on its way to the
    metrics (built-in decoders and external systems' files alike).
    """
    return to_channels(resample(wav, sr, rate), channels)


LOWPASS_WIDTH = 64
ROLLOFF = 0.9475937167399596
KAISER_BETA = 14.769656459379492
BLOCK_SAMPLES = 1 << 20  # longer signals are resampled block by block to bound memory


def _resample_whole(wav: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    out = AF.resample(
        torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)),
        orig_sr,
        target_sr,
        lowpass_filter_width=LOWPASS_WIDTH,
        rolloff=ROLLOFF,
        resampling_method="sinc_interp_kaiser",
        beta=KAISER_BETA,
    )
    return out.numpy()


def resample(wav: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling along the last axis (torchaudio's windowed sinc).

    The filter (Kaiser window, 64 zero crossings, roll-off 0.9476) is fixed here
    so every comparison in dasb uses the same one. Signals longer than
    ``BLOCK_SAMPLES`` are processed in blocks with enough context on each side
    for the filter, which gives the same output with bounded memory.
    """
    if orig_sr == target_sr:
        return wav
    n_in = wav.shape[-1]
    if n_in <= 2 * BLOCK_SAMPLES:
        return _resample_whole(wav, orig_sr, target_sr)
    g = math.gcd(orig_sr, target_sr)
    o, n = orig_sr // g, target_sr // g
    half_width = math.ceil(LOWPASS_WIDTH * o / (min(o, n) * ROLLOFF))  # filter reach, in input samples
    context = o * math.ceil((half_width + o) / o)
    step = o * (BLOCK_SAMPLES // o)
    total = math.ceil(n * n_in / o)
    parts = []
    for start in range(0, n_in, step):
        lo = max(0, start - context)
        out = _resample_whole(wav[..., lo : start + step + context], orig_sr, target_sr)
        first = (start - lo) * n // o
        parts.append(out[..., first : first + step * n // o])
    return np.concatenate(parts, axis=-1)[..., :total]


def resample_octave(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Polyphase resampling with the filter of Octave's ``resample`` (float64, last axis).

    Only for metrics whose reference implementation fixes this filter (STOI and
    ESTOI, as in ``pystoi`` and the authors' MATLAB code), so their values match
    it; everything else uses :func:`resample`. The filter: a sinc cut at the lower
    Nyquist rate, Kaiser-windowed for 60 dB rejection with a roll-off of a tenth
    of the cut-off, normalised to unit sum.
    """
    if orig_sr == target_sr:
        return np.asarray(x, dtype=np.float64)
    g = math.gcd(orig_sr, target_sr)
    up, down = target_sr // g, orig_sr // g
    return resample_poly(np.asarray(x, dtype=np.float64), up, down, window=_octave_filter(up, down))


@lru_cache(maxsize=8)
def _octave_filter(up: int, down: int) -> np.ndarray:
    # Each step in the order pystoi computes it: a last-bit difference in the filter reaches ESTOI
    # where a decoded band is constant (see dasb.metrics.stoi._normalised).
    cutoff = 1.0 / (2 * max(up, down))  # in cycles per sample at the upsampled rate
    rejection_db = 60.0
    half = np.ceil((rejection_db - 8) / (28.714 * (cutoff / 10)))  # Kaiser's length formula
    t = np.arange(-half, half + 1)
    ideal = 2 * up * cutoff * np.sinc(2 * cutoff * t)
    h = np.kaiser(2 * half + 1, 0.1102 * (rejection_db - 8.7)) * ideal
    h = h / np.sum(h)
    h.setflags(write=False)  # shared by every call
    return h


_SHARED: ContextVar[dict | None] = ContextVar("dasb_shared_work", default=None)


@contextmanager
def shared_work() -> Iterator[None]:
    """A block in which :func:`once` computes each result once: one item's metrics share their work.

    Scoring wraps each (reference, decoded) pair in it, so that, e.g., the
    10 kHz versions and third-octave envelopes STOI and ESTOI both need, or
    the 16 kHz versions two metrics need, are computed once per item. A block
    inside another joins it (the levels benchmark scores all prefix decodes of
    an item in one block, so the reference is resampled once, not per level).
    """
    if _SHARED.get() is not None:
        yield
        return
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def once(fn: Callable[..., Any], *arrays: np.ndarray, **params: Any) -> Any:
    """``fn(*arrays, **params)``, computed once per :func:`shared_work` block for the same arrays.

    Arrays are keyed by the memory they view (address, shape, strides, dtype), not by
    content, which would cost a pass over them: two slices of the same samples are the
    same key. The memo keeps the arrays alive, so no memory is reused for other samples
    within the block. Outside a block this simply calls ``fn``. Exceptions are not kept.
    """
    memo = _SHARED.get()
    if memo is None:
        return fn(*arrays, **params)
    key = (fn, tuple(_memory(a) for a in arrays), tuple(sorted(params.items())))
    if key not in memo:
        memo[key] = (arrays, fn(*arrays, **params))
    return memo[key][1]


def _memory(a: np.ndarray) -> tuple:
    return a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str


def at_rate(x: np.ndarray, sr: int, rate: int, method: str = "sinc") -> np.ndarray:
    """Mono ``x`` at ``sr`` brought to ``rate``, once per :func:`shared_work` block.

    ``method``: ``"sinc"`` (:func:`resample`, float32) or ``"octave"`` (:func:`resample_octave`, float64).
    """
    return once(_mono_at_rate, x, sr=sr, rate=rate, method=method)


def _mono_at_rate(x: np.ndarray, sr: int, rate: int, method: str) -> np.ndarray:
    if method == "octave":
        return resample_octave(x, sr, rate)
    if method == "sinc":
        return resample(np.asarray(x, dtype=np.float32)[None], sr, rate)[0]
    raise ValueError(f"resampling method must be 'sinc' or 'octave', got {method!r}")


def pad_batch(waves: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``[C, N_i]`` arrays into a zero-padded ``[B, C, max N]`` tensor and lengths."""
    lengths = torch.tensor([w.shape[-1] for w in waves], dtype=torch.int64)
    out = torch.zeros(len(waves), waves[0].shape[0], int(lengths.max()), dtype=torch.float32)
    for i, w in enumerate(waves):
        out[i, :, : w.shape[-1]] = torch.from_numpy(np.asarray(w, dtype=np.float32))
    return out, lengths


def content_hash(wav: np.ndarray, sr: int) -> str:
    """Stable hash of a waveform's samples and rate (see :mod:`dasb.hashing`)."""
    from dasb.hashing import hash_bytes

    return hash_bytes(np.ascontiguousarray(wav, dtype=np.float32).tobytes(), str(sr).encode())
