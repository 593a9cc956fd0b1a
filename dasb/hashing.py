"""Hashes that identify configurations, audio and datasets in result records."""
from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

CHUNK_BYTES = 1 << 20  # files are hashed in chunks of this size: memory stays bounded whatever their size


def hash_bytes(*parts: bytes) -> str:
    """Short sha256 hex digest of the concatenated ``parts`` (length-prefixed)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()[:16]


def hash_parts(*parts: bytes | Path) -> str:
    """:func:`hash_bytes` where a ``Path`` part stands for the file's bytes, read in bounded chunks.

    Same digest as ``hash_bytes`` of the bytes themselves. A path that is not a
    readable regular file (missing, a FIFO, a device) contributes a description
    of the problem instead, so its hash is stable and never blocks.
    """
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, Path):
            try:
                with open(p, "rb", opener=_open_regular) as fh:
                    h.update(os.fstat(fh.fileno()).st_size.to_bytes(8, "little"))
                    while chunk := fh.read(CHUNK_BYTES):
                        h.update(chunk)
                continue
            except OSError as err:
                p = f"unreadable: {err.strerror}".encode()
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()[:16]


def _open_regular(path: str, flags: int) -> int:
    """Open without blocking on a FIFO, and refuse anything but a regular file."""
    fd = os.open(path, flags | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(0, "not a regular file")
    return fd


def hash_config(config: Any) -> str:
    """Hash of a JSON-serialisable configuration, independent of key order."""
    return hash_bytes(json.dumps(config, sort_keys=True, default=str).encode())

