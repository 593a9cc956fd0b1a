"""Encode and decode real-time factor of dasb's neural tokenizers at full size, on this CPU.

Each neural family's released checkpoint is rebuilt at FULL SIZE with random weights (nothing
is downloaded) and run through its dasb adapter. RTF = seconds of compute per second of audio
(< 1 is faster than real time). The numbers are compute-only: the cost of a pass does not
depend on the weight values; the codes and audio produced are meaningless. Sizes come from
transformers' config defaults where they are the release, else from the release's own config
or the library's conversion script; ``notes`` names the source and flags unverified sizes.

Protocol: ``--seconds`` (4) of speech-like audio at the model's native rate, batch of 1,
2 threads, inference mode, one warm-up, then the median of 3 passes of ``adapter.encode``
and of ``adapter.decode``.

    .venv/bin/python scripts/neural_rtf.py [--only dac-16khz,mimi-8q] [--seconds 4]
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from dasb.testing import randomise_codebooks, speech_like_signal  # noqa: E402
from dasb.tokenizers.base import AudioTokenizer  # noqa: E402

Builder = Callable[[str], AudioTokenizer]


def adapter(module: str, cls: str, config: Callable[[], Any], **params: Any) -> Builder:
    """``dasb.tokenizers.<module>.<cls>(name, config=config(), **params)``, imported when built."""
    def build(name: str) -> AudioTokenizer:
        return getattr(importlib.import_module(f"dasb.tokenizers.{module}"), cls)(name, config=config(), **params)
    return build


def hf(cls: str, config_class: str, config: dict[str, Any] | None = None, **params: Any) -> Builder:
    """An adapter on ``transformers.<config_class>(**config)``."""
    def config_of() -> Any:
        return getattr(importlib.import_module("transformers"), config_class)(**(config or {}))
    return adapter("hf_codecs", cls, config_of, **params)


def snac(sr: int, dim: int, rates: list[int], dec: int, window: int | None, strides: list[int]) -> Builder:
    """A SNAC release's config.json (its decoder rates mirror the encoder's)."""
    return adapter("pypi_codecs", "SnacTokenizer", lambda: dict(
        sampling_rate=sr, encoder_dim=dim, encoder_rates=rates, decoder_dim=dec, decoder_rates=rates[::-1],
        attn_window_size=window, codebook_size=4096, codebook_dim=8, vq_strides=strides))


def s3(module: str, model_name: str) -> Builder:
    """s3tokenizer's ModelConfig() defaults: the dims its load_model() fills from the released ONNX files."""
    return adapter("pypi_codecs", "S3Tokenizer", lambda: importlib.import_module(f"s3tokenizer.{module}").ModelConfig(),
                   model_name=model_name)


def dasb_wavlm_large(name: str) -> AudioTokenizer:
    """DASB's discrete SSL: WavLM-large, random k=1000 codebooks at 6 layers, SpeechBrain's unit HiFi-GAN."""
    import transformers
    from safetensors.torch import save_file
    from speechbrain.lobes.models.HifiGAN import UnitHifiganGenerator

    from dasb.tokenizers.ssl_kmeans import SSLKMeansTokenizer
    from dasb.tokenizers.unit_vocoder import UnitVocoder

    layers = [1, 3, 7, 12, 18, 23]
    model = transformers.AutoModel.from_config(transformers.WavLMConfig(
        hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
        feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True))
    gen = UnitHifiganGenerator(
        in_channels=128, out_channels=1, resblock_type="1", resblock_dilation_sizes=[[1, 3, 5]] * 3,
        resblock_kernel_sizes=[3, 7, 11], upsample_kernel_sizes=[11, 8, 8, 4, 4], upsample_initial_channel=512,
        upsample_factors=[5, 4, 4, 2, 2], vocab_size=6001, embedding_dim=128, attn_dim=128)
    gen.remove_weight_norm()  # as SpeechBrain does before inference
    with tempfile.TemporaryDirectory() as km:  # the adapter reads the centroids when it is built
        save_file({f"layer_{x}": torch.randn(1000, 1024) for x in layers}, f"{km}/kmeans.safetensors")
        Path(km, "kmeans.json").write_text(json.dumps({"model": "random", "layers": layers, "normalize": True}))
        return SSLKMeansTokenizer(name, kmeans=km, model=model, unit_vocoder=UnitVocoder(gen, layers, 1000))


_ENC48 = dict(upsampling_ratios=[8, 5, 4, 2], target_bandwidths=[3.0, 6.0, 12.0, 24.0], sampling_rate=48000,
              audio_channels=2, use_causal_conv=False, norm_type="time_group_norm", normalize=True,
              chunk_length_s=1.0, overlap=0.01)
