"""Speaker invariance: are tokens of one sentence closer across speakers than tokens of two sentences?

Among the selected utterances, sentences read by two or more speakers (parallel
prompts, matched by normalised transcript) give *same-text* pairs: the same
sentence by two different speakers. *Different-text* pairs are two different
sentences by two different speakers, drawn (seeded) from the same utterances,
as many as there are same-text pairs. Each pair's distance is the symmetric
normalised edit distance between de-duplicated frame-symbol sequences
(:func:`dasb.tokenseq.normalised_edit_distance`; symbols as in
:func:`dasb.tokenseq.frame_symbols`, by default codebook 0 or whole masked frames).

``invariance_ratio`` = mean same-text distance / mean different-text distance:
near 0 when tokens carry the words and not the voice, near 1 when they carry
no more about the words than about the speaker. Sequences longer than
``max_units`` de-duplicated units are cut to their centred window (per-sample
tokenizers); the message says when that happened.
"""
from __future__ import annotations

import re
from itertools import combinations
from typing import Any

import numpy as np

from dasb.benchmarks.aggregate import aggregate
from dasb.benchmarks.base import CorpusBenchmark, Item, Result
from dasb.specs import LOWER, NEUTRAL, MetricSpec, spec_table
from dasb.tokenizers.base import AudioTokenizer
from dasb.tokenseq import deduplicate, frame_symbols, normalised_edit_distance


def normalise_text(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def parallel_pairs(items: list[Item], seed: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(same-text, different-text) index pairs, all with different speakers."""
    keyed = [(normalise_text(it.utterance.text or ""), it.utterance.speaker) for it in items]
    speakers_per_text: dict[str, set] = {}
    for text, spk in keyed:
        if text and spk is not None:
            speakers_per_text.setdefault(text, set()).add(spk)
    parallel = [i for i, (t, s) in enumerate(keyed) if t and s is not None and len(speakers_per_text[t]) > 1]
    same, other = [], []
    for i, j in combinations(parallel, 2):
        if keyed[i][1] != keyed[j][1]:
            (same if keyed[i][0] == keyed[j][0] else other).append((i, j))
    rng = np.random.default_rng(seed)
    if len(other) > len(same):
        other = [other[k] for k in sorted(rng.choice(len(other), len(same), replace=False))]
    return same, other


class SpeakerInvariance(CorpusBenchmark):
    """Token edit distance within parallel sentences across speakers versus across sentences."""

    name = "invariance"

    def __init__(self, codebooks: str = "auto", max_units: int = 4000, seed: int = 0, **settings: Any) -> None:
        super().__init__(codebooks=codebooks, max_units=max_units, seed=seed, **settings)

    def metrics(self) -> dict[str, MetricSpec]:
        return spec_table(
            MetricSpec("same_text_distance", LOWER, "edits/unit", 0.0, None, "mean", False,
                       "token edit distance between readings of one sentence by different speakers"),
            MetricSpec("different_text_distance", NEUTRAL, "edits/unit", 0.0, None, "mean", False,
                       "token edit distance between different sentences by different speakers"),
            MetricSpec("invariance_ratio", LOWER, "ratio", 0.0, None, "derived", True,
                       "same_text_distance / different_text_distance"))

    def run(self, items: list[Item], tokenizer: AudioTokenizer) -> list[Result]:
        same, other = parallel_pairs(items, self.settings["seed"])
        if not same:
            reason = "no sentence in the selected utterances is read by two or more speakers (needs transcripts and speaker labels)"
            return [Result(m, None, status="skipped", message=reason) for m in self.metrics()]
        limit = int(self.settings["max_units"])
        units = [deduplicate(frame_symbols(it.tokens, self.settings["codebooks"])) for it in items]
        cropped = sum(u.size > limit for u in units)
        units = [u[max(0, (u.size - limit) // 2) :][:limit] for u in units]
        note = f"{len(same)} same-text and {len(other)} different-text pairs"
        if cropped:
            note += f"; {cropped} sequences cut to their centred {limit} units"
        same_d = aggregate(self.spec("same_text_distance"), [normalised_edit_distance(units[i], units[j]) for i, j in same], note)
        other_d = aggregate(self.spec("different_text_distance"),
                            [normalised_edit_distance(units[i], units[j]) for i, j in other], note)
        if other_d.value == 0:
            raise ValueError("different sentences give identical token sequences: the tokens carry no content")
        ratio = Result("invariance_ratio", same_d.value / other_d.value, None, "ok", note, n=same_d.n)
        return [same_d, other_d, ratio]
