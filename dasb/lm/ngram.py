"""Interpolated Kneser-Ney n-gram model over integer token streams with known codebooks.

Chen & Goodman (1998) interpolated Kneser-Ney with one absolute discount ``D``
per order, by default Ney's estimate ``n1 / (n1 + 2 n2)`` from the counts of
that order (``n1``, ``n2``: n-grams seen once, twice). The highest order uses
raw counts, lower orders continuation counts (how many distinct left contexts
a word follows).

Symbols are joint ids (each codebook in its own id range) and every position
says which codebook it comes from — as the interleaved layout does. Every
context includes that codebook, so each level, down to the uniform
distribution over the codebook's own ``V_k`` codes, predicts only codes of the
right codebook, and a code never seen still gets a non-zero probability.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

Context = tuple[int, ...]  # (codebook, earlier symbols...)


class KneserNeyLM:
    """An order-``order`` interpolated Kneser-Ney model; codebook k has ``sizes[k]`` codes."""

    def __init__(self, sizes: tuple[int, ...], order: int = 3, discount: float | None = None) -> None:
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        if discount is not None and not 0.0 < discount < 1.0:
            raise ValueError(f"discount must be in (0, 1), got {discount}")
        self.sizes = tuple(sizes)
        self.order = order
        self.discount = discount
        # Per order n (1..order): counts[n][context][word]; context = (codebook, up to n-1 symbols).
        self.counts: list[dict[Context, dict[int, int]]] = [defaultdict(lambda: defaultdict(int)) for _ in range(order + 1)]
        self._totals: list[dict[Context, int]] = []
        self._types: list[dict[Context, int]] = []
        self._discounts: list[float] = []

    def _contexts(self, symbols: np.ndarray, codebooks: np.ndarray) -> list[tuple[Context, int]]:
        seq, cbs = [int(x) for x in symbols], [int(k) for k in codebooks]
        if len(seq) != len(cbs):
            raise ValueError("one codebook index per symbol is needed")
        return [((cbs[i], *seq[max(0, i - self.order + 1) : i]), w) for i, w in enumerate(seq)]

    def fit(self, streams: list[tuple[np.ndarray, np.ndarray]]) -> "KneserNeyLM":
        """Count n-grams of every (symbols, codebooks) stream; each stream starts without context."""
        top = self.counts[self.order]
        for symbols, codebooks in streams:
            for ctx, w in self._contexts(symbols, codebooks):
                top[ctx][w] += 1
        # Lower orders: continuation counts N1+(. h w) from the next order up (dropping the
        # oldest symbol, keeping the codebook). Shorter contexts (stream starts) keep raw counts.
        for n in range(self.order - 1, 0, -1):
            lower = self.counts[n]
            for ctx, words in self.counts[n + 1].items():
                for w, c in words.items():
                    if len(ctx) == n + 1:
                        lower[(ctx[0], *ctx[2:])][w] += 1
                    else:
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
        """P(word | codebook ``context[0]`` and the last ``order - 1`` symbols of ``context[1:]``)."""
        cb, history = context[0], context[1:]
        history = history[max(0, len(history) - (self.order - 1)) :]
        p = 1.0 / self.sizes[cb]
        for n in range(1, len(history) + 2):
            h = (cb, *history[len(history) - (n - 1) :])
            total = self._totals[n].get(h)
            if not total:
                continue
            c = self.counts[n][h].get(word, 0)
            d = self._discounts[n]
            p = (max(c - d, 0.0) + d * self._types[n][h] * p) / total
        return p

    def bits(self, symbols: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
        """-log2 P of each symbol given the symbols before it and its codebook."""
        return np.array([-math.log2(self.prob(ctx, w)) for ctx, w in self._contexts(symbols, codebooks)])
