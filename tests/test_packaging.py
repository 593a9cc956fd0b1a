"""A wheel install (not a checkout) still finds the built-in cards, suites and shipped checkpoints."""
from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_install_carries_cards_and_suites(tmp_path):
    run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=tmp_path)  # noqa: E731
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO))
    wheel = next(tmp_path.glob("dasb-*.whl"))
    env = tmp_path / "env"
    run(sys.executable, "-m", "venv", "--without-pip", str(env))
    python = env / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel))
    # Dependencies come from this environment, appended after the new one's own packages (a .pth file).
    site = Path(run(str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip())
    (site / "zz_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    probe = ("import dasb; from dasb.tokenizers.cards import load_cards, get_card; from dasb.suites import list_suites;"
             "print(dasb.__file__); print(len(load_cards())); print(','.join(list_suites()));"
             "print(get_card('melrvq-4cb').build().info.num_codebooks)")
    out = run(str(python), "-c", probe).stdout.split("\n")
    assert out[0].startswith(str(env)), f"imported {out[0]}, not the installed wheel"
    assert int(out[1]) >= 60 and "default" in out[2].split(",") and out[3] == "4"
