"""The runner's parts: the original audio as its own subject, setup once, batch fallbacks said, threads scoped,
corpus benchmarks overlapping the metric workers."""
from __future__ import annotations

import numpy as np
import torch

from dasb.benchmarks.base import CorpusBenchmark, Result
from dasb.data.corpus import load_corpus
from dasb.items import ItemMaker
from dasb.registry import BENCHMARKS
from dasb.results import read_records
from dasb.results.record import GROUND_TRUTH
from dasb.runner import Runner
from dasb.specs import HIGHER, MetricSpec, spec_table
from dasb.suites import Suite
from dasb.tokenizers.pcm import PCMTokenizer


class CountingReference(CorpusBenchmark):
    """Reports how many items it saw, for the tokenizer and for the original audio."""

    name = "test-counting-reference"
    needs_decoded = True
    ground_truth = True
    runs: list[str | None] = []

    def metrics(self):
        return spec_table(MetricSpec("items", HIGHER, "count", aggregation="corpus", headline=True))

    def run(self, items, tokenizer):
        type(self).runs.append(None if tokenizer is None else tokenizer.info.name)
        same = all(np.array_equal(it.decoded, it.reference) for it in items)
        return [Result("items", float(len(items)), message=f"decoded is the original: {same}"),
                Result("items", float(len(items)), message=f"decoded is the original: {same}", subject=GROUND_TRUTH)]


class FailingSetup(CountingReference):
    name = "test-failing-setup"
    ground_truth = False
    setups = 0

    def setup(self):
        type(self).setups += 1
        raise RuntimeError("judge model missing")


class OutstandingSpy(CountingReference):
    """Notes how many per-utterance scores the runner's metric workers still owe when it runs."""

    name = "test-outstanding-spy"
    ground_truth = False
    scorer = None
    seen: list[tuple[str, int]] = []

    def run(self, items, tokenizer):
        type(self).seen.append((self.name, type(self).scorer.outstanding))
        return super().run(items, tokenizer)


class MachineTimingSpy(OutstandingSpy):
    name = "test-machine-timing-spy"
    measures_machine = True


for _spy in (CountingReference, FailingSetup, OutstandingSpy, MachineTimingSpy):
    BENCHMARKS.register(_spy.name, f"{__name__}:{_spy.__name__}", source="tests")


def test_ground_truth_is_its_own_subject_measured_once_on_the_whole_selection(tmp_path) -> None:
    CountingReference.runs.clear()
    suite = Suite("t", "mini", ["pcm8", "mulaw8-8k"], {CountingReference.name: {"max_utterances": 5}})
    Runner(suite, tmp_path, progress=False).run()
    assert CountingReference.runs == [None, "pcm8", "mulaw8-8k"]  # the original first, once
    recs = {(r.tokenizer, r.metric): r for r in read_records(tmp_path)}
    truth = recs[(GROUND_TRUTH, "items")]
    assert truth.value == 5 and truth.message == "decoded is the original: True"
    assert recs[("pcm8", "items")].message == "decoded is the original: False"  # 8-bit PCM is lossy
    assert sum(r.tokenizer == GROUND_TRUTH for r in read_records(tmp_path)) == 1
    CountingReference.runs.clear()
    Runner(suite, tmp_path, progress=False).run()
    assert CountingReference.runs == []  # resumed: nothing pending


def test_a_failed_setup_is_recorded_for_every_tokenizer_but_tried_once(tmp_path) -> None:
    FailingSetup.setups = 0
    suite = Suite("t", "mini", ["pcm8", "mulaw8-8k"], {FailingSetup.name: {"max_utterances": 2}})
    summary = Runner(suite, tmp_path, progress=False).run()
    assert FailingSetup.setups == 1
    errors = {r.tokenizer: r.message for r in summary.errors}
    assert set(errors) == {"pcm8", "mulaw8-8k"} and all("judge model missing" in m for m in errors.values())


class BatchShy(PCMTokenizer):
    """Fails on batches of more than one item (a batch dependence the fallback would hide)."""

    def encode(self, audio, lengths):
        if audio.shape[0] > 1:
            raise RuntimeError("padding breaks me")
        return super().encode(audio, lengths)


