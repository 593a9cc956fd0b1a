"""Weights of the judge models (Whisper checkpoints, SpeechBrain ECAPA-TDNN), listed by ``dasb weights list``.

A Whisper checkpoint ``<model>.pt`` is looked for in ``$DASB_WEIGHTS/whisper/``, the dasb weights folder's
``whisper/`` and Whisper's own download folder (``$DASB_WHISPER_DIR``, ``~/.cache/whisper``); it is
downloaded from OpenAI's published address, whose path carries its SHA-256. ECAPA is a hub repository
(:class:`~dasb.weights.hub.HubSource`), found in ``$DASB_WEIGHTS/speechbrain/spkrec-ecapa-voxceleb/`` or
the Hugging Face cache.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dasb.settings import whisper_dir
from dasb.weights.files import UrlFile
from dasb.weights.hub import HubSource

WHISPER_URL = "https://openaipublic.azureedge.net/main/whisper/models"
# SHA-256 of OpenAI's checkpoints, as in openai-whisper's ``whisper._MODELS`` (a test checks they agree).
WHISPER_SHA256 = {
    "tiny": "65147644a518d12f04e32d6f3b26facc3f8dd46e5390956a9424a650c0ce22b9",
    "base": "ed3a0b6b1c0edf879ad9b11b1af5a0e6ab5db9205f891f668f8b0e6c6326e34e",
    "small": "9ecf779972d90ba49c06d968637d720dd632c55bbf19d441fb42bf17a411e794",
}
WHISPER_LICENSE = "MIT (https://github.com/openai/whisper/blob/main/LICENSE)"


@dataclass(frozen=True)
class WhisperCheckpoint(UrlFile):
    """OpenAI's Whisper checkpoint ``<model>.pt`` (pinned by SHA-256), also found in Whisper's own download
    folder; :meth:`of` builds it for a model size."""

    @classmethod
    def of(cls, model: str) -> "WhisperCheckpoint":
        sha256 = WHISPER_SHA256[model]
        return cls("whisper", f"{model}.pt", f"{WHISPER_URL}/{sha256}/{model}.pt", sha256, WHISPER_LICENSE)

    @property
    def fetch_name(self) -> str:
        """The name ``dasb weights fetch`` knows it by, e.g. ``whisper-base``."""
        return f"whisper-{self.filename.removesuffix('.pt')}"

    def folders(self) -> list[Path]:
        return super().folders() + [whisper_dir()]


ECAPA_REPO = "speechbrain/spkrec-ecapa-voxceleb"
# Commit of the hub repository that about ten public projects pin (revision links, cache snapshot paths),
# none naming another commit; not checked against the hub from here.
ECAPA_REVISION = "0f99f2d0ebe89ac095bcc5903c4dd8f72b367286"
ECAPA = HubSource(ECAPA_REPO, ECAPA_REVISION, probe="hyperparams.yaml")

JUDGE_WEIGHTS: dict[str, WhisperCheckpoint | HubSource] = {
    **{f"whisper-{m}": WhisperCheckpoint.of(m) for m in WHISPER_SHA256},
    "ecapa": ECAPA,
}
