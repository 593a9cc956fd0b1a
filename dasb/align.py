"""Time alignment of decoded audio to its reference, before intrusive metrics.

Codecs add delay (look-ahead, filter groups, padding). Intrusive metrics such
as SI-SDR and STOI punish any shift, so the lag is estimated and removed first,
and recorded. Waveform cross-correlation is exact for phase-preserving codecs;
for decoders that synthesise their own phase (vocoders such as Codec2) the
waveform peak is meaningless, and the energy envelopes are correlated instead:
log energies in log-spaced frequency bands, whose correlations are summed over
bands. On Codec2 this gives lags consistent within a few milliseconds across
utterances, where one broadband envelope scattered by over 15 ms.

When there is nothing to correlate (a silent or constant signal, a signal of
one sample, no positive correlation within the search range) the delay is
unknown, :class:`NothingToAlign`, never a measured 0.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import correlate, fftconvolve

from dasb.metrics.base import is_flat

MAX_DELAY_S = 0.2
ENVELOPE_HOP_S = 0.001
ENVELOPE_WIN_S = 0.02
ENVELOPE_BANDS = 16
ENVELOPE_LOWEST_HZ = 100.0
ENVELOPE_FLOOR_DB = 80.0  # below the loudest band-frame: keeps log(0) out of silences


class NothingToAlign(ValueError):
    """The signals carry no evidence of any delay; the message says why."""


def _best_lag(ref: np.ndarray, est: np.ndarray, max_lag: int) -> int:
    """Lag in samples maximising cross-correlation; positive means ``est`` is late.

    2-D inputs are ``[bands, frames]``: the bands' cross-correlations are summed.
    """
    if ref.ndim == 1:
        corr = correlate(est, ref, mode="full", method="fft")
    else:
        corr = fftconvolve(est, ref[:, ::-1], mode="full", axes=1).sum(axis=0)
    zero = ref.shape[-1] - 1
    lo, hi = max(0, zero - max_lag), min(len(corr), zero + max_lag + 1)
    window = corr[lo:hi]
    if window.size == 0 or not np.max(window) > 0:
        raise NothingToAlign(f"no positive cross-correlation within ±{max_lag} lags: the delay is unknown")
    return int(np.argmax(window)) + lo - zero


def _envelope(x: np.ndarray, sr: int, win: int, hop: int) -> np.ndarray:
    """Mean-removed log energy ``[bands, frames]`` in log-spaced bands from 100 Hz to ``sr / 2``."""
    n_fft = 1 << (win - 1).bit_length()
    padded = np.pad(x.astype(np.float32), (win // 2, win // 2))
    frames = sliding_window_view(padded, win)[::hop] * np.hanning(win).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, n_fft, axis=1)) ** 2
    edges = np.searchsorted(np.fft.rfftfreq(n_fft, 1 / sr), np.geomspace(ENVELOPE_LOWEST_HZ, sr / 2, ENVELOPE_BANDS + 1))
    bands = np.stack([power[:, a : max(b, a + 1)].sum(axis=1) for a, b in zip(edges[:-1], edges[1:])])
    env = np.log(np.maximum(bands, max(float(bands.max()), 1e-30) * 10 ** (-ENVELOPE_FLOOR_DB / 10)))
    return env - env.mean(axis=1, keepdims=True)


def estimate_delay(ref: np.ndarray, est: np.ndarray, sr: int, method: str = "waveform") -> int:
    """Delay of ``est`` relative to ``ref`` in samples (1-D arrays at ``sr``).

    ``method`` is ``"waveform"`` or ``"envelope"``; the search covers
    ±``MAX_DELAY_S`` seconds. Raises :class:`NothingToAlign` when there is nothing to correlate.
    """
    for name, x in (("reference", ref), ("decoded audio", est)):
        if x.size < 2 or is_flat(x):
            raise NothingToAlign(f"the {name} is silent, constant or shorter than 2 samples ({x.size}): "
                                 "there is nothing to correlate, so the delay is unknown")
    max_lag = int(MAX_DELAY_S * sr)
    if method == "waveform":
        return _best_lag(ref, est, max_lag)
    if method == "envelope":
        hop = max(1, int(ENVELOPE_HOP_S * sr))
        win = max(hop, int(ENVELOPE_WIN_S * sr))
        lag = _best_lag(_envelope(ref, sr, win, hop), _envelope(est, sr, win, hop), max_lag // hop)
        return lag * hop
    raise ValueError(f"alignment method must be 'waveform' or 'envelope', got {method!r}")


def apply_delay(ref: np.ndarray, est: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove ``lag`` and crop both signals to their common length."""
    if lag > 0:
        est = est[lag:]
    elif lag < 0:
        ref = ref[-lag:]
    n = min(len(ref), len(est))
    return ref[:n], est[:n]


def align(ref: np.ndarray, est: np.ndarray, sr: int, method: str = "waveform") -> tuple[np.ndarray, np.ndarray, int | None]:
    """Estimate and remove the delay; returns aligned ``ref``, ``est`` and the lag (None, and no
    shift, when there is nothing to align on)."""
    try:
        lag: int | None = estimate_delay(ref, est, sr, method)
    except NothingToAlign:
        lag = None
    ref, est = apply_delay(ref, est, lag or 0)
    return ref, est, lag
