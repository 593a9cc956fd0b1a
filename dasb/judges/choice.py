"""Which judge model scores a run: the best one available, and why.

``backend: auto`` (the ``asr`` default) takes Whisper when openai-whisper is installed and its
checkpoint is here or can be downloaded now (``base`` on CPU, ``small`` on CUDA), else PocketSphinx;
``encoder: auto`` (the ``speaker`` default) takes ECAPA-TDNN when speechbrain is installed and its
weights are here or can be downloaded, else Resemblyzer. A named backend is used as given. The choice,
its reason and the identity of the weights go into the benchmark's record keys and notes.
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from typing import Any

from dasb.provenance import judge_identity
from dasb.settings import WEIGHTS_ENV, offline
from dasb.weights.base import WeightsCorrupt, WeightsUnavailable
from dasb.weights.judges import ECAPA, WHISPER_SHA256, WhisperCheckpoint

AUTO = "auto"
# Options that say where files are, not what they are (the weights identity says that).
LOCATION_OPTIONS = ("checkpoint", "download_root", "savedir", "source", "device")


@dataclass(frozen=True)
class Judge:
    """A resolved judge: the backend to build, its options, the identity of its weights and why it was chosen."""

    backend: str
    options: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None
    why: str = "named in the suite"

    def describe(self, kind: str) -> str:
        """One line for the console and the records, e.g. ``asr: judge pocketsphinx (Whisper weights ...)``."""
        model = self.options.get("model")
        return f"{kind}: judge {self.backend}{f' {model}' if model else ''} ({self.why})"

    def identity_options(self) -> dict[str, Any]:
        """The options that change numbers: with a weights identity, file locations are left out (it stands
        for them); a named backend's options are kept as given."""
        if self.weights is None:
            return dict(self.options)
        return {k: v for k, v in self.options.items() if k not in LOCATION_OPTIONS}

    def identity(self) -> dict[str, Any]:
        """What goes into record keys: backend, options, package versions and the weights identity."""
        found = judge_identity(self.backend, self.identity_options())
        return found if self.weights is None else {**found, "weights": self.weights}


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _weights(name: str, source: Any, where: str) -> tuple[Any, str | None]:
    """(local folder, None), or (None, why not) when absent and not downloadable now."""
    try:
        return source.fetch(progress=sys.stderr.isatty()), None
    except WeightsUnavailable:
        how = "offline mode is set" if offline() else "the download failed"
        return None, f"{name} weights not found in {where} and {how}; `dasb weights fetch {name}`"
    except (WeightsCorrupt, OSError) as err:
        return None, f"{name} weights: {err}"


def choose_asr(backend: str, options: dict[str, Any]) -> Judge:
    """The ASR judge for the ``backend`` setting (``auto``: Whisper if possible, else PocketSphinx)."""
    if backend == "whisper" and "checkpoint" not in options and options.get("model", "small") in WHISPER_SHA256:
        source = WhisperCheckpoint.of(options.get("model", "small"))
        found = source.checkpoint()  # a checkpoint where dasb.weights looks, else Whisper's own lookup
        if found is not None:
            return Judge("whisper", {**options, "checkpoint": str(found)}, source.identity(), f"weights {found}")
    if backend != AUTO:
        return Judge(backend, dict(options))
    if not _installed("whisper"):
        return Judge("pocketsphinx", dict(options), why="openai-whisper not installed: pip install 'dasb[whisper]'")
    device = _device()
    model = "small" if device == "cuda" else "base"
    source = WhisperCheckpoint.of(model)
    where, problem = _weights(source.fetch_name, source, " or ".join(str(f / source.filename) for f in source.folders()))
    if where is None:
        return Judge("pocketsphinx", dict(options), why=problem or "")
    checkpoint = source.checkpoint()
    return Judge("whisper", {**options, "model": model, "device": device, "checkpoint": str(checkpoint)},
                 source.identity(), f"weights {checkpoint}, {model} on {device}")


def choose_speaker(encoder: str, options: dict[str, Any]) -> Judge:
    """The speaker encoder for the ``encoder`` setting (``auto``: ECAPA if possible, else Resemblyzer)."""
    if encoder == "ecapa" and "source" not in options and (found := ECAPA.find()) is not None:
        return Judge("ecapa", {**options, "source": str(found)}, ECAPA.identity(), f"weights {found}")
    if encoder != AUTO:
        return Judge(encoder, dict(options))
    if not _installed("speechbrain"):
        return Judge("resemblyzer", dict(options), why="speechbrain not installed: pip install 'dasb[speechbrain]'")
    where, problem = _weights("ecapa", ECAPA, f"${WEIGHTS_ENV}/{ECAPA.name} or the Hugging Face cache")
    if where is None:
        return Judge("resemblyzer", dict(options), why=problem or "")
    return Judge("ecapa", {**options, "source": str(where), "device": _device()}, ECAPA.identity(), f"weights {where}")
