"""Audio augmentations named by short strings, for token robustness tests.

Names (numbers are parameters)::

    identity            the input, unchanged
    gain_-6db           gain change in dB
    noise_10db          additive white Gaussian noise at 10 dB SNR (seeded)
    speed_1.1           speed change (tempo and pitch) by resampling
    pitch_2st           pitch shift in semitones, duration kept (phase vocoder + resampling)
    resample_8000       resampling round trip through 8000 Hz
    reverb_300ms        convolution with a synthetic room impulse response of RT60 300 ms

Every resampling goes through :func:`dasb.audio.resample`. Random parts are
seeded by the caller's generator, so an augmentation is reproducible.
"""
from __future__ import annotations

import re
from fractions import Fraction
from typing import Callable

import numpy as np
import torch
import torchaudio.functional as AF
from scipy.signal import fftconvolve

from dasb.audio import resample

Augmentation = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
_PATTERN = re.compile(r"^(identity|gain|noise|speed|pitch|resample|reverb)(?:_([-+]?[0-9.]+)(db|st|ms)?)?$")


def _rate_ratio(factor: float, sr: int) -> tuple[int, int]:
    """Integer rates ``(a, b)`` with ``a / b`` close to ``factor``, for resampling by ``factor``."""
    frac = Fraction(factor).limit_denominator(1000)
    return sr * frac.numerator, sr * frac.denominator


def centre_crop(x: np.ndarray, n: int) -> np.ndarray:
    """The centred window of at most ``n`` samples of 1-D ``x``."""
    start = max(0, (len(x) - n) // 2)
    return x[start : start + n]


def gain(x: np.ndarray, db: float) -> np.ndarray:
    """Scale by ``db`` decibels."""
    return (x * 10.0 ** (db / 20.0)).astype(np.float32)


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise scaled to ``snr_db`` below the signal's mean power."""
    power = float(np.mean(x.astype(np.float64) ** 2))
    if power == 0.0:
        raise ValueError("cannot set an SNR on a silent signal")
    noise = rng.standard_normal(x.shape) * np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return (x + noise).astype(np.float32)


def speed(x: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """Play ``factor`` times faster: read the samples as if recorded at ``factor * sr``."""
    a, b = _rate_ratio(factor, sr)
    return resample(x[None], a, b)[0]


def pitch_shift(x: np.ndarray, sr: int, semitones: float) -> np.ndarray:
    """Shift pitch keeping duration: phase-vocoder stretch by f, then speed change by f."""
    f = 2.0 ** (semitones / 12.0)
    n_fft, hop = 1024, 256
    if len(x) <= n_fft // 2:  # centred STFT frames reflect-pad by n_fft / 2
        raise ValueError(f"too short for pitch shifting: {len(x)} samples (needs {n_fft // 2 + 1})")
    window = torch.hann_window(n_fft)
    spec = torch.stft(torch.from_numpy(x.astype(np.float32)), n_fft, hop, window=window, return_complex=True)
    advance = torch.linspace(0, np.pi * hop, spec.shape[-2])[..., None]
    stretched = AF.phase_vocoder(spec, 1.0 / f, advance)
    y = torch.istft(stretched, n_fft, hop, window=window).numpy()
    return speed(y, sr, f)[: len(x)]


def synthetic_rir(sr: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Direct path plus exponentially decaying noise reaching -60 dB at ``rt60`` seconds."""
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * 10.0 ** (-3.0 * t / rt60)
    start = int(0.005 * sr)  # first reflections after 5 ms
    rir = np.concatenate([[1.0], np.zeros(start), 0.3 * tail])
    return rir / np.sqrt(np.sum(rir**2))


def reverb(x: np.ndarray, sr: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with :func:`synthetic_rir`, keep the length and the input's RMS."""
    y = fftconvolve(x.astype(np.float64), synthetic_rir(sr, rt60, rng))[: len(x)]
    y *= np.sqrt(np.mean(x.astype(np.float64) ** 2) / max(np.mean(y**2), 1e-20))
    return y.astype(np.float32)


def get_augmentation(name: str) -> Augmentation:
    """The augmentation named ``name`` (see the module docstring)."""
    m = _PATTERN.match(name)
    if m is None or (m.group(1) != "identity" and m.group(2) is None):
        raise ValueError(f"unknown augmentation {name!r}; examples: identity, gain_-6db, noise_10db, "
                         "speed_1.1, pitch_2st, resample_8000, reverb_300ms")
    kind, value = m.group(1), float(m.group(2) or 0)
    table: dict[str, Augmentation] = {
        "identity": lambda x, sr, rng: x,
        "gain": lambda x, sr, rng: gain(x, value),
        "noise": lambda x, sr, rng: add_noise(x, value, rng),
        "speed": lambda x, sr, rng: speed(x, sr, value),
        "pitch": lambda x, sr, rng: pitch_shift(x, sr, value),
        "resample": lambda x, sr, rng: resample(resample(x[None], sr, int(value)), int(value), sr)[0],
        "reverb": lambda x, sr, rng: reverb(x, sr, value / 1000.0, rng),
    }
    return table[kind]
