"""Non-intrusive quality predictors: DNSMOS (Microsoft's ONNX models, shipped in the ``speechmos`` wheel);
NISQA lives in :mod:`dasb.judges.nisqa`.

DNSMOS P.835 predicts signal (SIG), background (BAK) and overall (OVRL) MOS,
and DNSMOS P.808 an overall MOS, from 16 kHz audio alone; clips shorter than
9.01 s are tiled to that length and longer ones scored in 1 s hops (as
Microsoft's reference script does, which ``speechmos`` packages).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dasb.env import installed_version
from dasb.judges.dnsmos_windows import WINDOW_SAMPLES, SharedFrameP835, tile, window_starts
from dasb.metrics.base import SILENCE_PEAK

# Predictions live on the 1-5 opinion scale; the fitted polynomials can leave it slightly,
# so only values far outside (a broken input or model) are treated as failures.
PLAUSIBLE = (0.0, 6.0)
# One thread, fixed: the scores then do not depend on the machine's core count, and the shared-frame P.835
# equals the whole network bit for bit (on two threads a convolution's rounding depends on the tensor's height).
DNSMOS_THREADS = 1
CLIPS_AT_ONCE = 2  # clips rated concurrently, each on its single-threaded sessions: both cores busy


class DNSMOS:
    """DNSMOS P.835 + P.808 on mono float32 audio at 16 kHz: Microsoft's tiling, windows, polynomials and means
    (``speechmos``'s packaging of their script), with P.835's convolutions shared across overlapping windows
    (:mod:`dasb.judges.dnsmos_windows`)."""

    outputs = {"ovrl": "ovrl_mos", "sig": "sig_mos", "bak": "bak_mos", "p808": "p808_mos"}

    def __init__(self, personalized: bool = False) -> None:
        try:
            import onnx  # noqa: F401  (cuts the P.835 graph)
            from speechmos import dnsmos
        except ImportError as err:
            raise ImportError("DNSMOS needs speechmos, onnxruntime, onnx and librosa: pip install 'dasb[mos]'") from err
        folder = Path(dnsmos.__file__).parent
        self.personalized = personalized
        self._p835 = SharedFrameP835(
            folder / ("pdnsmos_models" if personalized else "dnsmos_models") / "sig_bak_ovr.onnx", _session)
        self._p808 = _session(str(folder / "dnsmos_models" / "model_v8.onnx"))
        # Microsoft's mel front end and polynomials, as speechmos packages them (neither uses the sessions).
        self._microsoft = dnsmos.DNSMOS.__new__(dnsmos.DNSMOS)

    @staticmethod
    def identity(personalized: bool) -> dict[str, Any]:
        """What changes the predictions (model variant, package versions), without loading anything."""
        return {"predictor": "dnsmos", "personalized": personalized, "threads": DNSMOS_THREADS,
                **{pkg: installed(pkg) for pkg in ("speechmos", "onnxruntime", "onnx", "librosa")}}

    def predict(self, wave: np.ndarray) -> tuple[dict[str, float], str | None]:
        """Scores of one waveform, and a note when samples had to be clipped (see :func:`playable`)."""
        wave, note = playable(wave, "DNSMOS")
        audio = tile(wave)
        starts = window_starts(len(audio))
        # Per window, as Microsoft's script does: polynomials of the window's float32 outputs.
        sig, bak, ovrl = zip(*(self._microsoft.get_polyfit_val(*raw, self.personalized)
                               for raw in self._p835.raw(audio, starts)))
        p808 = [self._p808.run(None, {"input_1": self._mel(audio[start : start + WINDOW_SAMPLES])})[0][0][0]
                for start in starts]
        scores = {"ovrl": float(np.mean(ovrl)), "sig": float(np.mean(sig)), "bak": float(np.mean(bak)),
                  "p808": float(np.mean(p808))}
        bad = {k: v for k, v in scores.items() if not (np.isfinite(v) and PLAUSIBLE[0] <= v <= PLAUSIBLE[1])}
        if bad:
            raise ValueError(f"DNSMOS returned implausible values {bad}")
        return scores, note

    def predict_all(self, waves: list[np.ndarray]) -> list[tuple[dict[str, float], str | None] | Exception]:
        """:meth:`predict` of each waveform, or the exception that stopped it, :data:`CLIPS_AT_ONCE` clips at a
        time (the sessions are single-threaded and release the GIL, so the values are those of one by one)."""
        with ThreadPoolExecutor(CLIPS_AT_ONCE) as pool:
            return list(pool.map(lambda wave: attempt(self.predict, wave), waves))

    def _mel(self, window: np.ndarray) -> np.ndarray:
        """P.808's input: Microsoft's mel spectrogram of the window without its last 10 ms, ``[1, 900, 120]``."""
        return np.asarray(self._microsoft.audio_melspec(audio=window[:-160]), np.float32)[np.newaxis]


def _session(model: str | bytes) -> Any:
    """An onnxruntime CPU session of ``model`` (a path or a serialised model) on :data:`DNSMOS_THREADS` threads
    that sleep when idle (spinning ones take cores from the metric workers; the scores are the same)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = DNSMOS_THREADS
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def playable(wave: np.ndarray, predictor: str) -> tuple[np.ndarray, str | None]:
    """``wave`` as float32 clipped to [-1, 1] as a playback device would, and a note saying how many
    samples were (decoders may overshoot full scale). Silent, empty or non-finite audio is a ValueError,
    not a score."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1 or wave.size == 0 or np.max(np.abs(wave)) < SILENCE_PEAK:
        raise ValueError(f"{predictor} needs non-silent mono audio (peak at least {SILENCE_PEAK})")
    if not np.all(np.isfinite(wave)):
        raise ValueError("audio has NaN or infinite samples")
    over = int(np.sum(np.abs(wave) > 1.0))
    if not over:
        return wave, None
    return np.clip(wave, -1.0, 1.0), f"{over} samples beyond full scale (peak {np.max(np.abs(wave)):.3f}) clipped to [-1, 1]"


def attempt(predict: Callable[..., Any], *args: Any) -> Any:
    """``predict(*args)``, or the exception it raised: one bad clip is an error row, not a failed benchmark."""
    try:
        return predict(*args)
    except Exception as err:
        return err


def installed(package: str) -> str:
    """``package``'s installed version, or "not installed"."""
    return installed_version(package) or "not installed"
