"""XY-Tokenizer (Gong et al., 2025, arXiv:2506.23325): 8-level RVQ at 12.5 Hz over a semantic and an acoustic
Whisper-style encoder of 16 kHz log-mels; decoded by a transformer to mels and a Vocos iSTFT vocoder.

Written for dasb from the authors' description (github.com/gyt1145028706/XY-Tokenizer @ 5df5609, and the MOSS-TTSD
copy in github.com/OpenMOSS/MOSS-TTSD @ 20dbb4f, legacy/v0.7/XY_Tokenizer): module and parameter names follow
the authors' ``XY_Tokenizer`` so that their checkpoint loads with ``strict=True``. Variants differ only in the
vocoder (its hop, hence the output rate, and its attribute name); see :data:`VARIANTS`.

Sequence handling follows the authors' inference: the waveform is padded with zeros (they pad to 30 s; we pad
to whole 80 ms frames plus two, which gives the same valid frames because attention masks padded keys and the
convolutions reach at most two mel frames past the end), valid lengths are ``ceil(n / 160)`` mel frames, then
halved and divided by 4. Inputs longer than 30 s (the positional tables' length) are chunked by the framework.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dasb.tokenizers.base import TokenizerInfo
from dasb.tokenizers.hf_base import HFTokenizer, fetch_files, find_local, how_to_supply, require
from dasb.tokenizers.layers import Vocos, WNConv1d
from dasb.weights.catalog import Source, hub_or_folder

INPUT_RATE = 16000
MEL_HOP = 160
FRAME = 1280  # input samples per token frame: mel hop 160 x encoder stride 2 x pooling 4
MAX_SECONDS = 30


@dataclass(frozen=True)
class XYConfig:
    """Sizes of one XY-Tokenizer; defaults are the published model (``generator_params`` of the authors' YAML)."""

    n_mels: int = 80
    d_model: int = 768
    heads: int = 12
    ffn: int = 3072  # feed-forward width
    encoder_layers: int = 12
    adapter_layers: int = 4
    decoder_layers: int = 12
    pool: int = 4  # encoder frames pooled into one token frame
    rvq_dim: int = 512
    num_quantizers: int = 8
    codebook_size: int = 1024
    vocos_dim: int = 512
    vocos_intermediate: int = 4096
    vocos_layers: int = 30
    n_fft: int = 640
    hop: int = 160  # vocoder hop at the output rate, one per 100 Hz mel frame
    vocoder_name: str = "vocos"  # attribute name of the vocoder in the checkpoint

    @property
    def output_rate(self) -> int:
        return self.hop * 100


# Published configurations: the authors' YAML files, and the checkpoint file name in the hub repo.
VARIANTS: dict[str, tuple[XYConfig, str]] = {
    # gyt1145028706/XY-Tokenizer config/xy_tokenizer_config.yaml; hub fdugyt/XY_Tokenizer
    "xy-tokenizer": (XYConfig(), "xy_tokenizer.ckpt"),
    # OpenMOSS/MOSS-TTSD legacy/v0.7/XY_Tokenizer/config/MOSS_TTSD_tokenizer.yaml; hub OpenMOSS-Team/MOSS_TTSD_tokenizer
    "moss-ttsd-v0.7": (XYConfig(n_fft=1280, hop=320, vocoder_name="enhanced_vocos"), "MOSS_TTSD_tokenizer"),
}


def sinusoids(length: int, channels: int) -> torch.Tensor:
    """Whisper's sinusoidal position table ``[length, channels]`` (sines, then cosines)."""
    inc = math.log(10000) / (channels // 2 - 1)
    inv = torch.exp(-inc * torch.arange(channels // 2))
    t = torch.arange(length)[:, None] * inv[None, :]
    return torch.cat([torch.sin(t), torch.cos(t)], dim=1)


def valid_mask(lengths: torch.Tensor, t: int) -> torch.Tensor:
    """``[B, T]`` True on the first ``lengths[b]`` frames."""
    return torch.arange(t, device=lengths.device)[None, :] < lengths[:, None]


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (p(x).view(b, t, self.heads, -1).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        # Spelled out as the authors compute it (scaled queries, additive mask) so that codes match theirs exactly.
        scores = (q * (d // self.heads) ** -0.5) @ k.transpose(-1, -2)
        scores = scores.masked_fill(~keep[:, None, None, :], torch.finfo(scores.dtype).min)
        y = scores.softmax(-1) @ v
        return self.out_proj(y.transpose(1, 2).reshape(b, t, d))


class Layer(nn.Module):
    """Pre-norm transformer layer (the authors' ``OmniWhisperTransformerLayer``), bidirectional."""

    def __init__(self, dim: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.self_attn = Attention(dim, heads)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn)
        self.fc2 = nn.Linear(ffn, dim)
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.self_attn_layer_norm(x), keep)
        return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))


class Stack(nn.Module):
    """Positions, layers, final norm and zeroed padding on ``[B, T, D]`` (shared by every transformer block)."""

    def __init__(self, dim: int, heads: int, ffn: int, layers: int, positions: int) -> None:
        super().__init__()
        self.register_buffer("positional_embedding", sinusoids(positions, dim))
        self.layers = nn.ModuleList(Layer(dim, heads, ffn) for _ in range(layers))
        self.layer_norm = nn.LayerNorm(dim)

    def run(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        keep = valid_mask(lengths, x.shape[1])
        x = (x.float() + self.positional_embedding[: x.shape[1]]).to(x.dtype)
        for layer in self.layers:
            x = layer(x, keep)
        return torch.where(keep[..., None], self.layer_norm(x), 0)


class AudioEncoder(Stack):
    """Two convolutions (the second halves the rate) then the stack: mels ``[B, M, T]`` -> ``[B, D, T/2]``."""

    def __init__(self, c: XYConfig) -> None:
        super().__init__(c.d_model, c.heads, c.ffn, c.encoder_layers, MAX_SECONDS * INPUT_RATE // MEL_HOP // 2)
        self.conv1 = nn.Conv1d(c.n_mels, c.d_model, 3, padding=1)
        self.conv2 = nn.Conv1d(c.d_model, c.d_model, 3, stride=2, padding=1)

    def forward(self, mel: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        lengths = lengths // 2
        return self.run(x, lengths).transpose(1, 2), lengths


class AudioDecoder(Stack):
    """The stack then two transposed convolutions back to mels: ``[B, D, T]`` -> ``[B, M, 2T]``."""

    def __init__(self, c: XYConfig) -> None:
        super().__init__(c.d_model, c.heads, c.ffn, c.decoder_layers, MAX_SECONDS * INPUT_RATE // MEL_HOP // 2)
        self.deconv1 = nn.ConvTranspose1d(c.d_model, c.d_model, 3, stride=2)
        self.deconv2 = nn.ConvTranspose1d(c.d_model, c.n_mels, 3)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = x.shape[-1]
        x = self.run(x.transpose(1, 2), lengths).transpose(1, 2)
        mel = F.gelu(self.deconv2(F.gelu(self.deconv1(x))))
        return mel[..., : 2 * t], lengths * 2


class Adapter(Stack):
    """A transformer between two widths (the authors' ``Transformer``): ``[B, in, T]`` -> ``[B, out, T]``."""

    def __init__(self, c: XYConfig, dim_in: int, dim_out: int, positions: int) -> None:
        super().__init__(c.d_model, c.heads, c.ffn, c.adapter_layers, positions)
        self.proj = nn.Linear(dim_in, c.d_model) if dim_in != c.d_model else None
        self.out_proj = nn.Linear(c.d_model, dim_out) if dim_out != c.d_model else None

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)
        x = self.run(self.proj(x) if self.proj is not None else x, lengths)
        return (self.out_proj(x) if self.out_proj is not None else x).transpose(1, 2)


class ResidualDownConv(nn.Module):
    """Gated strided convolutions plus a reshaped residual: ``[B, D, 4T]`` -> ``[B, 4D, T]``."""

    def __init__(self, c: XYConfig) -> None:
        super().__init__()
        wide = c.d_model * c.pool
        self.pool = c.pool
        self.gate_proj = nn.Conv1d(c.d_model, wide, c.pool, c.pool, bias=False)
        self.up_proj = nn.Conv1d(c.d_model, wide, c.pool, c.pool, bias=False)
        self.down_proj = nn.Linear(wide, wide, bias=False)
        self.layer_norm = nn.LayerNorm(wide)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, d, t = x.shape  # t is a multiple of the pooling (the input is padded to whole frames)
        gated = F.silu(self.gate_proj(x)) * self.up_proj(x)
        res = x.transpose(1, 2).reshape(b, t // self.pool, d * self.pool)
        return self.layer_norm(self.down_proj(gated.transpose(1, 2)) + res).transpose(1, 2)


class UpConv(nn.Module):
    def __init__(self, c: XYConfig) -> None:
        super().__init__()
        self.up_conv = nn.ConvTranspose1d(c.d_model * c.pool, c.d_model, c.pool, c.pool, bias=False)


class Codebook(nn.Module):
    """One EMA codebook; ``inited``, ``cluster_size`` and ``embed_avg`` are training state kept for strict loading."""

    def __init__(self, c: XYConfig) -> None:
        super().__init__()
        self.register_buffer("codebook", torch.randn(c.codebook_size, c.rvq_dim))
        self.register_buffer("inited", torch.tensor([True]))
        self.register_buffer("cluster_size", torch.zeros(c.codebook_size))
        self.register_buffer("embed_avg", torch.zeros(c.codebook_size, c.rvq_dim))

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """Index of the nearest entry for each ``[B, D, T]`` vector -> ``[B, T]``."""
        e = x.transpose(1, 2).reshape(-1, x.shape[1]).float()
        cb = self.codebook.float()
        dist = e.pow(2).sum(-1, keepdim=True) - 2 * e @ cb.t() + cb.pow(2).sum(-1)
        return dist.argmin(-1).view(x.shape[0], -1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        return F.embedding(codes, self.codebook.float()).transpose(1, 2)


class ResidualVQ(nn.Module):
    def __init__(self, c: XYConfig) -> None:
        super().__init__()
        wide = c.d_model * c.pool
        self.input_proj = WNConv1d(wide, c.rvq_dim, 1)
        self.output_proj = WNConv1d(c.rvq_dim, wide, 1)
        self.quantizers = nn.ModuleList(Codebook(c) for _ in range(c.num_quantizers))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, K, T]`` of ``[B, 4D, T]``."""
        residual = self.input_proj(x.float())
        codes = []
        for q in self.quantizers:
            idx = q.nearest(residual)
            # The authors subtract the straight-through value r + (q - r), which is not always q in floats.
            residual = residual - (residual + (q.lookup(idx) - residual))
            codes.append(idx)
        return torch.stack(codes, 1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``[B, 4D, T]`` from the first ``codes.shape[1]`` levels."""
        return self.output_proj(sum(q.lookup(codes[:, i]) for i, q in enumerate(self.quantizers[: codes.shape[1]])))


class XYTokenizerModel(nn.Module):
    """The XY-Tokenizer network; ``encode`` and ``decode`` work on batches of equal-length items."""

    def __init__(self, config: XYConfig) -> None:
        super().__init__()
        c = self.config = config
        wide, long = c.d_model * c.pool, MAX_SECONDS * INPUT_RATE // MEL_HOP // 2
        self.semantic_encoder = AudioEncoder(c)
        self.semantic_encoder_adapter = Adapter(c, c.d_model, c.d_model, long)
        self.acoustic_encoder = AudioEncoder(c)
        self.pre_rvq_adapter = Adapter(c, 2 * c.d_model, c.d_model, long)
        self.downsample = ResidualDownConv(c)
        self.quantizer = ResidualVQ(c)
        self.post_rvq_adapter = Adapter(c, wide, wide, long // c.pool)
        self.upsample = UpConv(c)
        self.acoustic_decoder = AudioDecoder(c)
        setattr(self, c.vocoder_name, Vocos(c.n_mels, c.vocos_dim, c.vocos_intermediate, c.vocos_layers, c.n_fft, c.hop))
        from transformers.audio_utils import mel_filter_bank

        filters = mel_filter_bank(num_frequency_bins=201, num_mel_filters=c.n_mels, min_frequency=0.0,
                                  max_frequency=INPUT_RATE / 2, sampling_rate=INPUT_RATE, norm="slaney", mel_scale="slaney")
        self.register_buffer("mel_filters", torch.from_numpy(filters).float(), persistent=False)

    def log_mel(self, wav: torch.Tensor) -> torch.Tensor:
        """Whisper's log-mel of ``[B, N]`` 16 kHz audio -> ``[B, M, N / 160]``, each item floored at its max - 8."""
        window = torch.hann_window(400, device=wav.device)
        power = torch.stft(wav.float(), 400, MEL_HOP, window=window, return_complex=True)[..., :-1].abs() ** 2
        log = (self.mel_filters.t() @ power).clamp(min=1e-10).log10()
        log = torch.maximum(log, log.amax(dim=(1, 2), keepdim=True) - 8.0)
        return (log + 4.0) / 4.0

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, K, T]`` of 16 kHz audio ``[B, N]`` (N at most 30 s), ``T = ceil(N / 160) // 8``."""
        n = wav.shape[-1]
        total = min(MAX_SECONDS * INPUT_RATE, math.ceil(n / FRAME) * FRAME + 2 * FRAME)
        mel = self.log_mel(F.pad(wav, (0, total - n)))
        lengths = torch.full((wav.shape[0],), math.ceil(n / MEL_HOP), device=wav.device)
        sem, enc_len = self.semantic_encoder(mel, lengths)
        sem = self.semantic_encoder_adapter(sem, enc_len)
        aco, _ = self.acoustic_encoder(mel, lengths)
        x = self.pre_rvq_adapter(torch.cat([sem, aco], dim=1), enc_len)
        codes = self.quantizer.encode(self.downsample(x))
        return codes[..., : int(enc_len[0]) // self.config.pool]

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Audio ``[B, frames x 8 x hop]`` at the output rate from codes ``[B, k, T]`` (any first k levels)."""
        lengths = torch.full((codes.shape[0],), codes.shape[-1], device=codes.device)
        x = self.post_rvq_adapter(self.quantizer.decode(codes), lengths)
        mel, _ = self.acoustic_decoder(self.upsample.up_conv(x), lengths * self.config.pool)
        return getattr(self, self.config.vocoder_name)(mel)


class XYTokenizer(HFTokenizer):
    """dasb adapter of :class:`XYTokenizerModel`. ``variant`` picks a published configuration (:data:`VARIANTS`);
    ``checkpoint`` is the hub repo (or a folder) holding the authors' checkpoint file, loaded with ``strict=True``.
    The native rate is the decoder's output rate; the encoder hears the input resampled to 16 kHz."""

    supports_half = False

    def __init__(self, name: str, variant: str = "xy-tokenizer", **kwargs: Any) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"tokenizer {name!r}: variant {variant!r} is not one of {sorted(VARIANTS)}")
        self.variant = variant
        self.filename = VARIANTS[variant][1]
        super().__init__(name, **kwargs)

    @classmethod
    def weight_sources(cls, checkpoint: str | None, revision: str | None, params: dict[str, Any]) -> list[Source]:
        filename = VARIANTS.get(params.get("variant", "xy-tokenizer"), (None, "xy_tokenizer.ckpt"))[1]
        return hub_or_folder(checkpoint, revision, probe=filename)

    @classmethod
    def missing_weights(cls, checkpoint: str | None, revision: str | None, params: dict[str, Any]) -> str | None:
        filename = VARIANTS.get(params.get("variant", "xy-tokenizer"), (None, "xy_tokenizer.ckpt"))[1]
        if checkpoint is None or find_local(checkpoint, revision, probe=filename) is not None:
            return None
        return f"weights missing ({filename}): {how_to_supply(checkpoint, revision)}"

    def _from_config(self, config: XYConfig | dict[str, Any]) -> nn.Module:
        require("transformers", "neural")
        base = VARIANTS[self.variant][0]
        return XYTokenizerModel(config if isinstance(config, XYConfig) else replace(base, **config))

    def _load(self, checkpoint: str, revision: str | None) -> nn.Module:
        (path,), self.resolved_revision = fetch_files(checkpoint, revision, [self.filename])
        return load_checkpoint(path, self._from_config(VARIANTS[self.variant][0]))

    def build_info(self, name, checkpoint, revision) -> TokenizerInfo:
        c = self.model.config
        return TokenizerInfo(
            name=name, sample_rate=c.output_rate, num_codebooks=c.num_quantizers, codebook_size=c.codebook_size,
            frame_rate=INPUT_RATE / FRAME, kind="hybrid", causal=False, max_samples=MAX_SECONDS * c.output_rate,
            checkpoint=checkpoint, revision=revision, residual=True, extras={"variant": self.variant},
        )

    def _encode(self, audio):
        wav = audio[:, 0]
        if self.model.config.output_rate != INPUT_RATE:
            import torchaudio.functional as AF

            wav = AF.resample(wav, self.model.config.output_rate, INPUT_RATE)
        return self.model.encode(wav), {}

    def _decode(self, codes, side):
        return self.model.decode(codes)[:, None]

    def codebook_embeddings(self) -> list[torch.Tensor]:
        return [q.codebook.detach().float().cpu() for q in self.model.quantizer.quantizers]


def load_checkpoint(path: str | Path, model: XYTokenizerModel) -> XYTokenizerModel:
    """``model`` with the authors' checkpoint at ``path`` loaded strictly (a state dict, or one under ``generator``)."""
    import pickle

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError) as err:
        raise RuntimeError(f"XY-Tokenizer checkpoint {path}: cannot be read as a tensor state dict ({err})") from err
    state = state.get("generator", state) if isinstance(state, dict) else state
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise RuntimeError(f"XY-Tokenizer checkpoint {path} does not fit the {model.config.vocoder_name!r} "
                           f"layout: {err}") from err
    return model
