"""Content-addressed caches under dasb's cache root: tokens with decoded audio, and scores.

:class:`EntryStore` is the file layer both use. Each entry file is
``MAGIC | sha256(body) | body``, ``body = len(identity) | identity | payload``, written
to a temporary file, fsync'ed and renamed into place, so a killed writer leaves either
nothing or a complete entry. ``identity`` (JSON: what the entry was computed from) is
compared on read: a file copied, synced or placed under another entry's name is not
read. A checksum mismatch, a foreign entry or an unreadable one is reported, deleted
and recomputed, never used. Reading an entry marks it used (its mtime); when a store
grows past its size limit, the least recently used entries are evicted.

:class:`TokenCache` (``<root>/tokens``) keys tokens and decoded audio by the tokenizer's
identity (its card's configuration and content hash, and the source of the adapter and
of the framework code between audio and tokens, see :func:`dasb.provenance.code_identity`)
and the hash of the input waveform and rate; no version is bumped by hand. Scores live
in :mod:`dasb.result_cache` (``<root>/results``).
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
from typing import Callable, TypeVar

import numpy as np
import torch

from dasb.hashing import hash_config
from dasb.tokenizers.base import Tokens

MAGIC = b"DASBCACHE3\n"  # the entry file format
SUFFIX = ".entry"
T = TypeVar("T")


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


class EntryStore:
    """Checked entry files under one folder (two-level fan-out by key prefix), least recently used
    evicted past ``max_bytes`` (None: unbounded)."""

    def __init__(self, root: str | Path, max_bytes: int | None = None) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._bytes: int | None = None  # running total since the last scan (other processes may add)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}{SUFFIX}"

    def read(self, key: str, identity: str) -> bytes | None:
        """The payload stored under ``key`` for ``identity``; None when absent, damaged or foreign (then deleted)."""
        path = self.path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            stored, payload = _unpack(blob)
        except ValueError as err:  # any damage means recompute; say so and remove the entry
            warnings.warn(f"cache entry {path} is corrupt ({err}); recomputing it")
            path.unlink(missing_ok=True)
            return None
        if stored != identity:
            warnings.warn(f"cache entry {path} was written for another input ({stored}, expected "
                          f"{identity}): it was copied or renamed; recomputing it")
            path.unlink(missing_ok=True)
            return None
        try:
            os.utime(path)  # used now: the last to be evicted
        except OSError:
            pass
        return payload

    def load(self, key: str, identity: str, decode: Callable[[bytes], T]) -> T | None:
        """:meth:`read`, then ``decode`` the payload; a checksummed payload that does not decode (written by
        another version) is reported, deleted and recomputed like a damaged one."""
        payload = self.read(key, identity)
        if payload is None:
            return None
        try:
            return decode(payload)
        except Exception as err:
            warnings.warn(f"cache entry {self.path(key)} is corrupt ({err}); recomputing it")
            self.path(key).unlink(missing_ok=True)
            return None

    def write(self, key: str, identity: str, payload: bytes) -> None:
        """Write an entry atomically (temporary file, fsync, rename), then keep the store under its limit."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{key}.{os.getpid()}.tmp"
        blob = _pack(identity, payload)
        with open(tmp, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        if self.max_bytes is not None:
            self._bytes = (self._bytes if self._bytes is not None else self._total()) + len(blob)
            if self._bytes > self.max_bytes:
                self.evict()

    def _entries(self) -> list[Path]:
        return list(self.root.rglob(f"*{SUFFIX}")) if self.root.exists() else []

    def _total(self) -> int:
        return sum(_size(p) for p in self._entries())

    def evict(self) -> int:
        """Delete least recently used entries until the store holds at most 90% of ``max_bytes``
        (the margin spares a scan at every write); the number deleted."""
        if self.max_bytes is None:
            return 0
        entries = sorted(((_mtime(p), _size(p), p) for p in self._entries()), key=lambda e: e[0])
        total, removed = sum(size for _, size, _ in entries), 0
        for _, size, p in entries:
            if total <= 0.9 * self.max_bytes:
                break
            p.unlink(missing_ok=True)
            total, removed = total - size, removed + 1
        self._bytes = total
        return removed

    def info(self) -> dict:
        """Number of entries, their total size, the limit, and leftover temporary files."""
        entries = self._entries()
        temps = list(self.root.rglob(".*.tmp")) if self.root.exists() else []
        return {"path": str(self.root), "entries": len(entries), "bytes": sum(_size(p) for p in entries),
                "max_bytes": self.max_bytes, "temporary_files": len(temps)}

    def prune(self, older_than_days: float | None = None) -> int:
        """Delete entries not used for ``older_than_days`` (all when None) and temporary files."""
        if not self.root.exists():
            return 0
        cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
        removed = 0
        for p in self._entries() + list(self.root.rglob(".*.tmp")):
            if cutoff is None or p.suffix == ".tmp" or _mtime(p) < cutoff:
                p.unlink(missing_ok=True)
                removed += 1
        self._bytes = None
        return removed


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # removed meanwhile by another process
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


class TokenCache:
    """Tokens and decoded audio of (tokenizer, input audio) pairs, in an :class:`EntryStore`."""

    def __init__(self, root: str | Path, max_bytes: int | None = None) -> None:
        self.store = EntryStore(root, max_bytes)
        self.root = self.store.root

    def get(self, entry: EntryId, need_decoded: bool) -> CachedItem | None:
        """The entry, or None when absent, corrupt or foreign (then deleted), or lacking decoded audio."""
        item = self.store.load(entry.key, entry.to_json(), _item_from_npz)
        if item is None or need_decoded and item.decoded is None:
            return None
        return item

    def put(self, entry: EntryId, item: CachedItem) -> None:
        """Store ``item`` for ``entry`` atomically."""
        self.store.write(entry.key, entry.to_json(), _item_to_npz(item))

    def info(self) -> dict:
        return self.store.info()

    def prune(self, older_than_days: float | None = None) -> int:
        return self.store.prune(older_than_days)


def cacheable(tokens: Tokens) -> bool:
    """Entries store tensors only; side information of other types is not cached."""
    return all(torch.is_tensor(v) for v in tokens.side.values())


def _item_to_npz(item: CachedItem) -> bytes:
    t = item.tokens
    arrays = {
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
    return buf.getvalue()


def _item_from_npz(payload: bytes) -> CachedItem:
    with np.load(io.BytesIO(payload), allow_pickle=False) as data:
        side = {k.split(":", 1)[1]: torch.from_numpy(data[k]) for k in data.files if k.startswith("side:")}
        mask = torch.from_numpy(data["mask"]) if "mask" in data.files else None
        tokens = Tokens(torch.from_numpy(data["codes"]), torch.from_numpy(data["lengths"]), mask, side)
        decoded = data["decoded"] if "decoded" in data.files else None
        enc, dec = (float(x) for x in data["seconds"])
    return CachedItem(tokens, decoded, enc, dec)


def _pack(identity: str, payload: bytes) -> bytes:
    ident = identity.encode()
    body = len(ident).to_bytes(4, "little") + ident + payload
    return MAGIC + hashlib.sha256(body).digest() + body


def _unpack(blob: bytes) -> tuple[str, bytes]:
    """The stored identity (JSON) and the payload; ValueError when the file is not a whole entry."""
    if not blob.startswith(MAGIC):
        raise ValueError("bad header")
    digest, body = blob[len(MAGIC) : len(MAGIC) + 32], blob[len(MAGIC) + 32 :]
    if hashlib.sha256(body).digest() != digest:
        raise ValueError("checksum mismatch")
    size = int.from_bytes(body[:4], "little")
    return body[4 : 4 + size].decode(), body[4 + size :]
