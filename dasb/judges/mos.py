"""Non-intrusive quality predictors: DNSMOS (Microsoft's ONNX models, shipped in the ``speechmos`` wheel);
NISQA lives in :mod:`dasb.judges.nisqa`.

DNSMOS P.835 predicts signal (SIG), background (BAK) and overall (OVRL) MOS,
and DNSMOS P.808 an overall MOS, from 16 kHz audio alone; clips shorter than
9.01 s are tiled to that length and longer ones scored in 1 s hops (as
Microsoft's reference script does, which ``speechmos`` packages).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dasb.env import installed_version
from dasb.metrics.base import SILENCE_PEAK
from dasb.threads import JUDGE_THREADS

SAMPLE_RATE = 16000
# Predictions live on the 1-5 opinion scale; the fitted polynomials can leave it slightly,
# so only values far outside (a broken input or model) are treated as failures.
PLAUSIBLE = (0.0, 6.0)


class DNSMOS:
    """DNSMOS P.835 + P.808 on mono float32 audio at 16 kHz."""

    outputs = {"ovrl": "ovrl_mos", "sig": "sig_mos", "bak": "bak_mos", "p808": "p808_mos"}

    def __init__(self, personalized: bool = False) -> None:
        try:
            from speechmos import dnsmos
        except ImportError as err:
            raise ImportError("DNSMOS needs speechmos, onnxruntime and librosa: pip install 'dasb[mos]'") from err
        folder = Path(dnsmos.__file__).parent
        primary = folder / ("pdnsmos_models" if personalized else "dnsmos_models") / "sig_bak_ovr.onnx"
        self.personalized = personalized
        # speechmos's scoring (tiling, hops, polynomials) with sessions of our own: onnxruntime's default thread
        # count is the machine's cores, and the scores move by up to 2.3e-7 between 2 and 3 threads.
        self._model = dnsmos.DNSMOS.__new__(dnsmos.DNSMOS)
        self._model.primary_model_path = str(primary)
        self._model.onnx_sess = _session(primary)
        self._model.p808_onnx_sess = _session(folder / "dnsmos_models" / "model_v8.onnx")

    @staticmethod
    def identity(personalized: bool) -> dict[str, Any]:
        """What changes the predictions (model variant, package versions), without loading anything."""
        return {"predictor": "dnsmos", "personalized": personalized, "threads": JUDGE_THREADS,
                **{pkg: installed(pkg) for pkg in ("speechmos", "onnxruntime", "librosa")}}

    def predict(self, wave: np.ndarray) -> tuple[dict[str, float], str | None]:
        """Scores of one waveform, and a note when samples had to be clipped (see :func:`playable`)."""
        wave, note = playable(wave, "DNSMOS")
        raw = self._model(wave, SAMPLE_RATE, self.personalized)
        scores = {name: float(raw[key]) for name, key in self.outputs.items()}
        bad = {k: v for k, v in scores.items() if not (np.isfinite(v) and PLAUSIBLE[0] <= v <= PLAUSIBLE[1])}
        if bad:
            raise ValueError(f"DNSMOS returned implausible values {bad}")
        return scores, note


def _session(model: Path) -> Any:
    """An onnxruntime CPU session of ``model`` on :data:`JUDGE_THREADS` threads that sleep when idle (spinning
    ones take cores from the metric workers; the scores are the same)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = JUDGE_THREADS
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


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


def installed(package: str) -> str:
    """``package``'s installed version, or "not installed"."""
    return installed_version(package) or "not installed"
