"""The result cache: any run directory reuses a score it can prove it has; any keyed change misses;
damaged entries are recomputed, never read; the stores stay under their size limit; `dasb cache`."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from dasb.benchmarks.base import CorpusBenchmark, Result, UtteranceBenchmark
from dasb.cache import SUFFIX, EntryStore
from dasb.cli import main
from dasb.data.corpus import load_corpus
from dasb.registry import BENCHMARKS
from dasb.results import read_records
from dasb.runner import Runner
from dasb.specs import LOWER, NEUTRAL, MetricSpec, spec_table
from dasb.suites import Suite
from dasb.timings import TIMINGS_FILE


class Peak(UtteranceBenchmark):
    """Peak reconstruction error times ``scale``; counts its scorings."""

    name = "test-cached-peak"
    needs_decoded = True
    needs_tokens = False
    calls = 0

    def __init__(self, scale: float = 1.0, **settings) -> None:
        super().__init__(scale=scale, **settings)

    def metrics(self):
        return spec_table(MetricSpec("peak", LOWER, headline=True))

    def score(self, item, tokenizer):
        type(self).calls += 1
        n = min(len(item.reference), len(item.decoded))
        return {"peak": self.settings["scale"] * float(np.abs(item.reference[:n] - item.decoded[:n]).max())}


class Frames(CorpusBenchmark):
    """Token frames of the corpus; runs the tokenizer's own identity into its key (needs_model)."""

    name = "test-cached-frames"
    needs_model = True
    calls = 0

    def metrics(self):
        return spec_table(MetricSpec("frames", NEUTRAL, "count", aggregation="corpus"))

    def run(self, items, tokenizer):
        type(self).calls += 1
        return [Result("frames", float(sum(int(it.tokens.lengths.sum()) for it in items)))]


BENCHMARKS.register(Peak.name, f"{__name__}:Peak", source="tests")
BENCHMARKS.register(Frames.name, f"{__name__}:Frames", source="tests")


def _suite(dataset: str = "mini", scale: float = 1.0) -> Suite:
    return Suite("t", dataset, ["mulaw8-8k"], {Peak.name: {"max_utterances": 3, "scale": scale},
                                               Frames.name: {"max_utterances": 3}})


def _run(suite: Suite, out, cache) -> tuple[int, int, dict]:
    """Scorings of Peak and runs of Frames by one run, and its values by (benchmark, utterance, metric)."""
    peak, frames = Peak.calls, Frames.calls
    assert Runner(suite, out, progress=False, cache_dir=cache).run().exit_code == 0
    values = {(r.benchmark, r.utterance, r.metric): r.value for r in read_records(out) if r.tokenizer != "ground-truth"}
    return Peak.calls - peak, Frames.calls - frames, values


def test_a_new_run_directory_reuses_every_score_with_identical_values(tmp_path) -> None:
    cold = _run(_suite(), tmp_path / "a", tmp_path / "cache")
    warm = _run(_suite(), tmp_path / "b", tmp_path / "cache")
    assert cold[:2] == (3, 1) and warm[:2] == (0, 0)
    assert warm[2] == cold[2] and len(cold[2]) == 3 + 1 + 1  # 3 utterances and the aggregate, 1 corpus row
    rows = {(r["tokenizer"], r["benchmark"]): r for r in json.loads((tmp_path / "b" / TIMINGS_FILE).read_text())["rows"]}
    assert rows[("mulaw8-8k", Peak.name)]["result_hits"] == 3 and rows[("mulaw8-8k", "(items)")]["token_hits"] == 3


@pytest.mark.parametrize("change", ["settings", "version", "weights"])
def test_a_changed_keyed_input_misses(tmp_path, monkeypatch, change) -> None:
    _run(_suite(), tmp_path / "a", tmp_path / "cache")
    suite = _suite(scale=2.0) if change == "settings" else _suite()
    if change == "version":
        monkeypatch.setattr(Peak, "version", 2)
    if change == "weights":  # other weights, same settings: the card's identity changes
        monkeypatch.setattr("dasb.tokenizers.cards.identity", lambda card: "sha256:other")
    peak, frames, _ = _run(suite, tmp_path / "b", tmp_path / "cache")
    if change == "weights":
        # Frames runs the model itself: recomputed. Peak reads decoded audio, which is unchanged: reused.
        assert (peak, frames) == (0, 1)
    else:
        assert (peak, frames) == (3, 0)  # only the benchmark whose configuration changed


def test_changed_audio_bytes_miss_for_that_utterance_only(tmp_path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for u in load_corpus("mini").utterances[:3]:
        shutil.copy(u.audio, corpus / os.path.basename(u.audio))
    _run(_suite(str(corpus)), tmp_path / "a", tmp_path / "cache")
    first = sorted(corpus.iterdir())[0]
    wav, sr = sf.read(first, dtype="float32")
    sf.write(first, 0.5 * wav, sr)  # the same file name, other samples
    peak, frames, _ = _run(_suite(str(corpus)), tmp_path / "b", tmp_path / "cache")
    assert (peak, frames) == (1, 1)


def test_a_damaged_result_entry_is_recomputed_never_read(tmp_path) -> None:
    _, _, cold = _run(_suite(), tmp_path / "a", tmp_path / "cache")
    entries = list((tmp_path / "cache" / "results").rglob(f"*{SUFFIX}"))
    assert len(entries) == 4  # 3 utterances of Peak, 1 corpus run of Frames
    for path in entries:
        blob = bytearray(path.read_bytes())
        blob[-3] ^= 0xFF  # in the stored values
        path.write_bytes(bytes(blob))
    with pytest.warns(UserWarning, match="corrupt"):
        peak, frames, warm = _run(_suite(), tmp_path / "b", tmp_path / "cache")
    assert (peak, frames) == (3, 1) and warm == cold
    assert _run(_suite(), tmp_path / "c", tmp_path / "cache")[:2] == (0, 0)  # rewritten whole


def test_the_least_recently_used_entries_are_evicted_past_the_size_limit(tmp_path) -> None:
    store = EntryStore(tmp_path, max_bytes=20_000)
    for i in range(10):
        store.write(f"k{i:02d}", f"id{i}", bytes(1000))
        os.utime(store.path(f"k{i:02d}"), (1000 + i, 1000 + i))  # written in this order
    assert store.read("k00", "id0") is not None  # the oldest, used again now
    for i in range(10, 40):  # written later than the first ten, but before k00 was read (now)
        store.write(f"k{i:02d}", f"id{i}", bytes(1000))
        os.utime(store.path(f"k{i:02d}"), (2000 + i, 2000 + i))
    info = store.info()
    assert info["bytes"] <= 20_000 and info["entries"] < 40
    assert store.read("k00", "id0") is not None  # recently used: kept
    assert store.read("k01", "id1") is None and store.read("k39", "id39") is not None


def test_cache_info_and_prune_cover_tokens_and_results(tmp_path, capsys) -> None:
    _run(_suite(), tmp_path / "a", tmp_path / "cache")
    capsys.readouterr()
    assert main(["cache", "info", "--cache-dir", str(tmp_path / "cache")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["tokens"]["entries"] == 3 and info["results"]["entries"] == 4
    assert main(["cache", "prune", "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "removed 7 file(s)" in capsys.readouterr().out
    assert main(["cache", "info", "--cache-dir", str(tmp_path / "cache")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["tokens"]["entries"] == 0 and info["results"]["entries"] == 0
