"""``dasb bench``: how fast the framework is on this machine (a benchmark, not a test).

Prints, for a suite (default: the default suite), each run in a child process as
``dasb run`` runs it (N metric workers):
- cold time (empty token cache, new run directory), warm time (the same command
  again: resumed, nothing recomputed) and a warm-cache time (new run directory,
  tokens and decoded audio from the cache), with their ratios and whether the
  records are the same;
- the cold run's CPU seconds (the child and every process it started), how many
  cores it kept busy on average, and its floor: CPU seconds over the cores, the
  least wall time that work can take here however well it is spread;
- metric-stage throughput with 1 and with N workers (reconstruction metrics on
  items computed beforehand) and the ratio;
- the share of the cold run's wall time spent outside tokenizer and benchmark
  code (framework overhead);
- peak resident memory growth while one long file (default 30 min at 16 kHz)
  goes through the reconstruction benchmark, measured in a child process.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from dasb.data.corpus import load_corpus
from dasb.registry import BENCHMARKS
from dasb.results.store import RECORDS_FILE


# One run of a suite in a child process: once it exits, its CPU time and that of every process it started (metric
# workers, decoder pools) is this process's children's time.
RUN_CHILD = """
import json, sys, time
from dasb.runner import Runner
from dasb.suites import load_suite
runner = Runner(load_suite(sys.argv[1]), sys.argv[2], cache_dir=sys.argv[3], workers=int(sys.argv[4]), progress=False)
start = time.perf_counter()
runner.run()
print(json.dumps({"seconds": time.perf_counter() - start, **runner.timings}))
"""


def _child_run(suite: str, out: Path, cache: Path, workers: int) -> dict:
    """Run ``suite`` into ``out`` in a child process. Returns the run's ``seconds`` (start-up excluded), its
    seconds in tokenizer and benchmark code, the child's whole life (``process_s``) and the CPU seconds of the
    child and everything it started (``cpu_s``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUN_CHILD, suite, str(out), str(cache), str(workers)],
                          capture_output=True, text=True)
    process_s = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark run of suite {suite!r} failed (exit {done.returncode}): {done.stderr[-2000:]}")
    cpu_s = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {**json.loads(done.stdout.splitlines()[-1]), "process_s": process_s, "cpu_s": cpu_s}


def _values(run_dir: Path) -> dict[tuple, float | None]:
    out = {}
    for line in (run_dir / RECORDS_FILE).read_text().splitlines():
        r = json.loads(line)
        out[(r["tokenizer"], r["benchmark"], r["utterance"], r["metric"])] = r["value"]
    return out


def _differences(a: dict, b: dict, rel: float = 1e-6) -> list[str]:
    """Keys whose values differ beyond ``rel`` (machine-measuring benchmarks excluded).

    1e-6: metrics computed in float32 (mel distance) change in the 8th digit with the thread count.
    """
    out = [f"only in one run: {k}" for k in a.keys() ^ b.keys()]
    for k in a.keys() & b.keys():
        x, y = a[k], b[k]
        if BENCHMARKS.get(k[1]).measures_machine or (x is None and y is None):
            continue
        if x is None or y is None or abs(x - y) > rel * max(1.0, abs(x)):
            out.append(f"{k}: {x} vs {y}")
    return sorted(out)


def bench_suite(suite: str, workers: int, tmp: Path) -> dict:
    """Cold, warm and warm-cache timings of ``suite`` (a name or a file), run as ``dasb run`` runs it (``workers``
    metric workers), with the cold run's CPU time and the framework overhead."""
    cold = _child_run(suite, tmp / "cold", tmp / "cache", workers)
    before = (tmp / "cold" / RECORDS_FILE).read_bytes()
    warm = _child_run(suite, tmp / "cold", tmp / "cache", workers)
    unchanged = (tmp / "cold" / RECORDS_FILE).read_bytes() == before
    cached = _child_run(suite, tmp / "cached", tmp / "cache", workers)
    cores = os.cpu_count() or 1
    inside = cold["tokenizer"] + cold["benchmark"]
    return {
        "cold_s": cold["seconds"],
        # The same work cannot take less wall time than its CPU time shared perfectly over the cores.
        "cold_cpu_s": cold["cpu_s"],
        "cold_cores_busy": cold["cpu_s"] / cold["process_s"],
        "cold_floor_s": cold["cpu_s"] / cores,
        "warm_rerun_s": warm["seconds"],
        "warm_rerun_speedup": cold["seconds"] / warm["seconds"],
        "warm_rerun_records_unchanged": unchanged,
        "warm_cache_new_run_s": cached["seconds"],
        "warm_cache_speedup": cold["seconds"] / cached["seconds"],
        "warm_cache_records_differing": _differences(_values(tmp / "cold"), _values(tmp / "cached"))[:5],
        "tokenizer_s": cold["tokenizer"],
        "benchmark_s": cold["benchmark"],
        "framework_overhead_share": max(0.0, cold["seconds"] - inside) / cold["seconds"],
    }


