"""The weights of each tokenizer card: which sources, whether they are here, their identity.

An adapter class declares its sources with a classmethod
``weight_sources(checkpoint, revision, params) -> list[Source]`` (a :class:`HubSource`,
a :class:`~dasb.weights.files.FileSet`, a :class:`~dasb.weights.files.UrlFile` or :class:`LocalFiles`); adapters without one
need no weights. Everything here works offline and loads no model.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from dasb.hashing import hash_config
from dasb.weights.base import WeightsUnavailable, file_sha256
from dasb.weights.files import FileSet, UrlFile
from dasb.weights.hub import HubSource


@dataclass(frozen=True)
class LocalFiles:
    """Files a user puts in a folder themselves (no pinned download); ``fix`` says how to make them."""

    folder: str
    files: tuple[str, ...]
    fix: str

    @property
    def name(self) -> str:
        return self.folder

    def find(self) -> Path | None:
        where = Path(self.folder).expanduser()
        return where if all((where / f).is_file() for f in self.files) else None

    def identity(self) -> str | None:
        where = self.find()
        return None if where is None else "sha256:" + hash_config({f: file_sha256(where / f) for f in self.files})

    def missing(self) -> str | None:
        return None if self.find() is not None else f"{', '.join(self.files)} missing in {self.folder}: {self.fix}"

    def size(self) -> int | None:
        where = self.find()
        return None if where is None else sum((where / f).stat().st_size for f in self.files)

    def verify(self, where: Path) -> list[str]:
        return []  # nothing pinned to check against

    def fetch(self, progress: bool = True) -> Path:
        where = self.find()
        if where is None:
            raise WeightsUnavailable(self.missing() or "")
        return where


Source = Union[HubSource, FileSet, UrlFile, LocalFiles]


def hub_or_folder(checkpoint: str | None, revision: str | None, probe: str = "config.json",
                  patterns: tuple[str, ...] | None = None) -> list[Source]:
    """The usual source of a ``checkpoint``: a folder when it is a path, else a hub repository."""
    if checkpoint is None:
        return []
    if checkpoint.startswith(("/", "~", ".")) or Path(checkpoint).expanduser().is_dir():
        return [LocalFiles(checkpoint, (probe,), "set the card's checkpoint to a folder holding the model files")]
    return [HubSource(checkpoint, revision, probe, patterns)]


def card_sources(card: Any) -> list[Source]:
    """The weights sources of a card (``[]`` for adapters that need none or cannot be imported)."""
    from dasb.registry import ADAPTERS

    if card.status != "available":
        return []
    try:
        cls = ADAPTERS.get(card.adapter)
    except Exception:  # an adapter whose extra is missing: `dasb doctor` reports it
        return []
    declared = getattr(cls, "weight_sources", None)
    return list(declared(card.checkpoint, card.revision, dict(card.params))) if declared else []


def identity(card: Any) -> str | None:
    """The identity of the weights ``card`` would load now, for record and cache keys (None: needs no weights).

    A hub snapshot is its commit, a folder the SHA-256 of its files, a pinned file set the hash of its
    pinned SHA-256s (verified before use). Absent weights give ``"absent"``, so results recorded
    while they were missing never share keys with results of the real weights."""
    sources = card_sources(card)
    if not sources:
        return None
    ids = [s.identity() or "absent" for s in sources]
    return ids[0] if len(ids) == 1 else hash_config(ids)
