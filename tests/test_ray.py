"""The Ray executor gives the same records as the local one."""
import pytest

from dasb.results import read_records
from dasb.runner import Runner
from dasb.suites import Suite

ray = pytest.importorskip("ray", reason="the ray extra is not installed")


@pytest.mark.slow
def test_ray_executor_matches_local(tmp_path):
    from dasb.executors import run_with_ray

    suite = Suite("t", "mini", ["pcm8", "mulaw8-8k"], {"reconstruction": {"max_utterances": 5}})
    Runner(suite, tmp_path / "local", progress=False).run()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = run_with_ray(suite, tmp_path / "ray", shards=2)
    finally:
        ray.shutdown()
    assert summary.exit_code == 0
    key = lambda r: (r.tokenizer, r.benchmark, r.utterance, r.metric, r.status)  # noqa: E731
    local = {key(r): r for r in read_records(tmp_path / "local")}
    remote = {key(r): r for r in read_records(tmp_path / "ray")}
    assert local.keys() == remote.keys() and len(local) == 2 * 6 * 7
    for k, a in local.items():
        b = remote[k]
        assert (a.tokenizer_config_hash, a.benchmark_config_hash, a.dataset_hash, a.n) == (b.tokenizer_config_hash, b.benchmark_config_hash, b.dataset_hash, b.n)
        assert (a.value is None and b.value is None) or a.value == pytest.approx(b.value, rel=1e-12, abs=1e-12)
