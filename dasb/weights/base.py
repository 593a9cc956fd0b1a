"""What every weights source shares: the folders searched, the offline switch, hashing, downloading.

Folders, in the order they are searched: a card's own local folder, ``$DASB_WEIGHTS``
(a folder of weights you copied in, laid out as ``<source name>/<files>``), then the
dasb weights folder ``$DASB_CACHE_DIR/weights`` (``~/.cache/dasb/weights``), where
``dasb weights fetch`` downloads to unless ``$DASB_WEIGHTS`` is set.
"""
from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from dasb.settings import WEIGHTS_ENV, cache_dir, offline, weights_root



class WeightsUnavailable(RuntimeError):
    """Weights are not on this machine and cannot be downloaded now; the message says how to supply them."""


class WeightsCorrupt(RuntimeError):
    """A weights file does not have the content its source pins (sha256 mismatch)."""


def reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether the host of ``url`` accepts a connection within ``timeout`` seconds (fail fast offline)."""
    host = urlparse(url).hostname or url
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def download_root() -> Path:
    """Where downloads go: ``$DASB_WEIGHTS`` when set, else the dasb weights folder."""
    return weights_root() or cache_dir("weights")


def search_roots() -> list[Path]:
    """Folders holding ``<source name>/`` weight folders: ``$DASB_WEIGHTS``, then the dasb weights folder."""
    root = weights_root()
    return ([root] if root else []) + [cache_dir("weights")]


_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's content (remembered per path, size and modification time within the process)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def folder_digest(folder: str | Path) -> str:
    """One SHA-256 over every file of ``folder`` (relative paths and contents; hidden files ignored)."""
    root = Path(folder)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file() and not any(s.startswith(".") for s in q.relative_to(root).parts)):
        h.update(f"{p.relative_to(root).as_posix()}\0{file_sha256(p)}\n".encode())
    return h.hexdigest()


def folder_size(folder: str | Path) -> int:
    """Bytes of every file under ``folder`` (symlinks followed, as the HF cache uses them)."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def download(url: str, dest: Path, sha256: str | None, size: int | None = None, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` through a temporary file, with a progress bar; keep it only if its
    SHA-256 is ``sha256`` (else :class:`WeightsCorrupt`, nothing left behind). ``sha256=None``: no checksum is
    known, the file is kept unverified (callers say so and record its digest)."""
    import urllib.request

    from tqdm import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{os.getpid()}.part"
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=30) as resp, open(tmp, "wb") as out:
            total = int(resp.headers.get("Content-Length") or size or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                for block in iter(lambda: resp.read(1 << 16), b""):
                    out.write(block)
                    h.update(block)
                    bar.update(len(block))
        if sha256 is not None and h.hexdigest() != sha256:
            raise WeightsCorrupt(f"{url}: downloaded content has sha256 {h.hexdigest()}, expected {sha256}; not kept")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
