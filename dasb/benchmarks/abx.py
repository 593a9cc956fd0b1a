"""ABX discriminability of token sequences (across speakers).

For items A and B with different labels in the same context (a minimal pair,
or a phone between the same neighbours) spoken by one speaker, and X with A's
label spoken by another speaker, the triplet is an error when X is closer to B
than to A (ties count one half). Distances are dynamic time warping over frame
distances between token sequences, normalised by the summed lengths.

Frame distance: tokens are pooled into windows of ``ceil(frame_rate /
max_frame_rate)`` frames (one frame each for codecs at <= 100 Hz; this keeps
per-sample tokenizers affordable). With ``frame: onehot`` (default) each window
is a histogram of codes per codebook; with ``frame: embedding`` it is the mean
of the codes' vectors from ``tokenizer.codebook_embeddings()``. The distance is
1 minus the cosine similarity, averaged over codebooks; for one-hot one-frame
windows that is 0 for equal codes and 1 otherwise.

Items come from the generated espeak-ng minimal-pair set (default) or a
ZeroSpeech ``.item`` file (``item_file`` and ``audio_dir`` settings); each item's
audio is encoded on its own. The corpus of the run is not used. The error is
averaged over speaker combinations per (context, A label, B label) cell, and
summarised over cells with a bootstrap interval.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
import torch

from dasb.audio import load_audio, to_channels
from dasb.benchmarks.aggregate import aggregate
from dasb.benchmarks.base import CorpusBenchmark, Item, Result
from dasb.specs import LOWER, NEUTRAL, MetricSpec, spec_table
from dasb.data.corpus import Utterance
from dasb.data.minimal_pairs import DEFAULT_VOICES, ABXItem, generate_minimal_pairs, item_set_hash, read_item_file
from dasb.tokenizers import runtime
from dasb.tokenizers.base import AudioTokenizer, Tokens
from dasb.tokenseq import codebook_streams, frame_symbols

FRAMES = ("onehot", "embedding")
Triplet = tuple[int, int, int]  # indices of A, B, X
Feature = tuple[np.ndarray, np.ndarray] | np.ndarray  # one-hot (windows, codes) or embeddings [windows, dim]


def triplets(items: list[ABXItem]) -> list[Triplet]:
    """All across-speaker triplets: A, B same speaker and context, different labels; X = A's label, other speaker."""
    by_key: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        by_key[(it.context, it.label, it.speaker)].append(i)
    out = []
    for (ctx, label, spk), a_list in by_key.items():
        others = [k for k in by_key if k[0] == ctx]
        for b_key in (k for k in others if k[2] == spk and k[1] != label):
            for x_key in (k for k in others if k[1] == label and k[2] != spk):
                out += [(a, b, x) for a in a_list for b in by_key[b_key] for x in by_key[x_key]]
    return out


def window_features(tokens: Tokens, pool: int, embeddings: list[torch.Tensor] | None = None) -> list[Feature]:
    """Per codebook, the item's windows of ``pool`` frames.

    One-hot: (window index, code) of every code, turned into code histograms
    per pair of items. Embeddings: the mean code embedding of each window,
    L2-normalised ``[windows, dim]``. Masked (variable-rate) tokens become one
    stream of whole-frame symbols (:func:`dasb.tokenseq.frame_symbols` ``"all"``,
    e.g. one per Opus packet), one-hot only.
    """
    if tokens.mask is not None and embeddings is not None:
        raise ValueError("codebook embeddings need fixed-rate tokens; use frame: onehot for masked tokens")
    streams = codebook_streams(tokens) if tokens.mask is None else [frame_symbols(tokens, "all")]
    if any(len(s) == 0 for s in streams):
        raise ValueError("an ABX item has no tokens (audio shorter than one frame?)")
    windows = [np.arange(len(s)) // pool for s in streams]
    if embeddings is None:
        return list(zip(windows, streams))
    out = []
    for w, s, table in zip(windows, streams, embeddings):
        vectors = table.detach().cpu().double().numpy()[s]
        pooled = np.zeros((int(w[-1]) + 1, vectors.shape[1]))
        np.add.at(pooled, w, vectors)
        out.append(pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12))
    return out


