"""One writer per run directory; no non-finite number recorded as ok; records on disk as work finishes."""
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dasb.benchmarks.base import CorpusBenchmark, Result, UtteranceBenchmark
from dasb.registry import BENCHMARKS
from dasb.results.record import GROUND_TRUTH
from dasb.results import read_records
from dasb.results.store import CONFIG_FILE, RECORDS_FILE, REJECTED_FILE, TOKENIZERS_FILE, RunDirInUse, RunStore, write_atomic
from dasb.runner import Runner
from dasb.specs import MetricSpec, spec_table
from dasb.suites import Suite

# What the test benchmarks below return, set by each test.
PLAN: dict = {}


class PlannedBench(UtteranceBenchmark):
    """Returns PLAN["values"][utterance id] (default 1.0); calls PLAN["on_score"] first if set."""

    name = "planned"

    def metrics(self):
        return spec_table(MetricSpec("m", True))

    def score(self, item, tokenizer):
        if "on_score" in PLAN:
            PLAN["on_score"](item.utterance.id)
        value = PLAN.get("values", {}).get(item.utterance.id, 1.0)
        if isinstance(value, Exception):
            raise value
        return {"m": value}


class PlannedCorpusBench(CorpusBenchmark):
    name = "planned-corpus"
    ground_truth = True  # reports a row about the original audio

    def metrics(self):
        return spec_table(MetricSpec("m", True))

    def run(self, items, tokenizer):
        truth = [Result("m", PLAN["truth"], subject=GROUND_TRUTH)] if "truth" in PLAN else []
        return [Result("m", PLAN.get("corpus_value", 1.0))] + truth


BENCHMARKS.register("planned", f"{__name__}:PlannedBench", source="tests")
BENCHMARKS.register("planned-corpus", f"{__name__}:PlannedCorpusBench", source="tests")


@pytest.fixture(autouse=True)
def _clear_plan():
    PLAN.clear()
    yield
    PLAN.clear()


def _run(tmp_path, benchmarks, **kw):
    suite = Suite("t", "mini", ["pcm16"], benchmarks, batch_size=kw.pop("batch_size", 8))
    return Runner(suite, tmp_path / "run", progress=False, **kw).run()


def _records(tmp_path):
    return {(r.benchmark, r.utterance, r.metric): r for r in read_records(tmp_path / "run")}


# ---- non-finite values -----------------------------------------------------------------------
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -math.inf, None, "0.5x"])
def test_a_plugin_value_that_is_not_a_finite_number_is_an_error_row(tmp_path, bad):
    PLAN["values"] = {"slt_shared00": bad}
    summary = _run(tmp_path, {"planned": {"max_utterances": 3}})
    recs = _records(tmp_path)
    row = recs[("planned", "slt_shared00", "m")]
    assert row.status == "error" and row.value is None and "not a finite number" in row.message
    agg = recs[("planned", None, "m")]
    assert agg.status == "ok" and agg.n == 2 and agg.value == 1.0
    assert summary.exit_code == 1


def test_a_non_finite_corpus_benchmark_value_is_an_error_row(tmp_path):
    PLAN["corpus_value"] = float("nan")
    _run(tmp_path, {"planned-corpus": {"max_utterances": 2}})
    row = _records(tmp_path)[("planned-corpus", None, "m")]
    assert row.status == "error" and "planned-corpus" in row.message and "nan" in row.message


def test_a_hand_edited_non_finite_line_reads_back_as_an_error_and_is_redone(tmp_path):
    _run(tmp_path, {"planned": {"max_utterances": 2}})
    path = tmp_path / "run" / RECORDS_FILE
    lines = path.read_text().splitlines()
    first = json.loads(lines[0])
    first["value"] = float("nan")
    path.write_text("\n".join([json.dumps(first)] + lines[1:]) + "\n")  # json writes a bare NaN
    row = _records(tmp_path)[("planned", first["utterance"], "m")]
    assert row.status == "error" and "non-finite" in row.message and f"{path}:1" in row.message
    again = _run(tmp_path, {"planned": {"max_utterances": 2}}, overwrite="errors")
    assert again.exit_code == 0 and _records(tmp_path)[("planned", first["utterance"], "m")].value == 1.0


