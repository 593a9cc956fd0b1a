"""CI fails on a skip that tests/allowed_skips.txt does not list."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ci_skips import allowed_reasons

TESTS = Path(__file__).parent
SAMPLE = '''
import pytest

def test_runs():
    pass

def test_allowed():
    pytest.skip("set not present at /x (developer machines only)")

def test_missing_install():
    pytest.skip("needs pocketsphinx: pip install 'dasb[asr]'")
'''


def _pytest(tmp_path, ci, body=SAMPLE):
    (tmp_path / "test_sample.py").write_text(body)
    (tmp_path / "conftest.py").write_text("from ci_skips import pytest_collectreport, pytest_runtest_logreport, pytest_sessionfinish\n")
    env = {**os.environ, "PYTHONPATH": str(TESTS), "CI": ci}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                           "-c", os.devnull, str(tmp_path)], capture_output=True, text=True, env=env)


def test_an_unlisted_skip_fails_ci_and_is_named(tmp_path):
    out = _pytest(tmp_path, "true")
    assert out.returncode == 1, out.stdout
    assert "1 unexpected skip(s)" in out.stdout and "test_missing_install" in out.stdout
    assert "test_allowed:" not in out.stdout


@pytest.mark.parametrize("ci, body", [("", SAMPLE), ("true", "def test_ok():\n    pass\n")])
def test_outside_ci_or_without_unlisted_skips_nothing_changes(tmp_path, ci, body):
    assert _pytest(tmp_path, ci, body).returncode == 0


def test_every_allowed_skip_says_why():
    reasons = allowed_reasons()
    assert reasons and all(why for why in reasons.values())
