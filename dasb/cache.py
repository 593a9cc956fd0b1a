"""Content-addressed cache of tokens and decoded audio.

An entry is keyed by the tokenizer's configuration hash, the hash of the input
waveform and rate, and :data:`CACHE_VERSION` (bumped whenever framework code
that changes tokens or decoded audio changes: resampling, chunking, batching).
A rerun, or a new benchmark on the same tokenizer, reads tokens from here
instead of encoding again.

Each entry file is ``MAGIC | sha256(payload) | payload`` (payload: an ``.npz``)
written to a temporary file, fsync'ed and renamed into place, so a killed
writer leaves either nothing or a complete entry. A checksum mismatch or an
unreadable entry is reported, deleted and recomputed, never used.
"""
from __future__ import annotations

import hashlib
import io
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dasb.hashing import hash_config
from dasb.tokenizers.base import Tokens

CACHE_VERSION = 1
MAGIC = b"DASBCACHE1\n"
SUFFIX = ".entry"


def default_cache_dir() -> Path:
    """``$DASB_CACHE_DIR``, else ``$XDG_CACHE_HOME/dasb``, else ``~/.cache/dasb``."""
    if os.environ.get("DASB_CACHE_DIR"):
        return Path(os.environ["DASB_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dasb"


@dataclass
class CachedItem:
    """What is cached for one (tokenizer, audio) pair."""

    tokens: Tokens
    decoded: np.ndarray | None
    encode_seconds: float
    decode_seconds: float


def entry_key(tokenizer_hash: str, audio_hash: str, out_rate: int, inputs_key: str = "") -> str:
    """Key of one entry; ``out_rate`` is the rate decoded audio was brought back to and
    ``inputs_key`` identifies the decoder's inputs (:mod:`dasb.decode_inputs`), if any."""
    key = {"tokenizer": tokenizer_hash, "audio": audio_hash, "rate": out_rate, "v": CACHE_VERSION}
    return hash_config({**key, "inputs": inputs_key} if inputs_key else key)


class TokenCache:
    """Entries under one folder, two-level fan-out by key prefix."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}{SUFFIX}"

    def get(self, key: str, need_decoded: bool) -> CachedItem | None:
        """The entry, or None when absent, corrupt (then deleted) or lacking decoded audio."""
        path = self._path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            item = _unpack(blob)
        except Exception as err:  # any damage means recompute; say so and remove the entry
            warnings.warn(f"cache entry {path} is corrupt ({err}); recomputing it")
            path.unlink(missing_ok=True)
            return None
        if need_decoded and item.decoded is None:
            return None
        return item

    def put(self, key: str, item: CachedItem) -> None:
        """Write an entry atomically (temporary file, fsync, rename)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{key}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(_pack(item))
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


def _pack(item: CachedItem) -> bytes:
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
    payload = buf.getvalue()
    return MAGIC + hashlib.sha256(payload).digest() + payload


def _unpack(blob: bytes) -> CachedItem:
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
    return CachedItem(tokens, decoded, enc, dec)
