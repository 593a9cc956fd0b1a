"""Identity by content: what goes into record keys and token-cache keys besides the settings text.

A card's identity (:attr:`dasb.tokenizers.cards.Card.config_hash`) is its settings, the
weights it loads (:func:`dasb.weights.identity`: a hub commit or a sha256) and the
content of learned artefacts its ``params`` name (:func:`artefacts`: a k-means folder,
a vocoder folder), so retraining into the same folder gives new keys. A benchmark's
identity is its spec version and settings plus the judge models it uses
(:func:`judge_identity`); the dataset's is its content hash
(:attr:`dasb.data.corpus.Corpus.hash`). The token cache adds the code between audio
and tokens (:func:`code_identity`).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from dasb.env import package_versions
from dasb.weights.base import file_sha256, folder_digest

# Packages whose version can change a judge model's output, by backend name.
JUDGE_PACKAGES = {
    "pocketsphinx": ("pocketsphinx",),
    "whisper": ("openai-whisper", "torch"),
    "resemblyzer": ("resemblyzer", "torch"),
    "ecapa": ("speechbrain", "torch"),
}


def content_digest(path: str | Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, hidden files skipped)."""
    return file_sha256(path) if Path(path).is_file() else folder_digest(path)


def local_path(value: Any) -> Path | None:
    """``value`` as an existing local file or folder (``~`` expanded), else None."""
    if not isinstance(value, str) or not value:
        return None
    path = Path(value).expanduser()
    return path if path.exists() else None


def artefacts(params: dict[str, Any]) -> dict[str, str]:
    """sha256 of each local file or folder named by a card parameter (learned artefacts such as k-means)."""
    return {k: content_digest(p) for k, v in sorted(params.items()) if (p := local_path(v)) is not None}


def judge_identity(backend: str, options: dict[str, Any]) -> dict[str, Any]:
    """A judge model (ASR, speaker encoder) as it affects numbers: backend, its options (model size,
    checkpoint) and the versions of the packages that compute it; no model is loaded."""
    return {"backend": backend, "options": options, "packages": package_versions(JUDGE_PACKAGES.get(backend, ()))}


# Framework modules whose code turns audio into cached tokens and decoded audio.
_TOKEN_PATH_MODULES = ("dasb.audio", "dasb.tokenizers.runtime", "dasb.decode_inputs")


def token_path_identity(config_hash: str, adapter: type) -> str:
    """A tokenizer as it makes tokens and decoded audio: its card's identity and :func:`code_identity`."""
    from dasb.hashing import hash_config

    return hash_config({"card": config_hash, "code": code_identity(adapter)})


def code_identity(adapter: type) -> str:
    """sha256 of the source of the adapter's module and of the framework code between audio and tokens
    (resampling, channels, batching, chunking): a change there gives new token-cache keys by itself."""
    import importlib
    import inspect

    files = [importlib.import_module(m).__file__ for m in _TOKEN_PATH_MODULES] + [inspect.getsourcefile(adapter)]
    h = hashlib.sha256()
    for f in files:
        h.update(file_sha256(f).encode() if f else b"?")
    return h.hexdigest()
