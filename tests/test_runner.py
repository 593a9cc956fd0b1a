"""Runs survive bad input and being killed; results are resumable and exact."""
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest
import soundfile as sf
import yaml

from dasb.audio import resample
from dasb.data.corpus import load_corpus
from dasb.registry import RegistryError
from dasb.results import read_records
from dasb.results.store import RECORDS_FILE
from dasb.runner import Runner
from dasb.suites import Suite

METRICS = ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "mel_distance", "delay_ms")


def _bad_corpus(tmp_path):
    mini = load_corpus("mini").utterances[0]
    speech, sr = sf.read(mini.audio, dtype="float32")
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt this is not audio")
    (d / "empty.wav").write_bytes(b"")
    sf.write(d / "zero_samples.wav", np.zeros(0, np.float32), 16000)
    sf.write(d / "silent.wav", np.zeros(16000, np.float32), 16000)
    nan = speech.copy()
    nan[100:110] = np.nan
    sf.write(d / "nan.wav", nan, 16000, subtype="FLOAT")
    sf.write(d / "rate8k.wav", resample(speech[None], sr, 8000)[0], 8000)
    stereo48 = resample(np.stack([speech, 0.5 * speech]), sr, 48000)
    sf.write(d / "stereo48k.wav", stereo48.T, 48000)
    sf.write(d / "good.flac", speech, sr)
    names = ["corrupt.wav", "empty.wav", "zero_samples.wav", "silent.wav", "nan.wav", "rate8k.wav", "stereo48k.wav", "good.flac"]
    lines = [json.dumps({"id": n.split(".")[0], "audio": n, "text": mini.text, "speaker": "s"}) for n in names]
    (d / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return d / "manifest.jsonl"


def test_bad_files_become_error_records_and_the_run_completes(tmp_path):
    manifest = _bad_corpus(tmp_path)
    suite = Suite("t", str(manifest), ["pcm16", "mulaw8-8k"], {"reconstruction": {}})
    summary = Runner(suite, tmp_path / "run", progress=False).run()
    assert summary.exit_code == 1
    recs = {(r.tokenizer, r.utterance, r.metric): r for r in read_records(tmp_path / "run")}
    for tok in ("pcm16", "mulaw8-8k"):
        for bad in ("corrupt", "empty", "zero_samples", "nan"):
            rec = recs[(tok, bad, "pesq_wb")]
            assert rec.status == "error" and rec.value is None
            assert f"{bad}.wav" in rec.message
        for metric in ("pesq_wb", "stoi", "si_sdr"):
            silent = recs[(tok, "silent", metric)]
            assert silent.status == "error" and "silent" in silent.message
        for good in ("rate8k", "stereo48k", "good"):
            assert recs[(tok, good, "pesq_wb")].status == "ok"
        agg = recs[(tok, None, "pesq_wb")]
        assert agg.status == "ok" and agg.n == 3 and "5 of 8" in agg.message
    # Identity PCM is exact at any input rate and channel count.
    for good in ("rate8k", "stereo48k", "good"):
        assert recs[("pcm16", good, "pesq_wb")].value > 4.5
        assert recs[("pcm16", good, "delay_ms")].value == 0


def test_an_unknown_tokenizer_is_a_usage_error_before_any_work(tmp_path):
    suite = Suite("t", "mini", ["pcm_16", "pcm4"], {"reconstruction": {"max_utterances": 2}})
    with pytest.raises(RegistryError, match="did you mean pcm16"):
        Runner(suite, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_rerun_resumes_and_overwrite_policies(tmp_path):
    suite = Suite("t", "mini", ["pcm8"], {"reconstruction": {"max_utterances": 2}})
    Runner(suite, tmp_path / "run", progress=False).run()
    lines = (tmp_path / "run" / RECORDS_FILE).read_text().splitlines()
    assert len(lines) == 3 * len(METRICS)
    again = Runner(suite, tmp_path / "run", progress=False).run()
    assert sum(again.written.values()) == 0
    always = Runner(suite, tmp_path / "run", overwrite="always", progress=False).run()
    assert always.written["ok"] == 3 * len(METRICS)


def _record_lines(path):
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def test_sigkill_then_rerun_gives_every_record_exactly_once(tmp_path):
    suite_file = tmp_path / "suite.yaml"
    tokenizers = ["pcm16", "pcm8", "pcm4", "mulaw8-8k"]
    suite_file.write_text(yaml.safe_dump({
        "name": "killme", "dataset": "mini", "batch_size": 2, "tokenizers": tokenizers,
        "benchmarks": {"reconstruction": {"max_utterances": 6}},
    }))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "dasb", "run", "--suite", str(suite_file), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = out / RECORDS_FILE
    deadline = time.time() + 120
    while time.time() < deadline:
        if records.exists() and len(records.read_text().splitlines()) > 40:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(_record_lines(records))
    assert 0 < done_before < len(tokenizers) * 7 * len(METRICS)
    with open(records, "a") as fh:  # a write cut short by the kill
        fh.write('{"schema_version": 1, "tokenizer": "pcm')
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lines = _record_lines(records)
    keys = Counter((r["tokenizer"], r["utterance"], r["metric"]) for r in lines)
    assert all(count == 1 for count in keys.values())
    assert len(keys) == len(tokenizers) * 7 * len(METRICS)
    assert all(r["status"] == "ok" for r in lines)


def test_half_suite_runs_adapters_without_float16_as_float32(tmp_path):
    suite = Suite("t", "mini", ["pcm8"], {"reconstruction": {"max_utterances": 1}}, half=True)
    Runner(suite, tmp_path / "run", progress=False).run()
    info = json.loads((tmp_path / "run" / "tokenizers.json").read_text())["pcm8"]
    assert info["precision"] == "float32" and "half" not in info["card"]["params"]
