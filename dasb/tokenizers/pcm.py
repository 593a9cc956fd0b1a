"""Sample-wise reference tokenizers: identity PCM, uniform PCM at N bits, mu-law.

One token per sample, one codebook: the upper bound (16-bit identity) and
well-understood lower-rate anchors.
"""
from __future__ import annotations

import torch
import torchaudio.functional as AF

from dasb.tokenizers.base import AudioTokenizer, Tokens, TokenizerInfo


class PCMTokenizer(AudioTokenizer):
    """Uniform mid-tread PCM with ``bits`` bits per sample, or mu-law companded PCM."""

    def __init__(self, name: str, sample_rate: int = 16000, bits: int = 16, companding: str = "linear") -> None:
        if companding not in ("linear", "mulaw"):
            raise ValueError(f"companding must be 'linear' or 'mulaw', got {companding!r}")
        if not 1 <= bits <= 16:
            raise ValueError(f"bits must be in 1..16, got {bits}")
        self.bits = bits
        self.companding = companding
        kind = "reference" if bits == 16 and companding == "linear" else "classic"
        self.info = TokenizerInfo(
            name=name,
            sample_rate=sample_rate,
            num_codebooks=1,
            codebook_size=2**bits,
            frame_rate=float(sample_rate),
            kind=kind,
            causal=True,
        )

    def encode(self, audio: torch.Tensor, lengths: torch.Tensor) -> Tokens:
        x = audio.mean(dim=1, keepdim=True).clamp(-1.0, 1.0)
        levels = 2**self.bits
        if self.companding == "mulaw":
            codes = AF.mu_law_encoding(x, levels)
        else:
            half = levels // 2
            codes = torch.round(x * half).clamp(-half, half - 1) + half
        return Tokens(codes.to(torch.int64), lengths.clone())

    def decode(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        levels = 2**self.bits
        if self.companding == "mulaw":
            audio = AF.mu_law_decoding(tokens.codes, levels)
        else:
            half = levels // 2
            audio = (tokens.codes.float() - half) / half
        return audio.float(), tokens.lengths.clone()
