"""Shared fixtures: paths to the optional real-speech sets beside the project."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DASB_SHARED_DATA", REPO.parent / "shared" / "data"))


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
