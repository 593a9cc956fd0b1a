"""BEATs acoustic tokenizers (Chen et al., ICML 2023, arXiv:2212.09058), encode-only.

16 kHz audio -> 128-bin Kaldi fbank at 100 frames/s (scaled and normalised as the authors do) -> 16 x 16
patches (a Conv2d of stride 16: 16 frames x 16 mel bins each) -> a BEATs Transformer encoder (convolutional
positional embedding, optionally deep norm and a gated relative position bias) -> tanh projection ->
nearest of ``quant_n`` unit-norm codebook vectors (cosine distance).

Token layout: one code per patch. The fbank has 128 / 16 = 8 frequency bands of patches and one time step
per 16 frames (160 ms, 6.25 per second), so one second gives 8 x 6.25 = 50 codes. Here they are
``codes[b, band, step]``: 8 "codebooks" at 6.25 Hz, band 0 the lowest mel bins, all 8 drawing on the
same 1024-entry codebook (the authors' flat label sequence is step-major: ``label[8 * step + band]``).
Like the authors' ``extract_labels``, a trailing part shorter than a patch is dropped: ``N`` samples give
``floor((1 + (N - 400) // 160) / 16)`` steps (Kaldi frames without edge padding), none under 0.175 s.

Parameter names and shapes follow the authors' ``Tokenizers`` (github.com/microsoft/unilm ``beats/``), so
their checkpoints (``torch.save({"cfg": ..., "model": state_dict})``) load with ``strict=True``; the model is
built from the checkpoint's own ``cfg``, as their README does. The tokenizers have no decoder.
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dasb.tokenizers.base import TokenizerInfo
from dasb.tokenizers.hf_base import HFTokenizer
from dasb.tokenizers.layers import WNConv1d
from dasb.weights.base import file_sha256
from dasb.weights.catalog import Source
from dasb.weights.files import UrlFile

# The published tokenizer files' cfg could not be read here (their downloads are unreachable). These are the
# BEATs encoder settings of the released BEATs models (beats/BEATs.py; the paper's tokenizer encoder is the same
# 12-layer Transformer) with the quantiser of Tokenizers.py (1024 x 256); TokenizersConfig's defaults for the rest.
# Used for random-initialised models only: a checkpoint is always built from its own cfg.
PUBLISHED_CONFIG: dict[str, Any] = {
    "input_patch_size": 16, "embed_dim": 512, "conv_bias": False, "encoder_layers": 12, "encoder_embed_dim": 768,
    "encoder_ffn_embed_dim": 3072, "encoder_attention_heads": 12, "activation_fn": "gelu", "layer_norm_first": False,
    "deep_norm": True, "conv_pos": 128, "conv_pos_groups": 16, "relative_position_embedding": True,
    "num_buckets": 320, "max_distance": 800, "gru_rel_pos": True, "quant_n": 1024, "quant_dim": 256,
}
# TokenizersConfig defaults, for the keys a checkpoint's cfg may leave out (input_patch_size has none: -1).
DEFAULTS: dict[str, Any] = {
    "embed_dim": 512, "conv_bias": False, "encoder_layers": 12, "encoder_embed_dim": 768, "encoder_ffn_embed_dim": 3072,
    "encoder_attention_heads": 12, "activation_fn": "gelu", "layer_norm_first": False, "deep_norm": False,
    "conv_pos": 128, "conv_pos_groups": 16, "relative_position_embedding": False, "num_buckets": 320,
    "max_distance": 1280, "gru_rel_pos": False, "quant_n": 1024, "quant_dim": 256,
}
FBANK_MEAN, FBANK_STD = 15.41663, 6.55582  # the authors' normalisation of the fbank (Tokenizers.preprocess)
MEL_BINS, SAMPLE_RATE = 128, 16000
ONEDRIVE = "the OneDrive links of beats/README.md (github.com/microsoft/unilm/tree/master/beats)"
# The direct blob URLs of beats/README.md at unilm commit 3085b51a687566ca0dbb60eb8c1191183707c806 (shared-access
# signature valid to 2034-04-05); the README now links OneDrive pages instead. Neither host is reachable here.
BLOB = ("https://valle.blob.core.windows.net/share/BEATs/{}?sv=2021-10-04&st=2024-04-04T07%3A15%3A11Z"
        "&se=2034-04-05T07%3A15%3A00Z&sr=c&sp=rl&sig=xH3MbkMqHPLBI5gN%2Frt9H4J8Ai%2BtUnkduo7KGpkLbdA%3D")
FILES = ("Tokenizer_iter2.pt", "Tokenizer_iter3.pt", "Tokenizer_iter3_plus_AS20K.pt", "Tokenizer_iter3_plus_AS2M.pt")


def beats_fbank(audio: torch.Tensor) -> torch.Tensor:
    """The authors' front end: ``[B, N]`` audio in [-1, 1] at 16 kHz -> normalised fbank ``[B, frames, 128]``
    (Kaldi fbank of the 16-bit-scaled signal, 25 ms windows every 10 ms, torchaudio's implementation)."""
    import torchaudio.compliance.kaldi as kaldi

    feats = [kaldi.fbank(x[None].float() * 2**15, num_mel_bins=MEL_BINS, sample_frequency=SAMPLE_RATE,
                         frame_length=25, frame_shift=10) for x in audio]
    return (torch.stack(feats) - FBANK_MEAN) / (2 * FBANK_STD)


def relative_buckets(length: int, num_buckets: int, max_distance: int) -> torch.Tensor:
    """T5-style bidirectional buckets ``[T, T]`` of key-minus-query offsets: exact below a quarter of the
    buckets, logarithmic up to ``max_distance``, the two signs in separate halves."""
    offset = torch.arange(length)[None, :] - torch.arange(length)[:, None]
    half = num_buckets // 2
    exact = half // 2
    distance = offset.abs()
    far = exact + (torch.log(distance.clamp(min=1).float() / exact) / math.log(max_distance / exact)
                   * (half - exact)).long()
    return (offset > 0).long() * half + torch.where(distance < exact, distance, far.clamp(max=half - 1))


class SelfAttention(nn.Module):
    """Multi-head self-attention with an optional relative position bias and its per-query gate."""

    def __init__(self, c: dict[str, Any], shared_bias: nn.Embedding | None) -> None:
        super().__init__()
        d, self.heads = c["encoder_embed_dim"], c["encoder_attention_heads"]
        self.k_proj, self.v_proj, self.q_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))
        if shared_bias is not None:  # one table for all layers, registered in each (as the checkpoint stores it)
            self.relative_attention_bias = shared_bias
        self.gated = bool(c["gru_rel_pos"])
        if self.gated:
            self.grep_linear = nn.Linear(d // self.heads, 8)
            self.grep_a = nn.Parameter(torch.ones(1, self.heads, 1, 1))

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """``x [B, T, D]``, ``bias [H, T, T]`` (added to the scaled scores) -> ``[B, T, D]``."""
        b, t, d = x.shape
        q, k, v = (p(x).view(b, t, self.heads, -1).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        if bias is not None and self.gated:
            gate_a, gate_b = torch.sigmoid(self.grep_linear(q).view(b, self.heads, t, 2, 4).sum(-1)).chunk(2, dim=-1)
            bias = (gate_a * (gate_b * self.grep_a - 1.0) + 2.0) * bias
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=None if bias is None else bias.to(q.dtype))
        return self.out_proj(out.transpose(1, 2).reshape(b, t, d))


class EncoderLayer(nn.Module):
    """Attention and feed-forward blocks, post-norm (with deep-norm residual scaling) or pre-norm."""

    def __init__(self, c: dict[str, Any], shared_bias: nn.Embedding | None) -> None:
        super().__init__()
        d = c["encoder_embed_dim"]
        if c["activation_fn"] not in ("gelu", "relu"):
            raise ValueError(f"BEATs cfg: activation_fn {c['activation_fn']!r} is not supported (gelu, relu)")
        self.relu = c["activation_fn"] == "relu"
        self.self_attn = SelfAttention(c, shared_bias)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, c["encoder_ffn_embed_dim"]), nn.Linear(c["encoder_ffn_embed_dim"], d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.norm_first = bool(c["layer_norm_first"])
        self.alpha = (2 * c["encoder_layers"]) ** 0.25 if c["deep_norm"] else 1.0

    def _ffn(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        return self.fc2(F.relu(h) if self.relu else F.gelu(h.float()).type_as(h))

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self.norm_first:
            x = x + self.self_attn(self.self_attn_layer_norm(x), bias)
            return x + self._ffn(self.final_layer_norm(x))
        x = self.self_attn_layer_norm(x * self.alpha + self.self_attn(x, bias))
        return self.final_layer_norm(x * self.alpha + self._ffn(x))


class Encoder(nn.Module):
    """Convolutional positional embedding, then the layers (relative position bias computed once, shared)."""

    def __init__(self, c: dict[str, Any]) -> None:
        super().__init__()
        d, k = c["encoder_embed_dim"], c["conv_pos"]
        self.pos_conv = nn.Sequential(WNConv1d(d, d, k, padding=k // 2, groups=c["conv_pos_groups"], norm_dim=2))
        self.trim = 1 - k % 2  # an even kernel gives one frame too many
        heads = c["encoder_attention_heads"]
        shared = nn.Embedding(c["num_buckets"], heads) if c["relative_position_embedding"] else None
        self.buckets = (c["num_buckets"], c["max_distance"])
        self.layers = nn.ModuleList(EncoderLayer(c, shared) for _ in range(c["encoder_layers"]))
        self.layer_norm = nn.LayerNorm(d)
        self.norm_first = bool(c["layer_norm_first"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = self.pos_conv(x.transpose(1, 2))
        x = x + F.gelu(pos[..., : pos.shape[-1] - self.trim]).transpose(1, 2)
        if not self.norm_first:
            x = self.layer_norm(x)
        bias = None
        table = getattr(self.layers[0].self_attn, "relative_attention_bias", None)
        if table is not None:
            bias = table(relative_buckets(x.shape[1], *self.buckets).to(x.device)).permute(2, 0, 1)
        for layer in self.layers:
            x = layer(x, bias)
        return self.layer_norm(x) if self.norm_first else x


class CodebookEMA(nn.Module):
    """The codebook ``weight`` ``[quant_n, quant_dim]`` (unit rows) and the EMA statistics it was trained with."""

    def __init__(self, n: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n, dim), requires_grad=False)
        # Training state, unused for tokenising; kept so that the authors' checkpoint loads strictly.
        self.cluster_size = nn.Parameter(torch.zeros(n), requires_grad=False)
        self.embed_avg = nn.Parameter(torch.zeros(n, dim), requires_grad=False)
        self.register_buffer("initted", torch.ones(1))
        with torch.no_grad():
            self.weight.copy_(F.normalize(self.weight, dim=-1))


class Quantizer(nn.Module):
    """Nearest codebook entry of unit-norm vectors (``NormEMAVectorQuantizer`` at inference)."""

    def __init__(self, n: int, dim: int) -> None:
        super().__init__()
        self.embedding = CodebookEMA(n, dim)
        self.register_buffer("cluster_size", torch.zeros(n))  # usage statistics, unused here

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``[...]`` of ``z [..., dim]`` (normalised here), by the authors' squared-distance expression."""
        z = F.normalize(z, dim=-1)
        w = self.embedding.weight
        d = z.pow(2).sum(-1, keepdim=True) + w.pow(2).sum(-1) - 2 * z @ w.t()
        return d.argmin(-1)


class BEATsTokenizerModel(nn.Module):
    """The authors' ``Tokenizers`` at inference; ``forward`` maps a normalised fbank to codes ``[B, 8, steps]``."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        c = {**DEFAULTS, **cfg}
        if c.get("input_patch_size", -1) <= 0 or MEL_BINS % c["input_patch_size"]:
            raise ValueError(f"BEATs cfg: input_patch_size {c.get('input_patch_size')} must divide {MEL_BINS}")
        if c["deep_norm"] and c["layer_norm_first"]:
            raise ValueError("BEATs cfg: deep_norm and layer_norm_first exclude each other")
        self.config = c
        self.patch = c["input_patch_size"]
        e, d = c["embed_dim"], c["encoder_embed_dim"]
        self.post_extract_proj = nn.Linear(e, d) if e != d else None
        self.patch_embedding = nn.Conv2d(1, e, self.patch, stride=self.patch, bias=c["conv_bias"])
        self.encoder = Encoder(c)
        self.layer_norm = nn.LayerNorm(e)
        self.quantize = Quantizer(c["quant_n"], c["quant_dim"])
        self.quantize_layer = nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, c["quant_dim"]))

    @property
    def bands(self) -> int:
        return MEL_BINS // self.patch

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        """``fbank [B, frames, 128]`` (at least one patch of frames) -> codes ``[B, bands, frames // patch]``."""
        x = self.patch_embedding(fbank[:, None]).flatten(2).transpose(1, 2)  # [B, steps * bands], step-major
        x = self.layer_norm(x)
        if self.post_extract_proj is not None:
            x = self.post_extract_proj(x)
        codes = self.quantize(self.quantize_layer(self.encoder(x)))
        return codes.view(codes.shape[0], -1, self.bands).transpose(1, 2)


def release(filename: str, folder: str | None = None) -> UrlFile:
    """Where the authors publish ``filename`` (one of :data:`FILES`); ``folder`` is searched first."""
    if filename not in FILES:
        raise ValueError(f"BEATs tokenizer: unknown file {filename!r}; the authors publish {FILES}")
    return UrlFile(name="beats", filename=filename, url=BLOB.format(filename), sha256=None,
                   license="MIT (github.com/microsoft/unilm LICENSE)", also=ONEDRIVE, local=folder)


class BEATsTokenizer(HFTokenizer):
    """A BEATs tokenizer: 16 kHz, 8 frequency bands x 6.25 Hz of codes from one codebook (50 codes/s), encode-only.

    ``filename`` is the authors' checkpoint (:data:`FILES`), looked for in ``checkpoint`` (a folder), then in
    ``$DASB_WEIGHTS/beats/`` and the dasb weights folder, then downloaded from its pinned URL.
    ``config=`` builds a random model (e.g. :data:`PUBLISHED_CONFIG`).
    """

    supports_half = False
    requires = "torch"
    # The framework tokenises longer audio in overlapping windows of 64 steps (10.24 s at patch 16), so that a 10 s
    # AudioSet clip (the tokenizers' training data) stays whole and longer inputs stay near that length.
    MAX_STEPS = 64

    def __init__(self, name: str, filename: str = FILES[-1], checkpoint: str | None = None, revision: str | None = None,
                 model: nn.Module | None = None, config: dict[str, Any] | None = None) -> None:
        loaded = None
        if model is None and config is None:
            path = release(filename, checkpoint).path()  # verified against the pinned SHA-256 when there is one
            model, loaded = load_checkpoint(path), f"sha256:{file_sha256(path)}"
        super().__init__(name, checkpoint=checkpoint, revision=revision, model=model, config=config)
        if loaded is not None:
            self.info = replace(self.info, extras={**self.info.extras, "resolved_revision": loaded})

    @classmethod
    def weight_sources(cls, checkpoint: str | None, revision: str | None, params: dict[str, Any]) -> list[Source]:
        return [release(params.get("filename", FILES[-1]), checkpoint)]

    @classmethod
    def missing_weights(cls, checkpoint: str | None, revision: str | None, params: dict[str, Any]) -> str | None:
        gap = release(params.get("filename", FILES[-1]), checkpoint).missing()
        return None if gap is None else f"weights missing: {gap}"

    def _from_config(self, config: dict[str, Any]) -> nn.Module:
        return BEATsTokenizerModel(config)

    def build_info(self, name: str, checkpoint: str | None, revision: str | None) -> TokenizerInfo:
        m = self.model
        hop = SAMPLE_RATE * m.patch // 100  # samples per step
        return TokenizerInfo(
            name=name, sample_rate=SAMPLE_RATE, num_codebooks=m.bands, codebook_size=m.config["quant_n"],
            frame_rate=100 / m.patch, kind="semantic", causal=False, decodes=False, max_samples=self.MAX_STEPS * hop,
            checkpoint=checkpoint, revision=revision,
            extras={"token_layout": f"codebook k = mel band k of {m.bands} ({m.patch} bins each, lowest first), one "
                                    f"frame per {m.patch} fbank frames; all bands share one codebook"},
        )

    def _encode(self, audio: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        fbank = beats_fbank(audio[:, 0]).to(self.dtype)
        if fbank.shape[1] < self.model.patch:  # shorter than one patch (0.175 s): no codes, as the authors'
            return torch.zeros(audio.shape[0], self.model.bands, 0, dtype=torch.long), {}
        return self.model(fbank), {}

    def codebook_embeddings(self) -> list[torch.Tensor]:
        return [self.model.quantize.embedding.weight.detach().float().cpu()] * self.model.bands


def load_checkpoint(path: str | Path) -> BEATsTokenizerModel:
    """A tokenizer from the authors' file: built from its ``cfg``, its ``model`` state dict loaded strictly."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not {"cfg", "model"} <= state.keys():
        raise ValueError(f"{path}: not a BEATs tokenizer checkpoint (expected a dict with 'cfg' and 'model')")
    with torch.device("meta"):  # no random initialisation of what the file replaces
        model = BEATsTokenizerModel(state["cfg"])
    model.load_state_dict(state["model"], strict=True, assign=True)
    return model