def bench_metric_workers(workers: int, utterances: int = 32) -> dict:
    """Reconstruction scoring throughput (items/s) with 1 and ``workers`` processes."""
    from dasb.benchmarks.reconstruction import Reconstruction
    from dasb.items import ItemMaker
    from dasb.scoring import Scorer
    from dasb.tokenizers.cards import get_card

    card = get_card("mulaw8-8k")
    tok = card.build()
    utts = load_corpus("mini").utterances[:utterances]
    items = [it for _, it in ItemMaker(tok, card.config_hash, 8).make(utts, decode=True)]
    bench = Reconstruction()
    out = {}
    for n in (1, workers):
        scorer = Scorer(n)
        sink: list = []
        for it in items[:n]:  # warm-up: one task per worker starts every process and its imports
            scorer.submit(bench, it, tok, sink.append)
        scorer.drain()
        start = time.perf_counter()
        for it in items:
            scorer.submit(bench, it, tok, sink.append)
        scorer.drain()
        out[f"items_per_s_{n}_workers"] = len(items) / (time.perf_counter() - start)
        scorer.close()
    out["worker_speedup"] = out[f"items_per_s_{workers}_workers"] / out["items_per_s_1_workers"]
    return out


# VmHWM (this process's peak RSS) rather than ru_maxrss, which a child inherits from its parent.
LONG_FILE_CHILD = """
import re, sys
from pathlib import Path
from dasb.runner import Runner
from dasb.suites import Suite
import dasb.benchmarks.reconstruction, dasb.metrics.signal, pesq, pystoi  # imports before the baseline
hwm = lambda: int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024
base = hwm()
Runner(Suite("long", sys.argv[1], [sys.argv[2]], {"reconstruction": {}}), sys.argv[3], progress=False).run()
print(base, hwm())
"""


def bench_long_file(minutes: float, tokenizer: str, tmp: Path) -> dict:
    """Peak RSS growth of a child process scoring one ``minutes``-long file."""
    speech = np.concatenate([sf.read(u.audio, dtype="float32")[0] for u in load_corpus("mini").utterances])
    n = int(minutes * 60 * 16000)
    sf.write(tmp / "long.flac", np.resize(speech, n), 16000, subtype="PCM_16")
    (tmp / "long.jsonl").write_text(json.dumps({"id": "long", "audio": "long.flac"}) + "\n")
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", LONG_FILE_CHILD, str(tmp / "long.jsonl"), tokenizer, str(tmp / "long_run")],
        capture_output=True, text=True, check=True,
    )
    base, peak = (int(x) for x in done.stdout.split()[-2:])
    errors = [json.loads(x) for x in (tmp / "long_run" / RECORDS_FILE).read_text().splitlines()]
    errors = [r["message"] for r in errors if r["status"] != "ok"]
    return {
        "long_file_minutes": minutes,
        "long_file_tokenizer": tokenizer,
        "long_file_seconds": time.perf_counter() - start,
        "long_file_peak_rss_growth_mb": (peak - base) / 2**20,
        "long_file_error_records": errors,
    }


def main(suite_name: str = "default", workers: int | None = None, long_minutes: float = 30.0,
         long_tokenizer: str = "mulaw8-8k") -> dict:
    """Run every measurement and print a report; returns the numbers."""
    workers = workers or os.cpu_count() or 1
    results: dict = {"suite": suite_name, "workers": workers}
    with tempfile.TemporaryDirectory(prefix="dasb-bench-") as tmp_name:
        tmp = Path(tmp_name)
        results.update(bench_suite(suite_name, workers, tmp))
        results.update(bench_metric_workers(workers))
        if long_minutes > 0:
            results.update(bench_long_file(long_minutes, long_tokenizer, tmp))
    width = max(len(k) for k in results)
    for key, value in results.items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    return results
