"""Layers shared by the ported codecs, parameterised as the authors' checkpoints store them.

The authors trained with ``torch.nn.utils.weight_norm`` (deprecated in torch 2.x), which stores
``weight_g`` and ``weight_v``; these convolutions keep exactly those two parameters, so the checkpoints
load with ``strict=True``, and compute the weight as torch does (``torch._weight_norm``, over dim 0 unless the
authors chose another).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


def _split_weight(conv: nn.Module, dim: int = 0) -> None:
    """Replace ``conv.weight`` by ``weight_g`` (its norm over all but ``dim``) and ``weight_v`` (its direction)."""
    v = conv.weight.detach()
    del conv.weight
    conv.weight_g = nn.Parameter(torch.norm_except_dim(v, 2, dim))
    conv.weight_v = nn.Parameter(v)


class WNConv1d(nn.Conv1d):
    """``nn.Conv1d`` under weight normalisation (parameters ``weight_g``, ``weight_v``, ``bias``); ``norm_dim`` is
    the dimension kept by the norm (``weight_norm(conv, dim=...)``: 0 for most codecs, 2 for wav2vec-style
    positional convolutions)."""

    def __init__(self, *args, norm_dim: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.norm_dim = norm_dim
        _split_weight(self, norm_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, torch._weight_norm(self.weight_v, self.weight_g, self.norm_dim), self.bias)


class WNConvTranspose1d(nn.ConvTranspose1d):
    """``nn.ConvTranspose1d`` under weight normalisation (norm over dim 0, the input channels, as torch's)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _split_weight(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch._weight_norm(self.weight_v, self.weight_g, 0)
        return F.conv_transpose1d(x, w, self.bias, self.stride, self.padding, self.output_padding, self.groups,
                                  self.dilation)


class ConvNeXtBlock(nn.Module):
    """Vocos' block: depthwise conv, LayerNorm, pointwise MLP with GELU, per-channel scale ``gamma``."""

    def __init__(self, dim: int, hidden: int, scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, hidden)
        self.pwconv2 = nn.Linear(hidden, dim)
        self.gamma = nn.Parameter(torch.full((dim,), scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(self.dwconv(x).transpose(1, 2)))))
        return x + (self.gamma * y).transpose(1, 2)


class VocosBackbone(nn.Module):
    def __init__(self, n_mels: int, dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.embed = nn.Conv1d(n_mels, dim, 7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.convnext = nn.ModuleList(ConvNeXtBlock(dim, hidden, 1 / layers) for _ in range(layers))
        self.final_layer_norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.embed(mel).transpose(1, 2)).transpose(1, 2)
        for block in self.convnext:
            x = block(x)
        return self.final_layer_norm(x.transpose(1, 2))


class ISTFT(nn.Module):
    """Inverse STFT with "same" padding (``torch.istft`` only centres), normalised by the window envelope."""

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft))

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        frames = spec.shape[-1]
        pad = (self.n_fft - self.hop) // 2
        size = (frames - 1) * self.hop + self.n_fft
        fold = dict(output_size=(1, size), kernel_size=(1, self.n_fft), stride=(1, self.hop))
        y = F.fold(torch.fft.irfft(spec, self.n_fft, dim=1) * self.window[None, :, None], **fold)[:, 0, 0]
        env = F.fold(self.window.square().expand(1, frames, -1).transpose(1, 2), **fold)[0, 0, 0]
        return y[:, pad:-pad] / env[pad:-pad]


class ISTFTHead(nn.Module):
    def __init__(self, dim: int, n_fft: int, hop: int) -> None:
        super().__init__()
        self.out = nn.Linear(dim, n_fft + 2)
        self.istft = ISTFT(n_fft, hop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mag, phase = self.out(x).transpose(1, 2).float().chunk(2, dim=1)
        mag = torch.exp(mag).clip(max=1e2)
        return self.istft(torch.complex(mag * torch.cos(phase), mag * torch.sin(phase)))


class Vocos(nn.Module):
    """The Vocos vocoder (ConvNeXt backbone, iSTFT head with "same" padding), laid out as its checkpoints store it
    (XY-Tokenizer, TaDiCodec): mel ``[B, n_mels, T]`` -> audio ``[B, T * hop]``."""

    def __init__(self, n_mels: int, dim: int, hidden: int, layers: int, n_fft: int, hop: int) -> None:
        super().__init__()
        self.backbone = VocosBackbone(n_mels, dim, hidden, layers)
        self.head = ISTFTHead(dim, n_fft, hop)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(mel))


class ResidualUnit(nn.Module):
    """``x + block(x)``, block = activation, dilated 7-tap convolution, activation, 1-tap convolution: the residual
    unit of DAC-style encoders and decoders (parameters ``block.1.*`` and ``block.3.*``, as the authors store them)."""

    def __init__(self, dim: int, dilation: int, activation: Callable[[int], nn.Module],
                 conv: Callable[..., nn.Module]) -> None:
        super().__init__()
        self.block = nn.Sequential(activation(dim), conv(dim, dim, 7, dilation=dilation, padding=3 * dilation),
                                   activation(dim), conv(dim, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)
