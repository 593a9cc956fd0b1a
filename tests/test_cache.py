"""The token cache: reuse, identical records, corruption and killed writers."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from dasb.cache import SUFFIX, EntryId, TokenCache, _unpack
from dasb.data.corpus import load_corpus
from dasb.items import ItemMaker
from dasb.results import read_records
from dasb.runner import Runner
from dasb.suites import Suite
from dasb.tokenizers.pcm import PCMTokenizer


class CountingPCM(PCMTokenizer):
    calls = 0

    def encode(self, audio, lengths):
        CountingPCM.calls += 1
        return super().encode(audio, lengths)


def test_second_pass_reads_the_cache_and_gives_identical_items(tmp_path):
    utts = load_corpus("mini").utterances[:4]
    cache = TokenCache(tmp_path)
    tok = CountingPCM("c", 8000, 8, "mulaw")
    first = ItemMaker(tok, "hash-a", 2, cache).make(utts, decode=True)
    calls = CountingPCM.calls
    maker = ItemMaker(tok, "hash-a", 2, cache)
    second = maker.make(utts, decode=True)
    assert CountingPCM.calls == calls and maker.cache_hits == 4
    for (_, a), (_, b) in zip(first, second):
        assert np.array_equal(a.tokens.codes, b.tokens.codes) and np.array_equal(a.decoded, b.decoded)
    ItemMaker(tok, "hash-b", 2, cache).make(utts[:1], decode=True)  # other config: a miss
    assert CountingPCM.calls == calls + 1


def test_runs_with_a_warm_cache_record_the_same_values(tmp_path):
    suite = Suite("t", "mini", ["pcm8", "mulaw8-8k"], {"reconstruction": {"max_utterances": 3}})
    Runner(suite, tmp_path / "cold", progress=False, cache_dir=tmp_path / "cache").run()
    Runner(suite, tmp_path / "warm", progress=False, cache_dir=tmp_path / "cache").run()
    key = lambda r: (r.tokenizer, r.utterance, r.metric)  # noqa: E731
    cold = {key(r): r.value for r in read_records(tmp_path / "cold")}
    warm = {key(r): r.value for r in read_records(tmp_path / "warm")}
    assert len(cold) == 2 * 4 * 7 and cold.keys() == warm.keys()
    # ESTOI's matrix products may differ in the last bit between BLAS thread schedules.
    assert all(warm[k] == pytest.approx(v, rel=1e-12, abs=1e-12) for k, v in cold.items())


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_damaged_entries_are_detected_and_recomputed(tmp_path, damage):
    utts = load_corpus("mini").utterances[:1]
    cache = TokenCache(tmp_path)
    tok = CountingPCM("c", 8000, 8, "mulaw")
    (_, good), = ItemMaker(tok, "h", 1, cache).make(utts, decode=True)
    (entry,) = tmp_path.rglob(f"*{SUFFIX}")
    blob = bytearray(entry.read_bytes())
    if damage == "flip":
        blob[len(blob) // 2] ^= 0xFF
    elif damage == "truncate":
        blob = blob[: len(blob) // 3]
    else:
        blob = bytearray(b"not a cache entry")
    entry.write_bytes(bytes(blob))
    calls = CountingPCM.calls
    with pytest.warns(UserWarning, match="corrupt"):
        (_, again), = ItemMaker(tok, "h", 1, cache).make(utts, decode=True)
    assert CountingPCM.calls == calls + 1
    assert np.array_equal(good.tokens.codes, again.tokens.codes)
    _unpack(entry.read_bytes())  # rewritten whole


def test_an_entry_placed_under_another_entrys_name_is_never_read(tmp_path):
    """Swapping two entries' files (a copy, a sync, a rename) must not swap the items they serve."""
    utts = load_corpus("mini").utterances[:2]
    cache = TokenCache(tmp_path)
    pcm, mulaw = CountingPCM("p", 8000, 8, "linear"), CountingPCM("m", 8000, 8, "mulaw")
    (_, good_pcm), = ItemMaker(pcm, "pcm", 1, cache).make(utts[:1], decode=True)
    before = set(tmp_path.rglob(f"*{SUFFIX}"))
    (_, good_mulaw), = ItemMaker(mulaw, "mulaw", 1, cache).make(utts[1:], decode=True)
    (a,), (b,) = before, set(tmp_path.rglob(f"*{SUFFIX}")) - before
    blob_a, blob_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(blob_b), b.write_bytes(blob_a)
    calls = CountingPCM.calls
    with pytest.warns(UserWarning, match="written for another input"):
        (_, again_pcm), = ItemMaker(pcm, "pcm", 1, cache).make(utts[:1], decode=True)
    with pytest.warns(UserWarning, match="written for another input"):
        (_, again_mulaw), = ItemMaker(mulaw, "mulaw", 1, cache).make(utts[1:], decode=True)
    assert CountingPCM.calls == calls + 2  # both recomputed
    assert np.array_equal(again_pcm.decoded, good_pcm.decoded) and np.array_equal(again_mulaw.decoded, good_mulaw.decoded)
    maker = ItemMaker(pcm, "pcm", 1, cache)  # the rewritten entries serve their own inputs again
    maker.make(utts[:1], decode=True)
    assert maker.cache_hits == 1


