"""Semantic-style baseline: k-means cluster ids of MFCC frames (HuBERT's first-iteration targets).

HuBERT's first training iteration clusters 39-dimensional MFCC features (13
coefficients with first and second derivatives, 100 frames per second) into
100 clusters and uses the ids as targets. This tokenizer is that clustering:
one codebook of cluster ids, encode-only. The centroids come from
``dasb train mfcc-kmeans`` (:mod:`dasb.train`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torchaudio
import torchaudio.functional as AF

from dasb.learned import load_checkpoint, nearest
from dasb.tokenizers.base import AudioTokenizer, Tokens, TokenizerInfo

KIND = "mfcc-kmeans"


@dataclass(frozen=True)
class MFCCConfig:
    """MFCC analysis settings (HuBERT iteration 1: 25 ms windows, 10 ms hop); stored in the checkpoint."""

    sample_rate: int = 16000
    n_mfcc: int = 13  # cepstral coefficients before deltas
    n_mels: int = 40
    n_fft: int = 400  # samples per window (25 ms)
    hop_length: int = 160
    delta_window: int = 5


class MFCCDeltas:
    """MFCC + delta + delta-delta frames ``[T, 3 * n_mfcc]`` of a mono waveform."""

    def __init__(self, cfg: MFCCConfig) -> None:
        self.cfg = cfg
        melkwargs = {"n_fft": cfg.n_fft, "hop_length": cfg.hop_length, "n_mels": cfg.n_mels, "center": True}
        self.mfcc = torchaudio.transforms.MFCC(cfg.sample_rate, n_mfcc=cfg.n_mfcc, melkwargs=melkwargs)

    def __call__(self, wav: torch.Tensor) -> torch.Tensor:
        c = self.mfcc(wav)
        d1 = AF.compute_deltas(c, win_length=self.cfg.delta_window)
        d2 = AF.compute_deltas(d1, win_length=self.cfg.delta_window)
        return torch.cat([c, d1, d2]).T


class MFCCKMeansTokenizer(AudioTokenizer):
    """Nearest-centroid ids of normalised MFCC+delta frames; encode-only."""

    local_checkpoint = True  # a folder path or a checkpoint shipped in dasb/data/checkpoints

    def __init__(self, name: str, checkpoint: str, revision: str | None = None) -> None:
        tensors, config = load_checkpoint(checkpoint, revision, KIND)
        self.centroids, self.mean, self.std = tensors["centroids"], tensors["mean"], tensors["std"]
        self.features = MFCCDeltas(MFCCConfig(**config["features"]))
        cfg = self.features.cfg
        self.info = TokenizerInfo(
            name=name,
            sample_rate=cfg.sample_rate,
            num_codebooks=1,
            codebook_size=int(self.centroids.shape[0]),
            frame_rate=cfg.sample_rate / cfg.hop_length,
            kind="semantic",
            causal=False,
            decodes=False,
            checkpoint=str(checkpoint),
            revision=revision,
            extras={"features": asdict(cfg), "trained_on": config.get("trained_on")},
        )

    def encode(self, audio: torch.Tensor, lengths: torch.Tensor) -> Tokens:
        # One item at a time: edge frames and deltas must not see the batch's padding.
        ids = [
            nearest((self.features(audio[b].mean(dim=0)[:n]) - self.mean) / self.std, self.centroids)
            for b, n in enumerate(lengths.tolist())
        ]
        codes = torch.zeros(len(ids), 1, max(i.numel() for i in ids), dtype=torch.int64)
        for b, i in enumerate(ids):
            codes[b, 0, : i.numel()] = i
        return Tokens(codes, torch.tensor([i.numel() for i in ids], dtype=torch.int64))

    def codebook_embeddings(self) -> list[torch.Tensor]:
        return [self.centroids]
