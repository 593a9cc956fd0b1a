"""Pytest hooks (imported by conftest.py): with CI=true, a skip not listed in allowed_skips.txt fails the run."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ALLOWED_FILE = Path(__file__).with_name("allowed_skips.txt")
_skips: list[tuple[str, str]] = []  # (test or module, reason)


def allowed_reasons() -> dict[str, str]:
    """Text a skip reason may contain -> why that skip is fine in CI."""
    out = {}
    for line in ALLOWED_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            pattern, _, why = line.partition(" -- ")
            out[pattern.strip()] = why.strip()
    return out


def _note(report: pytest.CollectReport | pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        longrepr = report.longrepr
        _skips.append((report.nodeid, longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)))


def pytest_collectreport(report: pytest.CollectReport) -> None:
    _note(report)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _note(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI", "").lower() not in ("true", "1"):
        return
    allowed = allowed_reasons()
    unexpected = [(node, why) for node, why in _skips if not any(p in why for p in allowed)]
    if unexpected:
        lines = "\n".join(f"  {node}: {why}" for node, why in unexpected)
        print(f"\nCI: {len(unexpected)} unexpected skip(s) (allowed ones are listed in {ALLOWED_FILE}):\n{lines}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