# ---- --overwrite errors clears every error row ------------------------------------------------
def test_overwrite_errors_redoes_utterance_errors_under_an_ok_aggregate(tmp_path):
    PLAN["values"] = {"slt_shared01": RuntimeError("flaky")}
    assert _run(tmp_path, {"planned": {"max_utterances": 3}}).exit_code == 1
    assert _records(tmp_path)[("planned", None, "m")].n == 2
    PLAN.clear()
    summary = _run(tmp_path, {"planned": {"max_utterances": 3}}, overwrite="errors")
    assert summary.exit_code == 0 and summary.written["ok"] == 2  # the utterance and the aggregate
    recs = _records(tmp_path)
    assert recs[("planned", "slt_shared01", "m")].status == "ok"
    assert recs[("planned", None, "m")].n == 3 and recs[("planned", None, "m")].message is None


def test_overwrite_errors_redoes_an_error_of_the_ground_truth_row(tmp_path):
    PLAN["truth"] = float("inf")
    assert _run(tmp_path, {"planned-corpus": {}}).exit_code == 1
    PLAN["truth"] = 0.5
    assert _run(tmp_path, {"planned-corpus": {}}, overwrite="errors").exit_code == 0
    recs = {(r.tokenizer, r.metric): r for r in read_records(tmp_path / "run")}
    assert recs[(GROUND_TRUTH, "m")].value == 0.5 and recs[("pcm16", "m")].value == 1.0


def test_errors_of_other_suites_in_the_directory_do_not_fail_a_run(tmp_path):
    PLAN["values"] = {"slt_shared00": RuntimeError("bad")}
    assert _run(tmp_path, {"planned": {"max_utterances": 1}}).exit_code == 1
    PLAN.clear()
    assert _run(tmp_path, {"planned": {"max_utterances": 2}}).exit_code == 0  # other settings: other keys


# ---- records reach the disk as utterances finish ----------------------------------------------
def test_finished_utterances_are_on_disk_before_the_run_ends(tmp_path):
    on_disk = {}

    def count(uid):
        path = tmp_path / "run" / RECORDS_FILE
        on_disk[uid] = len(path.read_text().splitlines()) if path.exists() else 0

    PLAN["on_score"] = count
    suite = Suite("t", "mini", ["pcm16"], {"planned": {"max_utterances": 6}}, batch_size=1)
    runner = Runner(suite, tmp_path / "run", progress=False)
    runner.scorer.flush_seconds = 0.0  # the default (1 s) bounds fsyncs; here every batch is flushed
    runner.run()
    assert on_disk["slt_own05"] >= 4  # scoring the sixth, the first four at least are recorded


# ---- one writer per run directory -------------------------------------------------------------
def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    holder = RunStore(tmp_path / "run")
    with holder.locked():
        with pytest.raises(RunDirInUse, match=f"pid {os.getpid()}"):
            _run(tmp_path, {"planned": {"max_utterances": 1}})
        out = subprocess.run(
            [sys.executable, "-m", "dasb", "run", "--tokenizers", "pcm16", "--benchmarks", "tokens",
             "--out", str(tmp_path / "run"), "--no-cache"],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
        )
    assert out.returncode == 2 and f"pid {os.getpid()}" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "run" / RECORDS_FILE).exists()
    assert _run(tmp_path, {"planned": {"max_utterances": 1}}).exit_code == 0  # released


def test_json_files_are_replaced_atomically_under_concurrent_writers(tmp_path):
    path = tmp_path / CONFIG_FILE
    errors = []

    def write(k):
        try:
            for i in range(200):
                write_atomic(path, json.dumps({"writer": k, "i": i, "pad": "x" * 5000}))
        except Exception as err:  # a shared temporary name makes one writer's rename fail
            errors.append(err)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and json.loads(path.read_text())["i"] == 199
    assert [p.name for p in tmp_path.iterdir()] == [CONFIG_FILE]


def test_a_torn_tokenizers_file_is_an_error_naming_it(tmp_path):
    _run(tmp_path, {"planned": {"max_utterances": 1}})
    tok = tmp_path / "run" / TOKENIZERS_FILE
    tok.write_text(tok.read_text()[:40])
    from dasb.leaderboard.merge import merge_runs

    with pytest.raises(ValueError, match=f"{tok}: not valid JSON"):
        merge_runs([tmp_path / "run"])
    suite = Suite("t", "mini", ["pcm8"], {"planned": {"max_utterances": 1}})
    with pytest.raises(ValueError, match=f"{tok}: not valid JSON"):
        Runner(suite, tmp_path / "run", progress=False).run()


