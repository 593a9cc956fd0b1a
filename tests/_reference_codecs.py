"""Helpers for the reference-codec and learned-baseline tests: score cards on a few utterances."""
from __future__ import annotations

import math

import numpy as np

from dasb.align import apply_delay
from dasb.audio import load_audio
from dasb.benchmarks.base import Item
from dasb.benchmarks.reconstruction import Reconstruction
from dasb.data.corpus import Utterance
from dasb.metrics.signal import stoi
from dasb.tokenizers import runtime
from dasb.tokenizers.base import AudioTokenizer, Tokens
from dasb.tokenizers.cards import get_card


def load(utterances: list[Utterance]) -> list[tuple[Utterance, np.ndarray, int]]:
    """Mono float32 audio of each utterance with its rate."""
    out = []
    for utt in utterances:
        wav, sr = load_audio(utt.audio)
        out.append((utt, wav.mean(axis=0), sr))
    return out


def items(tok: AudioTokenizer, data: list[tuple[Utterance, np.ndarray, int]]) -> list[Item]:
    """Encode and decode through the framework, as the runner does."""
    tokens = runtime.encode(tok, [w[None] for _, w, _ in data], [sr for _, _, sr in data])
    decoded = [None] * len(data)
    if tok.info.decodes:
        for i, (_, _, sr) in enumerate(data):
            decoded[i] = runtime.decode(tok, [tokens[i]], sr)[0][0]
    return [Item(u, w, sr, t, d) for (u, w, sr), t, d in zip(data, tokens, decoded)]


def scores(name: str, data: list[tuple[Utterance, np.ndarray, int]]) -> dict[str, list[float]]:
    """Per-utterance PESQ-WB, STOI and delay (ms) of card ``name`` from the reconstruction benchmark."""
    tok = get_card(name).build()
    bench = Reconstruction(metrics=["pesq_wb", "stoi"])
    out: dict[str, list[float]] = {"pesq_wb": [], "stoi": [], "delay_ms": []}
    for item in items(tok, data):
        for metric, value in bench.score(item, tok).items():
            if isinstance(value, Exception):
                raise value
            out[metric].append(value)
    return out


def bits(tokens: Tokens, sizes: tuple[int, ...]) -> float:
    """Bits carried by the valid codes of a one-item :class:`Tokens` (mask honoured)."""
    n = int(tokens.lengths[0])
    per_code = np.array([math.log2(s) for s in sizes])
    if tokens.mask is None:
        return float(per_code.sum() * n)
    return float((tokens.mask[0, :, :n].sum(dim=-1).numpy() * per_code).sum())


def stoi_gain_from_shifting(item: Item, lag: int, shifts: tuple[int, ...]) -> float:
    """Largest STOI gain from moving the aligned estimate by ``shifts`` more samples."""
    base = stoi(*apply_delay(item.reference, item.decoded, lag), item.sample_rate)
    return max(stoi(*apply_delay(item.reference, item.decoded, lag + s), item.sample_rate) for s in shifts) - base
