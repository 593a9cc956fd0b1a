"""The levels benchmark: quality of the first k residual codebooks, scored as reconstruction scores."""
from __future__ import annotations

import pytest

from dasb.results import read_records
from dasb.runner import Runner
from dasb.suites import Suite


def test_levels_curve_on_the_learned_rvq(tmp_path):
    benches = {"levels": {"levels": [1, 2, 4, 8], "max_utterances": 3},
               "reconstruction": {"metrics": ["pesq_wb", "mel_distance"], "max_utterances": 3}}
    Runner(Suite("t", "mini", ["melrvq-4cb", "pcm8"], benches), tmp_path / "run", progress=False, workers=1).run()
    recs = {(r.tokenizer, r.benchmark, r.utterance, r.metric): r for r in read_records(tmp_path / "run")}
    mel = [recs[("melrvq-4cb", "levels", None, f"mel_distance_k{k}")].value for k in (1, 2, 4)]
    assert mel[0] > mel[1] > mel[2], f"each residual level should bring the mel spectrum closer: {mel}"
    # All four codebooks are the full decode: the same numbers as the reconstruction benchmark, per utterance.
    for (tok, bench, utt, metric), rec in recs.items():
        if tok == "melrvq-4cb" and bench == "reconstruction" and utt and metric in ("pesq_wb", "mel_distance"):
            assert recs[(tok, "levels", utt, f"{metric}_k4")].value == pytest.approx(rec.value, abs=1e-9)
    beyond = recs[("melrvq-4cb", "levels", None, "pesq_wb_k8")]
    assert beyond.status == "skipped" and "4 codebooks" in beyond.message
    pcm = recs[("pcm8", "levels", None, "pesq_wb_k1")]
    assert pcm.status == "skipped" and "not residual" in pcm.message


def test_level_columns_sort_by_number():
    from dasb.leaderboard.table import natural_key

    names = ["levels/pesq_wb_k16 ↑", "levels/pesq_wb_k2 ↑", "levels/pesq_wb_k1 ↑", "levels/mel_distance_k4 ↓"]
    assert sorted(names, key=natural_key) == [
        "levels/mel_distance_k4 ↓", "levels/pesq_wb_k1 ↑", "levels/pesq_wb_k2 ↑", "levels/pesq_wb_k16 ↑"]
