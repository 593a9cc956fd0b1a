"""``dasb score``: score outputs made elsewhere against a corpus, beside earlier runs.

    dasb score --ref data/ --decoded my_codec_out/ --name mycodec --kbps 1.5 --compare runs/default

The system is an external card (:mod:`dasb.external`) built from the options; it
runs the benchmarks of a suite (``default`` unless ``--suite``), with that suite's
settings so its numbers line up with runs of the same suite. Benchmarks it cannot
run are recorded as skipped, saying why.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dasb.runner import RunSummary, Runner
from dasb.suites import load_suite
from dasb.tokenizers.cards import Card, load_cards


def external_card(name: str, **params: Any) -> Card:
    """The card of an external system; ``params`` as in :class:`dasb.external.ExternalSystem` (None: not given)."""
    if name in load_cards():
        raise ValueError(f"{name!r} is already a tokenizer card; give the external system another --name")
    given = {k: v for k, v in params.items() if v is not None}
    if "decoded" not in given and "tokens" not in given:
        raise ValueError(f"external system {name!r}: give its decoded audio (--decoded) and/or token files (--tokens)")
    for key in ("decoded", "tokens", "coded"):
        if key in given:
            given[key] = str(Path(given[key]).resolve())
    return Card(name=name, adapter="external", params=given, description="external system (scored from its outputs)")


def score(card: Card, ref: str, out: str | Path, suite: str = "default", benchmarks: list[str] | None = None,
          workers: int = 1, overwrite: str = "never") -> RunSummary:
    """Run ``suite``'s benchmarks (or the named ones, with the suite's settings) for ``card`` on ``ref``."""
    chosen = load_suite(suite)
    chosen.name = f"score-{card.name}"
    chosen.dataset = ref
    chosen.tokenizers = [card.name]
    if benchmarks:
        chosen.benchmarks = {b: chosen.benchmarks.get(b, {}) for b in benchmarks}
    runner = Runner(chosen, out, overwrite=overwrite, workers=workers, cards={card.name: card})
    return runner.run()


def dataset_mismatches(out: str | Path, others: list[str | Path]) -> list[str]:
    """Warnings for run directories measured on another dataset than ``out`` (their rows do not compare)."""
    def dataset(run: str | Path) -> dict:
        path = Path(run) / "config.json"
        return json.loads(path.read_text()).get("dataset", {}) if path.exists() else {}

    mine = dataset(out)
    return [f"{d} was measured on dataset {dataset(d).get('name')!r} ({dataset(d).get('hash')}), "
            f"not {mine.get('name')!r} ({mine.get('hash')}): its rows do not compare with this one"
            for d in others if dataset(d).get("hash") != mine.get("hash")]
