"""Distributed execution with Ray (optional extra ``ray``).

The driver splits the plan into tasks: for each tokenizer, its pending
utterances are cut into shards, and each (tokenizer x shard) task runs the
per-utterance benchmarks in a private :class:`~dasb.runner.Runner` and returns
its records; corpus-level benchmarks get one task per tokenizer. The driver
appends the returned records to the run directory and then runs the ordinary
local runner, which finds all per-utterance work done and only aggregates (and
measures the original audio once, which the tasks leave to it), so the records
are the same as those of a local run.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from dasb.benchmarks.base import UtteranceBenchmark
from dasb.registry import BENCHMARKS
from dasb.results.record import Record
from dasb.results.store import RECORDS_FILE, read_invocations, read_records
from dasb.runner import Runner, RunSummary
from dasb.suites import Suite


def _task(suite: dict[str, Any], shard: list[str] | None, device: str, cache_dir: str | None) -> dict[str, list[dict]]:
    """Run ``suite`` (one tokenizer) on ``shard`` without aggregating; return its records and invocation."""
    with tempfile.TemporaryDirectory(prefix="dasb-task-") as tmp:
        runner = Runner(
            Suite(**suite), tmp, device=device, progress=False, cache_dir=cache_dir,
            only_utterances=None if shard is None else set(shard), aggregate=shard is None, ground_truth=False,
        )
        runner.run()
        records = [r.to_dict() for r in read_records(tmp)] if Path(tmp, RECORDS_FILE).exists() else []
        return {"records": records, "invocations": list(read_invocations(tmp).values())}


def run_with_ray(
    suite: Suite,
    out_dir: str | Path,
    device: str = "cpu",
    overwrite: str = "never",
    cache_dir: str | Path | None = None,
    address: str | None = None,
    shards: int | None = None,
) -> RunSummary:
    """Run ``suite`` on a Ray cluster (``address``; a local instance when None)."""
    try:
        import ray
    except ImportError as err:
        raise ModuleNotFoundError("the Ray executor needs the 'ray' extra: pip install 'dasb[ray]'") from err
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(_task)
    driver = Runner(suite, out_dir, device=device, overwrite=overwrite, progress=False, cache_dir=cache_dir)
    per_utt = {n: s for n, s in suite.benchmarks.items() if issubclass(BENCHMARKS.get(n), UtteranceBenchmark)}
    whole = {n: s for n, s in suite.benchmarks.items() if n not in per_utt}
    shards = shards or max(1, int(ray.cluster_resources().get("CPU", 1)))
    with driver.store.locked():
        futures = []
        for name in suite.tokenizers:
            base = {**suite.to_dict(), "tokenizers": [name]}
            pending = driver.pending_utterances(driver.cards[name])
            if per_utt and pending:
                for k in range(min(shards, len(pending))):
                    futures.append(remote.remote({**base, "benchmarks": per_utt}, pending[k::shards], device, cache_dir and str(cache_dir)))
            if whole:
                futures.append(remote.remote({**base, "benchmarks": whole}, None, device, cache_dir and str(cache_dir)))
        for done in ray.get(futures):
            for inv in done["invocations"]:  # the tasks' environments, which their records refer to
                driver.store.add_invocation(inv["run_id"], inv["started_at"], inv["environment"])
            driver.import_records(Record.from_dict(r) for r in done["records"])
        return driver.run()
