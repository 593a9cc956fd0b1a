"""Streaming: does a causal tokenizer give the same tokens when fed audio in chunks?

For each chunk size (milliseconds, rounded down to whole token frames, at least
one frame) the utterance, at the tokenizer's native rate, is cut into
consecutive chunks; each chunk is encoded on its own (no state carried between
chunks — adapters expose no streaming state, so this is the stateless lower
bound of a streaming encoder) and the tokens are concatenated. Reported per
chunk size:

- ``agreement_<c>ms``: fraction of code positions equal to whole-utterance
  encoding, over the longer of the two sequences (a length change counts as
  disagreement), all codebooks;
- ``mel_delta_<c>ms``: log-mel distance to the reference of the chunked tokens'
  decoding minus that of the whole-utterance tokens' decoding (both aligned as
  the tokenizer declares); only for tokenizers that decode;
- ``latency_ms_<c>ms``: algorithmic latency, the chunk duration plus the
  look-ahead the tokenizer declares in ``info.extras["lookahead_ms"]`` (0 if none).

Non-causal tokenizers are skipped with the reason, and ``mel_delta`` for
encode-only ones.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dasb.align import align
from dasb.audio import resample, to_channels
from dasb.augment import centre_crop
from dasb.benchmarks.aggregate import utterance_results
from dasb.benchmarks.base import CorpusBenchmark, Item, Result
from dasb.items import error_text
from dasb.specs import HIGHER, LOWER, MetricSpec, spec_table
from dasb.registry import METRICS
from dasb.tokenizers import runtime
from dasb.tokenizers.base import AudioTokenizer, Tokens
from dasb.tokenseq import codebook_streams


def agreement(a: Tokens, b: Tokens) -> float:
    """Fraction of equal codes position by position, over the longer sequence, all codebooks."""
    same = total = 0
    for x, y in zip(codebook_streams(a), codebook_streams(b)):
        n = min(len(x), len(y))
        same += int(np.count_nonzero(x[:n] == y[:n]))
        total += max(len(x), len(y))
    if total == 0:
        raise ValueError("no tokens to compare")
    return same / total


def concat(parts: list[Tokens]) -> Tokens:
    """One item's tokens from consecutive chunks' tokens."""
    codes = torch.cat([p.codes for p in parts], dim=-1)
    mask = None if parts[0].mask is None else torch.cat([p.mask for p in parts], dim=-1)
    return Tokens(codes, torch.tensor([codes.shape[-1]]), mask, dict(parts[0].side))


class Streaming(CorpusBenchmark):
    """Chunked versus whole-utterance encoding of causal tokenizers."""

    name = "streaming"
    needs_model = True

    def __init__(self, chunk_ms: list[float] | tuple[float, ...] = (20, 80, 320), max_seconds: float = 3.0,
                 **settings: Any) -> None:
        super().__init__(chunk_ms=list(chunk_ms), max_seconds=max_seconds, **settings)
        self._mel = METRICS.get("mel_distance")

    def _label(self, ms: float) -> str:
        return f"{ms:g}ms"

    def metrics(self) -> dict[str, MetricSpec]:
        specs = []
        for i, ms in enumerate(self.settings["chunk_ms"]):
            c = self._label(ms)
            specs += [MetricSpec(f"agreement_{c}", HIGHER, "fraction", 0.0, 1.0, headline=i == 0,
                                 description=f"codes equal to whole-utterance encoding, {c} chunks"),
                      MetricSpec(f"mel_delta_{c}", LOWER, description=f"mel distance added by {c} chunks"),
                      MetricSpec(f"latency_ms_{c}", LOWER, "ms", 0.0, description="chunk length plus declared lookahead")]
        return spec_table(*specs)

    def skip_reason(self, tokenizer: AudioTokenizer) -> str | None:
        if tokenizer.info.encodes and tokenizer.info.causal is not True:
            return f"streaming needs a causal tokenizer; {tokenizer.info.name} declares causal={tokenizer.info.causal}"
        return super().skip_reason(tokenizer)

    def _frame_samples(self, info: Any) -> int:
        spf = info.samples_per_frame
        if abs(spf - round(spf)) > 1e-6:
            raise ValueError(f"{info.name}: chunking needs a whole number of samples per frame (got {spf})")
        return int(round(spf))

    def run(self, items: list[Item], tokenizer: AudioTokenizer) -> list[Result]:
        if not items:
            raise ValueError("no utterances to stream")
        values: dict[str, dict[str, float]] = {m: {} for m in self.metrics()}
        failed: dict[str, str] = {}  # one utterance that cannot be streamed (e.g. too short) fails alone
        for item in items:
            try:
                scores = self._score(item, tokenizer)
            except Exception as err:
                failed[item.utterance.id] = f"utterance {item.utterance.id} ({item.utterance.audio}): {error_text(err)}"
                continue
            for metric, value in scores.items():
                values[metric][item.utterance.id] = value
        note = f"{len(failed)} of {len(items)} utterances failed and are excluded (see per-utterance errors)" if failed else None
        results: list[Result] = []
        for metric, per_utt in values.items():
            results += [Result(metric, None, uid, "error", msg) for uid, msg in failed.items()]
            if per_utt:
                results += utterance_results(self.spec(metric), per_utt, note)
            elif failed:
                results.append(Result(metric, None, None, "error", f"no utterance could be streamed; first error: {next(iter(failed.values()))}"))
            else:
                reason = f"{tokenizer.info.name} is encode-only: no reconstruction to compare"
                results.append(Result(metric, None, status="skipped", message=reason))
        return results

    def _score(self, item: Item, tokenizer: AudioTokenizer) -> dict[str, float]:
        info = tokenizer.info
        sr = item.sample_rate
        ref = centre_crop(item.reference, int(self.settings["max_seconds"] * sr))
        native = to_channels(resample(ref[None], sr, info.sample_rate), info.channels)
        spf = self._frame_samples(info)
        whole = runtime.encode(tokenizer, [native], [info.sample_rate], batch_size=1)[0]
        lookahead = float(info.extras.get("lookahead_ms", 0.0))
        values = item.decode_inputs.values
        whole_mel = self._mel_to_ref(tokenizer, whole, ref, sr, values) if info.decodes else None
        out: dict[str, float] = {}
        for ms in self.settings["chunk_ms"]:
            c = self._label(ms)
            step = max(1, int(ms / 1000 * info.sample_rate) // spf) * spf
            chunks = [native[:, s : s + step] for s in range(0, native.shape[-1], step)]
            chunked = concat(runtime.encode(tokenizer, chunks, [info.sample_rate] * len(chunks), batch_size=64))
            out[f"agreement_{c}"] = agreement(whole, chunked)
            out[f"latency_ms_{c}"] = 1000.0 * step / info.sample_rate + lookahead
            if whole_mel is not None:
                out[f"mel_delta_{c}"] = self._mel_to_ref(tokenizer, chunked, ref, sr, values) - whole_mel
        return out

    def _mel_to_ref(self, tokenizer: AudioTokenizer, tokens: Tokens, ref: np.ndarray, sr: int,
                    values: dict[str, Any]) -> float:
        audio = runtime.decode(tokenizer, [tokens], sr, decode_values=[values])[0][0]
        r, e, _ = align(ref, audio, sr, tokenizer.info.align)
        return self._mel(r, e, sr)
