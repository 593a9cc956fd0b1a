"""DualCodec (Li et al., Interspeech 2025, arXiv:2505.13000): a DAC codec whose first codebook quantises
w2v-BERT 2.0 features (layer 17, normalised, average-pooled to the frame rate) and whose residual levels
quantise the DAC latent minus the decoded semantic latent. 24 kHz.

Written for dasb from the authors' description (github.com/jiaqili3/DualCodec @ 5e80764, models in
``dualcodec/model_codec``; inference in ``dualcodec/infer/dualcodec``): the codec's module and parameter names
follow the authors' ``DualCodec`` so that its safetensors file loads with ``strict=True``; the semantic model is
``facebook/w2v-bert-2.0`` through ``transformers``. The authors' package cannot be installed beside this
environment (it would downgrade huggingface_hub and protobuf), hence the port. Differences: the authors run the
semantic model and the codec under fp16 autocast; dasb runs float32 (or float16 with ``half``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dasb.tokenizers.base import TokenizerInfo
from dasb.tokenizers.hf_base import HFTokenizer, fetch_files, find_local, how_to_supply, load_pretrained, require
from dasb.tokenizers.layers import ResidualUnit, WNConv1d, WNConvTranspose1d
from dasb.weights.catalog import Source, hub_or_folder

SAMPLE_RATE = 24000
SEMANTIC_RATE = 16000
STATS_FILE = "w2vbert2_mean_var_stats_emilia.pt"


@dataclass(frozen=True)
class DualCodecConfig:
    """One DualCodec; defaults are the 12.5 Hz release (``conf/model/dualcodec_12hz_16384_4096_8vq.yaml``)."""

    encoder_dim: int = 32
    encoder_rates: tuple[int, ...] = (4, 5, 6, 8, 2)
    decoder_dim: int = 1536
    decoder_rates: tuple[int, ...] = (2, 8, 6, 5, 4)
    n_codebooks: int = 7  # acoustic levels (the semantic codebook comes first, outside this count)
    codebook_size: int = 4096
    semantic_codebook_size: int = 16384
    codebook_dim: int = 8
    convnext_dim: int = 768
    convnext_layers: int = 4
    semantic_dim: int = 1024  # width of the w2v-BERT features
    semantic_downsample_factor: int = 4
    is_causal: bool = True

    @property
    def latent_dim(self) -> int:
        return self.encoder_dim * 2 ** len(self.encoder_rates)

    @property
    def hop(self) -> int:
        return math.prod(self.encoder_rates)


# Published configurations and their weight files in the hub repo amphion/dualcodec.
VARIANTS: dict[str, tuple[DualCodecConfig, str]] = {
    "12hz": (DualCodecConfig(), "dualcodec_12hz_16384_4096.safetensors"),
    "25hz": (DualCodecConfig(encoder_dim=64, encoder_rates=(4, 5, 6, 8), decoder_rates=(8, 6, 5, 4), n_codebooks=11,
                             codebook_size=1024, semantic_downsample_factor=2), "dualcodec_25hz_16384_1024.safetensors"),
}


class Snake1d(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)


def _units(dim: int) -> list[nn.Module]:
    return [ResidualUnit(dim, d, Snake1d, WNConv1d) for d in (1, 3, 9)]


class Block(nn.Module):
    """DAC's encoder (three residual units, then a strided convolution) or decoder block (the reverse)."""

    def __init__(self, dim_in: int, dim_out: int, stride: int, up: bool) -> None:
        super().__init__()
        conv = (WNConvTranspose1d if up else WNConv1d)(dim_in, dim_out, 2 * stride, stride=stride,
                                                        padding=math.ceil(stride / 2))
        self.block = nn.Sequential(Snake1d(dim_in), conv, *_units(dim_out)) if up else \
            nn.Sequential(*_units(dim_in), Snake1d(dim_in), conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Encoder(nn.Module):
    def __init__(self, c: DualCodecConfig) -> None:
        super().__init__()
        dims = [c.encoder_dim * 2 ** i for i in range(len(c.encoder_rates) + 1)]
        self.block = nn.Sequential(WNConv1d(1, dims[0], 7, padding=3),
                                   *(Block(dims[i], dims[i + 1], s, up=False) for i, s in enumerate(c.encoder_rates)),
                                   Snake1d(dims[-1]), WNConv1d(dims[-1], c.latent_dim, 3, padding=1))


class Decoder(nn.Module):
    def __init__(self, c: DualCodecConfig) -> None:
        super().__init__()
        dims = [c.decoder_dim // 2 ** i for i in range(len(c.decoder_rates) + 1)]
        self.model = nn.Sequential(WNConv1d(c.latent_dim, dims[0], 7, padding=3),
                                   *(Block(dims[i], dims[i + 1], s, up=True) for i, s in enumerate(c.decoder_rates)),
                                   Snake1d(dims[-1]), WNConv1d(dims[-1], 1, 7, padding=3), nn.Tanh())


class VectorQuantize(nn.Module):
    """DAC's factorised, l2-normalised codebook: project to ``codebook_dim``, nearest by cosine, project back."""

    def __init__(self, dim: int, size: int, codebook_dim: int) -> None:
        super().__init__()
        self.in_proj = WNConv1d(dim, codebook_dim, 1)
        self.out_proj = WNConv1d(codebook_dim, dim, 1)
        self.codebook = nn.Embedding(size, codebook_dim)

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes ``[B, T]`` of ``[B, D, T]`` and their reconstruction ``[B, D, T]``."""
        z_e = self.in_proj(z)
        e = F.normalize(z_e.transpose(1, 2).reshape(-1, z_e.shape[1]))
        cb = F.normalize(self.codebook.weight)
        dist = e.pow(2).sum(1, keepdim=True) - 2 * e @ cb.t() + cb.pow(2).sum(1, keepdim=True).t()
        codes = dist.argmin(1).view(z.shape[0], -1)
        z_q = self.codebook(codes).transpose(1, 2)
        return codes, self.out_proj(z_e + (z_q - z_e))  # the straight-through value, as the authors compute it

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        return self.out_proj(self.codebook(codes).transpose(1, 2))


class ResidualVectorQuantize(nn.Module):
    def __init__(self, dim: int, levels: int, size: int, codebook_dim: int) -> None:
        super().__init__()
        self.quantizers = nn.ModuleList(VectorQuantize(dim, size, codebook_dim) for _ in range(levels))

    def encode(self, z: torch.Tensor, straight_through: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes ``[B, K, T]`` and the quantised sum. DualCodec subtracts and sums the straight-through values
        (``straight_through``); LM-SPT's ``encode`` uses the projected codebook entries themselves."""
        codes, residual, total = [], z, 0
        for q in self.quantizers:
            idx, z_q = q.quantize(residual)
            z_q = z_q if straight_through else q.lookup(idx)
            residual, total = residual - z_q, total + z_q
            codes.append(idx)
        return torch.stack(codes, 1), total

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return sum(q.lookup(codes[:, i]) for i, q in enumerate(self.quantizers[: codes.shape[1]]))


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block without layer scale; causal (left-padded depthwise convolution) when ``causal``."""

    def __init__(self, dim: int, causal: bool) -> None:
        super().__init__()
        self.causal = causal
        self.dwconv = nn.Conv1d(dim, dim, 7, padding=0 if causal else 3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 2048)
        self.pwconv2 = nn.Linear(2048, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(F.pad(x, (6, 0)) if self.causal else x).transpose(1, 2)
        return x + self.pwconv2(F.gelu(self.pwconv1(self.norm(y)))).transpose(1, 2)


class DAC(nn.Module):
    def __init__(self, c: DualCodecConfig) -> None:
        super().__init__()
        self.encoder = Encoder(c)
        self.quantizer = ResidualVectorQuantize(c.latent_dim, c.n_codebooks, c.codebook_size, c.codebook_dim)
        self.decoder = Decoder(c)


class DualCodecModel(nn.Module):
    """The codec (the authors' ``DualCodec``): semantic features and 24 kHz audio in, codes out, and back."""

    def __init__(self, config: DualCodecConfig) -> None:
        super().__init__()
        c = self.config = config
        self.dac = DAC(c)
        blocks = [ConvNeXtBlock(c.convnext_dim, c.is_causal) for _ in range(c.convnext_layers)]
        self.convnext_encoder = nn.Sequential(WNConv1d(c.semantic_dim, c.convnext_dim, 1), *blocks)
        self.semantic_vq = ResidualVectorQuantize(c.convnext_dim, 1, c.semantic_codebook_size, c.codebook_dim)
        blocks = [ConvNeXtBlock(c.convnext_dim, c.is_causal) for _ in range(c.convnext_layers)]
        self.convnext_decoder = nn.Sequential(*blocks, WNConv1d(c.convnext_dim, c.latent_dim, 1))

    def encode(self, audio: torch.Tensor, semantic: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, 1 + n_codebooks, T]`` of audio ``[B, 1, N]`` and pooled semantic features ``[B, D, T]``."""
        semantic_codes, quantized = self.semantic_vq.encode(self.convnext_encoder(semantic))
        latent = self.convnext_decoder(quantized)
        z = self.dac.encoder.block(F.pad(audio, (0, -audio.shape[-1] % self.config.hop)))
        if abs(z.shape[-1] - latent.shape[-1]) > 2:
            raise ValueError(f"DualCodec: {z.shape[-1]} acoustic frames for {latent.shape[-1]} semantic frames")
        return torch.cat([semantic_codes, self.dac.quantizer.encode(z[..., : latent.shape[-1]] - latent)[0]], 1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Audio ``[B, 1, T x hop]`` from the semantic codes and any first acoustic levels ``[B, 1 + k, T]``."""
        latent = self.convnext_decoder(self.semantic_vq.decode(codes[:, :1]))
        if codes.shape[1] > 1:
            latent = latent + self.dac.quantizer.decode(codes[:, 1:])
        return self.dac.decoder.model(latent)


class DualCodecSystem(nn.Module):
    """The codec with its semantic front end: w2v-BERT 2.0 (``semantic_model``) and the feature statistics."""

    def __init__(self, codec: DualCodecModel, semantic_model: nn.Module, extractor: Any, mean: torch.Tensor,
                 var: torch.Tensor, layer: int = 17) -> None:
        super().__init__()
        self.codec, self.semantic_model, self.extractor, self.layer = codec, semantic_model, extractor, layer
        self.register_buffer("mean", mean.float().reshape(-1))
        self.register_buffer("std", var.float().reshape(-1).sqrt())

    def semantic_features(self, audio: torch.Tensor) -> torch.Tensor:
        """Normalised layer-``layer`` features of 24 kHz audio ``[B, 1, N]``, pooled to the codec's rate."""
        import torchaudio.functional as AF

        wav16 = AF.resample(audio[:, 0].float(), SAMPLE_RATE, SEMANTIC_RATE).cpu().numpy()
        inputs = self.extractor(list(wav16), sampling_rate=SEMANTIC_RATE, return_tensors="pt")
        device = self.mean.device
        out = self.semantic_model(input_features=inputs["input_features"].to(device),
                                  attention_mask=inputs["attention_mask"].to(device), output_hidden_states=True)
        feat = ((out.hidden_states[self.layer].float() - self.mean) / self.std).transpose(1, 2)
        k = self.codec.config.semantic_downsample_factor
        return F.avg_pool1d(feat, k, k).to(audio.dtype)


class DualCodecTokenizer(HFTokenizer):
    """dasb adapter of DualCodec. ``variant``: ``12hz`` or ``25hz`` (:data:`VARIANTS`); ``checkpoint`` is the hub
    repo holding the codec file and the feature statistics, ``semantic_checkpoint`` the w2v-BERT 2.0 repo and
    ``semantic_layer`` the hidden state used (the authors' ``layer_idx + 2`` = 17). ``config=`` takes
    ``{"codec": DualCodecConfig, "semantic": Wav2Vec2BertConfig}`` for a random model."""

    def __init__(self, name: str, variant: str = "12hz", semantic_checkpoint: str = "facebook/w2v-bert-2.0",
                 semantic_revision: str | None = None, semantic_layer: int = 17, **kwargs: Any) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"tokenizer {name!r}: variant {variant!r} is not one of {sorted(VARIANTS)}")
        self.variant, self.semantic, self.semantic_layer = variant, (semantic_checkpoint, semantic_revision), semantic_layer
        super().__init__(name, **kwargs)

    @classmethod
    def weight_sources(cls, checkpoint: str | None, revision: str | None, params: dict[str, Any]) -> list[Source]:
        filename = VARIANTS.get(params.get("variant", "12hz"), VARIANTS["12hz"])[1]
        semantic = params.get("semantic_checkpoint", "facebook/w2v-bert-2.0")
        return (hub_or_folder(checkpoint, revision, probe=filename)
                + hub_or_folder(semantic, params.get("semantic_revision"), probe="preprocessor_config.json"))

    @classmethod
    def missing_weights(cls, checkpoint: str | None, revision: str | None, params: dict[str, Any]) -> str | None:
        filename = VARIANTS.get(params.get("variant", "12hz"), VARIANTS["12hz"])[1]
        semantic = params.get("semantic_checkpoint", "facebook/w2v-bert-2.0")
        missing = [f"{filename} ({how_to_supply(checkpoint, revision)})"] if checkpoint and find_local(
            checkpoint, revision, probe=filename) is None else []
        if find_local(semantic, params.get("semantic_revision"), probe="preprocessor_config.json") is None:
            missing.append(how_to_supply(semantic, params.get("semantic_revision")))
        return f"weights missing: {'; '.join(missing)}" if missing else None

    def _from_config(self, config: dict[str, Any]) -> nn.Module:
        transformers = require("transformers", "neural")
        semantic = transformers.Wav2Vec2BertModel(config["semantic"]).eval()
        extractor = transformers.SeamlessM4TFeatureExtractor()
        dim = config["semantic"].hidden_size
        return DualCodecSystem(DualCodecModel(config.get("codec", VARIANTS[self.variant][0])), semantic, extractor,
                               torch.zeros(dim), torch.ones(dim), self.semantic_layer)

    def _load(self, checkpoint: str, revision: str | None) -> nn.Module:
        config, filename = VARIANTS[self.variant]
        (weights, stats), self.resolved_revision = fetch_files(checkpoint, revision, [filename, STATS_FILE])
        codec = load_codec(weights, DualCodecModel(config))
        semantic_id, semantic_rev = self.semantic
        semantic, _ = load_pretrained("Wav2Vec2BertModel", semantic_id, semantic_rev)
        (prep,), _ = fetch_files(semantic_id, semantic_rev, ["preprocessor_config.json"])
        extractor = require("transformers", "neural").SeamlessM4TFeatureExtractor.from_pretrained(str(Path(prep).parent))
        moments = torch.load(stats, map_location="cpu", weights_only=True)
        return DualCodecSystem(codec, semantic.eval(), extractor, moments["mean"], moments["var"], self.semantic_layer)

    def build_info(self, name, checkpoint, revision) -> TokenizerInfo:
        c = self.model.codec.config
        return TokenizerInfo(
            name=name, sample_rate=SAMPLE_RATE, num_codebooks=1 + c.n_codebooks,
            codebook_size=(c.semantic_codebook_size,) + (c.codebook_size,) * c.n_codebooks,
            frame_rate=SAMPLE_RATE / c.hop, kind="hybrid", causal=False, checkpoint=checkpoint, revision=revision,
            residual=True, extras={"variant": self.variant, "semantic_model": self.semantic[0]},
        )

    def _encode(self, audio):
        return self.model.codec.encode(audio[:, :1], self.model.semantic_features(audio[:, :1])), {}

    def _decode(self, codes, side):
        return self.model.codec.decode(codes)

    def codebook_embeddings(self) -> list[torch.Tensor]:
        c = self.model.codec
        return [q.codebook.weight.detach().float().cpu() for q in (*c.semantic_vq.quantizers, *c.dac.quantizer.quantizers)]


def load_codec(path: str, model: nn.Module) -> nn.Module:
    """``model`` with the authors' safetensors file loaded strictly (DualCodec's and LM-SPT's)."""
    from safetensors.torch import load_file

    model.load_state_dict(load_file(path), strict=True)
    return model
