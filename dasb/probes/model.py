"""Probe networks: a token front-end shared by a CTC character recogniser and a speaker classifier.

Front-end (DASB style): one embedding table holding every codebook (codebook k's
codes are offset by the sizes of codebooks 0..k-1), a learned softmax weight per
codebook to combine them, and a projection that groups ``stack``
consecutive frames into one (concatenated, then projected), so sample-rate tokenizers (PCM: 16 000 frames/s)
reach a frame rate a recurrent head can handle.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TokenFrontEnd(nn.Module):
    """Codes ``[B, K, T]`` -> features ``[B, ceil(T / stack), hidden]``."""

    def __init__(
        self,
        sizes: tuple[int, ...],
        dim: int,
        hidden: int,
        stack: int = 1,
        init: list[torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.stack = stack
        self.pad = sum(sizes)
        self.register_buffer("offsets", torch.tensor([0, *sizes[:-1]]).cumsum(0), persistent=False)
        self.table = nn.Embedding(self.pad + 1, dim, padding_idx=self.pad)
        if init is not None:
            with torch.no_grad():
                self.table.weight[: self.pad] = torch.cat([e.float() for e in init])
        self.codebook_logits = nn.Parameter(torch.zeros(len(sizes)))
        self.proj = nn.Linear(stack * dim, hidden)  # = a convolution with kernel and stride ``stack``

    def forward(self, codes: torch.Tensor, valid: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``valid`` (bool ``[B, K, T]``) marks real entries; returns features and frame lengths."""
        idx = torch.where(valid, codes + self.offsets[None, :, None], torch.full_like(codes, self.pad))
        weights = torch.softmax(self.codebook_logits, dim=0)
        x = torch.einsum("k,bktd->btd", weights, self.table(idx))
        b, t, d = x.shape
        x = F.pad(x, (0, 0, 0, (-t) % self.stack)).reshape(b, -1, self.stack * d)
        return torch.relu(self.proj(x)), (lengths + self.stack - 1) // self.stack


def length_mask(lengths: torch.Tensor, t: int) -> torch.Tensor:
    """Bool ``[B, t]``: True on valid frames."""
    return torch.arange(t, device=lengths.device)[None, :] < lengths[:, None]


class CTCRecognizer(nn.Module):
    """Front-end -> BiLSTM -> per-frame character logits (index 0 is the CTC blank)."""

    def __init__(self, front: TokenFrontEnd, hidden: int, layers: int, n_symbols: int, upsample: int = 1) -> None:
        super().__init__()
        self.front, self.upsample = front, upsample
        self.lstm = nn.LSTM(hidden, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                            dropout=0.1 if layers > 1 else 0.0)
        self.out = nn.Linear(2 * hidden, n_symbols + 1)

    def forward(self, codes: torch.Tensor, valid: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities ``[B, T', n_symbols + 1]`` and frame lengths."""
        x, n = self.front(codes, valid, lengths)
        if self.upsample > 1:  # CTC needs at least one frame per character (more with repeats)
            x, n = x.repeat_interleave(self.upsample, dim=1), n * self.upsample
        packed = nn.utils.rnn.pack_padded_sequence(x, n.cpu(), batch_first=True, enforce_sorted=False)
        y, _ = self.lstm(packed)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
        return torch.log_softmax(self.out(y), dim=-1), n


class AttentiveStatsPooling(nn.Module):
    """Attention-weighted mean and standard deviation over valid frames."""

    def __init__(self, dim: int, attention: int = 64) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, attention), nn.Tanh(), nn.Linear(attention, 1))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        logits = self.score(x).squeeze(-1).masked_fill(~length_mask(lengths, x.shape[1]), float("-inf"))
        alpha = torch.softmax(logits, dim=1).unsqueeze(-1)
        mean = (alpha * x).sum(1)
        var = (alpha * x * x).sum(1) - mean * mean
        return torch.cat([mean, var.clamp_min(1e-6).sqrt()], dim=-1)


class SpeakerClassifier(nn.Module):
    """Front-end -> temporal convolution -> attentive statistics pooling -> speaker logits."""

    def __init__(self, front: TokenFrontEnd, hidden: int, n_speakers: int) -> None:
        super().__init__()
        self.front = front
        self.context = nn.Conv1d(hidden, hidden, kernel_size=5, padding=2)
        self.pool = AttentiveStatsPooling(hidden)
        self.out = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_speakers))

    def forward(self, codes: torch.Tensor, valid: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x, n = self.front(codes, valid, lengths)
        x = torch.relu(self.context(x.transpose(1, 2))).transpose(1, 2)
        return self.out(self.pool(x, n))


def ctc_greedy(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """Best-path decoding: argmax per frame, merge repeats, drop blanks (0)."""
    out = []
    for seq, n in zip(log_probs.argmax(-1), lengths):
        ids = torch.unique_consecutive(seq[: int(n)]).tolist()
        out.append([i for i in ids if i != 0])
    return out
