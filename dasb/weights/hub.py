"""Weights from the Hugging Face hub: a local folder, ``$DASB_WEIGHTS/<hub id>``, the HF cache, or the hub.

Loading follows the authors' release: ``from_pretrained(hub_id, revision=...)`` or a
local folder. Weights that are not available fail within seconds with an error that
names the hub id and the ways to supply them, instead of waiting for network retries.

Revisions: a hub source is resolved to one commit before loading (the snapshot folder
of the Hugging Face cache is named after it) and every file is loaded from that
commit (:func:`loaded_revision`). A revision that is not a commit hash (``main``)
warns, naming that commit.
"""
from __future__ import annotations

import hashlib
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dasb.settings import WEIGHTS_ENV, hub_endpoint, offline, weights_root
from dasb.weights.base import WeightsUnavailable, folder_digest, folder_size, reachable

COMMIT = re.compile(r"[0-9a-f]{40}")
SHA256 = re.compile(r"[0-9a-f]{64}")


def _hub_reachable(timeout: float = 3.0) -> bool:
    return reachable(hub_endpoint(), timeout)


def is_commit(revision: str | None) -> bool:
    """Whether ``revision`` is a full commit hash (a branch or tag name can move)."""
    return revision is not None and COMMIT.fullmatch(revision) is not None


def snapshot_commit(path: str) -> str | None:
    """The commit of a file in the Hugging Face cache: the folder after ``snapshots`` in its path."""
    parts = Path(path).parts
    for i, part in enumerate(parts[:-1]):
        if part == "snapshots" and COMMIT.fullmatch(parts[i + 1]):
            return parts[i + 1]
    return None


def find_local(checkpoint: str, revision: str | None, probe: str = "config.json") -> tuple[str, dict[str, Any]] | None:
    """A local source of ``checkpoint`` without touching the network: an existing folder,
    ``$DASB_WEIGHTS/<hub id>``, or the Hugging Face cache (loaded with ``local_files_only``).

    From the cache, ``revision`` is replaced by the commit of the snapshot holding ``probe``,
    so that a branch name cannot resolve to another commit for the next file."""
    local = Path(checkpoint).expanduser()
    if local.is_dir():
        return str(local), {}
    root = weights_root()
    if root and (root / checkpoint).is_dir():
        return str(root / checkpoint), {}
    from huggingface_hub import try_to_load_from_cache

    # A pinned commit that is not in the cache gives None here, even when another commit is cached.
    cached = try_to_load_from_cache(checkpoint, probe, revision=revision)
    if isinstance(cached, str):
        return checkpoint, {"revision": snapshot_commit(cached) or revision, "local_files_only": True}
    return None


def how_to_supply(checkpoint: str, revision: str | None) -> str:
    """The ways to make ``checkpoint`` available offline."""
    rev = revision or "main"
    return (f"`huggingface-cli download {checkpoint} --revision {rev}` on a connected machine (then copy "
            f"~/.cache/huggingface), or put the files in ${WEIGHTS_ENV}/{checkpoint}/, or set the card's "
            f"checkpoint to a local folder")


def locate(checkpoint: str, revision: str | None, probe: str = "config.json") -> tuple[str, dict[str, Any]]:
    """Where to load ``checkpoint`` from: ``(path_or_id, from_pretrained kwargs)``.

    A local source (:func:`find_local`) first; the hub only when it is reachable
    and offline mode is unset. Raises :class:`WeightsUnavailable` otherwise,
    within a few seconds. Except for a folder, the kwargs' ``revision`` is a commit:
    from the hub, the one ``probe`` downloads from (see :func:`loaded_revision`).
    """
    found = find_local(checkpoint, revision, probe)
    if found is not None:
        return found
    if not offline() and _hub_reachable():
        if is_commit(revision):
            return checkpoint, {"revision": revision}
        from huggingface_hub import hf_hub_download

        # Resolve the branch once, so every file comes from the same commit.
        path = hf_hub_download(checkpoint, probe, revision=revision)
        return checkpoint, {"revision": snapshot_commit(path) or revision}
    why = "offline mode is set" if offline() else "the hub is unreachable"
    raise WeightsUnavailable(
        f"weights for {checkpoint!r} (revision {revision or 'main'}) are not available: not a local folder, "
        f"not under ${WEIGHTS_ENV}, not in the Hugging Face cache, and {why}. Supply them with "
        + how_to_supply(checkpoint, revision) + "."
    )


