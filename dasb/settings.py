"""Every environment variable and default folder dasb reads, in one place.

==================  =====================================================================
``DASB_CACHE_DIR``  dasb's cache root (token cache, ABX audio, judge models, SpeechBrain
                    files); default ``$XDG_CACHE_HOME/dasb``, else ``~/.cache/dasb``
``DASB_CACHE_MAX_GB`` size limit of each cache store (tokens with decoded audio; scores), default 20;
                    the least recently used entries are evicted past it
``DASB_CARDS``      extra tokenizer card folders, ``os.pathsep``-separated
``DASB_WEIGHTS``    a folder of model weights laid out as ``<hub id>/``
``DASB_WHISPER_DIR`` Whisper checkpoints (default: whisper's own ``~/.cache/whisper``)
``DASB_ECAPA_DIR``  the ECAPA speaker model (default ``<cache root>/spkrec-ecapa-voxceleb``)
``DASB_OFFLINE``, ``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE``  never download weights
``HF_ENDPOINT``     the hub's address (checked for reachability before downloading)
``DASB_SHARED_DATA`` real speech sets for tests and ``dasb bench --references`` (default ``shared/data``
                    beside the project checkout; absent on most machines)
==================  =====================================================================
"""
from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR_ENV = "DASB_CACHE_DIR"
CACHE_MAX_GB_ENV = "DASB_CACHE_MAX_GB"
DEFAULT_CACHE_MAX_GB = 20.0
CARDS_ENV = "DASB_CARDS"
WEIGHTS_ENV = "DASB_WEIGHTS"
WHISPER_DIR_ENV = "DASB_WHISPER_DIR"
ECAPA_DIR_ENV = "DASB_ECAPA_DIR"
OFFLINE_ENVS = ("DASB_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
HUB_ENDPOINT_ENV = "HF_ENDPOINT"
SHARED_DATA_ENV = "DASB_SHARED_DATA"


def cache_dir(*parts: str) -> Path:
    """``$DASB_CACHE_DIR``, else ``$XDG_CACHE_HOME/dasb``, else ``~/.cache/dasb``; then ``parts``."""
    root = os.environ.get(CACHE_DIR_ENV)
    if not root:
        root = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dasb")
    return Path(root).expanduser().joinpath(*parts)


def cache_max_bytes() -> int:
    """``$DASB_CACHE_MAX_GB`` (default 20) in bytes: the size past which a cache store evicts."""
    raw = os.environ.get(CACHE_MAX_GB_ENV) or str(DEFAULT_CACHE_MAX_GB)
    try:
        gb = float(raw)
    except ValueError:
        raise ValueError(f"{CACHE_MAX_GB_ENV}={raw!r} is not a number of gigabytes") from None
    if gb <= 0:
        raise ValueError(f"{CACHE_MAX_GB_ENV}={raw!r} must be positive")
    return int(gb * 1e9)


def extra_card_dirs() -> list[Path]:
    """Folders named by ``$DASB_CARDS``."""
    return [Path(p) for p in os.environ.get(CARDS_ENV, "").split(os.pathsep) if p]


def weights_root() -> Path | None:
    """``$DASB_WEIGHTS``, when set."""
    root = os.environ.get(WEIGHTS_ENV)
    return Path(root).expanduser() if root else None


def whisper_dir() -> Path:
    return Path(os.environ.get(WHISPER_DIR_ENV) or Path.home() / ".cache" / "whisper")


def ecapa_dir() -> Path:
    return Path(os.environ.get(ECAPA_DIR_ENV) or cache_dir("spkrec-ecapa-voxceleb"))


def offline() -> bool:
    """Whether the Hugging Face hub must not be contacted."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in OFFLINE_ENVS)


def hub_endpoint() -> str:
    return os.environ.get(HUB_ENDPOINT_ENV) or "https://huggingface.co"


def shared_data_dir() -> Path:
    """``$DASB_SHARED_DATA``, else ``shared/data`` beside the project checkout (which may not exist)."""
    return Path(os.environ.get(SHARED_DATA_ENV) or Path(__file__).resolve().parents[2] / "shared" / "data")
