"""Hashes that identify configurations, audio and datasets in result records."""
from __future__ import annotations

import hashlib
import json
from typing import Any


def hash_bytes(*parts: bytes) -> str:
    """Short sha256 hex digest of the concatenated ``parts`` (length-prefixed)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()[:16]


def hash_config(config: Any) -> str:
    """Hash of a JSON-serialisable configuration, independent of key order."""
    return hash_bytes(json.dumps(config, sort_keys=True, default=str).encode())
