"""A small causal transformer LM over multi-codebook token streams.

Three ways to turn ``K`` codebooks ``[K, T]`` into one causal sequence
(``STRATEGIES``):

- ``flatten``: interleave frame by frame (``c[0,0] c[1,0] .. c[K-1,0] c[0,1] ..``),
  one symbol per step, predicted by codebook k's head: the exact chain rule;
- ``parallel``: one step per frame; the input is the sum of the previous frame's
  K code embeddings and K heads predict the K codes of the current frame
  independently given the past;
- ``delay``: as parallel, with codebook k delayed by k steps (MusicGen), so
  codebook k of a frame is predicted after codebooks < k of that frame were seen.

Every position carries ``S`` input streams (summed embeddings) and ``S`` targets,
each with the head that predicts it (-1 = nothing to predict).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dasb.threads import torch_threads

STRATEGIES = ("flatten", "parallel", "delay")


@dataclass
class Layout:
    """One utterance as model input: ``input_ids``, ``targets`` and ``heads``, each ``[L, S]``."""

    input_ids: np.ndarray
    targets: np.ndarray
    heads: np.ndarray


def layout(codes: np.ndarray, sizes: tuple[int, ...], strategy: str, mask: np.ndarray | None = None) -> Layout:
    """Arrange ``codes`` ``[K, T]`` for ``strategy``; input ids ``size`` = BOS, ``size + 1`` = PAD.

    ``mask`` ``[K, T]`` (variable-rate tokens) keeps only valid entries; only ``flatten`` accepts it.
    """
    k, t = codes.shape
    if strategy == "flatten":
        flat = codes.T.reshape(-1)
        cb = np.tile(np.arange(k), t)
        if mask is not None:
            keep = mask.T.reshape(-1)
            flat, cb = flat[keep], cb[keep]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        joint = flat + offsets[cb]
        input_ids = np.concatenate([[sum(sizes)], joint[:-1]])[:, None]
        return Layout(input_ids, flat[:, None], cb[:, None])
    if mask is not None:
        raise ValueError(f"strategy {strategy!r} needs fixed-rate tokens (no mask)")
    if strategy == "parallel":
        shifted = codes
    elif strategy == "delay":
        shifted = np.full((k, t + k - 1), -1, dtype=np.int64)
        for i in range(k):
            shifted[i, i : i + t] = codes[i]
    else:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    pad = np.asarray(sizes)[:, None] + 1
    bos = np.asarray(sizes)[:, None]
    input_ids = np.concatenate([bos, np.where(shifted < 0, pad, shifted)[:, :-1]], axis=1).T
    targets = shifted.T
    heads = np.where(targets < 0, -1, np.arange(k)[None, :])
    return Layout(input_ids, targets, heads)


class TokenTransformer(nn.Module):
    """Causal transformer with one embedding table per input stream and one head per codebook."""

    def __init__(self, in_vocabs: list[int], head_sizes: tuple[int, ...], context: int,
                 dim: int = 64, layers: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.embed = nn.ModuleList(nn.Embedding(v, dim) for v in in_vocabs)
        self.pos = nn.Embedding(context, dim)
        block = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.heads = nn.ModuleList(nn.Linear(dim, s) for s in head_sizes)
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(context), persistent=False)

    def hidden(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Hidden states ``[B, L, dim]`` for input ids ``[B, L, S]``."""
        n = input_ids.shape[1]
        x = sum(emb(input_ids[..., s]) for s, emb in enumerate(self.embed)) + self.pos.weight[:n]
        return self.norm(self.body(x, mask=self.causal[:n, :n], is_causal=True))

    def nll_bits(self, input_ids: torch.Tensor, targets: torch.Tensor, heads: torch.Tensor) -> torch.Tensor:
        """-log2 P of every target ``[B, L, S]`` (0 where ``heads`` is -1)."""
        h = self.hidden(input_ids)
        out = torch.zeros(targets.shape, dtype=h.dtype, device=h.device)
        for k, head in enumerate(self.heads):
            sel = heads == k
            if not bool(sel.any()):
                continue
            b, l, s = sel.nonzero(as_tuple=True)
            logits = head(h[b, l])
            nats = nn.functional.cross_entropy(logits, targets[b, l, s], reduction="none")
            out = out.index_put((b, l, s), nats / math.log(2.0))
        return out


@dataclass(frozen=True)
class TrainConfig:
    """Model size and training budget."""

    context: int = 128  # tokens per training window
    dim: int = 64
    layers: int = 2
    heads: int = 4
    steps: int = 150  # optimiser steps
    batch_size: int = 16
    lr: float = 2e-3
    threads: int = 1
    seed: int = 0


def _stack(layouts: list[Layout]) -> Layout:
    return Layout(*(np.concatenate([getattr(x, f) for x in layouts]) for f in ("input_ids", "targets", "heads")))


def train(train_layouts: list[Layout], sizes: tuple[int, ...], strategy: str, cfg: TrainConfig) -> TokenTransformer:
    """Train on random windows of the concatenated training layouts (seeded, deterministic)."""
    with torch_threads(cfg.threads):
        return _train(train_layouts, sizes, strategy, cfg)


def _train(train_layouts: list[Layout], sizes: tuple[int, ...], strategy: str, cfg: TrainConfig) -> TokenTransformer:
    if cfg.steps < 1:
        raise ValueError(f"the transformer LM needs steps >= 1, got {cfg.steps}")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    data = _stack(train_layouts)
    n = len(data.targets)
    if n < 2:
        raise ValueError("not enough training tokens for the transformer LM")
    ctx = min(cfg.context, n)
    extra = 2 if strategy != "flatten" else 0
    in_vocabs = [sum(sizes) + 1] if strategy == "flatten" else [s + extra for s in sizes]
    model = TokenTransformer(in_vocabs, sizes, cfg.context, cfg.dim, cfg.layers, cfg.heads)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    tensors = [torch.from_numpy(np.ascontiguousarray(getattr(data, f))) for f in ("input_ids", "targets", "heads")]
    model.train()
    for _ in range(cfg.steps):
        starts = rng.integers(0, n - ctx + 1, size=cfg.batch_size)
        idx = torch.from_numpy(starts[:, None] + np.arange(ctx)[None, :])
        x, y, hd = (t[idx] for t in tensors)
        bits = model.nll_bits(x, y.clamp(min=0), hd)
        loss = bits.sum() / (hd >= 0).sum().clamp(min=1)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def evaluate(model: TokenTransformer, lay: Layout, context: int, threads: int = 1) -> tuple[float, int]:
    """Total bits and number of predicted targets of one utterance, in non-overlapping windows."""
    with torch_threads(threads):
        return _evaluate(model, lay, context)


def _evaluate(model: TokenTransformer, lay: Layout, context: int) -> tuple[float, int]:
    total, count = 0.0, 0
    for s in range(0, len(lay.targets), context):
        sl = slice(s, s + context)
        x, y, hd = (torch.from_numpy(np.ascontiguousarray(a[sl]))[None] for a in (lay.input_ids, lay.targets, lay.heads))
        bits = model.nll_bits(x, y.clamp(min=0), hd)
        total += float(bits.sum())
        count += int((hd >= 0).sum())
    return total, count
