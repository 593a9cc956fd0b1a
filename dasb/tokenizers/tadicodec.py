"""TaDiCodec (Yang et al., 2025, arXiv:2508.16790): 24 kHz speech, one 16384-entry BSQ code at 6.25 Hz.

24 kHz audio -> 128-bin log-mel at 50 frames/s (n_fft = window = 1920, hop 480, reflect-padded by 720 each
side, uncentred STFT; normalised by the training set's mean and variance) -> an 8-layer non-causal Llama-style
encoder (rotary positions, RMS norms without weights) -> linear resampling to an eighth of the frames ->
``vq_in_linear`` (1024 -> 14) -> L2 normalisation -> binary spherical quantisation: the 14 signs, read as bits
(first dimension most significant), are the code.

The decoder (a 16-layer flow-matching Llama with adaptive RMS norms on the diffusion time, conditioned on the
transcript's text tokens as a prefix, on the upsampled codes and on a mel prompt) and its Vocos vocoder are laid
out so the authors' ``model.safetensors`` loads with ``strict=True``; decoding is not implemented here (the
adapter is encode-only).

Our own modules, with the parameter names of the authors' ``TaDiCodec`` / ``DiffLlamaPrefix``
(github.com/HeCheng0625/Diffusion-Speech-Tokenizer, ``models/tts/tadicodec/``), which subclass transformers
4.42's Llama layers.
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
from dasb.tokenizers.hf_base import HFTokenizer, fetch_folder
from dasb.weights.catalog import Source, hub_or_folder

# The authors' published training configuration, egs/tts/TaDiCodec/tadicodec_6_25hz_16384_bsq.json at commit
# cc660a8951a8324d5e05dac7bb083fa9f24a402e ("model.tadicodec" and the mel keys of "preprocess"); the hub's
# config.json could not be read here. A hub folder's own config.json takes precedence when it is there.
PUBLISHED_CONFIG: dict[str, Any] = {
    "mel_dim": 128, "in_dim": 128, "hidden_size": 1024, "encoder_num_layers": 8, "decoder_num_layers": 16,
    "num_heads": 16, "down_sample_factor": 8, "vq_emb_dim": 14, "use_text_cond": True, "text_vocab_size": 32100,
}
PREPROCESS: dict[str, Any] = {"sample_rate": 24000, "n_fft": 1920, "hop_size": 480, "win_size": 1920, "num_mels": 128,
                              "fmin": 0, "fmax": 12000, "mel_mean": -4.92, "mel_var": 8.14}
ROPE_THETA, RMS_EPS = 10000.0, 1e-6  # transformers' LlamaConfig defaults, which the authors' layers use


class MelFrontEnd(nn.Module):
    """The authors' ``MelSpectrogram`` and normalisation: ``[B, N]`` audio -> ``[B, N // hop, mels]``."""

    def __init__(self, p: dict[str, Any]) -> None:
        super().__init__()
        import torchaudio.functional as AF

        self.p = p
        with torch.device("cpu"):  # computed, never stored: also when the model is built on the meta device
            # Slaney-style filters, as librosa.filters.mel's defaults (the authors' choice).
            basis = AF.melscale_fbanks(p["n_fft"] // 2 + 1, float(p["fmin"]), float(p["fmax"]), p["num_mels"],
                                       p["sample_rate"], norm="slaney", mel_scale="slaney")
            window = torch.hann_window(p["win_size"])
        self.register_buffer("mel_basis", basis.t().contiguous(), persistent=False)
        self.register_buffer("window", window, persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        pad = (self.p["n_fft"] - self.p["hop_size"]) // 2
        x = F.pad(audio[:, None].float(), (pad, pad), mode="reflect")[:, 0]
        spec = torch.stft(x, self.p["n_fft"], hop_length=self.p["hop_size"], win_length=self.p["win_size"],
                          window=self.window, center=False, return_complex=True)
        mag = torch.sqrt(torch.view_as_real(spec).pow(2).sum(-1) + 1e-9)
        mel = torch.log((self.mel_basis @ mag).clamp(min=1e-5)).transpose(1, 2)
        return (mel - self.p["mel_mean"]) / math.sqrt(self.p["mel_var"])


class AdaptiveRMSNorm(nn.Module):
    """RMS norm whose scale is predicted from a condition (``to_weight``), or no scale at all without one."""

    def __init__(self, d: int, conditioned: bool) -> None:
        super().__init__()
        self.to_weight = nn.Linear(d, d) if conditioned else None

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        x = x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + RMS_EPS)
        if self.to_weight is None:
            return x
        return self.to_weight(cond)[:, None] * x


def rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Llama's rotary embedding (halves rotated, not interleaved)."""
    a, b = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-b, a), dim=-1) * sin


class Attention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (nn.Linear(d, d, bias=False) for _ in range(4))

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (p(x).view(b, t, self.heads, -1).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        out = F.scaled_dot_product_attention(rotary(q, cos, sin), rotary(k, cos, sin), v)  # non-causal
        return self.o_proj(out.transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.gate_proj, self.up_proj = nn.Linear(d, 4 * d, bias=False), nn.Linear(d, 4 * d, bias=False)
        self.down_proj = nn.Linear(4 * d, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    """Pre-norm Llama block whose norms take the diffusion-time condition (when there is one)."""

    def __init__(self, d: int, heads: int, conditioned: bool) -> None:
        super().__init__()
        self.self_attn, self.mlp = Attention(d, heads), MLP(d)
        self.input_layernorm = AdaptiveRMSNorm(d, conditioned)
        self.post_attention_layernorm = AdaptiveRMSNorm(d, conditioned)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x, cond), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x, cond))


def _mlp(d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, 4 * d), nn.SiLU(), nn.Linear(4 * d, d))


class DiffLlama(nn.Module):
    """The authors' ``DiffLlamaPrefix``: the encoder (no conditions) or the flow-matching decoder."""

    def __init__(self, d: int, heads: int, layers: int, in_dim: int, out_dim: int | None, decoder: bool,
                 text: bool) -> None:
        super().__init__()
        self.heads = heads
        self.layers = nn.ModuleList(Layer(d, heads, decoder) for _ in range(layers))
        self.norm = AdaptiveRMSNorm(d, decoder)
        if decoder and text:
            self.text_mlp = _mlp(d)
        if decoder:
            self.diff_step_mlp, self.cond_mlp = _mlp(d), _mlp(d)
        self.in_linear = nn.Linear(in_dim, d)
        self.out_linear = nn.Linear(d, out_dim) if out_dim is not None else None

    def _rope(self, length: int, d: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        head = d // self.heads
        inv = 1.0 / ROPE_THETA ** (torch.arange(0, head, 2, device=device).float() / head)
        angles = torch.arange(length, device=device).float()[:, None] * inv
        emb = torch.cat((angles, angles), dim=-1)
        return emb.cos(), emb.sin()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's pass: ``[B, T, in_dim]`` -> ``[B, T, d]`` (all frames valid, as the authors encode)."""
        h = self.in_linear(x)
        cos, sin = self._rope(h.shape[1], h.shape[-1], h.device)
        for layer in self.layers:
            h = layer(h, None, cos, sin)
        return self.norm(h, None)


class BSQ(nn.Module):
    """Binary spherical quantiser: the bits of the signs (``basis`` 2^13 .. 1), as the authors' buffers store them."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("basis", 2 ** torch.arange(dim - 1, -1, -1))
        self.register_buffer("group_basis", torch.ones(1, dtype=torch.int64))  # group size 1; unused at inference

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return ((z > 0).long() * self.basis).sum(-1)


class TaDiCodecModel(nn.Module):
    """Encoder, BSQ bottleneck and decoder as ``model.safetensors`` stores them; ``forward`` is the encoder path."""

    def __init__(self, config: dict[str, Any], preprocess: dict[str, Any] | None = None) -> None:
        super().__init__()
        c = self.config = {**PUBLISHED_CONFIG, **config}
        self.preprocess = {**PREPROCESS, **(preprocess or {})}
        d, heads = c["hidden_size"], c["num_heads"]
        if c["use_text_cond"]:
            self.text_emb = nn.Embedding(c["text_vocab_size"], d)
        self.vq_in_linear = nn.Linear(d, c["vq_emb_dim"])
        self.bsq = BSQ(c["vq_emb_dim"])
        self.vq_out_linear = nn.Linear(c["vq_emb_dim"], d)
        self.encoder = DiffLlama(d, heads, c["encoder_num_layers"], c["in_dim"], None, decoder=False, text=False)
        self.decoder = DiffLlama(d, heads, c["decoder_num_layers"], c["mel_dim"], c["mel_dim"], decoder=True,
                                 text=c["use_text_cond"])
        self.mel = MelFrontEnd(self.preprocess)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Normalised mel ``[B, T, mels]`` (T >= down_sample_factor) -> codes ``[B, T // down_sample_factor]``."""
        h = self.encoder(mel)
        h = F.interpolate(h.transpose(1, 2), size=h.shape[1] // self.config["down_sample_factor"], mode="linear")
        return self.bsq(F.normalize(self.vq_in_linear(h.transpose(1, 2)), dim=-1))


def read_config(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``model.tadicodec`` and ``preprocess`` of a folder's config.json in the authors' format."""
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    try:
        return cfg["model"]["tadicodec"], cfg["preprocess"]
    except KeyError as err:
        raise ValueError(f"{folder}/config.json: not a TaDiCodec config (no {err} entry)") from err


def load_folder(folder: Path) -> TaDiCodecModel:
    """The model of a hub-like folder (config.json + model.safetensors), its weights loaded strictly."""
    from safetensors.torch import load_file

    config, preprocess = read_config(folder)
    with torch.device("meta"):  # no random initialisation of weights that the file replaces
        model = TaDiCodecModel(config, preprocess)
    model.load_state_dict(load_file(folder / "model.safetensors"), strict=True, assign=True)
    return model


class TaDiCodecTokenizer(HFTokenizer):
    """TaDiCodec: 24 kHz, one 16384-entry BSQ codebook at 6.25 Hz (87.5 bps), encode-only.

    ``checkpoint`` is the hub repo (amphion/TaDiCodec) or a folder with its config.json and model.safetensors.
    ``config=`` builds a random model (e.g. :data:`PUBLISHED_CONFIG`).
    """

    supports_half = False
    requires = "torch"
    FILES = ("config.json", "model.safetensors")

    @classmethod
    def weight_sources(cls, checkpoint, revision, params) -> list[Source]:
        return hub_or_folder(checkpoint, revision, patterns=cls.FILES)

    def _from_config(self, config: dict[str, Any]) -> nn.Module:
        return TaDiCodecModel(config)

    def _load(self, checkpoint: str, revision: str | None) -> nn.Module:
        folder, self.resolved_revision = fetch_folder(checkpoint, revision, list(self.FILES))
        return load_folder(Path(folder))

    @property
    def hop(self) -> int:
        """Input samples per code: mel hop x the encoder's down-sampling."""
        return self.model.preprocess["hop_size"] * self.model.config["down_sample_factor"]

    def describe(self, name, checkpoint, revision) -> TokenizerInfo:
        p = self.model.preprocess
        return TokenizerInfo(
            name=name, sample_rate=p["sample_rate"], num_codebooks=1, codebook_size=2 ** self.model.config["vq_emb_dim"],
            frame_rate=p["sample_rate"] / self.hop, kind="semantic", causal=False, decodes=False,
            checkpoint=checkpoint, revision=revision,
        )

    def _encode(self, audio):
        # N samples give N // hop mel frames and N // (8 hop) codes; reflect padding needs more than 720 samples.
        if audio.shape[-1] < self.hop:
            return torch.zeros(audio.shape[0], 1, 0, dtype=torch.int64, device=audio.device), {}
        return self.model(self.model.mel(audio[:, 0]))[:, None], {}
