"""GLM-4-Voice speech tokenizer (Zeng et al., 2024, arXiv:2412.02612), encode-only.

The first 16 layers of a Whisper-large-v3 encoder, fine-tuned with a vector-quantised
bottleneck: 128-bin Whisper log-mel at 100 Hz -> two causal convolutions (50 Hz) ->
16 Whisper layers with block-causal attention (each frame sees its own 4 s block and
everything before it) -> average pooling by 4 (12.5 Hz) -> nearest of 16384 codebook
vectors. The layers are ``transformers``' ``WhisperEncoderLayer``; the rest is ours.

Parameter names and shapes follow the authors' ``WhisperVQEncoder`` built with
``quantize_encoder_only=True`` (GLM-4-Voice ``speech_tokenizer/modeling_whisper.py``), so
their checkpoint loads with ``strict=True``: the hub file holds the whole Whisper-VQ model
under ``model.encoder.``; the layers past the bottleneck and the final layer norm are not
part of the tokenizer and are skipped, as the authors' ``load_quantize_encoder`` does.

The decoder (THUDM/glm-4-voice-decoder: a CosyVoice flow-matching model and a HiFT
vocoder at 22.05 kHz) is public but not ported here, so the adapter does not decode.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dasb.tokenizers.base import TokenizerInfo
from dasb.tokenizers.hf_base import HFTokenizer, fetch_folder, require
from dasb.weights.catalog import Source, hub_or_folder

# Sizes of the released THUDM/glm-4-voice-tokenizer config.json (its other keys are Whisper defaults or training-only).
PUBLISHED_CONFIG: dict[str, Any] = {
    "d_model": 1280, "encoder_attention_heads": 20, "encoder_ffn_dim": 5120, "encoder_layers": 32,
    "num_mel_bins": 128, "max_source_positions": 1500, "activation_function": "gelu",
    "encoder_causal_convolution": True, "encoder_causal_attention": False, "quantize_causal_encoder": False,
    "pooling_kernel_size": 4, "pooling_position": 16, "pooling_type": "avg", "quantize_position": 16,
    "quantize_vocab_size": 16384, "quantize_causal_block_size": 200, "quantize_ema_decay": 0.99,
}
PREFIX = "model.encoder."  # where the encoder sits in the authors' safetensors


class WhisperVQEncoder(nn.Module):
    """Whisper encoder up to its VQ bottleneck; ``forward`` returns the codes ``[B, T/4]``."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        whisper = require("transformers", "neural")
        unsupported = {k for k in ("encoder_causal_attention", "quantize_causal_encoder") if config.get(k)}
        if unsupported or config["pooling_position"] != config["quantize_position"]:
            raise ValueError(f"GLM-4-Voice config: unsupported settings {sorted(unsupported) or 'pooling_position'}")
        self.config = dict(config)
        d, mels = config["d_model"], config["num_mel_bins"]
        self.causal_conv = bool(config.get("encoder_causal_convolution"))
        pad = 0 if self.causal_conv else 1  # causal: two frames of left padding in forward instead
        self.conv1 = nn.Conv1d(mels, d, kernel_size=3, padding=pad)
        self.conv2 = nn.Conv1d(d, d, kernel_size=3, stride=2, padding=pad)
        self.embed_positions = nn.Embedding(config["max_source_positions"], d)
        layer_config = whisper.WhisperConfig(**{k: config[k] for k in (
            "d_model", "encoder_attention_heads", "encoder_ffn_dim", "activation_function") if k in config})
        layer_config._attn_implementation = "sdpa"
        self.layers = nn.ModuleList(whisper.models.whisper.modeling_whisper.WhisperEncoderLayer(layer_config)
                                    for _ in range(config["quantize_position"]))
        self.pool = config["pooling_kernel_size"]
        self.pooling_layer = (nn.AvgPool1d if config["pooling_type"] == "avg" else nn.MaxPool1d)(self.pool)
        self.codebook = nn.Embedding(config["quantize_vocab_size"], d)
        # Positions of the layers after the bottleneck, which tokenisation does not run: kept so that the
        # authors' checkpoint loads strictly. Likewise the EMA statistics the codebook was trained with.
        self.embed_positions2 = nn.Embedding(math.ceil(config["max_source_positions"] / self.pool), d)
        if config.get("quantize_ema_decay") is not None:
            self.register_buffer("ema_count", torch.ones(config["quantize_vocab_size"]))
            self.register_buffer("ema_weight", torch.zeros(config["quantize_vocab_size"], d))

    def _conv(self, conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(conv(F.pad(x, (2, 0)) if self.causal_conv else x))

    def _block_causal_mask(self, valid: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Additive mask ``[B, 1, T, T]``: frame i sees j when j <= i or both lie in one block, and j is not padding."""
        t = valid.shape[1]
        pos = torch.arange(t, device=valid.device)
        block = pos // self.config["quantize_causal_block_size"]
        allowed = (pos[None, :] <= pos[:, None]) | (block[None, :] == block[:, None])
        allowed = allowed[None] & valid[:, None, :].bool()
        mask = torch.zeros(allowed.shape, dtype=dtype, device=valid.device)
        return mask.masked_fill(~allowed, torch.finfo(dtype).min)[:, None]

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, T]`` of log-mel ``features [B, mels, 8T]`` whose valid mel frames are ``frame_mask``."""
        x = self._conv(self.conv2, self._conv(self.conv1, features)).transpose(1, 2)
        if x.shape[1] > self.embed_positions.num_embeddings:
            raise ValueError(f"GLM-4-Voice tokenizer: {x.shape[1]} frames exceed the "
                             f"{self.embed_positions.num_embeddings} positions (30 s)")
        x = x + self.embed_positions.weight[: x.shape[1]]
        mask = self._block_causal_mask(frame_mask[:, ::2], x.dtype)
        for layer in self.layers:
            x = layer(x, mask)
        x = x.transpose(1, 2)
        x = self.pooling_layer(F.pad(x, (0, -x.shape[-1] % self.pool))).transpose(1, 2)
        book = self.codebook.weight
        distances = x.square().sum(-1, keepdim=True) - 2 * x @ book.t() + book.square().sum(-1)
        return distances.argmin(-1)


def encoder_state_dict(files: list[Path], quantize_position: int) -> dict[str, torch.Tensor]:
    """The tokenizer's tensors from the authors' ``model*.safetensors``: ``model.encoder.*`` without the final
    layer norm and the layers past the bottleneck (the decoder side is never read)."""
    from safetensors import safe_open

    state: dict[str, torch.Tensor] = {}
    for path in files:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            for key in f.keys():
                if not key.startswith(PREFIX):
                    continue
                name = key[len(PREFIX):]
                if name.startswith("layer_norm.") or (name.startswith("layers.") and int(name.split(".")[1]) >= quantize_position):
                    continue
                state[name] = f.get_tensor(key)
    return state


class GLM4VoiceTokenizer(HFTokenizer):
    """GLM-4-Voice tokenizer: one 16384-entry codebook at 12.5 Hz (175 bps), 16 kHz input, encode-only.

    ``config=`` takes the config.json contents (e.g. :data:`PUBLISHED_CONFIG`) for a random-initialised model.
    """

    supports_half = False
    HOP = 160  # Whisper mel hop at 16 kHz
    FILES = ("config.json", "preprocessor_config.json", "model*.safetensors")  # what the tokenizer reads

    def __init__(self, name: str, **kwargs) -> None:
        self.features = None  # the checkpoint's preprocessor_config.json, when loaded
        super().__init__(name, **kwargs)
        if self.features is None:  # a random or injected model: Whisper's own mel front end
            self.features = require("transformers", self.extra).WhisperFeatureExtractor(
                feature_size=self.model.config["num_mel_bins"])

    @classmethod
    def weight_sources(cls, checkpoint, revision, params) -> list[Source]:
        return hub_or_folder(checkpoint, revision, patterns=cls.FILES)

    def _from_config(self, config: dict[str, Any]) -> nn.Module:
        return WhisperVQEncoder(config)

    def _load(self, checkpoint: str, revision: str | None) -> nn.Module:
        folder, self.resolved_revision = fetch_folder(checkpoint, revision, list(self.FILES))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        files = sorted(folder.glob("model*.safetensors"))
        if not files:
            raise FileNotFoundError(f"{folder}: no model*.safetensors (the GLM-4-Voice tokenizer's weights)")
        model = WhisperVQEncoder(config)
        model.load_state_dict(encoder_state_dict(files, config["quantize_position"]), strict=True)
        self.features = require("transformers", self.extra).WhisperFeatureExtractor.from_pretrained(str(folder))
        return model

    def build_info(self, name, checkpoint, revision) -> TokenizerInfo:
        c = self.model.config
        hop = self.HOP * 2 * c["pooling_kernel_size"]
        return TokenizerInfo(
            name=name, sample_rate=16000, num_codebooks=1, codebook_size=c["quantize_vocab_size"],
            frame_rate=16000 / hop, kind="semantic", causal=False, decodes=False,
            max_samples=c["max_source_positions"] * 2 * self.HOP, checkpoint=checkpoint, revision=revision,
        )

    def _encode(self, audio):
        hop = round(self.info.samples_per_frame)
        # As the authors' extract_speech_token: pad to whole tokens, mask the padding.
        feats = self.features([a[0].float().cpu().numpy() for a in audio], sampling_rate=16000,
                              return_attention_mask=True, return_tensors="pt", padding="longest",
                              pad_to_multiple_of=hop)
        codes = self.model(feats.input_features.to(self.device, self.dtype), feats.attention_mask.to(self.device))
        return codes[:, None, : math.ceil(audio.shape[-1] / hop)], {}

    def codebook_embeddings(self) -> list[torch.Tensor]:
        return [self.model.codebook.weight.detach().float().cpu()]
