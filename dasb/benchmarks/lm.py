"""Token language-model perplexity: how learnable a tokenizer's token stream is.

The selected utterances are split deterministically (by a seeded hash of the
utterance id) into training and held-out parts. An interpolated Kneser-Ney
n-gram (on the frame-interleaved stream; its order, up to ``order``, chosen on a
validation part of the training split) and a small causal transformer (one
model per multi-codebook strategy, see :mod:`dasb.lm.transformer`) are trained
on the training part and scored on each held-out utterance.

Both models are told which codebook the next token belongs to (its position
in the interleaved stream; for masked variable-rate tokens this means packet
lengths are not charged). Reported per model: cross-entropy in bits per token, perplexity ``2 ** bits``
and bits per second of audio — the unit comparable between tokenizers with
different frame rates and codebook counts — with bootstrap intervals over
held-out utterances. Per-sample tokenizers would be far too long to model, so
at most ``max_tokens_per_utterance`` tokens (a window centred in the utterance)
are used, and the seconds in ``bps`` are those the window covers. The
transformer is skipped, with a reason, when a codebook is larger than ``max_vocab``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import Any, get_type_hints

import numpy as np

from dasb.benchmarks.aggregate import utterance_results
from dasb.benchmarks.base import CorpusBenchmark, Item, Result
from dasb.specs import LOWER, MetricSpec, spec_table
from dasb.lm import transformer as tf
from dasb.lm.ngram import KneserNeyLM
from dasb.tokenizers.base import AudioTokenizer

UNITS = {"bits_per_token": ("bit", "mean", "held-out cross-entropy per token"),
         "perplexity": ("tokens", "derived", "2 ** mean bits per token"),
         "bps": ("bit/s", "mean", "held-out cross-entropy per second of audio")}


@dataclass
class Stream:
    """One utterance's (cropped) tokens and the seconds of audio they cover."""

    utterance: str
    codes: np.ndarray  # [K, T]
    mask: np.ndarray | None  # [K, T] or None
    seconds: float

    def flat(self, sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Valid entries interleaved frame by frame (each codebook in its own id range), and their codebooks."""
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])[:, None]
        joint = (self.codes + offsets).T.reshape(-1)
        books = np.broadcast_to(np.arange(len(sizes))[:, None], self.codes.shape).T.reshape(-1)
        if self.mask is None:
            return joint, books
        keep = self.mask.T.reshape(-1)
        return joint[keep], books[keep]


def split(ids: list[str], heldout_fraction: float, seed: int) -> tuple[set[str], set[str]]:
    """Deterministic (train, held-out) split of utterance ids by a seeded hash."""
    if len(ids) < 2:
        raise ValueError(f"the LM benchmark needs at least 2 utterances, got {len(ids)}")
    ranked = sorted(ids, key=lambda u: hashlib.sha256(f"{seed}:{u}".encode()).hexdigest())
    n_test = min(len(ids) - 1, max(1, round(heldout_fraction * len(ids))))
    return set(ranked[n_test:]), set(ranked[:n_test])


def crop(item: Item, max_tokens: int) -> Stream:
    """The centred window of at most ``max_tokens`` token entries of ``item``."""
    tokens = item.tokens
    n = int(tokens.lengths[0])
    codes = tokens.codes[0, :, :n].cpu().numpy()
    mask = None if tokens.mask is None else tokens.mask[0, :, :n].cpu().numpy()
    frames = max(1, max_tokens // codes.shape[0])
    start = max(0, (n - frames) // 2)
    end = min(n, start + frames)
    seconds = len(item.reference) / item.sample_rate * (end - start) / max(n, 1)
    return Stream(item.utterance.id, codes[:, start:end], None if mask is None else mask[:, start:end], seconds)


class TokenLM(CorpusBenchmark):
    """Held-out cross-entropy of an n-gram and a small transformer trained on the tokens."""

    name = "lm"
    extra_settings = {k: v for k, v in get_type_hints(tf.TrainConfig).items() if k != "seed"}

    def __init__(self, strategies: list[str] | tuple[str, ...] = ("flatten",), heldout_fraction: float = 0.25,
                 seed: int = 0, order: int = 3, discount: float | None = None, max_tokens_per_utterance: int = 4000,
                 max_vocab: int = 4096, **settings: Any) -> None:
        train_keys = {f.name for f in fields(tf.TrainConfig)} - {"seed"}
        train_cfg = {k: settings.pop(k) for k in list(settings) if k in train_keys}
        for s in strategies:
            if s not in tf.STRATEGIES:
                raise ValueError(f"unknown LM strategy {s!r}; use one of {tf.STRATEGIES}")
        super().__init__(strategies=list(strategies), heldout_fraction=heldout_fraction, seed=seed, order=order,
                         discount=discount, max_tokens_per_utterance=max_tokens_per_utterance, max_vocab=max_vocab,
                         **train_cfg, **settings)
        self.cfg = tf.TrainConfig(seed=seed, **train_cfg)

    def _models(self) -> list[str]:
        return ["ngram"] + [f"transformer_{s}" for s in self.settings["strategies"]]

    def metrics(self) -> dict[str, MetricSpec]:
        return spec_table(*(MetricSpec(f"{m}_{u}", LOWER, unit, 0.0, None, agg, f"{m}_{u}" == "ngram_bps", f"{m}: {what}")
                            for m in self._models() for u, (unit, agg, what) in UNITS.items()))

    def run(self, items: list[Item], tokenizer: AudioTokenizer) -> list[Result]:
        s = self.settings
        sizes = tokenizer.info.codebook_sizes
        train_ids, test_ids = split([it.utterance.id for it in items], s["heldout_fraction"], s["seed"])
        streams = [crop(it, s["max_tokens_per_utterance"]) for it in items]
        train = [x for x in streams if x.utterance in train_ids]
        test = [x for x in streams if x.utterance in test_ids]
        note = f"{len(train)} training / {len(test)} held-out utterances, <= {s['max_tokens_per_utterance']} tokens each"

        order = self._select_order(train, sizes)
        note += f"; n-gram order {order}"
        ngram = KneserNeyLM(sizes, order, s["discount"]).fit([x.flat(sizes) for x in train])
        per_utt = {x.utterance: (float(ngram.bits(*x.flat(sizes)).sum()), x.flat(sizes)[0].size, x.seconds) for x in test}
        results = _report(self.metrics(), "ngram", per_utt, note)
        for strategy in s["strategies"]:
            reason = self._skip(strategy, sizes, streams)
            name = f"transformer_{strategy}"
            if reason:
                results += [Result(f"{name}_{u}", None, status="skipped", message=reason) for u in UNITS]
                continue
            lays = {x.utterance: tf.layout(x.codes, sizes, strategy, x.mask) for x in streams}
            model = tf.train([lays[x.utterance] for x in train], sizes, strategy, self.cfg)
            per_utt = {x.utterance: (*tf.evaluate(model, lays[x.utterance], self.cfg.context, self.cfg.threads), x.seconds)
                       for x in test}
            budget = f"; {self.cfg.steps} steps of {self.cfg.batch_size} x {self.cfg.context} tokens, dim {self.cfg.dim}"
            results += _report(self.metrics(), name, per_utt, note + budget)
        return results

    def _select_order(self, train: list[Stream], sizes: tuple[int, ...]) -> int:
        """The n-gram order (1..``order``) with the fewest bits on a validation part of the training split."""
        s = self.settings
        if len(train) < 2 or s["order"] == 1:
            return s["order"]
        fit_ids, val_ids = split([x.utterance for x in train], 0.2, s["seed"])
        fit = [x.flat(sizes) for x in train if x.utterance in fit_ids]
        val = [x.flat(sizes) for x in train if x.utterance in val_ids]
        bits = {}
        for n in range(1, s["order"] + 1):
            model = KneserNeyLM(sizes, n, s["discount"]).fit(fit)
            bits[n] = sum(float(model.bits(*v).sum()) for v in val)
        return min(bits, key=bits.get)

    def _skip(self, strategy: str, sizes: tuple[int, ...], streams: list[Stream]) -> str | None:
        if max(sizes) > self.settings["max_vocab"]:
            return (f"codebook size {max(sizes)} exceeds max_vocab={self.settings['max_vocab']} "
                    "(raise it in the suite settings to train the transformer anyway)")
        if strategy != "flatten" and any(x.mask is not None for x in streams):
            return f"strategy {strategy!r} needs fixed-rate tokens; this tokenizer's codes are masked (variable rate)"
        return None


def _report(specs: dict[str, MetricSpec], model: str, per_utt: dict[str, tuple[float, int, float]], note: str) -> list[Result]:
    """Per-utterance and aggregate bits/token, perplexity and bits per second."""
    for utt, (_, count, seconds) in per_utt.items():
        if count == 0 or seconds <= 0:
            raise ValueError(f"held-out utterance {utt} has no tokens to score")
    bpt = {u: bits / count for u, (bits, count, _) in per_utt.items()}
    results = utterance_results(specs[f"{model}_bits_per_token"], bpt, note)
    results += utterance_results(specs[f"{model}_bps"], {u: bits / sec for u, (bits, _, sec) in per_utt.items()}, note)
    # Perplexity is 2 ** (mean bits per token); its interval maps through the same monotone function.
    mean = next(r for r in results if r.utterance is None)
    results += [Result(f"{model}_perplexity", 2.0**v, u) for u, v in sorted(bpt.items())]
    results.append(Result(f"{model}_perplexity", 2.0**mean.value, None, "ok", note, None,
                          None if mean.ci_low is None else 2.0**mean.ci_low,
                          None if mean.ci_high is None else 2.0**mean.ci_high, mean.n))
    return results
