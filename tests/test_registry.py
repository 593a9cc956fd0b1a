"""Registry, cards, plugins through entry points, and the repository layout."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dasb.registry import Registry, RegistryError
from dasb.tokenizers.cards import get_card

REPO = Path(__file__).resolve().parents[1]


def test_collision_names_both_sources():
    reg = Registry("thing", "dasb.test-none")
    reg.register("a", "x.y:A", source="dasb")
    reg.register("a", "x.y:A", source="dasb")  # same target again is fine
    with pytest.raises(RegistryError, match=r"x.y:A \(from dasb\).*x.z:B \(from other-pkg\)"):
        reg.register("a", "x.z:B", source="other-pkg")


def test_unknown_name_suggests_nearest():
    with pytest.raises(RegistryError, match="did you mean.*mulaw8-8k"):
        get_card("mulaw-8k")


def test_top_level_data_folders_hold_no_python_and_do_not_shadow_tokenizers():
    for folder in ("tokenizers", "benchmarks", "leaderboard"):
        assert not list((REPO / folder).rglob("*.py")), f"{folder}/ must hold data only"
    code = "import importlib.util, json; s = importlib.util.find_spec('tokenizers'); print(s and s.origin)"
    origin = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    # The Hugging Face library (if installed, possibly inside .venv) is fine; our data folder is not.
    assert origin == "None" or not Path(origin).resolve().is_relative_to((REPO / "tokenizers").resolve())


def test_third_party_plugin_runs_through_the_cli(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(REPO / "tests" / "plugin_pkg")],
        check=True, capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    listed = subprocess.run([sys.executable, "-m", "dasb", "list", "metrics"], env=env, capture_output=True, text=True, check=True)
    assert "toy_peak_error" in listed.stdout and "dasb-toy-plugin" in listed.stdout
    out = tmp_path / "run"
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: plug\ndataset: mini\ntokenizers: [toy-sign]\nbenchmarks:\n  reconstruction:\n"
                     "    max_utterances: 2\n    metrics: [stoi, toy_peak_error]\n")
    run = subprocess.run([sys.executable, "-m", "dasb", "run", "--suite", str(suite), "--out", str(out)],
                         env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "toy-sign" in run.stdout
    board = subprocess.run([sys.executable, "-m", "dasb", "leaderboard", str(out)], env=env, capture_output=True, text=True, check=True)
    assert "toy-sign" in board.stdout and "reconstruction/toy_peak_error ↓" in board.stdout


def test_a_broken_card_file_is_reported_once_and_the_other_cards_work(tmp_path, monkeypatch, capsys):
    from dasb.cli import main
    from dasb.tokenizers.cards import CardFileWarning, load_cards

    (tmp_path / "a_good.yaml").write_text("cards:\n  - name: good-card\n    adapter: pcm\n    params: {bits: 8}\n")
    (tmp_path / "b_syntax.yaml").write_text("defaults: {adapter: pcm}\ncards:\n  - name: x\n    params: {bits: 8\n  - name: y\n")
    (tmp_path / "c_fields.yaml").write_text("cards:\n  - name: fine\n    adapter: pcm\n  - name: odd\n    adapter: pcm\n    colour: red\n")
    (tmp_path / "d_twice.yaml").write_text("name: pcm8\nadapter: pcm\n")
    monkeypatch.setenv("DASB_CARDS", str(tmp_path))
    with pytest.warns(CardFileWarning) as caught:
        cards = load_cards()
        load_cards()  # reported once, not on every lookup
    assert "good-card" in cards and "pcm8" in cards and cards["pcm8"].adapter == "pcm"
    assert sorted(str(w.message).split(": ")[1] for w in caught) == [
        f"{tmp_path / 'b_syntax.yaml'}:5", f"{tmp_path / 'c_fields.yaml'}:4", f"{tmp_path / 'd_twice.yaml'}:1"]
    assert get_card("good-card").build().info.num_codebooks == 1
    assert main(["info", "good-card"]) == 0 and '"good-card"' in capsys.readouterr().out
    listed = subprocess.run([sys.executable, "-m", "dasb", "list", "tokenizers"], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert listed.returncode == 0 and "good-card" in listed.stdout and "pcm16" in listed.stdout
    assert listed.stderr.count("dasb: warning: tokenizer card file left out") == 3 and "Traceback" not in listed.stderr
    assert f"{tmp_path / 'b_syntax.yaml'}:5: invalid YAML" in listed.stderr


def test_info_says_a_unit_vocoder_folder_must_be_trusted_like_code(capsys):
    from dasb.cli import main

    assert main(["info", "dasb-wavlm-large-k1000"]) == 0  # prints the card even without the weights
    trust = json.loads(capsys.readouterr().out)["trust"]
    assert "HyperPyYAML" in trust and "pickle" in trust and "speechbrain/hifigan-wavlm-k1000-LibriTTS" in trust
    assert main(["info", "pcm8"]) == 0 and "trust" not in json.loads(capsys.readouterr().out)
