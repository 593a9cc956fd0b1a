"""What each residual level adds: quality when only the first k codebooks are decoded.

For residual (RVQ) tokenizers, each codebook refines the ones before it, so
decoding a prefix of the codebooks is meaningful; the curve of quality against
k shows how much each level contributes (and how much the first, often
semantic, level carries alone). Prefix decodes are scored exactly as
``reconstruction`` scores the full decode (same alignment, same metrics).
"""
from __future__ import annotations

from typing import Any

from dasb.audio import shared_work
from dasb.benchmarks.aggregate import utterance_results
from dasb.benchmarks.base import CorpusBenchmark, Item, Result
from dasb.specs import MetricSpec, spec_table
from dasb.benchmarks.reconstruction import score_decoded
from dasb.registry import METRICS
from dasb.tokenizers import runtime
from dasb.tokenizers.base import AudioTokenizer, Tokens

DEFAULT_LEVELS = (1, 2, 4, 8, 16, 32)


def first_codebooks(tokens: Tokens, k: int) -> Tokens:
    """``tokens`` restricted to its first ``k`` codebooks."""
    mask = None if tokens.mask is None else tokens.mask[:, :k]
    return Tokens(tokens.codes[:, :k], tokens.lengths, mask, dict(tokens.side))


class Levels(CorpusBenchmark):
    """``<metric>_k<k>`` for each ``k`` in ``levels``: the metric of the decode of the first k codebooks.

    Settings: ``levels`` (prefix sizes; those above the tokenizer's codebook count are
    skipped), ``metrics`` (reconstruction metric names), ``max_utterances``.
    """

    name = "levels"
    needs_model = True
    needs_decoded = True

    def __init__(self, levels: list[int] | tuple[int, ...] = DEFAULT_LEVELS,
                 metrics: list[str] | tuple[str, ...] = ("pesq_wb", "mel_distance"), **settings: Any) -> None:
        super().__init__(levels=sorted({int(k) for k in levels}), metrics=list(metrics), **settings)
        self._metrics = [METRICS.get(m) for m in metrics]

    def metrics(self) -> dict[str, MetricSpec]:
        # Headline: what the first level alone keeps, on mel distance (defined for every decoder) when measured.
        names = [m.name for m in self._metrics]
        lead = "mel_distance" if "mel_distance" in names else names[0]
        first = f"{lead}_k{self.settings['levels'][0]}"
        return spec_table(*(m.spec(f"{m.name}_k{k}", headline=f"{m.name}_k{k}" == first)
                            for k in self.settings["levels"] for m in self._metrics))

    def skip_reason(self, tokenizer: AudioTokenizer) -> str | None:
        info = tokenizer.info
        if not info.encodes:
            return super().skip_reason(tokenizer)
        if not info.residual:
            return f"{info.name}'s codebooks are not residual levels: a prefix of them does not decode alone"
        if info.num_codebooks < 2:
            return f"{info.name} has one codebook: there are no levels to compare"
        return super().skip_reason(tokenizer)

    def run(self, items: list[Item], tokenizer: AudioTokenizer) -> list[Result]:
        if not items:
            raise ValueError("no utterances to decode")
        info = tokenizer.info
        levels = [k for k in self.settings["levels"] if k <= info.num_codebooks]
        scored = []
        for it in items:
            with shared_work():  # one block per item: its reference is resampled once for every level
                scored.append({k: self._score(it, tokenizer, k) for k in levels})
        results: list[Result] = []
        for k in self.settings["levels"]:
            if k > info.num_codebooks:
                why = f"{info.name} has {info.num_codebooks} codebooks"
                results += [Result(f"{m.name}_k{k}", None, status="skipped", message=why) for m in self._metrics]
                continue
            values: dict[str, dict[str, float]] = {m.name: {} for m in self._metrics}
            for it, scores in zip(items, scored):
                uid = it.utterance.id
                for m in self._metrics:
                    value = scores[k][m.name]
                    if isinstance(value, Exception):
                        msg = f"utterance {uid}: {type(value).__name__}: {value}"
                        results.append(Result(f"{m.name}_k{k}", None, uid, "error", msg))
                    else:
                        values[m.name][uid] = value
            for m in self._metrics:
                name, got = f"{m.name}_k{k}", values[m.name]
                failed = len(items) - len(got)
                if got:
                    results += utterance_results(self.spec(name), got, f"{failed} of {len(items)} utterances failed" if failed else None)
                else:
                    results.append(Result(name, None, status="error", message="no utterance could be scored"))
        return results

    def _score(self, it: Item, tokenizer: AudioTokenizer, k: int) -> dict[str, float | Exception]:
        """The metrics of ``it`` decoded from its first ``k`` codebooks (each failure as its exception)."""
        info = tokenizer.info
        try:
            decoded = it.decoded if k == info.num_codebooks else runtime.decode(
                tokenizer, [first_codebooks(it.tokens, k)], it.sample_rate, decode_values=[it.decode_inputs.values])[0][0]
            return score_decoded(it.reference, decoded, it.sample_rate, info.align, self._metrics)
        except Exception as err:  # this utterance's rows become errors; the others still count
            return {m.name: err for m in self._metrics}
