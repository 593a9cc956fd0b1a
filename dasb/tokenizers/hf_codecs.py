"""Acoustic and semantic-acoustic codecs shipped in ``transformers``.

One small class per family; loading, batching and length handling live in
:mod:`dasb.tokenizers.hf_base`. Rates, codebook sizes and counts come from the
model config; the card fixes what the library would otherwise default
(EnCodec's bandwidth, Mimi's codebook count, X-Codec's bandwidth).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dasb.tokenizers.base import TokenizerInfo
from dasb.tokenizers.hf_base import HFTokenizer, is_commit, locate, require


def euclidean_codebooks(model: torch.nn.Module) -> list[torch.Tensor]:
    """The ``[size, dim]`` tables of every Euclidean (k-means style) codebook, in quantizer order."""
    return [m.embed.detach().float().cpu() for m in model.modules() if type(m).__name__.endswith("EuclideanCodebook")]


def _quantizers_for(bandwidth: float, allowed: list[float], frame_rate: float, size: int, name: str) -> int:
    """Residual codebooks used at ``bandwidth`` kbps (the libraries' own rule: floor(bw / (rate x bits)))."""
    if not any(math.isclose(bandwidth, b) for b in allowed):
        raise ValueError(f"tokenizer {name!r}: bandwidth {bandwidth} kbps is not one of the model's {allowed}")
    return max(1, int(math.floor(bandwidth * 1000 / (frame_rate * math.log2(size)) + 1e-9)))


class EncodecTokenizer(HFTokenizer):
    """EnCodec (Défossez et al., 2022) at a fixed target ``bandwidth`` (kbps).

    Utterances are encoded whole. For the 48 kHz model (trained on 1 s chunks
    with loudness normalisation) this gives one loudness scale per utterance,
    carried as side information ``scale`` (16 bits per utterance, not counted in
    the nominal rate), instead of one per overlapping chunk.
    """

    model_class = "EncodecModel"

    def __init__(self, name: str, bandwidth: float, **kwargs) -> None:
        self.bandwidth = float(bandwidth)  # kbps
        super().__init__(name, **kwargs)
        self.model.config.chunk_length_s = None  # whole-utterance encoding (see class docstring)

    def build_info(self, name, checkpoint, revision) -> TokenizerInfo:
        c = self.model.config
        rate = c.sampling_rate / c.hop_length
        k = _quantizers_for(self.bandwidth, list(c.target_bandwidths), math.ceil(rate), c.codebook_size, name)
        return TokenizerInfo(
            name=name, sample_rate=c.sampling_rate, num_codebooks=k, codebook_size=c.codebook_size,
            frame_rate=rate, kind="acoustic", causal=bool(c.use_causal_conv), channels=c.audio_channels,
            checkpoint=checkpoint, revision=revision, residual=True, extras={"bandwidth_kbps": self.bandwidth},
        )

    def _encode(self, audio):
        out = self.model.encode(audio, bandwidth=self.bandwidth)
        scale = out.audio_scales[0]
        return out.audio_codes[0], ({} if scale is None else {"scale": scale})

    def _decode(self, codes, side):
        return self.model.decode(codes[None], [side.get("scale")]).audio_values

    def codebook_embeddings(self) -> list[torch.Tensor]:
        return euclidean_codebooks(self.model)[: self.info.num_codebooks]


class DacTokenizer(HFTokenizer):
    """Descript Audio Codec (Kumar et al., 2023); ``n_quantizers`` defaults to all codebooks.

    Input is right-padded to a whole number of hops, as DAC's own ``preprocess``
    does: HF's DAC floors the frame count, which would drop the last partial
    frame, and its decoder returns exactly ``frames x hop`` samples.
    """

    model_class = "DacModel"

    def __init__(self, name: str, n_quantizers: int | None = None, **kwargs) -> None:
        self.n_quantizers = n_quantizers
        super().__init__(name, **kwargs)

    def build_info(self, name, checkpoint, revision) -> TokenizerInfo:
        c = self.model.config
        k = self.n_quantizers or c.n_codebooks
        if not 1 <= k <= c.n_codebooks:
            raise ValueError(f"tokenizer {name!r}: n_quantizers {k} outside 1..{c.n_codebooks}")
        return TokenizerInfo(
            name=name, sample_rate=c.sampling_rate, num_codebooks=k, codebook_size=c.codebook_size,
            frame_rate=c.sampling_rate / c.hop_length, kind="acoustic", causal=False,
            checkpoint=checkpoint, revision=revision, residual=True,
        )

    def _encode(self, audio):
        hop = self.model.config.hop_length
        audio = F.pad(audio, (0, -audio.shape[-1] % hop))
        codes = self.model.encode(audio, n_quantizers=self.info.num_codebooks).audio_codes
        return codes[:, : self.info.num_codebooks], {}

    def _decode(self, codes, side):
        return self.model.decode(audio_codes=codes).audio_values.unsqueeze(1)

    def codebook_embeddings(self) -> list[torch.Tensor]:
        return [q.codebook.weight.detach().float().cpu() for q in self.model.quantizer.quantizers[: self.info.num_codebooks]]


class MimiTokenizer(HFTokenizer):
    """Mimi (Kyutai, Moshi paper 2024); the card must set ``num_quantizers`` (the library default is all 32)."""

    model_class = "MimiModel"

    def __init__(self, name: str, num_quantizers: int, **kwargs) -> None:
        self.num_quantizers = int(num_quantizers)
        super().__init__(name, **kwargs)

    def build_info(self, name, checkpoint, revision) -> TokenizerInfo:
        c = self.model.config
        if not 1 <= self.num_quantizers <= c.num_quantizers:
            raise ValueError(f"tokenizer {name!r}: num_quantizers {self.num_quantizers} outside 1..{c.num_quantizers}")
        return TokenizerInfo(
            name=name, sample_rate=c.sampling_rate, num_codebooks=self.num_quantizers, codebook_size=c.codebook_size,
            frame_rate=float(c.frame_rate), kind="hybrid", causal=True, checkpoint=checkpoint, revision=revision,
            residual=True,  # a semantic level, then acoustic residual levels
        )

    def _encode(self, audio):
        return self.model.encode(audio, num_quantizers=self.num_quantizers).audio_codes, {}

    def _decode(self, codes, side):
        return self.model.decode(codes).audio_values

    def codebook_embeddings(self) -> list[torch.Tensor]:
        return euclidean_codebooks(self.model)[: self.num_quantizers]


class WavTokenizerTokenizer(HFTokenizer):
    """WavTokenizer (Ji et al., 2024): one 4096-entry codebook, Vocos-style iSTFT decoder."""

    model_class = "WavTokenizerModel"

    def build_info(self, name, checkpoint, revision) -> TokenizerInfo:
        c = self.model.config
        return TokenizerInfo(
            name=name, sample_rate=c.sampling_rate, num_codebooks=1, codebook_size=c.codebook_size,
            frame_rate=c.sampling_rate / c.hop_length, kind="acoustic", causal=False,
            checkpoint=checkpoint, revision=revision,
        )

    def _encode(self, audio):
        return self.model.encode(audio).audio_codes.reshape(audio.shape[0], 1, -1), {}

    def _decode(self, codes, side):
        return self.model.decode(codes).audio_values.reshape(codes.shape[0], 1, -1)

    def codebook_embeddings(self) -> list[torch.Tensor]:
        return euclidean_codebooks(self.model)


class XcodecTokenizer(HFTokenizer):
    """X-Codec (Ye et al., 2024): RVQ over acoustic (DAC-style) plus HuBERT semantic features.

    ``bandwidth`` (kbps) picks the number of residual codebooks; the library
    default is the highest.
    """

    model_class = "XcodecModel"

    def __init__(self, name: str, bandwidth: float, **kwargs) -> None:
        self.bandwidth = float(bandwidth)  # kbps
        super().__init__(name, **kwargs)

    def build_info(self, name, checkpoint, revision) -> TokenizerInfo:
        c = self.model.config
        rate = c.sample_rate / c.hop_length
        k = _quantizers_for(self.bandwidth, [float(b) for b in c.target_bandwidths], math.ceil(rate), c.codebook_size, name)
        return TokenizerInfo(
            name=name, sample_rate=c.sample_rate, num_codebooks=k, codebook_size=c.codebook_size, frame_rate=rate,
            kind="hybrid", causal=False, checkpoint=checkpoint, revision=revision, residual=True,
            extras={"bandwidth_kbps": self.bandwidth},
        )

    def _encode(self, audio):
        bw = next(b for b in self.model.config.target_bandwidths if math.isclose(b, self.bandwidth))
        return self.model.encode(audio, bandwidth=bw).audio_codes, {}

    def _decode(self, codes, side):
        return self.model.decode(codes).audio_values

    def codebook_embeddings(self) -> list[torch.Tensor]:
        return euclidean_codebooks(self.model)[: self.info.num_codebooks]


class HiggsAudioV2Tokenizer(XcodecTokenizer):
    """Higgs Audio v2 tokenizer (Boson AI, 2025): X-Codec architecture at 24 kHz."""

    model_class = "HiggsAudioV2TokenizerModel"


class Xcodec2Tokenizer(HFTokenizer):
    """X-Codec 2.0 (Ye et al., 2025): one FSQ codebook over w2v-BERT 2.0 semantic plus acoustic features.

    The semantic branch takes log-mel features from the library's feature
    extractor (loaded from the checkpoint when there is one).
    """

    model_class = "Xcodec2Model"
    extractor_class = "Xcodec2FeatureExtractor"

    def __init__(self, name: str, checkpoint: str | None = None, revision: str | None = None, **kwargs) -> None:
        super().__init__(name, checkpoint=checkpoint, revision=revision, **kwargs)
        cls = getattr(require("transformers", self.extra), self.extractor_class)
        if checkpoint is not None and kwargs.get("model") is None and kwargs.get("config") is None:
            # The model's commit, so that the extractor comes from the same snapshot as the weights.
            rev = self.resolved_revision if is_commit(self.resolved_revision) else revision
            where, kw = locate(checkpoint, rev, probe="preprocessor_config.json")
            self.extractor = cls.from_pretrained(where, **kw)
        else:
            self.extractor = cls()

    def build_info(self, name, checkpoint, revision) -> TokenizerInfo:
        c = self.model.config
        return TokenizerInfo(
            name=name, sample_rate=c.sampling_rate, num_codebooks=1, codebook_size=math.prod(c.quantization_levels),
            frame_rate=c.sampling_rate / c.hop_length, kind="hybrid", causal=False,
            checkpoint=checkpoint, revision=revision,
        )

    def _features(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.extractor([a[0].float().cpu().numpy() for a in audio], sampling_rate=self.extractor.sampling_rate, return_tensors="pt")
        return {k: v.to(self.device) for k, v in feats.items() if k in ("input_values", "input_features")}

    def _encode(self, audio):
        features = self._features(audio)
        codes = self.model.encode(**features).audio_codes
        # The extractor pads to whole hops (plus the semantic branch's own framing); keep the frames that cover the input.
        frames = math.ceil(audio.shape[-1] / (self.info.samples_per_frame))
        return codes[..., :frames].reshape(audio.shape[0], 1, -1), {}

    def _decode(self, codes, side):
        return self.model.decode(audio_codes=codes).audio_values.reshape(codes.shape[0], 1, -1)


class NeuCodecTokenizer(Xcodec2Tokenizer):
    """NeuCodec (Neuphonic, 2025): X-Codec 2.0 style FSQ encoder at 16 kHz, 24 kHz decoder.

    ``sample_rate`` in the info is the encoder's input rate; decoded audio is
    resampled from the decoder's rate to it by :func:`dasb.audio.resample`.
    """

    model_class = "NeuCodecModel"
    extractor_class = "NeuCodecFeatureExtractor"

    def build_info(self, name, checkpoint, revision) -> TokenizerInfo:
        c = self.model.config
        rate = c.output_sampling_rate / c.hop_length
        return TokenizerInfo(
            name=name, sample_rate=c.input_sampling_rate, num_codebooks=1, codebook_size=math.prod(c.quantization_levels),
            frame_rate=rate, kind="hybrid", causal=False, checkpoint=checkpoint, revision=revision,
            extras={"decoder_sample_rate": c.output_sampling_rate},
        )

    def _decode(self, codes, side):
        from dasb.audio import resample

        c = self.model.config
        wav = self.model.decode(audio_codes=codes).audio_values.reshape(codes.shape[0], -1).float().cpu().numpy()
        return torch.from_numpy(resample(wav, c.output_sampling_rate, c.input_sampling_rate)).unsqueeze(1)
