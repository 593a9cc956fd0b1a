"""BigCodec (Xin et al., 2024, arXiv:2409.05377) from the authors' release: 16 kHz, 80 Hz, one 8192-entry codebook.

A DAC-like convolutional encoder (anti-aliased SnakeBeta activations) with a residual LSTM, a factorised
VQ (1024 -> 8 dims, cosine nearest neighbour) and a mirrored decoder; 159.4 M parameters. Our own modules,
laid out as the authors' ``CodecEncoder`` / ``CodecDecoder`` (github.com/Aria-K-Alethia/BigCodec, ``vq/``)
so that their ``bigcodec.pt`` (``{"CodecEnc": ..., "generator": ...}``) loads with ``strict=True``:
``nn.Sequential`` indices, old-style weight norm (``weight_g`` / ``weight_v``) and the stored filter buffers
of the anti-aliasing resamplers.
"""
from __future__ import annotations

import hashlib
import math
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dasb.tokenizers.base import TokenizerInfo
from dasb.tokenizers.hf_base import HFTokenizer, WeightsUnavailable, fetch_files, find_local
from dasb.tokenizers.layers import ResidualUnit
from dasb.weights.catalog import Source, hub_or_folder

ENCODER = {"ngf": 48, "rnn_num_layers": 2, "up_ratios": (2, 2, 2, 5, 5), "dilations": (1, 3, 9), "out_channels": 1024}
DECODER = {"in_channels": 1024, "upsample_initial_channel": 1536, "rnn_num_layers": 2, "up_ratios": (5, 5, 2, 2, 2),
           "dilations": (1, 3, 9), "vq_dim": 1024, "codebook_size": 8192, "codebook_dim": 8}
PUBLISHED_CONFIG = {"encoder": ENCODER, "decoder": DECODER}  # config/model/default.yaml, as bigcodec.pt was trained


def _weight_norm(module: nn.Module) -> nn.Module:
    # The checkpoint stores weight_g / weight_v: the deprecated API keeps those names (parametrizations would not).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.nn.utils.weight_norm(module)


def _kaiser_sinc(ratio: int, kernel_size: int = 12) -> torch.Tensor:
    """Low-pass filter ``[1, 1, K]`` at cutoff ``0.5 / ratio`` (the alias-free-torch design BigVGAN uses)."""
    cutoff, half_width, half = 0.5 / ratio, 0.6 / ratio, kernel_size // 2
    attenuation = 2.285 * (half - 1) * math.pi * 4 * half_width + 7.95
    beta = (0.1102 * (attenuation - 8.7) if attenuation > 50 else
            0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21) if attenuation >= 21 else 0.0)
    window = torch.kaiser_window(kernel_size, beta=beta, periodic=False)
    t = torch.arange(-half, half) + 0.5 if kernel_size % 2 == 0 else torch.arange(kernel_size) - half
    taps = 2 * cutoff * window * torch.sinc(2 * cutoff * t)
    return (taps / taps.sum()).view(1, 1, kernel_size)


class SnakeBeta(nn.Module):
    """``x + sin^2(a x) / b`` per channel, with ``a``, ``b`` stored as logarithms."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.alpha.exp()[None, :, None], self.beta.exp()[None, :, None]
        return x + torch.sin(x * a).pow(2) / (b + 1e-9)


class _UpSample(nn.Module):
    def __init__(self, ratio: int = 2, kernel_size: int = 12) -> None:
        super().__init__()
        self.ratio, self.pad = ratio, kernel_size // ratio - 1
        self.crop = (self.pad * ratio + (kernel_size - ratio) // 2, self.pad * ratio + (kernel_size - ratio + 1) // 2)
        self.register_buffer("filter", _kaiser_sinc(ratio, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        x = self.ratio * F.conv_transpose1d(F.pad(x, (self.pad, self.pad), mode="replicate"),
                                            self.filter.expand(c, -1, -1), stride=self.ratio, groups=c)
        return x[..., self.crop[0] : -self.crop[1]]


class _LowPass(nn.Module):
    def __init__(self, ratio: int = 2, kernel_size: int = 12) -> None:
        super().__init__()
        self.ratio, self.pads = ratio, (kernel_size // 2 - int(kernel_size % 2 == 0), kernel_size // 2)
        self.register_buffer("filter", _kaiser_sinc(ratio, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        return F.conv1d(F.pad(x, self.pads, mode="replicate"), self.filter.expand(c, -1, -1), stride=self.ratio, groups=c)


class _DownSample(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lowpass = _LowPass()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lowpass(x)


class Activation1d(nn.Module):
    """SnakeBeta at twice the rate: upsample, activate, low-pass and decimate (against aliasing)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.act, self.upsample, self.downsample = SnakeBeta(channels), _UpSample(), _DownSample()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(self.act(self.upsample(x)))


def _conv(*args, **kwargs) -> nn.Module:
    return _weight_norm(nn.Conv1d(*args, **kwargs))


class ResLSTM(nn.Module):
    """Unidirectional LSTM over time with a skip connection, on ``[B, C, T]``."""

    def __init__(self, dim: int, num_layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, num_layers, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)
        return (self.lstm(x)[0] + x).transpose(1, 2)


class Block(nn.Module):
    """Layers applied in order, stored as ``block.<i>`` (the authors' EncoderBlock / DecoderBlock layout)."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


def _down_block(dim: int, stride: int, dilations) -> Block:
    return Block(*[ResidualUnit(dim // 2, d, Activation1d, _conv) for d in dilations], Activation1d(dim // 2),
                 _conv(dim // 2, dim, 2 * stride, stride=stride, padding=stride // 2 + stride % 2))


def _up_block(dim_in: int, dim_out: int, stride: int, dilations) -> Block:
    up = _weight_norm(nn.ConvTranspose1d(dim_in, dim_out, 2 * stride, stride=stride, padding=stride // 2 + stride % 2,
                                         output_padding=stride % 2))
    return Block(Activation1d(dim_in), up, *[ResidualUnit(dim_out, d, Activation1d, _conv) for d in dilations])


class CodecEncoder(nn.Module):
    """Waveform ``[B, 1, N]`` -> latents ``[B, out_channels, N / 200]`` (the checkpoint's ``CodecEnc``)."""

    def __init__(self, ngf: int, rnn_num_layers: int, up_ratios, dilations, out_channels: int) -> None:
        super().__init__()
        layers, dim = [_conv(1, ngf, 7, padding=3)], ngf
        for stride in up_ratios:
            dim *= 2
            layers.append(_down_block(dim, stride, dilations))
        layers += [ResLSTM(dim, rnn_num_layers), Activation1d(dim), _conv(dim, out_channels, 3, padding=1)]
        self.block = nn.Sequential(*layers)
        self.hop_length = math.prod(up_ratios)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class FactorizedVQ(nn.Module):
    """Project to ``codebook_dim``, pick the nearest code by cosine, project the raw code vector back."""

    def __init__(self, dim: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        self.in_proj = _weight_norm(nn.Linear(dim, codebook_dim))
        self.out_proj = _weight_norm(nn.Linear(codebook_dim, dim))
        self._codebook = nn.Embedding(codebook_size, codebook_dim)

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """Indices ``[B, T]`` of latents ``[B, D, T]``."""
        e = F.normalize(self.in_proj(z.transpose(1, 2)).flatten(0, 1), dim=-1)
        book = F.normalize(self._codebook.weight, dim=-1)
        distance = e.pow(2).sum(1, keepdim=True) - 2 * e @ book.t() + book.pow(2).sum(1)[None]
        return distance.argmin(1).view(z.shape[0], -1)

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, D, T]`` of indices ``[B, T]``."""
        return self.out_proj(self._codebook(codes)).transpose(1, 2)


class CodecDecoder(nn.Module):
    """Quantiser and latents ``[B, in_channels, T]`` -> waveform ``[B, 1, 200 T]`` (the checkpoint's ``generator``)."""

    def __init__(self, in_channels: int, upsample_initial_channel: int, rnn_num_layers: int, up_ratios, dilations,
                 vq_dim: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        self.quantizer = nn.Module()
        self.quantizer.layers = nn.ModuleList([FactorizedVQ(vq_dim, codebook_size, codebook_dim)])
        ch = upsample_initial_channel
        layers = [_conv(in_channels, ch, 7, padding=3), ResLSTM(ch, rnn_num_layers)]
        layers += [_up_block(ch // 2**i, ch // 2 ** (i + 1), s, dilations) for i, s in enumerate(up_ratios)]
        out = ch // 2 ** len(up_ratios)
        layers += [Activation1d(out), _conv(out, 1, 7, padding=3), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.model(latents)


class BigCodec(nn.Module):
    """Encoder and decoder as the checkpoint stores them."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        self.CodecEnc = CodecEncoder(**config["encoder"])
        self.generator = CodecDecoder(**config["decoder"])


def load_checkpoint(model: BigCodec, path: str | Path) -> BigCodec:
    """``model`` with the weights of a file in the authors' format (``bigcodec.pt``), loaded strictly."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing = {"CodecEnc", "generator"} - set(state)
    if missing:
        raise ValueError(f"{path}: not a BigCodec checkpoint (no {sorted(missing)} entries)")
    # assign: a model built on the meta device takes the loaded tensors as they are
    model.CodecEnc.load_state_dict(state["CodecEnc"], strict=True, assign=True)
    model.generator.load_state_dict(state["generator"], strict=True, assign=True)
    return model


class BigCodecTokenizer(HFTokenizer):
    """BigCodec: 16 kHz, one 8192-entry codebook at 80 Hz (1.04 kbps), decodes to 16 kHz.

    ``filename`` is the checkpoint file in the hub repo or folder; ``sha256`` (the card's pin, since the file
    has no pinned hub commit) is checked before loading. ``config=`` builds a random model
    (e.g. :data:`PUBLISHED_CONFIG`).
    """

    supports_half = False
    requires = "torch"

    def __init__(self, name: str, filename: str = "bigcodec.pt", sha256: str | None = None, **kwargs) -> None:
        self.filename, self.sha256 = filename, sha256
        super().__init__(name, **kwargs)

    @classmethod
    def weight_sources(cls, checkpoint, revision, params) -> list[Source]:
        name = params.get("filename", "bigcodec.pt")
        return hub_or_folder(checkpoint, revision, probe=name, patterns=(name,))

    @classmethod
    def missing_weights(cls, checkpoint, revision, params) -> str | None:
        name = params.get("filename", "bigcodec.pt")
        if checkpoint is None or find_local(checkpoint, revision, probe=name) is not None:
            return None
        return f"weights missing: huggingface-cli download {checkpoint} {name} (or put {name} in $DASB_WEIGHTS/{checkpoint}/)"

    def _from_config(self, config: dict[str, Any]) -> nn.Module:
        return BigCodec(config)

    def _load(self, checkpoint: str, revision: str | None) -> nn.Module:
        with warnings.catch_warnings():
            if self.sha256 is not None:  # the file's digest pins it, whatever the hub revision
                warnings.filterwarnings("ignore", message=".*is not pinned to a commit")
            try:
                (path,), self.resolved_revision = fetch_files(checkpoint, revision, [self.filename])
            except WeightsUnavailable as err:
                raise WeightsUnavailable(f"BigCodec needs {self.filename}: {err}") from err
        if self.sha256 is not None:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            if digest != self.sha256:
                raise ValueError(f"{path}: sha256 {digest} differs from the card's pinned {self.sha256}")
            self.resolved_revision = f"sha256:{digest}"
        with torch.device("meta"):  # no random initialisation of 159 M parameters that the file replaces
            model = BigCodec(PUBLISHED_CONFIG)
        return load_checkpoint(model, path)

    def build_info(self, name, checkpoint, revision) -> TokenizerInfo:
        dec = self.model.config["decoder"]
        return TokenizerInfo(
            name=name, sample_rate=16000, num_codebooks=1, codebook_size=dec["codebook_size"],
            frame_rate=16000 / self.model.CodecEnc.hop_length, kind="acoustic", causal=False,
            checkpoint=checkpoint, revision=revision,
        )

    def _encode(self, audio):
        hop = self.model.CodecEnc.hop_length
        x = F.pad(audio[:, :1], (0, hop - audio.shape[-1] % hop))  # as the authors' inference.py: always >= 1 sample
        latents = self.model.CodecEnc(x)
        return self.model.generator.quantizer.layers[0].codes(latents)[:, None], {}

    def _decode(self, codes, side):
        return self.model.generator(self.model.generator.quantizer.layers[0].embed(codes[:, 0]))

    def codebook_embeddings(self) -> list[torch.Tensor]:
        return [self.model.generator.quantizer.layers[0]._codebook.weight.detach().float().cpu()]