def test_a_batch_redone_one_by_one_is_said(tmp_path) -> None:
    utts = load_corpus("mini").utterances[:3]
    maker = ItemMaker(BatchShy("shy", bits=8), "h", 3)
    made = maker.make(utts, decode=False)
    assert all(not isinstance(item, str) for _, item in made)
    assert len(maker.fallbacks) == 1 and "padding breaks me" in maker.fallbacks[0] and utts[0].id in maker.fallbacks[0]


def test_metric_workers_do_not_change_the_process_thread_setting(tmp_path) -> None:
    before = torch.get_num_threads()
    suite = Suite("t", "mini", ["pcm8"], {"reconstruction": {"max_utterances": 2, "metrics": ["si_sdr"]}})
    assert Runner(suite, tmp_path, progress=False, workers=2).run().exit_code == 0
    assert torch.get_num_threads() == before


class ThreadSpyPCM(PCMTokenizer):
    """8-bit PCM that notes the torch thread count each decode ran with (a model's floats depend on it)."""

    seen: list[int] = []

    def __init__(self, name: str = "thread-spy") -> None:
        super().__init__(name, 16000, 8)

    def decode(self, tokens):
        ThreadSpyPCM.seen.append(torch.get_num_threads())
        return super().decode(tokens)


def test_a_model_runs_with_one_thread_count_however_busy_the_metric_workers_are(tmp_path, monkeypatch) -> None:
    from dasb.registry import ADAPTERS

    monkeypatch.setitem(ADAPTERS._targets, "thread-spy", "tests.test_runner_parts:ThreadSpyPCM")
    monkeypatch.setitem(ADAPTERS._sources, "thread-spy", "test")
    monkeypatch.setitem(ADAPTERS._loaded, "thread-spy", ThreadSpyPCM)
    monkeypatch.setattr(ThreadSpyPCM, "seen", [])
    # Decoding the first batch finds the workers idle, later ones find them scoring STOI of the earlier batches.
    suite = Suite("t", "mini", ["thread-spy"], {"reconstruction": {"max_utterances": 8, "metrics": ["stoi"]}}, batch_size=2)
    assert Runner(suite, tmp_path, progress=False, workers=2).run().exit_code == 0
    assert len(ThreadSpyPCM.seen) == 4 and set(ThreadSpyPCM.seen) == {torch.get_num_threads()}


def _spied_run(tmp_path, monkeypatch, tokenizers, benchmarks) -> list:
    suite = Suite("t", "mini", tokenizers, {"reconstruction": {"max_utterances": 4, "metrics": ["stoi"]},
                                            **{b: {"max_utterances": 2} for b in benchmarks}})
    runner = Runner(suite, tmp_path, progress=False, workers=2)
    runner.scorer.flush_seconds = 1e9  # scores are handed on only when the runner waits for them
    monkeypatch.setattr(OutstandingSpy, "scorer", runner.scorer)
    monkeypatch.setattr(OutstandingSpy, "seen", [])
    assert runner.run().exit_code == 0
    stoi = [r for r in read_records(tmp_path) if r.metric == "stoi"]
    assert len(stoi) == 5 * len(tokenizers) and all(r.status == "ok" for r in stoi)  # 4 utterances, 1 aggregate
    return OutstandingSpy.seen


def test_corpus_benchmarks_and_the_next_tokenizer_overlap_the_metric_workers(tmp_path, monkeypatch) -> None:
    seen = _spied_run(tmp_path, monkeypatch, ["pcm8", "pcm6"], [OutstandingSpy.name])
    # pcm6's corpus benchmark runs while pcm8's 4 scores, pcm8's aggregation and pcm6's 4 scores are outstanding.
    assert seen == [(OutstandingSpy.name, 4), (OutstandingSpy.name, 9)]


def test_a_benchmark_that_times_the_machine_waits_for_the_metric_workers(tmp_path, monkeypatch) -> None:
    # Listed first, it runs after the other corpus benchmark, once no score is outstanding.
    seen = _spied_run(tmp_path, monkeypatch, ["pcm8", "pcm6"], [MachineTimingSpy.name, OutstandingSpy.name])
    assert seen == [(OutstandingSpy.name, 4), (MachineTimingSpy.name, 0), (OutstandingSpy.name, 5), (MachineTimingSpy.name, 0)]
