"""Token robustness: unit edit distance (UED) under audio augmentations.

For each utterance and augmentation, the original and the augmented copy are
encoded (each alone, batch size 1, through :func:`dasb.tokenizers.runtime.encode`)
and compared with :func:`dasb.tokenseq.unit_edit_distance`: the Levenshtein
distance between de-duplicated frame-symbol sequences over the original's length
(Gat et al., 2023). ``codebooks`` picks the symbols (:func:`dasb.tokenseq.frame_symbols`):
``"auto"`` (default: codebook 0, the coarse level of RVQ codecs; the whole frame
for masked tokens such as Opus packets), ``"first"`` or ``"all"`` (a frame's full
code tuple). A deterministic encoder gives exactly 0 for ``identity``.

Audio longer than ``max_seconds`` is cropped to its centred window first, which
keeps per-sample tokenizers (16 000 tokens per second) affordable.
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from dasb.augment import centre_crop, get_augmentation
from dasb.benchmarks.base import Item, UtteranceBenchmark
from dasb.specs import LOWER, MetricSpec, spec_table
from dasb.tokenizers import runtime
from dasb.tokenizers.base import AudioTokenizer
from dasb.tokenseq import frame_symbols, unit_edit_distance

DEFAULT_AUGMENTATIONS = ("gain_-6db", "noise_30db", "noise_20db", "noise_10db", "noise_0db",
                         "speed_1.1", "pitch_2st", "resample_8000", "reverb_300ms")


class Robustness(UtteranceBenchmark):
    """Unit edit distance between tokens of original and augmented audio."""

    name = "robustness"
    needs_model = True

    def __init__(self, augmentations: list[str] | tuple[str, ...] = DEFAULT_AUGMENTATIONS, codebooks: str = "auto",
                 max_seconds: float = 3.0, seed: int = 0, **settings: Any) -> None:
        super().__init__(augmentations=list(augmentations), codebooks=codebooks, max_seconds=max_seconds,
                         seed=seed, **settings)
        self._augs = {a: get_augmentation(a) for a in augmentations}

    def metrics(self) -> dict[str, MetricSpec]:
        return spec_table(*(MetricSpec(f"ued_{a}", LOWER, "edits/unit", 0.0, description=f"unit edit distance under {a}")
                            for a in self._augs),
                          MetricSpec("ued_mean", LOWER, "edits/unit", 0.0, headline=True,
                                     description="unit edit distance averaged over the augmentations"))

    def score(self, item: Item, tokenizer: AudioTokenizer) -> dict[str, float | Exception]:
        sr = item.sample_rate
        x = centre_crop(item.reference, int(self.settings["max_seconds"] * sr))
        seed = int(hashlib.sha256(f"{self.settings['seed']}:{item.utterance.id}".encode()).hexdigest()[:8], 16)
        waves = [x]
        for aug in self._augs.values():
            waves.append(aug(x, sr, np.random.default_rng(seed)))
        tokens = runtime.encode(tokenizer, [w[None] for w in waves], [sr] * len(waves), batch_size=1)
        out: dict[str, float | Exception] = {}
        for name, tok in zip(self._augs, tokens[1:]):
            mode = self.settings["codebooks"]
            out[f"ued_{name}"] = unit_edit_distance(frame_symbols(tokens[0], mode), frame_symbols(tok, mode))
        out["ued_mean"] = float(np.mean(list(out.values())))  # over the configured augmentations
        return out
