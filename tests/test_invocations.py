"""The environment is stored once per invocation; records name their invocation; runs that differ in a
package version are flagged when compared."""
from __future__ import annotations

import json

from dasb.leaderboard.merge import environment_differences, merge_runs
from dasb.results.record import Record
from dasb.results.store import INVOCATIONS_FILE, RECORDS_FILE, RunStore, read_invocations, read_records
from dasb.runner import Runner
from dasb.suites import Suite

SUITE = Suite("t", "mini", ["pcm8"], {"tokens": {"max_utterances": 2}})


def _env(torch: str) -> dict:
    return {"dasb": "0.1.0", "device": "cpu", "python": "3.11.7", "platform": "Linux", "packages": {"torch": torch}}


def test_each_invocation_stores_its_environment_once_and_records_refer_to_it(tmp_path) -> None:
    Runner(SUITE, tmp_path, progress=False).run()
    Runner(Suite("t", "mini", ["pcm8"], {"tokens": {"max_utterances": 3}}), tmp_path, progress=False).run()
    lines = (tmp_path / INVOCATIONS_FILE).read_text().splitlines()
    assert len(lines) == 2
    invocations = read_invocations(tmp_path)
    assert all(inv["environment"]["packages"]["torch"] for inv in invocations.values())
    records = read_records(tmp_path)
    assert {r.run_id for r in records} == set(invocations)
    raw = [json.loads(line) for line in (tmp_path / RECORDS_FILE).read_text().splitlines()]
    assert all("env" not in d and d["schema_version"] == 2 for d in raw)


def test_a_schema_1_directory_is_read_with_its_environment(tmp_path) -> None:
    old = {"tokenizer": "a", "tokenizer_config_hash": "h", "benchmark": "tokens", "benchmark_config_hash": "b",
           "dataset": "mini", "dataset_hash": "d", "metric": "bitrate_bps", "value": 1.0, "utterance": None,
           "run_id": "old1", "created_at": "2026-01-01T00:00:00+00:00", "env": _env("2.1.0"), "schema_version": 1}
    (tmp_path / RECORDS_FILE).write_text(json.dumps(old) + "\n")
    assert [r.value for r in read_records(tmp_path)] == [1.0]
    assert read_invocations(tmp_path)["old1"]["environment"]["packages"]["torch"] == "2.1.0"


def _run_dir(path, run_id: str, torch: str, tokenizer: str):
    store = RunStore(path)
    store.append([Record(tokenizer, "h", "tokens", "b", "mini", "d", "bitrate_bps", 1.0, run_id=run_id)])
    store.add_invocation(run_id, "2026-01-01T00:00:00+00:00", _env(torch))
    return path


def test_runs_that_differ_in_a_package_version_are_flagged(tmp_path) -> None:
    a = _run_dir(tmp_path / "a", "ra", "2.13.0", "x")
    same = _run_dir(tmp_path / "same", "rs", "2.13.0", "y")
    other = _run_dir(tmp_path / "other", "ro", "2.12.0", "z")
    merged = merge_runs([a, same])
    assert environment_differences(merged.records, merged.invocations) == []
    merged = merge_runs([a, same, other])
    (warning,) = environment_differences(merged.records, merged.invocations)
    assert "torch" in warning and "2.12.0 (run ro)" in warning and "2.13.0 (run ra, rs)" in warning
    # compare looks only at the two tokenizers it compares
    assert environment_differences([r for r in merged.records if r.tokenizer in ("x", "y")], merged.invocations) == []
