"""Codecs from their authors' own PyPI packages (not in ``transformers``).

- SNAC (``snac``): multi-scale RVQ whose levels run at different rates.
- SpeechTokenizer (``speechtokenizer``): RVQ whose first level is distilled from HuBERT.
- CosyVoice S3 tokenizers (``s3tokenizer``): encode-only supervised semantic tokens.

Each package sits behind its own dasb extra; none of them replaces our torch.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from dasb.tokenizers.base import TokenizerInfo
from dasb.tokenizers.hf_base import HFTokenizer, WeightsUnavailable, fetch_files, find_local, require
from dasb.weights.catalog import LocalFiles, Source, hub_or_folder


class SnacTokenizer(HFTokenizer):
    """SNAC (Siuzdak et al., 2024): level ``k`` emits one code every ``vq_strides[k]`` fine frames.

    Layout: one token frame per coarsest-level step; its ``K = sum(s0 / s_k)``
    codebook slots hold level 0's code, then level 1's ``s0/s1`` codes, and so on
    (the 7-slot layout for 3 levels), so ``frame_rate x K x 12 bits`` is the
    true bitrate. SNAC pads audio to whole attention windows (up to 32 fine
    frames); tokens beyond the input are dropped and the decoder re-pads with
    the codes the model gives silence.
    """

    requires = "snac"
    extra = "snac"

    def _from_config(self, config: dict[str, Any]) -> torch.nn.Module:
        return require("snac", self.extra).SNAC(**config)

    def _load(self, checkpoint: str, revision: str | None) -> torch.nn.Module:
        (cfg, weights), self.resolved_revision = fetch_files(checkpoint, revision, ["config.json", "pytorch_model.bin"])
        model = self._from_config(json.loads(Path(cfg).read_text(encoding="utf-8")))
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return model

    def build_info(self, name, checkpoint, revision) -> TokenizerInfo:
        m = self.model
        s0 = m.vq_strides[0]
        self.slots = [s0 // s for s in m.vq_strides]
        return TokenizerInfo(
            name=name, sample_rate=m.sampling_rate, num_codebooks=sum(self.slots), codebook_size=m.codebook_size,
            frame_rate=m.sampling_rate / (int(m.hop_length) * s0), kind="acoustic", causal=False,
            checkpoint=checkpoint, revision=revision,
            extras={"level_rates_hz": [m.sampling_rate / (int(m.hop_length) * s) for s in m.vq_strides]},
        )

    def _encode(self, audio):
        n = audio.shape[-1]
        frames = math.ceil(n / self.info.samples_per_frame)
        levels = self.model.encode(audio[:, :1])
        parts = [c[:, : frames * k].reshape(c.shape[0], frames, k) for c, k in zip(levels, self.slots)]
        return torch.cat(parts, -1).transpose(1, 2), {}

    def _silence(self, frames: int, device) -> torch.Tensor:
        x = torch.zeros(1, 1, int(frames * self.info.samples_per_frame), device=device, dtype=self.dtype)
        return self._encode(x)[0][0]

    def _decode(self, codes, side):
        b, _, t = codes.shape
        window = math.lcm(self.model.vq_strides[0], self.model.attn_window_size or 1) // self.model.vq_strides[0]
        pad = -t % window
        if pad:
            codes = torch.cat([codes, self._silence(t + pad, codes.device)[None, :, t:].expand(b, -1, -1)], -1)
        levels, start = [], 0
        for k in self.slots:
            levels.append(codes[:, start : start + k].transpose(1, 2).reshape(b, -1))
            start += k
        return self.model.decode(levels)

    def codebook_embeddings(self) -> list[torch.Tensor]:
        tables = [q.codebook.weight.detach().float().cpu() for q in self.model.quantizer.quantizers]
        return [t for t, k in zip(tables, self.slots) for _ in range(k)]


class SpeechTokenizerTokenizer(HFTokenizer):
    """SpeechTokenizer (Zhang et al., 2024): 8-level RVQ at 50 Hz, level 1 distilled from HuBERT.

    ``n_q`` picks the number of levels (default: all). The released checkpoint
    is a config file plus a ``.pt`` state dict inside the hub repo.
    """

    requires = "speechtokenizer"
    extra = "speechtokenizer"

    FILES = ("speechtokenizer_hubert_avg/config.json", "speechtokenizer_hubert_avg/SpeechTokenizer.pt")

    def __init__(self, name: str, n_q: int | None = None, files: tuple[str, str] = FILES, **kwargs) -> None:
        self.n_q = n_q
        self.files = list(files)
        super().__init__(name, **kwargs)

    @classmethod
    def weight_sources(cls, checkpoint, revision, params) -> list[Source]:
        return hub_or_folder(checkpoint, revision, probe=params.get("files", cls.FILES)[0])

    @classmethod
    def missing_weights(cls, checkpoint, revision, params) -> str | None:
        if checkpoint is None or find_local(checkpoint, revision, probe=params.get("files", cls.FILES)[0]) is not None:
            return None
        return f"weights missing: huggingface-cli download {checkpoint} --revision {revision or 'main'}"

    def _from_config(self, config: dict[str, Any]) -> torch.nn.Module:
        model = _speechtokenizer_class()(config)
        model.config = dict(config)
        return model

    def _load(self, checkpoint: str, revision: str | None) -> torch.nn.Module:
        (cfg, weights), self.resolved_revision = fetch_files(checkpoint, revision, self.files)
        model = self._from_config(json.loads(Path(cfg).read_text(encoding="utf-8")))
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return model

    def build_info(self, name, checkpoint, revision) -> TokenizerInfo:
        c = self.model.config
        k = self.n_q or c["n_q"]
        if not 1 <= k <= c["n_q"]:
            raise ValueError(f"tokenizer {name!r}: n_q {k} outside 1..{c['n_q']}")
        return TokenizerInfo(
            name=name, sample_rate=c["sample_rate"], num_codebooks=k, codebook_size=c["codebook_size"],
            frame_rate=c["sample_rate"] / math.prod(c["strides"]), kind="hybrid", causal=False,
            checkpoint=checkpoint, revision=revision, residual=True,
        )

    def _encode(self, audio):
        hop = math.prod(self.model.config["strides"])
        audio = F.pad(audio[:, :1], (0, -audio.shape[-1] % hop))  # whole hops: keep the last partial frame
        return self.model.encode(audio, n_q=self.info.num_codebooks).transpose(0, 1), {}

    def _decode(self, codes, side):
        return self.model.decode(codes.transpose(0, 1))

    def codebook_embeddings(self) -> list[torch.Tensor]:
        layers = self.model.quantizer.vq.layers[: self.info.num_codebooks]
        return [layer._codebook.embed.detach().float().cpu() for layer in layers]


def _speechtokenizer_class() -> type:
    """SpeechTokenizer's model class, imported without the package ``__init__``.

    That ``__init__`` also imports the package's trainer, whose imports
    (beartype, tensorboard, ...) are training-only and partly undeclared.
    """
    import importlib
    import importlib.util
    import sys
    import types

    if "speechtokenizer" not in sys.modules:
        spec = importlib.util.find_spec("speechtokenizer")
        if spec is None:
            raise ImportError("speechtokenizer is not installed: pip install 'dasb[speechtokenizer]'")
        package = types.ModuleType("speechtokenizer")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        sys.modules["speechtokenizer"] = package
    return importlib.import_module("speechtokenizer.model").SpeechTokenizer


class S3Tokenizer(HFTokenizer):
    """CosyVoice supervised semantic speech tokenizers (``s3tokenizer``), encode-only.

    ``model_name`` is one of the package's names (``speech_tokenizer_v1``,
    ``speech_tokenizer_v1_25hz``, ``speech_tokenizer_v2_25hz``). Their weights
    are ONNX files on ModelScope, not the HF hub: ``checkpoint`` is the folder
    holding ``<model_name>.onnx``.
    """

    requires = "s3tokenizer"
    extra = "s3tokenizer"
    RATES = {"speech_tokenizer_v1": 50.0, "speech_tokenizer_v1_25hz": 25.0, "speech_tokenizer_v2_25hz": 25.0}

    def __init__(self, name: str, model_name: str, **kwargs) -> None:
        if model_name not in self.RATES:
            raise ValueError(f"tokenizer {name!r}: model_name must be one of {sorted(self.RATES)}")
        self.model_name = model_name
        super().__init__(name, **kwargs)

    @classmethod
    def weight_sources(cls, checkpoint, revision, params) -> list[Source]:
        name = f"{params.get('model_name')}.onnx"
        return [LocalFiles(checkpoint or ".", (name,), "download it from the URL in s3tokenizer._MODELS (ModelScope)")]

    @classmethod
    def missing_weights(cls, checkpoint, revision, params) -> str | None:
        onnx = Path(checkpoint or ".").expanduser() / f"{params.get('model_name')}.onnx"
        return None if onnx.is_file() else f"weights missing: put {onnx.name} (URL in s3tokenizer._MODELS) in {onnx.parent}"

    def _from_config(self, config: Any) -> torch.nn.Module:
        s3 = require("s3tokenizer", self.extra)
        cls = s3.S3TokenizerV2 if "v2" in self.model_name else s3.S3Tokenizer
        return cls(self.model_name, config)

    def _load(self, checkpoint: str, revision: str | None) -> torch.nn.Module:
        folder = Path(checkpoint).expanduser()
        if not (folder / f"{self.model_name}.onnx").is_file():
            raise WeightsUnavailable(
                f"{self.model_name}.onnx not found in {folder}: download it from the URL in s3tokenizer._MODELS "
                f"(ModelScope) into that folder, or set the card's checkpoint to the folder holding it")
        self.resolved_revision = f"local folder {folder}"
        return require("s3tokenizer", self.extra).load_model(self.model_name, download_root=str(folder))

    def build_info(self, name, checkpoint, revision) -> TokenizerInfo:
        return TokenizerInfo(
            name=name, sample_rate=16000, num_codebooks=1, codebook_size=self.model.config.n_codebook_size,
            frame_rate=self.RATES[self.model_name], kind="semantic", causal=False, decodes=False,
            checkpoint=checkpoint, revision=revision,
        )

    def _encode(self, audio):
        s3 = require("s3tokenizer", self.extra)
        mels = [s3.log_mel_spectrogram(a[0].float(), n_mels=self.model.config.n_mels) for a in audio]
        mel, mel_len = s3.padding(mels)
        codes, code_len = self.model.quantize(mel.to(self.device), mel_len.to(self.device))
        frames = math.ceil(audio.shape[-1] / self.info.samples_per_frame)
        return codes[:, None, :frames], {}

