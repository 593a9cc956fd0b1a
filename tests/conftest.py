"""Shared fixtures: paths to the optional real-speech sets beside the project."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from dasb.settings import CACHE_DIR_ENV, shared_data_dir

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = shared_data_dir()

# Tests never share dasb's caches with real runs: scores computed with a test's stand-in judge or plugin
# would be keyed like real ones and reused by them. One cache folder per test session, removed at its end.
os.environ[CACHE_DIR_ENV] = tempfile.mkdtemp(prefix="dasb-test-cache-")
atexit.register(shutil.rmtree, os.environ[CACHE_DIR_ENV], ignore_errors=True)


@pytest.fixture
def speech_dev() -> Path:
    """The real recorded speech set (../shared/data/speech_dev); skips when absent."""
    path = SHARED_DATA / "speech_dev" / "manifest.jsonl"
    if not path.exists():
        pytest.skip(f"real speech set not present at {path} (developer machines only)")
    return path


@pytest.fixture
def general_audio() -> Path:
    """Real non-speech audio (../shared/data/general_audio: music, birds, noise); skips when absent."""
    path = SHARED_DATA / "general_audio" / "manifest.jsonl"
    if not path.exists():
        pytest.skip(f"general audio set not present at {path} (developer machines only)")
    return path


@pytest.fixture
def shared_weights(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real model weights (../shared/models: lyra-v2/, nisqa/) as ``$DASB_WEIGHTS``; skips when absent."""
    path = SHARED_DATA.parent / "models"
    if not path.is_dir():
        pytest.skip(f"real model weights not present at {path} (developer machines only)")
    monkeypatch.setenv("DASB_WEIGHTS", str(path))
    return path


# With CI=true, skips not listed in tests/allowed_skips.txt fail the run.
from ci_skips import pytest_collectreport, pytest_runtest_logreport, pytest_sessionfinish  # noqa: E402,F401
