"""Content-addressed cache of tokens and decoded audio.

An entry is keyed by the tokenizer's identity (its card's configuration and content hash,
and the source of the adapter and of the framework code that changes tokens or decoded
audio: resampling, chunking, batching; see :func:`dasb.provenance.code_identity`), and
the hash of the input waveform and rate; no version is bumped by hand.
A rerun, or a new benchmark on the same tokenizer, reads tokens from here
instead of encoding again.

Each entry file is ``MAGIC | sha256(payload) | payload`` (payload: an ``.npz``)
written to a temporary file, fsync'ed and renamed into place, so a killed
writer leaves either nothing or a complete entry. The payload also holds the
entry's :class:`EntryId` (what it was computed from), checked on read: a file
copied, synced or placed under another entry's name is not read. A checksum
mismatch, a foreign entry or an unreadable one is reported, deleted and
recomputed, never used.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dasb.hashing import hash_config
from dasb.tokenizers.base import Tokens

MAGIC = b"DASBCACHE2\n"  # the entry file format
SUFFIX = ".entry"


@dataclass
class CachedItem:
    """What is cached for one (tokenizer, audio) pair."""

    tokens: Tokens
    decoded: np.ndarray | None
    encode_seconds: float
    decode_seconds: float


@dataclass(frozen=True)
class EntryId:
    """What one entry was computed from. Its hash names the entry's file, and it is stored
    inside the entry and compared on read, so an entry only ever serves its own input."""

    tokenizer: str  # configuration hash
    audio: str  # content hash of the input samples and rate
    samples: int  # input length
    rate: int  # the input's rate, which decoded audio is brought back to
    inputs: str = ""  # the decoder's inputs (:mod:`dasb.decode_inputs`), if any

    @property
    def key(self) -> str:
        return hash_config(vars(self))

    def to_json(self) -> str:
        return json.dumps(vars(self), sort_keys=True)


class TokenCache:
    """Entries under one folder, two-level fan-out by key prefix."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}{SUFFIX}"

    def get(self, entry: EntryId, need_decoded: bool) -> CachedItem | None:
        """The entry, or None when absent, corrupt or foreign (then deleted), or lacking decoded audio."""
        path = self._path(entry.key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            stored, item = _unpack(blob)
        except Exception as err:  # any damage means recompute; say so and remove the entry
            warnings.warn(f"cache entry {path} is corrupt ({err}); recomputing it")
            path.unlink(missing_ok=True)
            return None
        if stored != entry.to_json():
            warnings.warn(f"cache entry {path} was written for another input ({stored}, expected "
                          f"{entry.to_json()}): it was copied or renamed; recomputing it")
            path.unlink(missing_ok=True)
            return None
        if need_decoded and item.decoded is None:
            return None
        return item

    def put(self, entry: EntryId, item: CachedItem) -> None:
        """Write an entry atomically (temporary file, fsync, rename)."""
        key = entry.key
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{key}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(_pack(entry, item))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def info(self) -> dict:
        """Number of entries, their total size, and leftover temporary files."""
        entries = list(self.root.rglob(f"*{SUFFIX}")) if self.root.exists() else []
        temps = list(self.root.rglob(".*.tmp")) if self.root.exists() else []
        return {
            "path": str(self.root),
            "entries": len(entries),
            "bytes": sum(p.stat().st_size for p in entries),
            "temporary_files": len(temps),
        }

    def prune(self, older_than_days: float | None = None) -> int:
        """Delete entries not used for ``older_than_days`` (all when None) and temporary files."""
        if not self.root.exists():
            return 0
        cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
        removed = 0
        for p in list(self.root.rglob(f"*{SUFFIX}")) + list(self.root.rglob(".*.tmp")):
            if cutoff is None or p.stat().st_atime < cutoff or p.suffix == ".tmp":
                p.unlink(missing_ok=True)
                removed += 1
        return removed


def cacheable(tokens: Tokens) -> bool:
    """Entries store tensors only; side information of other types is not cached."""
    return all(torch.is_tensor(v) for v in tokens.side.values())


def _pack(entry: EntryId, item: CachedItem) -> bytes:
    t = item.tokens
    arrays = {
        "entry": np.array(entry.to_json()),
        "codes": t.codes.cpu().numpy(),
        "lengths": t.lengths.cpu().numpy(),
        "seconds": np.array([item.encode_seconds, item.decode_seconds]),
    }
    if t.mask is not None:
        arrays["mask"] = t.mask.cpu().numpy()
    if item.decoded is not None:
        arrays["decoded"] = item.decoded
    for name, value in t.side.items():
        arrays[f"side:{name}"] = value.cpu().numpy()
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    payload = buf.getvalue()
    return MAGIC + hashlib.sha256(payload).digest() + payload


def _unpack(blob: bytes) -> tuple[str, CachedItem]:
    """The stored :class:`EntryId` (JSON) and the item."""
    if not blob.startswith(MAGIC):
        raise ValueError("bad header")
    digest, payload = blob[len(MAGIC) : len(MAGIC) + 32], blob[len(MAGIC) + 32 :]
    if hashlib.sha256(payload).digest() != digest:
        raise ValueError("checksum mismatch")
    with np.load(io.BytesIO(payload), allow_pickle=False) as data:
        side = {k.split(":", 1)[1]: torch.from_numpy(data[k]) for k in data.files if k.startswith("side:")}
        mask = torch.from_numpy(data["mask"]) if "mask" in data.files else None
        tokens = Tokens(torch.from_numpy(data["codes"]), torch.from_numpy(data["lengths"]), mask, side)
        decoded = data["decoded"] if "decoded" in data.files else None
        enc, dec = (float(x) for x in data["seconds"])
        stored = str(data["entry"])
    return stored, CachedItem(tokens, decoded, enc, dec)
