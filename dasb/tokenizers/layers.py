"""Layers shared by the ported codecs, parameterised as the authors' checkpoints store them.

The authors trained with ``torch.nn.utils.weight_norm`` (deprecated in torch 2.x), which stores
``weight_g`` and ``weight_v``; these convolutions keep exactly those two parameters, so the checkpoints
load with ``strict=True``, and compute the weight as torch does (``torch._weight_norm``, over dim 0 unless the
authors chose another).
"""
from __future__ import annotations

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
