"""Token statistics: how many bits a tokenizer emits and how many it really uses.

Per codebook k, over the valid codes of every selected utterance (``Tokens.mask``
honoured), with ``S`` the seconds of audio and ``n_k`` the valid codes:

- measured bitrate ``n_k * log2(V_k) / S`` (the leaderboard prefers it over the
  nominal ``frame_rate * sum log2(V_k)`` from :class:`TokenizerInfo`);
- empirical (plug-in) entropy ``H_k`` in bits; entropy bitrate ``H_k * r_k`` with
  ``r_k`` the nominal frame rate, or ``n_k / S`` for masked (variable-rate) tokens.
  Since ``H_k <= log2 V_k`` it never exceeds the nominal (or measured) bitrate;
- utilisation (fraction of the ``V_k`` codes seen), dead codes (codes never
  seen), code perplexity ``2 ** H_k`` and tokens per second. A codebook with no
  valid code at all (a byte position no Opus packet reached) counts as unused.

With ``per_codebook`` the values of each codebook are reported too, as
``cb<k>_<metric>`` (not for masked tokens, whose codebooks are positions in a
variable-size frame). Overall values: bitrates, dead codes and tokens per second are sums over
codebooks; utilisation and perplexity are means over codebooks. The plug-in
entropy is biased low on little audio and utilisation grows with the amount of
audio, so ``audio_seconds`` is reported beside them.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from dasb.benchmarks.base import CorpusBenchmark, Item, Result
from dasb.specs import HIGHER, LOWER, NEUTRAL, MetricSpec, spec_table
from dasb.tokenizers.base import AudioTokenizer
from dasb.tokenseq import codebook_streams


@dataclass(frozen=True)
class CodebookStats:
    """Statistics of one codebook's code counts."""

    size: int
    count: int
    entropy_bits: float
    used: int

    @property
    def utilisation(self) -> float:
        return self.used / self.size

    @property
    def perplexity(self) -> float:
        return 2.0**self.entropy_bits

    @property
    def dead_codes(self) -> int:
        return self.size - self.used


def codebook_stats(codes: np.ndarray, size: int) -> CodebookStats:
    """Counts, plug-in entropy (bits) and usage of ``codes`` drawn from ``size`` codes."""
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size == 0:  # e.g. a byte position no Opus packet reached
        return CodebookStats(size=size, count=0, entropy_bits=0.0, used=0)
    if codes.min() < 0 or codes.max() >= size:
        raise ValueError(f"codes outside [0, {size}): min {codes.min()}, max {codes.max()}")
    counts = np.unique(codes, return_counts=True)[1].astype(np.float64)
    p = counts / counts.sum()
    entropy = float(-(p * np.log2(p)).sum())
    return CodebookStats(size=size, count=int(codes.size), entropy_bits=max(entropy, 0.0), used=int(counts.size))


class TokenStatistics(CorpusBenchmark):
    """Nominal, measured and entropy bitrate, utilisation, perplexity, dead codes."""

    name = "tokens"

    def __init__(self, per_codebook: bool = True, **settings: Any) -> None:
        super().__init__(per_codebook=per_codebook, **settings)
        self.per_codebook = per_codebook

    def metrics(self) -> dict[str, MetricSpec]:
        return spec_table(
            MetricSpec("nominal_bitrate_bps", NEUTRAL, "bit/s", 0.0, None, "corpus", description="frame rate x sum log2(codebook size)"),
            MetricSpec("bitrate_bps", NEUTRAL, "bit/s", 0.0, None, "corpus", description="valid codes x log2(codebook size) / seconds"),
            MetricSpec("entropy_bitrate_bps", NEUTRAL, "bit/s", 0.0, None, "corpus", description="plug-in entropy x code rate"),
            MetricSpec("utilisation", HIGHER, "fraction", 0.0, 1.0, "corpus", True, "fraction of the codes used"),
            MetricSpec("perplexity", NEUTRAL, "codes", 1.0, None, "corpus", description="2 ** plug-in entropy"),
            MetricSpec("dead_codes", LOWER, "codes", 0.0, None, "corpus", description="codes never used"),
            MetricSpec("tokens_per_second", NEUTRAL, "1/s", 0.0, None, "corpus"),
            MetricSpec("audio_seconds", NEUTRAL, "s", 0.0, None, "corpus", description="audio the statistics are computed on"),
        )

    def spec(self, metric: str) -> MetricSpec:
        """``cb<k>_<metric>`` is ``<metric>`` of codebook k (never a headline)."""
        overall = re.fullmatch(r"cb\d+_(.+)", metric)
        if overall is None:
            return super().spec(metric)
        return replace(super().spec(overall.group(1)), name=metric, headline=False)

    def run(self, items: list[Item], tokenizer: AudioTokenizer) -> list[Result]:
        if not items:
            raise ValueError("no utterances to compute token statistics on")
        info = tokenizer.info
        seconds = sum(len(it.reference) / it.sample_rate for it in items)
        streams = [codebook_streams(it.tokens) for it in items]
        if not any(len(c) for s in streams for c in s):
            raise ValueError("the tokenizer emitted no valid codes")
        masked = any(it.tokens.mask is not None for it in items)
        stats = [
            codebook_stats(np.concatenate([s[k] for s in streams]), size)
            for k, size in enumerate(info.codebook_sizes)
        ]
        per_cb: list[dict[str, float]] = []
        for st in stats:
            rate = st.count / seconds if masked else info.frame_rate
            per_cb.append(
                {
                    "bitrate_bps": st.count * math.log2(st.size) / seconds,
                    "entropy_bitrate_bps": st.entropy_bits * rate,
                    "utilisation": st.utilisation,
                    "perplexity": st.perplexity,
                    "dead_codes": float(st.dead_codes),
                    "tokens_per_second": st.count / seconds,
                }
            )
        n = len(items)
        total = {
            "nominal_bitrate_bps": info.nominal_bitrate,
            "audio_seconds": seconds,
            **{m: sum(c[m] for c in per_cb) for m in ("bitrate_bps", "entropy_bitrate_bps", "dead_codes", "tokens_per_second")},
            **{m: float(np.mean([c[m] for c in per_cb])) for m in ("utilisation", "perplexity")},
        }
        results = [Result(m, float(v), n=n) for m, v in total.items()]
        if self.per_codebook and len(per_cb) > 1 and not masked:  # masked "codebooks" are byte positions
            results += [Result(f"cb{k}_{m}", float(v), n=n) for k, c in enumerate(per_cb) for m, v in c.items()]
        return results
