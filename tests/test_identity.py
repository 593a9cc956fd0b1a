"""Identity by content: what changes a number changes its key; what does not, resumes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dasb.benchmarks.tokens import TokenStatistics
from dasb.env import environment
from dasb.results import read_records
from dasb.runner import Runner
from dasb.suites import Suite
from dasb.tokenizers.cards import get_card

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden_records.json"
HUB_ID = "someone/some-ssl-model"


def _card(folder: Path, text: str, monkeypatch) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "card.yaml").write_text(text)
    monkeypatch.setenv("DASB_CARDS", str(folder))


def test_retraining_kmeans_into_the_same_folder_gives_new_keys(tmp_path, monkeypatch) -> None:
    kmeans = tmp_path / "km"
    kmeans.mkdir()
    (kmeans / "kmeans.safetensors").write_bytes(b"first training run")
    (kmeans / "kmeans.json").write_text("{}")
    _card(tmp_path / "cards", f"name: my-km\nadapter: ssl-kmeans\ncheckpoint: {HUB_ID}\n"
          f"revision: {'a' * 40}\nparams: {{kmeans: {kmeans}, layers: [3]}}\n", monkeypatch)
    first = get_card("my-km").config_hash
    assert get_card("my-km").config_hash == first  # unchanged inputs: same key, the run resumes
    (kmeans / "kmeans.safetensors").write_bytes(b"second training run, other centroids")
    assert get_card("my-km").config_hash != first


def test_a_branch_revision_is_keyed_by_the_commit_it_resolves_to(tmp_path, monkeypatch) -> None:
    import huggingface_hub.constants as hub

    repo = tmp_path / "hub" / f"models--{HUB_ID.replace('/', '--')}"
    for commit in ("1" * 40, "2" * 40):
        (repo / "snapshots" / commit).mkdir(parents=True)
        (repo / "snapshots" / commit / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hub"))
    _card(tmp_path / "cards", f"name: on-main\nadapter: ssl-kmeans\ncheckpoint: {HUB_ID}\nrevision: main\n", monkeypatch)
    keys = {}
    for commit in ("1" * 40, "2" * 40):
        (repo / "refs" / "main").write_text(commit)
        keys[commit] = get_card("on-main").config_hash
    assert len(set(keys.values())) == 2
    # Switching a pinned revision in the card changes the key too.
    _card(tmp_path / "cards", f"name: on-main\nadapter: ssl-kmeans\ncheckpoint: {HUB_ID}\nrevision: '{'1' * 40}'\n", monkeypatch)
    assert get_card("on-main").config_hash not in keys.values()


def test_benchmark_version_bump_gives_new_keys_and_unchanged_inputs_resume(tmp_path, monkeypatch) -> None:
    suite = Suite("t", "mini", ["pcm8"], {"tokens": {"max_utterances": 2}})
    first = Runner(suite, tmp_path, progress=False).run().written["ok"]
    assert first > 0
    assert Runner(suite, tmp_path, progress=False).run().written["ok"] == 0  # resumes
    monkeypatch.setattr(TokenStatistics, "version", TokenStatistics.version + 1)
    assert Runner(suite, tmp_path, progress=False).run().written["ok"] == first
    assert len({r.benchmark_config_hash for r in read_records(tmp_path)}) == 2


def test_environment_names_every_package_that_can_change_a_number() -> None:
    packages = environment("cpu")["packages"]
    for pkg in ("torch", "transformers", "pocketsphinx", "resemblyzer", "onnxruntime", "speechmos", "pesq"):
        assert pkg in packages


@pytest.mark.slow  # about 35 s of CPU
def test_shipped_numbers_change_only_with_their_key() -> None:
    """The golden records (scripts/golden_records.py) are recomputed: a record whose key is unchanged must
    have the same value. A change of value needs a new key (bump the benchmark's ``version``), then a
    regenerated golden file. Computed in a fresh process, as the script does (see its docstring: Codec2)."""
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "golden_records.py"), "--print"], cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, check=True)
    fresh = json.loads(out.stdout)
    golden = json.loads(GOLDEN.read_text())
    assert golden["suite"] == fresh["suite"], "the golden suite changed: regenerate with scripts/golden_records.py"
    now = fresh["records"]
    stale = sorted(set(golden["records"]) - set(now))
    assert not stale, f"{len(stale)} golden keys no longer produced (e.g. {stale[0]}): regenerate after checking"
    changed = {k: (v, now[k]) for k, v in golden["records"].items() if now[k] != pytest.approx(v, rel=1e-6, abs=1e-9)}
    assert not changed, f"values changed under unchanged keys (bump the benchmark version): {list(changed.items())[:5]}"