_HIGGS = dict(acoustic_model_config=dict(encoder_hidden_size=64, downsampling_ratios=[8, 5, 4, 2, 3],
                                         decoder_hidden_size=1024, upsampling_ratios=[8, 5, 4, 2, 3], hidden_size=256))
_ST = dict(n_filters=64, strides=[8, 5, 4, 2], dimension=1024, semantic_dimension=768, bidirectional=True,
           dilation_base=2, residual_kernel_size=3, n_residual_layers=1, lstm_layers=2, activation="ELU",
           sample_rate=16000, codebook_size=1024, n_q=8)


def dac(sr: int, rates: list[int], codebooks: int) -> dict[str, Any]:  # DAC conf/final/<rate>.yml
    return dict(sampling_rate=sr, downsampling_ratios=rates, n_codebooks=codebooks, encoder_hidden_size=64,
                decoder_hidden_size=1536, codebook_size=1024, codebook_dim=8)


def _published(module: str) -> dict[str, Any]:
    """The released config of a dasb port (``PUBLISHED_CONFIG`` of ``dasb.tokenizers.<module>``)."""
    return importlib.import_module(f"dasb.tokenizers.{module}").PUBLISHED_CONFIG


S3_NOTE = "package ModelConfig() (load_model fills it from the ONNX release); encode-only"
# card name -> (builder, notes: where the full size comes from; caveats)
CONFIGS: dict[str, tuple[Builder, str]] = {
    "encodec-24khz-6kbps": (hf("EncodecTokenizer", "EncodecConfig", bandwidth=6.0),
                            "EncodecConfig() = facebook/encodec_24khz"),
    "encodec-48khz-6kbps": (hf("EncodecTokenizer", "EncodecConfig", _ENC48, bandwidth=6.0),
                            "stereo; 48 kHz overrides of transformers' conversion script; whole-utterance encoding"),
    "dac-16khz": (hf("DacTokenizer", "DacConfig", dac(16000, [2, 4, 5, 8], 12)), "DAC conf/final/16khz.yml"),
    "dac-24khz-8q": (hf("DacTokenizer", "DacConfig", dac(24000, [2, 4, 5, 8], 32), n_quantizers=8),
                     "DAC conf/final/24khz.yml; first 8 of 32 codebooks (DASB)"),
    "dac-44khz": (hf("DacTokenizer", "DacConfig", dac(44100, [2, 4, 8, 8], 9)), "DAC conf/final/44khz.yml"),
    "mimi-8q": (hf("MimiTokenizer", "MimiConfig", num_quantizers=8), "MimiConfig() = kyutai/mimi"),
    "wavtokenizer-large-40": (hf("WavTokenizerTokenizer", "WavTokenizerConfig"),
                              "WavTokenizerConfig() = swiss-ai/wavtokenizer-large-unify-40token"),
    "xcodec-hubert-ls-4kbps": (hf("XcodecTokenizer", "XcodecConfig", bandwidth=4.0),
                               "XcodecConfig() = X-Codec config_hubert.yaml (HuBERT-base semantic branch)"),
    "higgs-audio-v2-tokenizer": (hf("HiggsAudioV2Tokenizer", "HiggsAudioV2TokenizerConfig", _HIGGS, bandwidth=2.0),
                                 "config of transformers' conversion script (DAC hop 960, HuBERT-base)"),
    "xcodec2": (hf("Xcodec2Tokenizer", "Xcodec2Config"),
                "Xcodec2Config() = HKUSTAudio/xcodec2-hf (w2v-BERT 2.0, 16 layers)"),
    "neucodec": (hf("NeuCodecTokenizer", "NeuCodecConfig"),
                 "NeuCodecConfig() = neuphonic/neucodec; decode includes 24 -> 16 kHz resampling"),
    "snac-24khz": (snac(24000, 48, [2, 4, 8, 8], 1024, None, [4, 2, 1]), "no local attention; SNAC README: 19.8 M"),
    "snac-32khz": (snac(32000, 64, [2, 3, 8, 8], 1536, 32, [8, 4, 2, 1]), "SNAC README: 54.5 M"),
    "snac-44khz": (snac(44100, 64, [2, 3, 8, 8], 1536, 32, [8, 4, 2, 1]), "SNAC README: 54.5 M"),
    "speechtokenizer-8q": (adapter("pypi_codecs", "SpeechTokenizerTokenizer", lambda: _ST),
                           "speechtokenizer_hubert_avg/config.json fields"),
    "cosyvoice-s3-v1": (s3("model", "speech_tokenizer_v1"), S3_NOTE),
    "cosyvoice2-s3": (s3("model_v2", "speech_tokenizer_v2_25hz"), S3_NOTE),
    "glm-4-voice-tokenizer": (adapter("glm4voice", "GLM4VoiceTokenizer", lambda: _published("glm4voice")),
                              "THUDM/glm-4-voice-tokenizer config.json sizes; encode-only"),
    "bigcodec": (adapter("bigcodec", "BigCodecTokenizer", lambda: _published("bigcodec")),
                 "BigCodec config/model/default.yaml (= bigcodec.pt, 159.4 M)"),
    "beats-tokenizer-iter3plus-as2m": (adapter("beats", "BEATsTokenizer", lambda: _published("beats")),
                                       "BEATs encoder settings (files' cfg unread here, 91.6 M); encode-only"),
    "dasb-wavlm-large-k1000": (dasb_wavlm_large, "WavLM-large + 6 k-means (k=1000) + unit HiFi-GAN; vocoder size "
                               "unverified (in/embedding/attn 128 assumed; a SpeechBrain recipe version uses 1024)"),
}


