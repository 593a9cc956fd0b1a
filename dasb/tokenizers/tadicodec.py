"""TaDiCodec (Yang et al., 2025, arXiv:2508.16790): 24 kHz speech, one 16384-entry BSQ code at 6.25 Hz.

24 kHz audio -> 128-bin log-mel at 50 frames/s (n_fft = window = 1920, hop 480, reflect-padded by 720 each
side, uncentred STFT; normalised by the training set's mean and variance) -> an 8-layer non-causal Llama-style
encoder (rotary positions, RMS norms without weights) -> linear resampling to an eighth of the frames ->
``vq_in_linear`` (1024 -> 14) -> L2 normalisation -> binary spherical quantisation: the 14 signs, read as bits
(first dimension most significant), are the code.

Decoding (as the authors' ``reverse_diffusion``): the codes' sphere corners, ``vq_out_linear`` and linear
upsampling back to 50 Hz condition a 16-layer flow-matching Llama (adaptive RMS norms on the diffusion time), whose
prefix is the transcript's text tokens; 32 Euler steps from noise with classifier-free guidance (scale 2, rescaled
0.75), then the Vocos vocoder (hub subfolder ``vocoder/``) turns the normalised mel into 24 kHz audio. The
transcript is a decode input; no mel prompt is used (see :meth:`TaDiCodecModel.generate`).

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
from dasb.tokenizers.hf_base import HFTokenizer, fetch_folder, require
from dasb.tokenizers.layers import Vocos
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
VOCOS: dict[str, Any] = {"input_channels": 128, "dim": 1024, "intermediate_dim": 4096, "num_layers": 30, "n_fft": 1920,
                          "hop_size": 480}  # "model.vocos" of the same file
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

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, t: torch.Tensor | None = None,
                text: torch.Tensor | None = None) -> torch.Tensor:
        """``x [B, T, in_dim]`` (all frames valid, as the authors run it) -> ``[B, T, d or out_dim]``.

        The decoder adds ``cond_mlp(cond)`` (``[B, T, d]``), conditions its norms on the time ``t`` (``[B]``) and
        prepends ``text_mlp(text)`` (``[B, L, d]``, optional) as a prefix that attends and is attended to."""
        h = self.in_linear(x)
        step = None
        if cond is not None:
            h = h + self.cond_mlp(cond)
            half = h.shape[-1] // 2  # the authors' sinusoidal time embedding: sin then cos
            freqs = torch.exp(torch.arange(half, device=h.device) * -(math.log(10000) / (half - 1)))
            angles = t[:, None].float() * freqs
            step = self.diff_step_mlp(torch.cat((angles.sin(), angles.cos()), dim=-1))
        prefix = 0
        if text is not None:
            prefix = text.shape[1]
            h = torch.cat((self.text_mlp(text), h), dim=1)
        cos, sin = self._rope(h.shape[1], h.shape[-1], h.device)
        for layer in self.layers:
            h = layer(h, step, cos, sin)
        h = self.norm(h, step)[:, prefix:]
        return h if self.out_linear is None else self.out_linear(h)


class BSQ(nn.Module):
    """Binary spherical quantiser: the bits of the signs (``basis`` 2^13 .. 1), as the authors' buffers store them."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("basis", 2 ** torch.arange(dim - 1, -1, -1))
        self.register_buffer("group_basis", torch.ones(1, dtype=torch.int64))  # group size 1; unused at inference

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return ((z > 0).long() * self.basis).sum(-1)

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """The code's corner of the sphere: ``[...]`` -> ``[..., dim]`` of +-1 / sqrt(dim)."""
        bits = torch.remainder(torch.div(codes[..., None], self.basis, rounding_mode="floor"), 2)
        return (bits * 2 - 1).float() / math.sqrt(self.basis.numel())


