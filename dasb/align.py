"""Time alignment of decoded audio to its reference, before intrusive metrics.

Codecs add delay (look-ahead, filter groups, padding). Intrusive metrics such
as SI-SDR and STOI punish any shift, so the lag is estimated and removed first,
and recorded. Waveform cross-correlation is exact for phase-preserving codecs;
for decoders that synthesise their own phase (vocoders such as Codec2) the
waveform peak is meaningless, and the energy envelopes are correlated instead.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import correlate, fftconvolve

MAX_DELAY_S = 0.2
ENVELOPE_HOP_S = 0.001
ENVELOPE_WIN_S = 0.02


def _best_lag(ref: np.ndarray, est: np.ndarray, max_lag: int) -> int:
    """Lag in samples maximising cross-correlation; positive means ``est`` is late."""
    corr = correlate(est, ref, mode="full", method="fft")
    zero = len(ref) - 1
    lo, hi = max(0, zero - max_lag), min(len(corr), zero + max_lag + 1)
    window = corr[lo:hi]
    if window.size == 0 or not np.max(window) > 0:  # silence: no evidence of any shift
        return 0
    return int(np.argmax(window)) + lo - zero


def _envelope(x: np.ndarray, win: int, hop: int) -> np.ndarray:
    power = fftconvolve(x.astype(np.float64) ** 2, np.ones(win) / win, mode="same")
    env = np.sqrt(np.maximum(power[::hop], 0.0))
    return env - env.mean()


def estimate_delay(ref: np.ndarray, est: np.ndarray, sr: int, method: str = "waveform") -> int:
    """Delay of ``est`` relative to ``ref`` in samples (1-D arrays at ``sr``).

    ``method`` is ``"waveform"`` or ``"envelope"``; the search covers
    ±``MAX_DELAY_S`` seconds.
    """
    max_lag = int(MAX_DELAY_S * sr)
    if method == "waveform":
        return _best_lag(ref, est, max_lag)
    if method == "envelope":
        hop = max(1, int(ENVELOPE_HOP_S * sr))
        win = max(hop, int(ENVELOPE_WIN_S * sr))
        lag = _best_lag(_envelope(ref, win, hop), _envelope(est, win, hop), max_lag // hop)
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


def align(ref: np.ndarray, est: np.ndarray, sr: int, method: str = "waveform") -> tuple[np.ndarray, np.ndarray, int]:
    """Estimate and remove the delay; returns aligned ``ref``, ``est`` and the lag."""
    lag = estimate_delay(ref, est, sr, method)
    ref, est = apply_delay(ref, est, lag)
    return ref, est, lag
