"""The environment an invocation measured in (stored once per invocation, see :mod:`dasb.results.store`)."""
from __future__ import annotations

import platform
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Iterable

# Every installed package that can change a number: the framework's numerics, the metric
# implementations, the judge models (ASR, speaker, MOS) and the adapters' model code.
TRACKED_PACKAGES = (
    "dasb", "torch", "torchaudio", "numpy", "scipy", "soundfile", "pesq", "pystoi", "jiwer",
    "transformers", "huggingface_hub", "safetensors", "pocketsphinx", "openai-whisper", "resemblyzer",
    "speechbrain", "speechmos", "onnxruntime", "onnx", "librosa", "av", "pycodec2", "snac", "speechtokenizer",
    "s3tokenizer", "ai-edge-litert", "rapidfuzz", "espeakng-loader",
)


@lru_cache(maxsize=None)
def installed_version(package: str) -> str | None:
    """Installed version of ``package``, None when it is not installed. Read once per process: record keys ask
    for judge package versions hundreds of times a run, and each lookup scans the installed distributions."""
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def package_versions(packages: Iterable[str]) -> dict[str, str | None]:
    """Installed version of each package (None when it is not installed)."""
    return {pkg: installed_version(pkg) for pkg in packages}


@lru_cache(maxsize=4)
def environment(device: str) -> dict[str, Any]:
    """Versions of the packages that affect numbers, plus device and platform."""
    versions = package_versions(TRACKED_PACKAGES)
    return {
        "dasb": versions.pop("dasb"),
        "device": device,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }
