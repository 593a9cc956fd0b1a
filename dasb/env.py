"""The environment a record was measured in."""
from __future__ import annotations

import platform
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

TRACKED_PACKAGES = ("dasb", "torch", "torchaudio", "numpy", "scipy", "soundfile", "pesq", "pystoi")


@lru_cache(maxsize=4)
def environment(device: str) -> dict[str, Any]:
    """Versions of the packages that affect numbers, plus device and platform."""
    versions = {}
    for pkg in TRACKED_PACKAGES:
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    return {
        "dasb": versions.pop("dasb"),
        "device": device,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }
