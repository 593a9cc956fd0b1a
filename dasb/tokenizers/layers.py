"""Layers shared by the ported codecs, parameterised as the authors' checkpoints store them.

The authors trained with ``torch.nn.utils.weight_norm`` (deprecated in torch 2.x), which stores
``weight_g`` and ``weight_v``; these convolutions keep exactly those two parameters, so the checkpoints
load with ``strict=True``, and compute the weight as torch does (``torch._weight_norm`` over dim 0).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


def _split_weight(conv: nn.Module) -> None:
    """Replace ``conv.weight`` by ``weight_g`` (its norm over all but dim 0) and ``weight_v`` (its direction)."""
    v = conv.weight.detach()
    del conv.weight
    conv.weight_g = nn.Parameter(v.norm(dim=(1, 2), keepdim=True))
    conv.weight_v = nn.Parameter(v)


class WNConv1d(nn.Conv1d):
    """``nn.Conv1d`` under weight normalisation (parameters ``weight_g``, ``weight_v``, ``bias``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _split_weight(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, torch._weight_norm(self.weight_v, self.weight_g, 0), self.bias)


class WNConvTranspose1d(nn.ConvTranspose1d):
    """``nn.ConvTranspose1d`` under weight normalisation (norm over dim 0, the input channels, as torch's)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _split_weight(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch._weight_norm(self.weight_v, self.weight_g, 0)
        return F.conv_transpose1d(x, w, self.bias, self.stride, self.padding, self.output_padding, self.groups,
                                  self.dilation)


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