class TaDiCodecModel(nn.Module):
    """Encoder, BSQ bottleneck and decoder as ``model.safetensors`` stores them; ``forward`` is the encoder path."""

    def __init__(self, config: dict[str, Any], preprocess: dict[str, Any] | None = None) -> None:
        super().__init__()
        c = self.config = {**PUBLISHED_CONFIG, **{k: v for k, v in config.items() if k != "vocos"}}
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

    def _flow(self, x: torch.Tensor, cond: torch.Tensor, t: torch.Tensor, text: torch.Tensor | None, cfg: float,
              rescale: float) -> torch.Tensor:
        """The velocity at time ``t``, guided as the authors' ``reverse_diffusion`` does: the unconditional pass
        drops the text and zeroes the code condition; the guided velocity's spread is pulled back towards the
        conditional one's (std per item here; the authors take it over the batch, the same for one item)."""
        flow = self.decoder(x, cond, t, text)
        if cfg <= 0 or text is None:
            return flow
        guided = (u := self.decoder(x, torch.zeros_like(cond), t, None)) + cfg * (flow - u)
        if rescale <= 0:
            return guided
        std, gstd = flow.flatten(1).std(-1)[:, None, None], guided.flatten(1).std(-1)[:, None, None]
        scaled = guided * std / gstd.clamp(min=1e-6)
        return torch.where(gstd > 1e-6, rescale * scaled + (1 - rescale) * guided, guided)

    def generate(self, codes: torch.Tensor, text_ids: torch.Tensor | None, steps: int = 32, cfg: float = 2.0,
                 rescale: float = 0.75, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised mel ``[B, 8 T, mels]`` from codes ``[B, T]`` and text tokens ``[B, L]``: Euler steps of the
        flow from ``noise`` (standard normal, drawn when not given) at the midpoints ``(i + 0.5) / steps``.

        No mel prompt: the authors' pipeline, given none, prompts with the target's own first 3 s, which leaks the
        reference; decoding without one is in the training distribution (the context is dropped 20% of the time)."""
        cond = self.vq_out_linear(self.bsq.embed(codes))
        cond = F.interpolate(cond.transpose(1, 2), scale_factor=self.config["down_sample_factor"], mode="linear")
        cond = cond.transpose(1, 2)
        text = self.text_emb(text_ids) if text_ids is not None and self.config["use_text_cond"] else None
        x = torch.randn(*cond.shape[:2], self.config["mel_dim"], device=cond.device) if noise is None else noise
        h = 1.0 / steps
        for i in range(steps):
            t = torch.full((x.shape[0],), (i + 0.5) * h, device=x.device)
            x = x + self._flow(x, cond, t, text, cfg, rescale) * h
        return x


def read_config(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``model.tadicodec`` (with the vocoder's ``model.vocos`` as ``"vocos"``) and ``preprocess`` of a folder's
    config.json in the authors' format."""
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    try:
        return {**cfg["model"]["tadicodec"], "vocos": cfg["model"].get("vocos", VOCOS)}, cfg["preprocess"]
    except KeyError as err:
        raise ValueError(f"{folder}/config.json: not a TaDiCodec config (no {err} entry)") from err


def build_vocoder(c: dict[str, Any]) -> Vocos:
    """The authors' Vocos (``model.vocos`` of their config; "same" padding, no adaptive norm)."""
    if c.get("padding", "same") != "same" or c.get("adanorm_num_embeddings"):
        raise ValueError(f"TaDiCodec vocoder config {c}: only padding 'same' without adaptive norm is supported")
    return Vocos(c["input_channels"], c["dim"], c["intermediate_dim"], c["num_layers"], c["n_fft"], c["hop_size"])


def load_folder(folder: Path) -> tuple[TaDiCodecModel, Vocos | None, Any]:
    """The model of a hub-like folder (config.json + model.safetensors), its weights loaded strictly, and when
    the folder has them the vocoder (``vocoder/*.safetensors``) and text tokenizer (``text_tokenizer/``)."""
    from safetensors.torch import load_file

    config, preprocess = read_config(folder)
    with torch.device("meta"):  # no random initialisation of weights that the file replaces
        model = TaDiCodecModel(config, preprocess)
        vocoder = build_vocoder(config["vocos"])
    model.load_state_dict(load_file(folder / "model.safetensors"), strict=True, assign=True)
    shards = sorted((folder / "vocoder").glob("*.safetensors"))
    if shards:
        state = {k: v for f in shards for k, v in load_file(f).items()}
        # The iSTFT window is a computed buffer; a file saved without it is given the module's own.
        state.setdefault("head.istft.window", torch.hann_window(config["vocos"]["n_fft"]))
        vocoder.load_state_dict(state, strict=True, assign=True)
    text = folder / "text_tokenizer"
    return model, vocoder if shards else None, load_text_tokenizer(text) if text.is_dir() else None


def load_text_tokenizer(folder: str | Path) -> Any:
    """The transcript's tokenizer (``tokenizer.json`` of the hub's ``text_tokenizer/``, a ``tokenizers`` file)."""
    return require("tokenizers", "neural").Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))


