"""Intrusive signal metrics: PESQ, STOI, ESTOI, SI-SDR, multi-resolution log-mel distance.

All take aligned mono float arrays ``ref`` and ``est`` at rate ``sr``. PESQ calls
the reference implementation (``pesq``); STOI and ESTOI share one analysis
(:mod:`dasb.metrics.stoi`, equal to ``pystoi``). Resampling to the rate a metric
is defined at goes through :func:`dasb.audio.at_rate`, so within one
:func:`dasb.audio.shared_work` block (one scored item) each rate is computed once.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torchaudio

from dasb.audio import at_rate
from dasb.metrics.base import Metric, MetricError
from dasb.metrics.stoi import estoi, stoi


PESQ_MIN_MS = 250.0  # the P.862 implementation refuses shorter signals (Fs / 4 samples)
STOI_MIN_MS = 396.8  # 30 frames of 256 samples with hop 128 at 10 kHz: one intermediate intelligibility segment


def _require_duration(metric: str, ref: np.ndarray, est: np.ndarray, sr: int, min_ms: float) -> None:
    """Raise MetricError when the shorter signal is below the metric's minimum duration."""
    ms = 1000 * min(ref.shape[-1], est.shape[-1]) / sr
    if ms < min_ms:
        raise MetricError(f"too short for {metric}: {ms:.1f} ms (needs {math.ceil(min_ms)} ms)")


def _pesq(ref: np.ndarray, est: np.ndarray, sr: int, rate: int, mode: str) -> float:
    from pesq import PesqError, pesq

    try:
        return pesq(rate, at_rate(ref, sr, rate).astype(np.float64), at_rate(est, sr, rate).astype(np.float64), mode)
    except PesqError as err:
        raise MetricError(f"PESQ ({mode}) failed: {type(err).__name__}: {err}") from err


def pesq_wb(ref: np.ndarray, est: np.ndarray, sr: int) -> float:
    """Wide-band PESQ (ITU-T P.862.2) at 16 kHz; MOS-LQO in [1.04, 4.64]."""
    return _pesq(ref, est, sr, 16000, "wb")


def pesq_nb(ref: np.ndarray, est: np.ndarray, sr: int) -> float:
    """Narrow-band PESQ (ITU-T P.862 + P.862.1 mapping) at 8 kHz; MOS-LQO in [1.02, 4.55]."""
    return _pesq(ref, est, sr, 8000, "nb")


def si_sdr(ref: np.ndarray, est: np.ndarray, sr: int) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019), both signals zero-meaned.

    An epsilon of 1e-10 in numerator and denominator keeps identical signals
    finite (about 100 dB above the signal power) instead of infinite.
    """
    ref = ref.astype(np.float64) - ref.mean()
    est = est.astype(np.float64) - est.mean()
    energy = np.dot(ref, ref)
    if energy <= 0:
        raise MetricError("SI-SDR: reference is silent")
    target = np.dot(est, ref) / energy * ref
    noise = est - target
    eps = 1e-10
    return 10 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps))


MEL_RESOLUTIONS = (512, 1024, 2048)  # FFT sizes in samples at 16 kHz, scaled with the rate


@lru_cache(maxsize=16)
def _mel(sr: int, n_fft: int) -> torchaudio.transforms.MelSpectrogram:
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=sr, n_fft=n_fft, hop_length=n_fft // 4, n_mels=80, power=1.0, center=True
    )


def mel_distance(ref: np.ndarray, est: np.ndarray, sr: int) -> float:
    """Mean absolute difference of log10 mel magnitudes, averaged over three resolutions."""
    out = []
    n_ffts = [int(2 ** round(np.log2(base * sr / 16000))) for base in MEL_RESOLUTIONS]
    # Centred frames reflect-pad by n_fft / 2, which needs more samples than that.
    _require_duration("mel distance", ref, est, sr, 1000 * (max(n_ffts) // 2 + 1) / sr)
    for n_fft in n_ffts:
        mel = _mel(sr, n_fft)
        a = mel(torch.from_numpy(ref.astype(np.float32)))
        b = mel(torch.from_numpy(est.astype(np.float32)))
        out.append(float((torch.log10(a + 1e-5) - torch.log10(b + 1e-5)).abs().mean()))
    return float(np.mean(out))


# Silent or constant decoded audio: PESQ's level alignment divides by its power (NaN), STOI and SI-SDR
# become 0/0 (a constant decode scored STOI 0.49 and SI-SDR 0 dB, above -46 dB for noise). The mel
# distance stays defined: a silent spectrum is simply far from the reference's.
PESQ_WB = Metric("pesq_wb", pesq_wb, True, "Wide-band PESQ at 16 kHz", "MOS", 1.0, 4.65, PESQ_MIN_MS, True)
PESQ_NB = Metric("pesq_nb", pesq_nb, True, "Narrow-band PESQ at 8 kHz", "MOS", 1.0, 4.65, PESQ_MIN_MS, True)
STOI = Metric("stoi", stoi, True, "Short-time objective intelligibility", "", -1.0, 1.0, STOI_MIN_MS, True)
ESTOI = Metric("estoi", estoi, True, "Extended STOI", "", -1.0, 1.0, STOI_MIN_MS, True)
SI_SDR = Metric("si_sdr", si_sdr, True, "Scale-invariant signal-to-distortion ratio", "dB", needs_varying_estimate=True)
MEL_DISTANCE = Metric("mel_distance", mel_distance, False, "Multi-resolution log10-mel L1 distance", "", 0.0)
