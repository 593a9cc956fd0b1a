"""Training of the learned offline baselines (``dasb train baseline|mfcc-kmeans``).

Both recipes read every utterance of a corpus at the tokenizer's rate, extract
frames with the tokenizer's own feature code (in float64, see :mod:`dasb.learned`),
normalise each dimension with the corpus mean and standard deviation, and run
seeded k-means on the CPU:

- ``baseline``: residual VQ of log-mel frames (:mod:`dasb.tokenizers.melrvq`),
  ``stages`` codebooks of ``codebook_size`` entries;
- ``mfcc-kmeans``: one k-means of MFCC+delta frames (:mod:`dasb.tokenizers.mfcc_kmeans`).

The checkpoint holds no timestamps, so the same corpus, settings and seed give
byte-identical files (and the same revision).
"""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from typing import Any, Callable

import torch

from dasb.audio import load_audio, resample, to_channels
from dasb.data.corpus import Corpus, load_corpus
from dasb.learned import float64_default, kmeans, save_checkpoint, train_rvq

def corpus_frames(corpus: Corpus, make_features: Callable[[], Callable[[torch.Tensor], torch.Tensor]],
                  sample_rate: int) -> tuple[torch.Tensor, float]:
    """All float64 feature frames ``[N, D]`` of a corpus, and its seconds of audio.

    ``make_features`` is called under float64 defaults, so the extractor's
    filterbanks and windows are float64 too (see :mod:`dasb.learned`).
    """
    with float64_default():
        features = make_features()
    frames, seconds = [], 0.0
    for utt in corpus.utterances:
        wav, sr = load_audio(utt.audio)
        mono = resample(to_channels(wav, 1), sr, sample_rate)[0]
        frames.append(features(torch.from_numpy(mono).to(torch.float64)))
        seconds += mono.size / sample_rate
    if not frames:
        raise ValueError(f"corpus {corpus.name!r} has no utterances to train on")
    return torch.cat(frames), seconds


def _normalise(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    mean = frames.mean(dim=0)
    std = frames.std(dim=0).clamp(min=1e-5)
    return (frames - mean) / std, mean, std


def _trained_on(corpus: Corpus, frames: torch.Tensor, seconds: float) -> dict[str, Any]:
    return {"corpus": corpus.name, "hash": corpus.hash, "utterances": len(corpus.utterances), "frames": int(frames.shape[0]), "seconds": round(seconds, 3)}


def train_baseline(data: str, out: str, stages: int = 8, codebook_size: int = 256, iterations: int = 25, seed: int = 0) -> str:
    """Train the log-mel residual-VQ baseline on corpus ``data``; returns the checkpoint revision."""
    from dasb.tokenizers.melrvq import KIND, LogMel, MelConfig

    cfg = MelConfig()
    corpus = load_corpus(data)
    frames, seconds = corpus_frames(corpus, lambda: LogMel(cfg), cfg.sample_rate)
    x, mean, std = _normalise(frames)
    books = train_rvq(x, stages, codebook_size, iterations, seed)
    config = {
        "kind": KIND, "features": asdict(cfg), "stages": stages, "codebook_size": codebook_size,
        "iterations": iterations, "seed": seed, "trained_on": _trained_on(corpus, frames, seconds),
    }
    return save_checkpoint(out, {"codebooks": books, "mean": mean, "std": std}, config)


def train_mfcc_kmeans(data: str, out: str, clusters: int = 100, iterations: int = 25, seed: int = 0) -> str:
    """Train the MFCC k-means (HuBERT iteration-1 style) baseline; returns the checkpoint revision."""
    from dasb.tokenizers.mfcc_kmeans import KIND, MFCCConfig, MFCCDeltas

    cfg = MFCCConfig()
    corpus = load_corpus(data)
    frames, seconds = corpus_frames(corpus, lambda: MFCCDeltas(cfg), cfg.sample_rate)
    x, mean, std = _normalise(frames)
    centroids = kmeans(x, clusters, iterations, seed)
    config = {
        "kind": KIND, "features": asdict(cfg), "clusters": clusters, "iterations": iterations,
        "seed": seed, "trained_on": _trained_on(corpus, frames, seconds),
    }
    return save_checkpoint(out, {"centroids": centroids, "mean": mean, "std": std}, config)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``dasb train baseline|mfcc-kmeans`` (options defined in :mod:`dasb.cli`)."""
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    if args.recipe == "baseline":
        revision = train_baseline(args.data, args.out, args.stages, args.codebook_size, args.iterations, args.seed)
    else:
        revision = train_mfcc_kmeans(args.data, args.out, args.clusters, args.iterations, args.seed)
    print(f"trained {args.recipe} on {args.data} in {time.perf_counter() - start:.1f} s")
    print(f"checkpoint: {args.out} (revision {revision}); use it in a card as `checkpoint: {args.out}`, `revision: {revision}`")
    return 0
