"""Speaker encoders: Resemblyzer (weights in its wheel, offline) and SpeechBrain ECAPA-TDNN.

Each encoder maps mono float32 audio at 16 kHz to a unit-norm embedding, so the
cosine similarity of two utterances is the dot product of their embeddings.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from dasb.env import installed_version
from dasb.settings import ecapa_dir
from dasb.threads import JUDGE_THREADS, torch_threads
from dasb.weights.judges import ECAPA_REPO as ECAPA_SOURCE
from dasb.weights.judges import ECAPA_REVISION

SAMPLE_RATE = 16000


class SpeakerEncoder(Protocol):
    """What the speaker benchmark needs from an encoder."""

    def config(self) -> dict[str, Any]:
        """Everything that changes the embeddings."""

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        """Unit-norm embeddings ``[len(waves), dim]`` of mono float32 waveforms at 16 kHz."""


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    if np.any(norm == 0):
        raise ValueError("speaker encoder returned an all-zero embedding")
    return x / norm


class Resemblyzer:
    """Resemblyzer's GE2E d-vector encoder (Resemblyzer's own VAD trimming and volume normalisation)."""

    def __init__(self, device: str = "cpu", threads: int | None = 1) -> None:
        try:
            with warnings.catch_warnings():  # webrtcvad imports the deprecated pkg_resources
                warnings.simplefilter("ignore", UserWarning)
                from resemblyzer import VoiceEncoder, preprocess_wav
        except ImportError as err:
            raise ImportError("the resemblyzer speaker encoder needs resemblyzer: pip install 'dasb[speaker]'") from err
        self._preprocess = preprocess_wav
        self._encoder = VoiceEncoder(device, verbose=False)
        self.threads = threads

    def config(self) -> dict[str, Any]:
        return {"encoder": "resemblyzer", "version": installed_version("resemblyzer")}

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        out = []
        for wave in waves:
            trimmed = self._preprocess(np.asarray(wave, dtype=np.float32), source_sr=SAMPLE_RATE)
            if trimmed.size == 0:
                raise ValueError("no speech left after Resemblyzer's voice-activity trimming")
            with torch_threads(self.threads):
                out.append(self._encoder.embed_utterance(trimmed))
        return _unit(np.stack(out).astype(np.float64))


class Ecapa:
    """SpeechBrain ECAPA-TDNN trained on VoxCeleb (``speechbrain/spkrec-ecapa-voxceleb``).

    ``source`` is a hub id or a local folder holding the model's ``hyperparams.yaml``
    and checkpoints. Tests pass ``classifier``, an already built ``EncoderClassifier``.
    """

    def __init__(
        self,
        source: str = ECAPA_SOURCE,
        revision: str | None = ECAPA_REVISION,
        savedir: str | None = None,
        device: str = "cpu",
        classifier: Any = None,
    ) -> None:
        try:
            from speechbrain.inference.speaker import EncoderClassifier
            from speechbrain.utils.fetching import FetchConfig
        except ImportError as err:
            raise ImportError("the ECAPA speaker encoder needs speechbrain: pip install 'dasb[speechbrain]'") from err
        self.source, self.revision = source, revision
        self.savedir = savedir or str(ecapa_dir())
        if classifier is None:
            # A local copy's hyperparams name the hub repository as where the checkpoints are: point it here.
            local = {"pretrained_path": source} if Path(source).is_dir() else {}
            try:
                classifier = EncoderClassifier.from_hparams(
                    source=source, savedir=self.savedir, run_opts={"device": device}, overrides=local,
                    fetch_config=FetchConfig(revision=revision),  # speechbrain 1.x takes the revision here
                )
            except Exception as err:
                raise RuntimeError(
                    f"cannot load ECAPA-TDNN from {source!r} (revision {revision}) "
                    f"({type(err).__name__}: {err}); download that hub repository to a folder and pass it as "
                    "`source` (or set HF_HOME to a cache that holds it)"
                ) from err
        self.classifier = classifier.eval()

    def config(self) -> dict[str, Any]:
        return {"encoder": "ecapa", "source": self.source, "revision": self.revision, "threads": JUDGE_THREADS}

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        import torch

        out = []
        for wave in waves:  # one at a time: no padding, so no length bookkeeping
            x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))[None]
            with torch.inference_mode(), torch_threads(JUDGE_THREADS):
                emb = self.classifier.encode_batch(x, torch.ones(1))
            out.append(emb.reshape(-1).double().cpu().numpy())
        return _unit(np.stack(out))


ENCODERS: dict[str, Callable[..., SpeakerEncoder]] = {"resemblyzer": Resemblyzer, "ecapa": Ecapa}


def make_speaker_encoder(name: str, **options: Any) -> SpeakerEncoder:
    """Build the speaker encoder ``name`` with its options."""
    if name not in ENCODERS:
        raise ValueError(f"unknown speaker encoder {name!r}; known: {', '.join(ENCODERS)}")
    return ENCODERS[name](**options)