def _similarity(a: Feature, b: Feature) -> np.ndarray:
    """Cosine similarity of every window of ``a`` with every window of ``b`` (one codebook)."""
    if isinstance(a, np.ndarray):
        return a @ b.T
    (wa, ca), (wb, cb) = a, b
    _, ids = np.unique(np.concatenate([ca, cb]), return_inverse=True)
    width = int(ids.max()) + 1
    ha = np.zeros((int(wa[-1]) + 1, width))
    hb = np.zeros((int(wb[-1]) + 1, width))
    np.add.at(ha, (wa, ids[: len(ca)]), 1.0)
    np.add.at(hb, (wb, ids[len(ca) :]), 1.0)
    ha /= np.linalg.norm(ha, axis=1, keepdims=True)
    hb /= np.linalg.norm(hb, axis=1, keepdims=True)
    return ha @ hb.T


def frame_distances(a: list[Feature], b: list[Feature]) -> np.ndarray:
    """``[windows of a, windows of b]``: 1 - cosine similarity averaged over codebooks."""
    return np.clip(1.0 - np.mean([_similarity(x, y) for x, y in zip(a, b)], axis=0), 0.0, None)


def dtw_batch(costs: list[np.ndarray]) -> np.ndarray:
    """Normalised DTW cost of each ``[n, m]`` frame-distance matrix, computed together.

    ``D[i, j] = c[i, j] + min(D[i-1, j], D[i, j-1], D[i-1, j-1])``, filled one
    anti-diagonal at a time for the whole padded batch; result ``D[n, m] / (n + m)``.
    """
    n = max(c.shape[0] for c in costs)
    m = max(c.shape[1] for c in costs)
    c = np.zeros((len(costs), n, m))
    for k, x in enumerate(costs):
        c[k, : x.shape[0], : x.shape[1]] = x
    d = np.full((len(costs), n + 1, m + 1), np.inf)
    d[:, 0, 0] = 0.0
    for s in range(2, n + m + 1):
        i = np.arange(max(1, s - m), min(n, s - 1) + 1)
        j = s - i
        best = np.minimum(np.minimum(d[:, i - 1, j], d[:, i, j - 1]), d[:, i - 1, j - 1])
        d[:, i, j] = c[:, i - 1, j - 1] + best
    ends = np.array([[x.shape[0], x.shape[1]] for x in costs])
    return d[np.arange(len(costs)), ends[:, 0], ends[:, 1]] / ends.sum(axis=1)


def abx_errors(features: list[list[Feature] | None], trips: list[Triplet]) -> np.ndarray:
    """Error (0, 0.5 for a tie, 1) of each triplet given each item's window features."""
    pairs = sorted({tuple(sorted(p)) for a, b, x in trips for p in ((a, x), (b, x))})
    dist = dict(zip(pairs, dtw_batch([frame_distances(features[p], features[q]) for p, q in pairs])))
    ax = np.array([dist[tuple(sorted((a, x)))] for a, b, x in trips])
    bx = np.array([dist[tuple(sorted((b, x)))] for a, b, x in trips])
    return np.where(np.isclose(ax, bx), 0.5, (ax > bx).astype(float))


