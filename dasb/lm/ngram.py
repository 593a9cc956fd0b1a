"""Interpolated Kneser-Ney n-gram model over integer token streams.

Chen & Goodman (1998) interpolated Kneser-Ney with one absolute discount ``D``
per order, by default Ney's estimate ``n1 / (n1 + 2 n2)`` from the counts of
that order (``n1``, ``n2``: n-grams seen once, twice). The highest order uses raw counts, lower orders continuation counts
(how many distinct left contexts a word follows), and the unigram level is
interpolated with the uniform distribution over the full vocabulary, so every
code in ``[0, vocab)`` — seen or not — gets a non-zero probability.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

Context = tuple[int, ...]


class KneserNeyLM:
    """An order-``order`` interpolated Kneser-Ney model over ``vocab`` symbols."""

    def __init__(self, vocab: int, order: int = 3, discount: float | None = None) -> None:
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        if discount is not None and not 0.0 < discount < 1.0:
            raise ValueError(f"discount must be in (0, 1), got {discount}")
        self.vocab = vocab
        self.order = order
        self.discount = discount
        # Per order n (1..order): counts[n][context][word]; context has n-1 symbols.
        self.counts: list[dict[Context, dict[int, int]]] = [defaultdict(lambda: defaultdict(int)) for _ in range(order + 1)]
        self._totals: list[dict[Context, int]] = []
        self._types: list[dict[Context, int]] = []
        self._discounts: list[float] = []

    def fit(self, streams: list[np.ndarray]) -> "KneserNeyLM":
        """Count n-grams of every stream (each stream starts without context)."""
        top = self.counts[self.order]
        for stream in streams:
            seq = [int(x) for x in stream]
            if seq and (min(seq) < 0 or max(seq) >= self.vocab):
                raise ValueError(f"symbols outside [0, {self.vocab})")
            for i, w in enumerate(seq):
                top[tuple(seq[max(0, i - self.order + 1) : i])][w] += 1
        # Lower orders: continuation counts N1+(. h w) from the next order up.
        # Contexts shorter than the order (stream starts) keep their raw counts.
        for n in range(self.order - 1, 0, -1):
            lower = self.counts[n]
            for ctx, words in self.counts[n + 1].items():
                for w, c in words.items():
                    if len(ctx) == n:
                        lower[ctx[1:]][w] += 1
                    elif len(ctx) < n:
                        lower[ctx][w] += c
        self._totals = [{h: sum(ws.values()) for h, ws in level.items()} for level in self.counts]
        self._types = [{h: len(ws) for h, ws in level.items()} for level in self.counts]
        self._discounts = [self._discount(level) for level in self.counts]
        return self

    def _discount(self, level: dict[Context, dict[int, int]]) -> float:
        if self.discount is not None:
            return self.discount
        values = [c for words in level.values() for c in words.values()]
        n1, n2 = values.count(1), values.count(2)
        return n1 / (n1 + 2 * n2) if n1 and n2 else 0.5

    def prob(self, context: Context, word: int) -> float:
        """P(word | the last ``order - 1`` symbols of ``context``)."""
        context = tuple(context[-(self.order - 1) :]) if self.order > 1 else ()
        p = 1.0 / self.vocab
        for n in range(1, len(context) + 2):
            h = context[len(context) - (n - 1) :]
            total = self._totals[n].get(h)
            if not total:
                continue
            c = self.counts[n][h].get(word, 0)
            d = self._discounts[n]
            p = (max(c - d, 0.0) + d * self._types[n][h] * p) / total
        return p

    def bits(self, stream: np.ndarray) -> np.ndarray:
        """-log2 P of each symbol of ``stream`` given the symbols before it."""
        seq = [int(x) for x in stream]
        out = np.empty(len(seq), dtype=np.float64)
        for i, w in enumerate(seq):
            out[i] = -math.log2(self.prob(tuple(seq[max(0, i - self.order + 1) : i]), w))
        return out
