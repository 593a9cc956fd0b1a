"""Learned offline baseline: log-mel frames quantised by residual VQ, Griffin-Lim decoder.

Each frame's log-mel vector (normalised with the training corpus's mean and
standard deviation) is coded by residual vector quantisation: stage ``s``
picks the nearest row of codebook ``s`` for what stages ``< s`` left over.
The codebooks are k-means centroids trained by ``dasb train baseline``
(:mod:`dasb.train`), so one training gives every bitrate from 1 to
``stages`` codebooks. Decoding sums the chosen rows, maps the mel magnitudes
back to a linear spectrogram (least squares) and runs Griffin-Lim (no random
initialisation, so decoding is deterministic).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torchaudio

from dasb.learned import load_checkpoint, rvq_decode, rvq_encode
from dasb.threads import torch_threads
from dasb.tokenizers.base import AudioTokenizer, Tokens, TokenizerInfo

KIND = "melrvq"
LOG_FLOOR = 1e-5


@dataclass(frozen=True)
class MelConfig:
    """Log-mel analysis settings; stored in the checkpoint."""

    sample_rate: int = 16000
    n_fft: int = 1024  # samples per analysis window
    hop_length: int = 320  # samples per frame (20 ms)
    n_mels: int = 80
    f_max: float = 8000.0


class LogMel:
    """Log magnitude mel frames ``[T, n_mels]`` of a mono waveform, and their inverse."""

    def __init__(self, cfg: MelConfig, griffin_lim_iterations: int = 32) -> None:
        self.cfg = cfg
        common = dict(n_fft=cfg.n_fft, hop_length=cfg.hop_length, power=1.0)
        self.mel = torchaudio.transforms.MelSpectrogram(cfg.sample_rate, n_mels=cfg.n_mels, f_max=cfg.f_max, center=True, **common)
        self.inverse_mel = torchaudio.transforms.InverseMelScale(cfg.n_fft // 2 + 1, cfg.n_mels, cfg.sample_rate, f_max=cfg.f_max)
        self.griffin_lim = torchaudio.transforms.GriffinLim(n_iter=griffin_lim_iterations, rand_init=False, **common)

    def __call__(self, wav: torch.Tensor) -> torch.Tensor:
        return torch.log(self.mel(wav) + LOG_FLOOR).T

    def invert(self, frames: torch.Tensor) -> torch.Tensor:
        """Waveform of ``(T - 1) * hop_length`` samples from log-mel frames ``[T, n_mels]``."""
        mel = (torch.exp(frames) - LOG_FLOOR).clamp(min=0.0).T
        # The least-squares solve splits its work by thread count, and Griffin-Lim magnifies the difference (1e-3
        # in the waveform between 1 and 2 threads): solved on one thread, the decode is the same on any machine.
        with torch_threads(1):
            linear = self.inverse_mel(mel).clamp(min=0.0)
        self.griffin_lim.length = (frames.shape[0] - 1) * self.cfg.hop_length
        return self.griffin_lim(linear)


class MelRVQTokenizer(AudioTokenizer):
    """The first ``num_codebooks`` stages of a trained mel RVQ checkpoint."""

    local_checkpoint = True  # a folder path or a checkpoint shipped in dasb/data/checkpoints

    def __init__(
        self,
        name: str,
        checkpoint: str,
        revision: str | None = None,
        num_codebooks: int | None = None,
        griffin_lim_iterations: int = 32,
    ) -> None:
        tensors, config = load_checkpoint(checkpoint, revision, KIND)
        books = tensors["codebooks"]
        k = books.shape[0] if num_codebooks is None else int(num_codebooks)
        if not 1 <= k <= books.shape[0]:
            raise ValueError(f"tokenizer {name!r}: num_codebooks={k}, but checkpoint {checkpoint!r} has {books.shape[0]} stages")
        self.books = books[:k]
        self.mean, self.std = tensors["mean"], tensors["std"]
        self.features = LogMel(MelConfig(**config["features"]), griffin_lim_iterations)
        cfg = self.features.cfg
        self.info = TokenizerInfo(
            name=name,
            sample_rate=cfg.sample_rate,
            num_codebooks=k,
            codebook_size=int(books.shape[1]),
            frame_rate=cfg.sample_rate / cfg.hop_length,
            kind="learned-baseline",
            causal=False,
            align="envelope",  # Griffin-Lim invents the phase: the waveform cannot be cross-correlated
            residual=True,
            checkpoint=str(checkpoint),
            revision=revision,
            extras={"features": asdict(cfg), "trained_on": config.get("trained_on")},
        )

    def encode(self, audio: torch.Tensor, lengths: torch.Tensor) -> Tokens:
        # One item at a time: the analysis frames at the edges must not see the batch's padding.
        per_item = []
        for b, n in enumerate(lengths.tolist()):
            frames = (self.features(audio[b].mean(dim=0)[:n]) - self.mean) / self.std
            per_item.append(rvq_encode(frames, self.books))
        t = max(c.shape[1] for c in per_item)
        codes = torch.zeros(len(per_item), self.info.num_codebooks, t, dtype=torch.int64)
        for b, c in enumerate(per_item):
            codes[b, :, : c.shape[1]] = c
        return Tokens(codes, torch.tensor([c.shape[1] for c in per_item], dtype=torch.int64))

    def decode(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        waves = []
        for b in range(tokens.codes.shape[0]):
            n = int(tokens.lengths[b])
            frames = rvq_decode(tokens.codes[b, :, :n], self.books) * self.std + self.mean
            waves.append(self.features.invert(frames))
        lengths = torch.tensor([w.numel() for w in waves], dtype=torch.int64)
        out = torch.zeros(len(waves), 1, max(1, int(lengths.max())))
        for b, w in enumerate(waves):
            out[b, 0, : w.numel()] = w
        return out, lengths

    def codebook_embeddings(self) -> list[torch.Tensor]:
        return list(self.books)