class ABX(CorpusBenchmark):
    """Across-speaker ABX error on token sequences."""

    name = "abx"
    needs_model = True

    def __init__(self, voices: list[str] | tuple[str, ...] = DEFAULT_VOICES, item_file: str | None = None,
                 audio_dir: str | None = None, frame: str = "onehot", max_frame_rate: float = 100.0,
                 max_triplets: int | None = None, seed: int = 0, **settings: Any) -> None:
        if frame not in FRAMES:
            raise ValueError(f"abx frame must be one of {FRAMES}, got {frame!r}")
        super().__init__(voices=list(voices), item_file=item_file, audio_dir=audio_dir, frame=frame,
                         max_frame_rate=max_frame_rate, max_triplets=max_triplets, seed=seed, **settings)
        self._item_set: tuple[list[ABXItem], str] | None = None

    def config(self) -> dict[str, Any]:
        """The settings plus the content hash of the item set's audio (a set generated or edited differently
        gets new keys); a set that cannot be built is keyed by the reason, and run() fails with it."""
        try:
            content = self._items()[1]
        except Exception as err:
            content = f"unavailable: {type(err).__name__}"
        return {**super().config(), "item_set": content}

    def metrics(self) -> dict[str, MetricSpec]:
        return spec_table(
            MetricSpec("abx_error", LOWER, "fraction", 0.0, 1.0, "mean", True, "ABX discrimination error over triplets"),
            MetricSpec("triplets", NEUTRAL, "count", 0.0, None, "corpus"))

    def select(self, utterances: list[Utterance]) -> list[Utterance]:
        """None: ABX brings its own item set."""
        return []

    def _items(self) -> tuple[list[ABXItem], str]:
        """The item set and its content hash, built once per benchmark instance."""
        if self._item_set is None:
            s = self.settings
            if s["item_file"]:
                if not s["audio_dir"]:
                    raise ValueError("abx: item_file needs audio_dir (the folder of the item file's audio)")
                items = read_item_file(s["item_file"], s["audio_dir"])
            else:
                items = generate_minimal_pairs(tuple(s["voices"]))
            self._item_set = (items, item_set_hash(items))
        return self._item_set

    def run(self, items: list[Item], tokenizer: AudioTokenizer) -> list[Result]:
        s = self.settings
        abx_items = self._items()[0]
        trips = triplets(abx_items)
        if not trips:
            raise ValueError("abx: the item set yields no across-speaker triplets (need 2+ speakers per context)")
        if s["max_triplets"] is not None and len(trips) > s["max_triplets"]:
            rng = np.random.default_rng(s["seed"])
            trips = [trips[i] for i in sorted(rng.choice(len(trips), s["max_triplets"], replace=False))]
        used = sorted({i for t in trips for i in t})
        tokens = dict(zip(used, self._encode([abx_items[i] for i in used], tokenizer)))
        pool = max(1, math.ceil(tokenizer.info.frame_rate / s["max_frame_rate"]))
        embeddings = self._embeddings(tokenizer)
        features = {i: window_features(t, pool, embeddings) for i, t in tokens.items()}
        feats = [features.get(i) for i in range(len(abx_items))]
        errors = abx_errors(feats, trips)
        cells: dict[tuple[str, str, str], list[float]] = defaultdict(list)
        for (a, b, _), e in zip(trips, errors):
            cells[(abx_items[a].context, abx_items[a].label, abx_items[b].label)].append(float(e))
        note = f"{len(trips)} triplets in {len(cells)} cells, {s['frame']} frames, windows of {pool} frame(s)"
        # abx_error is the mean over (context, A label, B label) cells of each cell's mean triplet error.
        return [aggregate(self.spec("abx_error"), [float(np.mean(v)) for v in cells.values()], note),
                Result("triplets", float(len(trips)), None, "ok", note, n=len(cells))]

    def _embeddings(self, tokenizer: AudioTokenizer) -> list[torch.Tensor] | None:
        if self.settings["frame"] == "onehot":
            return None
        tables = tokenizer.codebook_embeddings()
        if tables is None:
            raise ValueError(f"{tokenizer.info.name} exposes no codebook embeddings; use the abx setting frame: onehot")
        return tables

    def _encode(self, items: list[ABXItem], tokenizer: AudioTokenizer) -> list[Tokens]:
        audio: dict[str, tuple[np.ndarray, int]] = {}
        waves, rates = [], []
        for it in items:
            if it.file not in audio:
                wav, sr = load_audio(it.file)
                audio[it.file] = (to_channels(wav, 1), sr)
            wav, sr = audio[it.file]
            end = None if it.offset is None else int(round(it.offset * sr))
            waves.append(wav[:, int(round(it.onset * sr)) : end])
            rates.append(sr)
        return runtime.encode(tokenizer, waves, rates, batch_size=16)