def loaded_revision(checkpoint: str, revision: str | None, where: str, kwargs: dict[str, Any]) -> str | None:
    """What an answer of :func:`locate` loads: its commit, or ``"local folder <path>"``
    (None when the commit is unknown). Warns when the card's ``revision`` is not a commit."""
    if Path(where).is_dir():
        return f"local folder {where}"
    got = kwargs.get("revision")
    got = got if is_commit(got) else None
    if not is_commit(revision):
        warnings.warn(f"{checkpoint}: revision {revision or 'main'!r} is not pinned to a commit; it resolved to "
                      f"{got or 'an unknown commit'}. Pin it in the card: `revision: {got or '<40-hex commit>'}`.",
                      stacklevel=3)
    return got


def fetch_files(checkpoint: str, revision: str | None, filenames: list[str]) -> tuple[list[str], str | None]:
    """Local paths of ``filenames`` of a hub repo or folder (for codecs that are not ``transformers`` models),
    and the :func:`loaded_revision`.

    Same order and same fast failure as :func:`locate`; downloads only when the hub is reachable.
    """
    where, kwargs = locate(checkpoint, revision, probe=filenames[0])
    if Path(where).is_dir():
        paths = [str(Path(where) / f) for f in filenames]
    else:
        from huggingface_hub import hf_hub_download

        paths = [hf_hub_download(checkpoint, f, **kwargs) for f in filenames]
    return paths, loaded_revision(checkpoint, revision, where, kwargs)


def fetch_folder(checkpoint: str, revision: str | None, patterns: list[str]) -> tuple[Path, str | None]:
    """Local folder holding the files matching ``patterns`` (globs) of a hub repo or folder, and the
    :func:`loaded_revision`; ``patterns[0]`` must name one file (it probes the cache)."""
    where, kwargs = locate(checkpoint, revision, probe=patterns[0])
    loaded = loaded_revision(checkpoint, revision, where, kwargs)
    if Path(where).is_dir():
        return Path(where), loaded
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(checkpoint, allow_patterns=patterns, **kwargs)), loaded


@dataclass(frozen=True)
class HubSource:
    """A hub repository at a revision; ``probe`` is a file every copy has, ``patterns`` what to download."""

    repo_id: str
    revision: str | None
    probe: str = "config.json"
    patterns: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return self.repo_id

    def find(self) -> Path | None:
        """The local folder of this source (a folder, ``$DASB_WEIGHTS/<id>``, or its cache snapshot), if any."""
        found = find_local(self.repo_id, self.revision, self.probe)
        if found is None:
            return None
        where, kwargs = found
        if Path(where).is_dir():
            return Path(where)
        from huggingface_hub import try_to_load_from_cache

        return Path(str(try_to_load_from_cache(self.repo_id, self.probe, revision=kwargs["revision"]))).parent

    def identity(self) -> str | None:
        """The commit of a cache snapshot, or the content digest of a folder; None when absent."""
        where = self.find()
        if where is None:
            return None
        commit = snapshot_commit(str(where / self.probe))
        return f"commit:{commit}" if commit else f"sha256:{folder_digest(where)}"

    def missing(self) -> str | None:
        if self.find() is not None:
            return None
        return (f"{self.repo_id} (revision {self.revision or 'main'}) missing, no {self.probe} found: "
                + how_to_supply(self.repo_id, self.revision))

    def size(self) -> int | None:
        where = self.find()
        return None if where is None else folder_size(where)

    def verify(self, where: Path) -> list[str]:
        """Cache snapshots: each file's content against the hash its blob is named by (SHA-256 for LFS files,
        the git blob SHA-1 otherwise). A plain folder has no pinned hashes: nothing to check against."""
        if snapshot_commit(str(where / self.probe)) is None:
            return []
        problems = []
        for p in sorted(q for q in where.rglob("*") if q.is_file()):
            blob = Path(os.path.realpath(p)).name
            if SHA256.fullmatch(blob):
                h = hashlib.sha256()
            elif COMMIT.fullmatch(blob):
                h = hashlib.sha1(b"blob %d\0" % p.stat().st_size)
            else:
                continue
            with open(p, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            got = h.hexdigest()
            if got != blob:
                problems.append(f"{p}: content hash {got} does not match its blob {blob} (corrupt; delete "
                                f"{os.path.realpath(p)} and fetch again)")
        return problems

    def fetch(self, progress: bool = True) -> Path:
        """Download the snapshot at ``revision`` into the Hugging Face cache (huggingface_hub's progress bars)."""
        where = self.find()
        if where is not None:
            return where
        if offline() or not _hub_reachable():
            raise WeightsUnavailable(f"cannot download {self.repo_id}: "
                                     + ("offline mode is set" if offline() else "the hub is unreachable")
                                     + f". {self.missing()}")
        from huggingface_hub import snapshot_download

        patterns = list(self.patterns) if self.patterns else None
        return Path(snapshot_download(self.repo_id, revision=self.revision, allow_patterns=patterns))