def params_m(tok: AudioTokenizer) -> float:
    """Millions of parameters plus k-means codebook tables (buffers), the unit vocoder included."""
    mods = [tok.model] + ([tok.vocoder.generator] if getattr(tok, "vocoder", None) is not None else [])
    n = sum(p.numel() for m in mods for p in m.parameters())
    n += sum((c.embed_sum if hasattr(c, "embed_sum") else c.embed).numel()
             for m in mods for c in m.modules() if type(c).__name__.endswith("EuclideanCodebook"))
    return n / 1e6


def median_seconds(fn: Callable[[], object], passes: int = 3) -> float:
    def once() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    return statistics.median(once() for _ in range(passes))


def measure(tok: AudioTokenizer, seconds: float) -> tuple[float, float | None]:
    """(encode RTF, decode RTF or None when encode-only), each the median of 3 passes after one warm-up."""
    x = torch.from_numpy(speech_like_signal(seconds, tok.info.sample_rate, tok.info.channels))[None]
    n = torch.tensor([x.shape[-1]])
    with torch.inference_mode():
        tokens = tok.encode(x, n)  # warm-up
        enc = median_seconds(lambda: tok.encode(x, n)) / seconds
        if not tok.info.decodes:
            return enc, None
        tok.decode(tokens)  # warm-up
        return enc, median_seconds(lambda: tok.decode(tokens)) / seconds


def row(name: str, seconds: float) -> str:
    builder, note = CONFIGS[name]
    try:
        torch.manual_seed(0)
        tok = builder(name)
        randomise_codebooks(tok.model)
        enc, dec = measure(tok, seconds)
    except Exception as err:  # one failure is a row, not the end of the run
        msg = " ".join(f"{type(err).__name__}: {err}".split()).replace("|", "/")
        return f"| {name} | — | — | — | — | — | error: {msg[:300]} |"
    i, decoded = tok.info, "—" if dec is None else f"{dec:.3f}"
    return (f"| {name} | {params_m(tok):.1f} | {i.frame_rate:.4g} Hz | {i.num_codebooks} × {i.codebook_sizes[0]} "
            f"| {enc:.3f} | {decoded} | {note} |")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help=f"comma-separated names among: {', '.join(CONFIGS)}")
    ap.add_argument("--seconds", type=float, default=4.0, help="clip length in seconds (default 4)")
    args = ap.parse_args(argv)
    names = [x.strip() for x in args.only.split(",")] if args.only else list(CONFIGS)
    if unknown := [x for x in names if x not in CONFIGS]:
        ap.error(f"unknown configuration(s) {unknown}; known: {', '.join(CONFIGS)}")
    torch.set_num_threads(2)
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    cpu = next((x.split(":", 1)[1].strip() for x in info.splitlines() if x.startswith("model name")),
               platform.processor())
    print(f"Random weights, full-size architectures (compute only). {args.seconds:g} s clip, batch 1, 2 threads, "
          f"median of 3 after 1 warm-up; torch {torch.__version__}, {cpu}.\n")
    print("| configuration | parameters (M) | frame rate | codebooks | encode RTF | decode RTF | notes |")
    print("|---|---:|---:|---:|---:|---:|---|", flush=True)
    start, load0 = time.perf_counter(), load()
    for name in names:
        print(row(name, args.seconds), flush=True)
    print(f"\nTotal {time.perf_counter() - start:.0f} s; load average {load0} at the start, {load()} at the end "
          "(other processes on the machine slow the passes down).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
