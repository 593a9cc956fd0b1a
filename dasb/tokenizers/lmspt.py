"""LM-SPT (Jo et al., IEEE TASLP 2026, arXiv:2506.16738): DualCodec's design without an external SSL model. Two DAC
encoders of 24 kHz audio: the semantic one feeds a 16384-entry codebook (distilled from Whisper during
training), the acoustic one feeds 7 residual levels of 4096 after the semantic reconstruction is subtracted.

Written for dasb from the authors' code (github.com/kakao/lmspt @ b6e52d5: ``lmspt/model_codec/lmspt_model.py``,
``quantization/rvq.py``, ``quantization/vq.py``, ``dac_model.py``; the released model is built non-causal from
``lmspt/infer/conf/model/lmspt_12d5hz_16384_4096_8vq.yaml``). That non-causal DAC encoder, decoder and factorised
VQ are the same modules as DualCodec's, so they are shared with :mod:`dasb.tokenizers.dualcodec`; module names
follow ``LMSPT`` so the released safetensors file loads with ``strict=True``. The auxiliary 16 kHz decoder is
a training head, kept only for strict loading.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import nn

from dasb.tokenizers.base import TokenizerInfo
from dasb.tokenizers.dualcodec import SAMPLE_RATE, Decoder, DualCodecConfig, Encoder, ResidualVectorQuantize, load_codec
from dasb.tokenizers.hf_base import HFTokenizer, fetch_files, find_local, how_to_supply
from dasb.weights.catalog import Source, hub_or_folder

FILENAME = "lmspt_12d5hz_16384_4096.safetensors"
# The released configuration: encoder 32 -> 1024 channels over strides 4, 5, 6, 8, 2 (12.5 Hz), decoder 1536.
RELEASE = DualCodecConfig(n_codebooks=7, codebook_size=4096, semantic_codebook_size=16384, is_causal=False)


class DualResidualVectorQuantize(nn.Module):
    """One semantic level (``rvq_first``) and the acoustic levels (``rvq_rest``); usage buffers are training state."""

    def __init__(self, c: DualCodecConfig) -> None:
        super().__init__()
        self.rvq_first = ResidualVectorQuantize(c.latent_dim, 1, c.semantic_codebook_size, c.codebook_dim)
        self.rvq_rest = ResidualVectorQuantize(c.latent_dim, c.n_codebooks, c.codebook_size, c.codebook_dim)
        self.register_buffer("semantic_vocab_usage", torch.zeros(1, c.semantic_codebook_size))
        self.register_buffer("acoustic_vocab_usage", torch.zeros(c.n_codebooks, c.codebook_size))


class LMSPTModel(nn.Module):
    """The LM-SPT codec: 24 kHz audio ``[B, 1, N]`` to codes ``[B, 8, T]`` and back."""

    def __init__(self, config: DualCodecConfig = RELEASE) -> None:
        super().__init__()
        self.config = config
        self.semantic_encoder = Encoder(config)
        self.acoustic_encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.aux_decoder = Decoder(replace(config, decoder_dim=128, decoder_rates=(8, 8, 5, 4)))
        self.quantizer = DualResidualVectorQuantize(config)

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Codes of ``[B, 1, N]``; like the authors, the audio is not padded (a last partial frame is dropped)."""
        q = self.quantizer
        semantic, semantic_sum = q.rvq_first.encode(self.semantic_encoder.block(audio), straight_through=False)
        acoustic, _ = q.rvq_rest.encode(self.acoustic_encoder.block(audio) - semantic_sum, straight_through=False)
        return torch.cat([semantic, acoustic], 1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Audio ``[B, 1, T x 1920]`` from the semantic codes and any first acoustic levels ``[B, 1 + k, T]``."""
        latent = self.quantizer.rvq_first.decode(codes[:, :1])
        if codes.shape[1] > 1:
            latent = latent + self.quantizer.rvq_rest.decode(codes[:, 1:])
        return self.decoder.model(latent)


class LMSPTTokenizer(HFTokenizer):
    """dasb adapter of LM-SPT; ``checkpoint`` is the hub repo (or folder) holding the released safetensors file."""

    @classmethod
    def weight_sources(cls, checkpoint: str | None, revision: str | None, params: dict[str, Any]) -> list[Source]:
        return hub_or_folder(checkpoint, revision, probe=FILENAME)

    @classmethod
    def missing_weights(cls, checkpoint: str | None, revision: str | None, params: dict[str, Any]) -> str | None:
        if checkpoint is None or find_local(checkpoint, revision, probe=FILENAME) is not None:
            return None
        return f"weights missing ({FILENAME}): {how_to_supply(checkpoint, revision)}"

    def _from_config(self, config: DualCodecConfig) -> nn.Module:
        return LMSPTModel(config)

    def _load(self, checkpoint: str, revision: str | None) -> nn.Module:
        (path,), self.resolved_revision = fetch_files(checkpoint, revision, [FILENAME])
        return load_codec(path, LMSPTModel(RELEASE))

    def build_info(self, name, checkpoint, revision) -> TokenizerInfo:
        c = self.model.config
        return TokenizerInfo(
            name=name, sample_rate=SAMPLE_RATE, num_codebooks=1 + c.n_codebooks,
            codebook_size=(c.semantic_codebook_size,) + (c.codebook_size,) * c.n_codebooks,
            frame_rate=SAMPLE_RATE / c.hop, kind="hybrid", causal=False, checkpoint=checkpoint, revision=revision,
            residual=True,
        )

    def _encode(self, audio):
        return self.model.encode(audio[:, :1]), {}

    def _decode(self, codes, side):
        return self.model.decode(codes)

    def codebook_embeddings(self) -> list[torch.Tensor]:
        q = self.model.quantizer
        return [v.codebook.weight.detach().float().cpu() for v in (*q.rvq_first.quantizers, *q.rvq_rest.quantizers)]
