"""Metric specs and settings schemas: one place decides what a number means, and typos fail early."""
from __future__ import annotations

import pytest

from dasb.benchmarks.base import UtteranceBenchmark
from dasb.cli import main
from dasb.registry import BENCHMARKS, Registry, RegistryError
from dasb.runner import Runner
from dasb.specs import MetricSpec, SettingsError, catalogue, check_settings, headline_of
from dasb.suites import Suite, load_suite
from dasb.tokenizers.cards import CardFileWarning, get_card


def test_every_benchmark_declares_valid_specs_and_one_headline() -> None:
    for name in [n for n in BENCHMARKS.names() if BENCHMARKS.source(n) == "dasb"]:  # tests register their own
        specs = BENCHMARKS.get(name)().metrics()
        assert sum(s.headline for s in specs.values()) == 1, name
        assert specs[headline_of(specs)].higher_is_better is not None, name
    listed = catalogue()
    assert len(listed) >= 70 and {b for b, _ in listed} == set(BENCHMARKS.names())


def test_list_metrics_shows_direction_unit_and_benchmark(capsys: pytest.CaptureFixture) -> None:
    assert main(["list", "metrics"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("dwer "))
    assert "asr" in line and "lower is better" in line and "ratio" in line
    assert main(["info", "reconstruction"]) == 0
    info = capsys.readouterr().out
    assert "max_utterances" in info and "pesq_wb ↑" in info and "[headline]" in info


def test_misspelt_suite_key_and_benchmark_setting_fail_before_work(tmp_path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\ndataset: mini\ntokenizers: [pcm16]\nbatch_sise: 4\n")
    with pytest.raises(SettingsError, match="'batch_sise'.*did you mean 'batch_size'"):
        load_suite(str(suite))
    suite.write_text("name: s\ndataset: mini\ntokenizers: [pcm16]\nbenchmarks:\n  asr: {max_utterance: 4}\n")
    with pytest.raises(SettingsError, match="benchmark 'asr'.*'max_utterance'.*did you mean 'max_utterances'"):
        load_suite(str(suite))
    suite.write_text("name: s\ndataset: mini\ntokenizers: [pcm16]\nbenchmarks:\n  tokens: {per_codebook: 3}\n")
    with pytest.raises(SettingsError, match="'per_codebook' must be bool"):
        load_suite(str(suite))
    # The CLI says so (exit 2) and writes nothing.
    out = tmp_path / "run"
    assert main(["run", "--suite", str(suite), "--out", str(out)]) == 2
    assert not out.exists()
    # Settings passed on to a config (probe sizes) are part of the schema too.
    check_settings("probes", BENCHMARKS.get("probes"), {"epochs": 2, "tokenizers": ["pcm16"]})
    with pytest.raises(SettingsError, match="did you mean 'epochs'"):
        check_settings("probes", BENCHMARKS.get("probes"), {"epoch": 2})


def test_misspelt_card_field_and_param_fail_before_work(tmp_path, monkeypatch) -> None:
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "x.yaml").write_text("name: my-pcm\nadapter: pcm\nparams: {bits: 8, sampel_rate: 8000}\n")
    monkeypatch.setenv("DASB_CARDS", str(cards))
    with pytest.raises(SettingsError, match="'sampel_rate'.*did you mean 'sample_rate'"):
        get_card("my-pcm").check_params()
    with pytest.raises(SettingsError, match="sampel_rate"):
        Runner(Suite("t", "mini", ["my-pcm"], {"tokens": {}}), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "records.jsonl").exists()
    # A misspelt card field leaves the card file out, reported with the nearest field; a suite naming the card
    # then stops before any work.
    (cards / "x.yaml").write_text("name: my-pcm\nadapter: pcm\nrevison: abc\n")
    with pytest.warns(CardFileWarning, match="x.yaml:1: card 'my-pcm': unknown setting 'revison' .did you mean 'revision'"):
        with pytest.raises(RegistryError, match="unknown tokenizer 'my-pcm'"):
            Runner(Suite("t", "mini", ["my-pcm"], {"tokens": {}}), tmp_path / "run", progress=False)


class _NoSpecs(UtteranceBenchmark):
    name = "nospecs"

    def metrics(self):
        return {"x": True}  # a bare direction, not a spec

    def score(self, item, tokenizer):
        return {"x": 1.0}


class _TwoHeadlines(_NoSpecs):
    name = "twoheads"

    def metrics(self):
        return {m: MetricSpec(m, True, headline=True) for m in ("a", "b")}


def test_plugin_benchmarks_are_checked_on_registration() -> None:
    reg: Registry = Registry("benchmark", "dasb.test-none", check="dasb.benchmarks.base:check_benchmark")
    reg.register("nospecs", f"{__name__}:_NoSpecs", source="a plugin")
    reg.register("twoheads", f"{__name__}:_TwoHeadlines", source="a plugin")
    reg.register("misnamed", f"{__name__}:_TwoHeadlines", source="a plugin")
    with pytest.raises(RegistryError, match="nospecs.*must be a MetricSpec"):
        reg.get("nospecs")
    with pytest.raises(RegistryError, match="more than one headline"):
        reg.get("twoheads")
    with pytest.raises(RegistryError, match="registered as 'misnamed'"):
        reg.get("misnamed")
