"""Weights of the judge models (Whisper checkpoints, SpeechBrain ECAPA-TDNN), listed by ``dasb weights list``.

A Whisper checkpoint ``<model>.pt`` is looked for in ``$DASB_WEIGHTS/whisper/``, the dasb weights folder's
``whisper/`` and Whisper's own download folder (``$DASB_WHISPER_DIR``, ``~/.cache/whisper``); it is
downloaded from OpenAI's published address, whose path carries its SHA-256. ECAPA is a hub repository
(:class:`~dasb.weights.hub.HubSource`), found in ``$DASB_WEIGHTS/speechbrain/spkrec-ecapa-voxceleb/`` or
the Hugging Face cache.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from dasb.settings import offline, whisper_dir
from dasb.weights.base import WeightsUnavailable, download, download_root, file_sha256, reachable, search_roots
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
class WhisperCheckpoint:
    """OpenAI's Whisper checkpoint ``<model>.pt`` (one file, pinned by SHA-256)."""

    model: str

    @property
    def name(self) -> str:
        return f"whisper-{self.model}"

    @property
    def sha256(self) -> str:
        return WHISPER_SHA256[self.model]

    @property
    def url(self) -> str:
        return f"{WHISPER_URL}/{self.sha256}/{self.model}.pt"

    def candidates(self) -> list[Path]:
        """Where a user puts the checkpoint, in the order searched."""
        return [root / "whisper" / f"{self.model}.pt" for root in search_roots()] + [whisper_dir() / f"{self.model}.pt"]

    def checkpoint(self) -> Path | None:
        return next((p for p in self.candidates() if p.is_file()), None)

    def find(self) -> Path | None:
        found = self.checkpoint()
        return None if found is None else found.parent

    def identity(self) -> str | None:
        """The SHA-256 of the file that would be loaded (its content, pinned or not), None when absent."""
        found = self.checkpoint()
        return None if found is None else f"sha256:{file_sha256(found)}"

    def missing(self) -> str | None:
        if self.checkpoint() is not None:
            return None
        return (f"{self.model}.pt not found in {', '.join(str(p.parent) for p in self.candidates())}: run "
                f"`dasb weights fetch {self.name}` or download {self.url} into one of them. Licence: {WHISPER_LICENSE}")

    def size(self) -> int | None:
        found = self.checkpoint()
        return None if found is None else found.stat().st_size

    def verify(self, where: Path) -> list[str]:
        path = where / f"{self.model}.pt"
        got = file_sha256(path)
        return [] if got == self.sha256 else [f"{path}: sha256 {got}, not OpenAI's {self.sha256} (another checkpoint)"]

    def fetch(self, progress: bool = True) -> Path:
        """Download the checkpoint into ``<download root>/whisper/`` (checked by SHA-256)."""
        where = self.find()
        if where is not None:
            return where
        if offline() or not reachable(WHISPER_URL):
            why = "offline mode is set" if offline() else "openaipublic.azureedge.net cannot be reached"
            raise WeightsUnavailable(f"cannot download {self.name}: {why}. {self.missing()}")
        dest = download_root() / "whisper" / f"{self.model}.pt"
        print(f"dasb: downloading {self.name} from {self.url}\n      licence: {WHISPER_LICENSE}", file=sys.stderr)
        download(self.url, dest, self.sha256, None, progress)
        return dest.parent


ECAPA_REPO = "speechbrain/spkrec-ecapa-voxceleb"
# Commit of the hub repository that about ten public projects pin (revision links, cache snapshot paths),
# none naming another commit; not checked against the hub from here.
ECAPA_REVISION = "0f99f2d0ebe89ac095bcc5903c4dd8f72b367286"
ECAPA = HubSource(ECAPA_REPO, ECAPA_REVISION, probe="hyperparams.yaml")

JUDGE_WEIGHTS: dict[str, WhisperCheckpoint | HubSource] = {
    **{f"whisper-{m}": WhisperCheckpoint(m) for m in WHISPER_SHA256},
    "ecapa": ECAPA,
}
