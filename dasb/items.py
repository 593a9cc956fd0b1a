"""Turning utterances into benchmark items: load, encode, decode, with the token cache.

Each utterance is read once, encoded once and decoded once per tokenizer; with
a cache, not even that when the same tokenizer met the same audio before.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from dasb.audio import AudioError, content_hash, load_audio, to_channels
from dasb.benchmarks.base import Item
from dasb.cache import CachedItem, EntryId, TokenCache, cacheable
from dasb.data.corpus import Utterance
from dasb.decode_inputs import DecodeInputError, DecodeInputProvider, DecodeInputs
from dasb.provenance import token_path_identity
from dasb.tokenizers import runtime
from dasb.tokenizers.base import AudioTokenizer, Tokens


def error_text(err: BaseException) -> str:
    """``Type: message``, the form every error record uses."""
    return f"{type(err).__name__}: {err}"


class ItemMaker:
    """Makes :class:`Item` objects for one tokenizer."""

    def __init__(
        self,
        tok: AudioTokenizer,
        tokenizer_hash: str,
        batch_size: int,
        cache: TokenCache | None = None,
        max_batch_seconds: float | None = None,
        decode_provider: DecodeInputProvider | None = None,
    ) -> None:
        self.tok = tok
        self.decode_provider = decode_provider  # supplies info.decode_inputs; required when the tokenizer declares any
        # The card's identity and the code that turns audio into tokens (no hand-bumped cache version).
        self.tokenizer_hash = token_path_identity(tokenizer_hash, type(tok))
        self.batch_size = batch_size
        self.max_batch_samples = None if max_batch_seconds is None else int(max_batch_seconds * tok.info.sample_rate)
        self.cache = cache
        self.cache_hits = 0
        self.cache_misses = 0
        # Batches that failed as a whole and were redone one by one: a batch dependence worth seeing.
        self.fallbacks: list[str] = []
        # Time in runtime.encode and runtime.decode (the adapter plus resampling).
        self.encode_seconds = 0.0
        self.decode_seconds = 0.0

    @property
    def seconds(self) -> float:
        return self.encode_seconds + self.decode_seconds

    def make(self, group: list[Utterance], decode: bool) -> list[tuple[Utterance, Item | str]]:
        """Items for ``group`` in order; a failure becomes a message naming the utterance and file."""
        loaded: list[tuple[Utterance, np.ndarray, int, DecodeInputs]] = []
        done: dict[str, Item | str] = {}
        needs = self.tok.info.decode_inputs if decode else ()
        if needs and self.decode_provider is None:
            raise ValueError(f"tokenizer {self.tok.info.name!r} decodes with {', '.join(needs)}: give ItemMaker a DecodeInputProvider")
        for utt in group:
            try:
                wav, sr = load_audio(utt.audio)
                given = self.decode_provider.for_utterance(utt) if needs else DecodeInputs()
                loaded.append((utt, to_channels(wav, 1)[0], sr, given))
            except (AudioError, OSError, DecodeInputError) as err:
                done[utt.id] = f"utterance {utt.id}: {err}"
        try:
            done.update(self._encode_decode(loaded, decode))
        except Exception as batch_err:  # one bad item must not fail its batch: retry one by one, and say so
            ids = ", ".join(u.id for u, *_ in loaded)
            self.fallbacks.append(f"a batch of {len(loaded)} ({ids}) failed ({error_text(batch_err)}) and was "
                                  "encoded one utterance at a time")
            for one in loaded:
                try:
                    done.update(self._encode_decode([one], decode))
                except Exception as err:
                    done[one[0].id] = f"utterance {one[0].id} ({one[0].audio}): tokenizer failed: {error_text(err)}"
        return [(u, done[u.id]) for u in group]

    def _encode_decode(self, group: list[tuple[Utterance, np.ndarray, int, DecodeInputs]], decode: bool) -> dict[str, Item]:
        out: dict[str, Item] = {}
        ids: dict[str, EntryId] = {}
        misses = []
        for utt, wav, sr, given in group:
            if self.cache is not None:
                ids[utt.id] = EntryId(self.tokenizer_hash, content_hash(wav, sr), wav.size, sr, given.key)
                hit = self.cache.get(ids[utt.id], need_decoded=decode)
                if hit is not None:
                    self.cache_hits += 1
                    out[utt.id] = Item(utt, wav, sr, hit.tokens, hit.decoded if decode else None,
                                       hit.encode_seconds, hit.decode_seconds, given)
                    continue
            misses.append((utt, wav, sr, given))
        self.cache_misses += len(misses) if self.cache is not None else 0
        if not misses:
            return out
        for item in self._compute(misses, decode):
            out[item.utterance.id] = item
            if self.cache is not None and cacheable(item.tokens):
                cached = CachedItem(item.tokens, item.decoded, item.encode_seconds, item.decode_seconds)
                self.cache.put(ids[item.utterance.id], cached)
        return out

    def _compute(self, group: list[tuple[Utterance, np.ndarray, int, DecodeInputs]], decode: bool) -> list[Item]:
        waves = [w[None] for _, w, _, _ in group]
        rates = [sr for _, _, sr, _ in group]
        t0 = time.perf_counter()
        tokens = runtime.encode(self.tok, waves, rates, self.batch_size, self.max_batch_samples)
        t1 = time.perf_counter()
        decoded: list[np.ndarray | None] = [None] * len(group)
        if decode:
            # Decoded audio comes back at the reference's rate; decode per rate in the group.
            for rate in sorted(set(rates)):
                idx = [i for i, r in enumerate(rates) if r == rate]
                outs = runtime.decode(self.tok, [tokens[i] for i in idx], rate, 1, self.batch_size, self.max_batch_samples,
                                      decode_values=[group[i][3].values for i in idx])
                for i, wav in zip(idx, outs):
                    decoded[i] = wav[0]
        t2 = time.perf_counter()
        self.encode_seconds += t1 - t0
        self.decode_seconds += t2 - t1
        n = len(group)
        return [Item(u, w, sr, tokens[i], decoded[i], (t1 - t0) / n, (t2 - t1) / n, given)
                for i, (u, w, sr, given) in enumerate(group)]


def reference_items(utterances: list[Utterance]) -> tuple[list[Item], list[str]]:
    """Items of the original audio as its own subject (the ground truth): ``decoded`` is the reference
    itself and there are no tokens. Returns the items and a message per utterance that could not be read."""
    items, errors = [], []
    for utt in utterances:
        try:
            wav, sr = load_audio(utt.audio)
        except (AudioError, OSError) as err:
            errors.append(f"utterance {utt.id}: {err}")
            continue
        mono = to_channels(wav, 1)[0]
        none = Tokens(torch.zeros((1, 0, 0), dtype=torch.int64), torch.zeros(1, dtype=torch.int64))
        items.append(Item(utt, mono, sr, none, mono))
    return items, errors