WRITER = textwrap.dedent("""
    import sys, numpy as np, torch
    from dasb.cache import CachedItem, EntryId, TokenCache
    from dasb.tokenizers.base import Tokens
    cache = TokenCache(sys.argv[1])
    for i in range(10_000):
        codes = torch.full((1, 1, 2_000_000), i, dtype=torch.int64)
        cache.put(EntryId("t", str(i), 1, 16000), CachedItem(Tokens(codes, torch.tensor([2_000_000])), None, 0.0, 0.0))
""")


def test_a_writer_killed_mid_write_leaves_no_entry_read_as_valid(tmp_path):
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)])
        deadline = time.monotonic() + 120  # importing torch takes seconds on a loaded machine
        while not any(tmp_path.rglob(f"*{SUFFIX}")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(0.2 + 0.37 * attempt)  # kill at a different point of a later write
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    cache = TokenCache(tmp_path)
    entries = list(tmp_path.rglob(f"*{SUFFIX}"))
    assert entries, "the writer should have completed some entries"
    ids = {e.key: (i, e) for i in range(10_000) for e in [EntryId("t", str(i), 1, 16000)]}
    for path in entries:
        i, entry = ids[path.name[: -len(SUFFIX)]]
        item = cache.get(entry, need_decoded=False)
        assert item is not None and int(item.tokens.codes[0, 0, -1]) == i
    assert cache.info()["entries"] == len(entries)
    cache.prune()
    assert cache.info() == {"path": str(tmp_path), "entries": 0, "bytes": 0, "max_bytes": None, "temporary_files": 0}


def test_worker_pool_gives_the_same_records_in_the_same_order(tmp_path):
    suite = Suite("t", "mini", ["pcm6", "mulaw8-8k"], {"reconstruction": {"max_utterances": 4}})
    Runner(suite, tmp_path / "one", progress=False, workers=1).run()
    Runner(suite, tmp_path / "two", progress=False, workers=2).run()
    one = [(r["tokenizer"], r["utterance"], r["metric"], r["value"]) for r in map(json.loads, (tmp_path / "one" / "records.jsonl").read_text().splitlines())]
    two = [(r["tokenizer"], r["utterance"], r["metric"], r["value"]) for r in map(json.loads, (tmp_path / "two" / "records.jsonl").read_text().splitlines())]
    assert [x[:3] for x in one] == [x[:3] for x in two]
    assert one == two  # serial scoring runs on one thread as a worker does (SI-SDR moved by 1e-13 otherwise)


def test_unpicklable_plugin_metric_is_scored_in_process(tmp_path, monkeypatch):
    from dasb.metrics import Metric
    from dasb.registry import METRICS

    lam = Metric("lam_peak", lambda r, e, sr: float(abs(r - e).max()), False, "peak error")
    monkeypatch.setitem(METRICS._targets, "lam_peak", "test:lam")
    monkeypatch.setitem(METRICS._sources, "lam_peak", "test")
    monkeypatch.setitem(METRICS._loaded, "lam_peak", lam)
    suite = Suite("t", "mini", ["pcm8"], {"reconstruction": {"max_utterances": 2, "metrics": ["stoi", "lam_peak"]}})
    with pytest.warns(UserWarning, match="cannot be sent to worker processes"):
        summary = Runner(suite, tmp_path, progress=False, workers=2).run()
    assert summary.exit_code == 0
    assert {r.metric for r in read_records(tmp_path) if r.utterance is None} == {"stoi", "lam_peak", "delay_ms"}
