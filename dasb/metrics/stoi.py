"""STOI and ESTOI from one shared analysis, following ``pystoi`` step by step.

Both measures resample to 10 kHz, drop the frames where the reference is more
than 40 dB below its loudest frame, take a 256-sample Hann STFT and sum it into
15 third-octave bands, then compare 30-frame (384 ms) segments of the band
envelopes. Only the last step differs: STOI correlates clipped, normalised
envelopes per band (Taal et al. 2011), ESTOI correlates envelopes normalised
over both time and bands (Jensen & Taal 2016). :func:`envelope_segments` does
the common part once per item (see :func:`dasb.audio.once`); the values equal
``pystoi.stoi(x, y, fs, extended=...)`` to about 1e-12.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dasb.audio import at_rate, once
from dasb.metrics.base import MetricError

RATE = 10000
FRAME = 256
HOP = FRAME // 2
NFFT = 512
BANDS = 15
LOWEST_CENTRE_HZ = 150.0
SEGMENT = 30  # frames per intermediate intelligibility segment
CLIP_DB = 15.0  # STOI's lower signal-to-distortion bound (beta = -15 dB)
DYNAMIC_RANGE_DB = 40.0
EPS = np.finfo(np.float64).eps
DITHER_SEED = 0  # ESTOI's dither (see _normalised)
DITHER_MATTERS = 1e-6  # a centred row or column below this norm: the dither moves ESTOI by more than ~1e-9


@lru_cache(maxsize=1)
def third_octave_matrix() -> np.ndarray:
    """``[BANDS, NFFT // 2 + 1]`` 0/1 matrix summing STFT power bins into third-octave bands.

    Band edges are 150 Hz * 2^((2k -+ 1) / 6), each moved to the nearest FFT bin;
    a band covers the bins from its lower edge up to, not including, its upper edge.
    """
    freqs = np.linspace(0, RATE, NFFT + 1)[: NFFT // 2 + 1]
    k = np.arange(BANDS)
    edges = [LOWEST_CENTRE_HZ * 2.0 ** ((2 * k + side) / 6) for side in (-1, 1)]
    low, high = (np.argmin(np.abs(freqs[None, :] - e[:, None]), axis=1) for e in edges)
    matrix = np.zeros((BANDS, len(freqs)))
    for band, (a, b) in enumerate(zip(low, high)):
        matrix[band, a:b] = 1.0
    return matrix


def _frames(x: np.ndarray) -> np.ndarray:
    """Hann-windowed frames of ``FRAME`` samples every ``HOP``; as in pystoi, a frame ending exactly at
    the last sample is not taken."""
    if len(x) <= FRAME:
        return np.zeros((0, FRAME))
    window = np.hanning(FRAME + 2)[1:-1]
    return sliding_window_view(x, FRAME)[: len(x) - FRAME : HOP] * window


def _overlap_add(frames: np.ndarray) -> np.ndarray:
    """Frames of 2 hops each, added back at their hop positions."""
    halves = frames.reshape(len(frames), 2, HOP)
    out = np.zeros((len(frames) + 1, HOP))
    out[:-1] += halves[:, 0]
    out[1:] += halves[:, 1]
    return out.reshape(-1)


def _without_silence(ref: np.ndarray, est: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both signals without the frames where ``ref`` is over 40 dB below its loudest frame."""
    ref_frames, est_frames = _frames(ref), _frames(est)
    if len(ref_frames) == 0:
        raise MetricError(f"STOI undefined: {len(ref)} samples at 10 kHz is not one frame of {FRAME}")
    energy_db = 20 * np.log10(np.linalg.norm(ref_frames, axis=1) + EPS)
    keep = energy_db > energy_db.max() - DYNAMIC_RANGE_DB
    return _overlap_add(ref_frames[keep]), _overlap_add(est_frames[keep])


def _band_envelopes(x: np.ndarray) -> np.ndarray:
    """``[BANDS, frames]`` third-octave band magnitudes of ``x``'s STFT."""
    spectrum = np.fft.rfft(_frames(x), n=NFFT, axis=1)
    return np.sqrt(third_octave_matrix() @ np.square(np.abs(spectrum)).T)


def _segments(ref: np.ndarray, est: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    ref, est = _without_silence(at_rate(ref, sr, RATE, "octave"), at_rate(est, sr, RATE, "octave"))
    x, y = _band_envelopes(ref), _band_envelopes(est)
    if x.shape[1] < SEGMENT:
        raise MetricError(f"STOI undefined: {x.shape[1]} STFT frames remain after removing silent frames, "
                          f"fewer than the {SEGMENT} of one intermediate intelligibility segment")
    # [segments, BANDS, SEGMENT]: every run of SEGMENT consecutive frames.
    return tuple(sliding_window_view(e, SEGMENT, axis=1).transpose(1, 0, 2) for e in (x, y))  # type: ignore[return-value]


def envelope_segments(ref: np.ndarray, est: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference and estimate band envelopes cut in overlapping 30-frame segments, ``[J, BANDS, SEGMENT]``.

    Computed once per :func:`dasb.audio.shared_work` block for the same arrays.
    """
    return once(_segments, ref, est, sr=sr)


def _unit_rows(x: np.ndarray, axis: int) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=axis, keepdims=True) + EPS)


def stoi(ref: np.ndarray, est: np.ndarray, sr: int) -> float:
    """STOI: mean over segments and bands of the correlation of the reference envelope with the
    estimate's, scaled to the reference's energy and clipped at 15 dB below it."""
    x, y = envelope_segments(ref, est, sr)
    scale = np.linalg.norm(x, axis=2, keepdims=True) / (np.linalg.norm(y, axis=2, keepdims=True) + EPS)
    y = np.minimum(y * scale, x * (1 + 10 ** (CLIP_DB / 20)))
    x = _unit_rows(x - x.mean(axis=2, keepdims=True), 2)
    y = _unit_rows(y - y.mean(axis=2, keepdims=True), 2)
    return float(np.sum(x * y) / (x.shape[0] * x.shape[1]))


def _normalised(x: np.ndarray, dither: np.random.RandomState | None) -> np.ndarray | None:
    """Each segment's rows (bands), then columns (frames), made zero-mean and unit-norm, as pystoi does.

    pystoi first adds a machine-epsilon dither from numpy's global generator to every
    value. It only matters where a row or column is (nearly) constant, e.g. a decoded
    band of exact zeros for 30 frames: there it becomes a random unit vector, and
    pystoi's ESTOI changes from call to call (by up to 1e-3 on pcm4 decodes of real
    speech). Without ``dither`` no noise is added and None is returned if such a
    vector turns up; with it the draws are pystoi's, so after
    ``np.random.seed(DITHER_SEED)`` pystoi's value is this one, bit for bit.
    """
    for axis in (2, 1):
        if dither is not None:
            x = x + EPS * dither.standard_normal(x.shape)
        x = x - x.mean(axis=axis, keepdims=True)
        norm = np.sqrt(np.sum(np.square(x), axis=axis, keepdims=True))
        if dither is None and (norm < DITHER_MATTERS).any():
            return None
        x = x * (1.0 / norm)  # pystoi's rounding: a constant column keeps only rounding residue from the row step
    return x


def estoi(ref: np.ndarray, est: np.ndarray, sr: int) -> float:
    """ESTOI: mean over segments of the inner product of the row- and column-normalised envelopes,
    divided by the segment length."""
    x, y = envelope_segments(ref, est, sr)
    x_unit, y_unit = _normalised(x, None), _normalised(y, None)
    if x_unit is None or y_unit is None:  # the dither decides the value: draw it as pystoi does (the legacy generator)
        dither = np.random.RandomState(DITHER_SEED)
        x_unit, y_unit = _normalised(x, dither), _normalised(y, dither)
    assert x_unit is not None and y_unit is not None
    return float(np.sum(x_unit * y_unit / SEGMENT) / x_unit.shape[0])
