"""`dasb bench` on a small suite: runs in child processes, CPU time of the whole process tree, resumes exactly."""
from __future__ import annotations

import os

import yaml

from dasb.speed import bench_suite


def test_bench_suite_measures_cpu_and_finds_records_unchanged(tmp_path) -> None:
    suite = {"name": "tiny", "dataset": "mini", "tokenizers": ["pcm8", "mulaw8-8k"],
             "benchmarks": {"reconstruction": {"max_utterances": 3, "metrics": ["stoi"]}, "tokens": {}}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(suite))
    got = bench_suite(str(tmp_path / "tiny.yaml"), 2, tmp_path)
    assert got["cold_cpu_s"] > 0 and got["cold_floor_s"] == got["cold_cpu_s"] / (os.cpu_count() or 1)
    assert 0 < got["cold_cores_busy"] <= (os.cpu_count() or 1) + 0.05
    assert got["warm_rerun_records_unchanged"] and got["warm_cache_records_differing"] == []
    assert got["warm_rerun_s"] < got["cold_s"] and 0 <= got["framework_overhead_share"] < 1
    records = (tmp_path / "cold" / "records.jsonl").read_text().splitlines()
    assert len(records) == len((tmp_path / "cached" / "records.jsonl").read_text().splitlines())