class TaDiCodecTokenizer(HFTokenizer):
    """TaDiCodec: 24 kHz, one 16384-entry BSQ codebook at 6.25 Hz (87.5 bps); decodes to 24 kHz given the
    transcript.

    ``checkpoint`` is the hub repo (amphion/TaDiCodec) or a folder with its config.json, model.safetensors,
    vocoder/ and text_tokenizer/. ``config=`` builds a random model (e.g. :data:`PUBLISHED_CONFIG`; a ``"vocos"``
    entry sizes the vocoder, :data:`VOCOS` by default), decoding only with a ``text_tokenizer`` folder.
    ``steps``, ``cfg`` and ``rescale`` are the flow-matching steps and guidance (the authors' pipeline defaults).
    """

    supports_half = False
    requires = "safetensors"  # the hub files; decoding also needs tokenizers (both in dasb[neural])
    FILES = ("config.json", "model.safetensors", "vocoder/*", "text_tokenizer/*")

    def __init__(self, name: str, steps: int = 32, cfg: float = 2.0, rescale: float = 0.75,
                 text_tokenizer: str | None = None, **kwargs: Any) -> None:
        self.steps, self.cfg, self.rescale = steps, cfg, rescale
        self.vocoder: Vocos | None = None
        self.text = load_text_tokenizer(text_tokenizer) if text_tokenizer else None
        super().__init__(name, **kwargs)

    @classmethod
    def weight_sources(cls, checkpoint, revision, params) -> list[Source]:
        return hub_or_folder(checkpoint, revision, patterns=cls.FILES)

    def _from_config(self, config: dict[str, Any]) -> nn.Module:
        self.vocoder = build_vocoder(config.get("vocos", VOCOS)).eval()
        return TaDiCodecModel(config)

    def _load(self, checkpoint: str, revision: str | None) -> nn.Module:
        folder, self.resolved_revision = fetch_folder(checkpoint, revision, list(self.FILES))
        model, self.vocoder, text = load_folder(Path(folder))
        self.text = self.text or text
        return model

    def to(self, device: str) -> "TaDiCodecTokenizer":
        super().to(device)
        if self.vocoder is not None:
            self.vocoder.to(device)
        return self

    @property
    def hop(self) -> int:
        """Input samples per code: mel hop x the encoder's down-sampling."""
        return self.model.preprocess["hop_size"] * self.model.config["down_sample_factor"]

    def build_info(self, name: str, checkpoint: str | None, revision: str | None) -> TokenizerInfo:
        p = self.model.preprocess
        decodes = self.vocoder is not None and self.text is not None
        return TokenizerInfo(
            name=name, sample_rate=p["sample_rate"], num_codebooks=1, codebook_size=2 ** self.model.config["vq_emb_dim"],
            frame_rate=p["sample_rate"] / self.hop, kind="semantic", causal=False, decodes=decodes,
            decode_inputs=("transcript",) if decodes else (), checkpoint=checkpoint, revision=revision,
            extras={"steps": self.steps, "cfg": self.cfg, "rescale": self.rescale, "prompt": "none"},
        )

    def _encode(self, audio):
        # N samples give N // hop mel frames and N // (8 hop) codes; reflect padding needs more than 720 samples.
        if audio.shape[-1] < self.hop:
            return torch.zeros(audio.shape[0], 1, 0, dtype=torch.int64, device=audio.device), {}
        return self.model(self.model.mel(audio[:, 0]))[:, None], {}

    def _decode(self, codes, side):
        """Each item on its own: its transcript's tokens (as the authors: no special tokens) differ in length."""
        if "transcript" not in side:
            raise ValueError(f"tokenizer {self.info.name!r} decodes conditioned on the transcript (a decode input)")
        out = []
        for i, text in enumerate(side["transcript"]):
            ids = torch.tensor([self.text.encode(text, add_special_tokens=False).ids], device=codes.device)
            mel = self.model.generate(codes[i : i + 1, 0], ids, self.steps, self.cfg, self.rescale)
            out.append(self.vocoder(mel.transpose(1, 2)))
        return torch.cat(out)[:, None]