# ---- a records file with bad lines --------------------------------------------------------------
@pytest.mark.parametrize("garbage", ["[1, 2, 3]", "not json at all", '{"schema_version": 1}'])
def test_bad_records_lines_are_refused_by_name_and_repair_moves_them_aside(tmp_path, garbage):
    _run(tmp_path, {"planned": {"max_utterances": 2}})
    path = tmp_path / "run" / RECORDS_FILE
    good = path.read_text()
    path.write_text(garbage + "\n" + good)
    with pytest.raises(ValueError, match=f"{path}:1: invalid record.*--repair"):
        read_records(tmp_path / "run")
    with pytest.raises(ValueError, match=f"{path}:1"):
        _run(tmp_path, {"planned": {"max_utterances": 2}})
    summary = _run(tmp_path, {"planned": {"max_utterances": 2}}, repair=True)
    assert summary.exit_code == 0 and sum(summary.written.values()) == 0  # nothing redone
    assert path.read_text() == good
    assert (tmp_path / "run" / REJECTED_FILE).read_text() == garbage + "\n"


# ---- workers die with their parent --------------------------------------------------------------
def _descendants(pid):
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to find the worker processes")
@pytest.mark.parametrize("kill_after_records", [0, 30, 120])
def test_workers_and_resource_tracker_die_with_a_killed_run(tmp_path, kill_after_records):
    cmd = [sys.executable, "-m", "dasb", "run", "--tokenizers", "pcm16,pcm8,mulaw8-8k", "--benchmarks", "reconstruction",
           "--out", str(tmp_path / "run"), "--workers", "2", "--no-cache", "--batch-size", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    records = tmp_path / "run" / RECORDS_FILE
    deadline = time.time() + 180
    kids = []
    while time.time() < deadline and proc.poll() is None:
        kids = _descendants(proc.pid)
        written = len(records.read_text().splitlines()) if records.exists() else 0
        if len(kids) >= 3 and written >= kill_after_records:  # two workers and the resource tracker
            break
        time.sleep(0.05)
    assert proc.poll() is None and len(kids) >= 3, "the run ended before its workers could be seen"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(_alive(k) for k in kids):
        time.sleep(0.1)
    survivors = [k for k in kids if _alive(k)]
    for k in survivors:  # do not leave them running after a failure
        os.kill(k, signal.SIGKILL)
    assert not survivors


# ---- concurrent runs ----------------------------------------------------------------------------
def _start(suite, out, cache):
    cmd = [sys.executable, "-m", "dasb", "run", "--suite", str(suite), "--out", str(out), "--cache-dir", str(cache), "--workers", "1"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})


@pytest.mark.slow
def test_concurrent_runs_one_directory_one_writer_and_a_shared_cache_works(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(json.dumps({"name": "c", "dataset": "mini", "tokenizers": ["pcm8", "mulaw8-8k"],
                                 "benchmarks": {"reconstruction": {"max_utterances": 8, "metrics": ["stoi", "si_sdr"]}}}))
    same = [_start(suite, tmp_path / "same", tmp_path / "cache") for _ in range(2)]
    # Overlapping, one is refused; if one finishes before the other starts writing, the later one
    # resumes a finished run. Refusal itself is pinned by test_a_second_writer_is_refused_naming_the_holder.
    assert sorted(p.wait() for p in same) in ([0, 0], [0, 2])
    for p in same:
        message = p.stderr.read()
        assert "Traceback" not in message and (p.returncode == 0 or "another dasb run (pid " in message)
    keys = [(r["tokenizer"], r["utterance"], r["metric"]) for r in map(json.loads, (tmp_path / "same" / RECORDS_FILE).read_text().splitlines())]
    assert len(keys) == len(set(keys)) == 2 * 9 * 3  # every record once: 8 utterances and the aggregate, 3 metrics (delay_ms too)
    apart = [_start(suite, tmp_path / f"apart{k}", tmp_path / "shared-cache") for k in range(2)]
    assert [p.wait() for p in apart] == [0, 0]
    values = [{(r.tokenizer, r.utterance, r.metric): r.value for r in read_records(tmp_path / d)}
              for d in ("apart0", "apart1", "same")]
    assert values[0] == values[1] == values[2]
