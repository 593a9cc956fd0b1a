"""Lyra v2 (Google, 2022): the SoundStream-based speech codec, from its released TensorFlow Lite models.

Three models at 16 kHz, 50 frames per second: the SoundStream encoder maps each
20 ms frame (320 samples) to a 64-dim feature; the residual quantiser codes it with
up to 46 levels of 4 bits (the first ``num_quantizers`` are used: 16, 30 and 46 give
3.2, 6 and 9.2 kbps); LyraGAN decodes the dequantised feature to 320 samples.
Decoding fewer levels marks the unused quantiser rows -1, which the model skips, so
the codebooks are residual levels.

The models are streaming and keep internal state between calls that
``reset_all_variables`` does not clear (measured): every stream (one item's
encode, or its decode) gets a fresh interpreter set, built from the model bytes
in memory (about 1.5 ms), and feeds its frames in order. Items of a batch are
therefore run one after another. The last partial frame is zero-padded. The
models are causal and their output comes back aligned with the input (lag 0 on
real speech), so no delay is declared.

Weights: the three files of google/lyra at a pinned commit (``dasb.weights.LYRA_V2``),
checked by SHA-256 before use; fetched on first use where a network is available.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from dasb.tokenizers.base import AudioTokenizer, Tokens, TokenizerInfo
from dasb.tokenizers.hf_base import require
from dasb.weights import LYRA_V2, FileSet

SAMPLE_RATE = 16000
FRAME = 320  # samples per 20 ms frame
MAX_QUANTIZERS = 46
MODELS = ("soundstream_encoder.tflite", "quantizer.tflite", "lyragan.tflite")


class LyraTokenizer(AudioTokenizer):
    """Lyra v2 with ``num_quantizers`` residual levels of 16 codes (4 bits) at 50 Hz.

    ``checkpoint`` is an optional folder holding the three ``.tflite`` files (searched
    before ``$DASB_WEIGHTS/lyra-v2/`` and the dasb weights folder); ``revision``, when
    given, must be the pinned commit.
    """

    requires = "ai_edge_litert"
    extra = "lyra"

    def __init__(self, name: str, num_quantizers: int, checkpoint: str | None = None, revision: str | None = None) -> None:
        if not 1 <= num_quantizers <= MAX_QUANTIZERS:
            raise ValueError(f"tokenizer {name!r}: num_quantizers {num_quantizers} outside 1..{MAX_QUANTIZERS}")
        if revision is not None and revision != LYRA_V2.commit:
            raise ValueError(f"tokenizer {name!r}: Lyra weights are pinned to google/lyra commit {LYRA_V2.commit}, "
                             f"not {revision!r}")
        self._interpreter = require("ai_edge_litert.interpreter", self.extra).Interpreter
        folder = self.weights(checkpoint).path()  # verified by SHA-256; fetched when absent and possible
        self._models = {f: (folder / f).read_bytes() for f in MODELS}
        self.info = TokenizerInfo(
            name=name, sample_rate=SAMPLE_RATE, num_codebooks=num_quantizers, codebook_size=16,
            frame_rate=SAMPLE_RATE / FRAME, kind="acoustic", causal=True, residual=True,
            checkpoint=checkpoint, revision=LYRA_V2.commit,
            extras={"resolved_revision": f"github.com/{LYRA_V2.repo}@{LYRA_V2.commit}",
                    "weights": LYRA_V2.pinned_identity,
                    "batching": "streams run one after another (stateful streaming models)"},
        )

    @staticmethod
    def weights(checkpoint: str | None = None) -> FileSet:
        """The pinned Lyra file set, searching ``checkpoint`` first when it is a folder."""
        return replace(LYRA_V2, local=checkpoint)

    @classmethod
    def weight_sources(cls, checkpoint: str | None, revision: str | None, params: dict[str, Any]) -> list[FileSet]:
        return [cls.weights(checkpoint)]

    @classmethod
    def missing_weights(cls, checkpoint: str | None, revision: str | None, params: dict[str, Any]) -> str | None:
        return cls.weights(checkpoint).missing()

    def _runners(self, *signatures: tuple[str, str]) -> list[Any]:
        """Fresh signature runners (new interpreters, so no state from another stream)."""
        interpreters: dict[str, Any] = {}
        runners = []
        for model, signature in signatures:
            if model not in interpreters:
                interpreters[model] = self._interpreter(model_content=self._models[model], num_threads=1)
            runners.append(interpreters[model].get_signature_runner(signature))
        return runners

    def _encode_stream(self, x: np.ndarray) -> np.ndarray:
        """Codes ``[K, T]`` of one mono stream ``[N]``, frame by frame in order."""
        encoder, quantize = self._runners((MODELS[0], "serving_default"), (MODELS[1], "encode"))
        frames = max(1, math.ceil(len(x) / FRAME))
        x = np.pad(x.astype(np.float32), (0, frames * FRAME - len(x)))
        k = self.info.num_codebooks
        codes = np.empty((k, frames), dtype=np.int64)
        for t in range(frames):
            feature = encoder(input_audio=x[None, t * FRAME : (t + 1) * FRAME])["output_0"]
            rows = quantize(input_frames=feature, num_quantizers=np.array(k, dtype=np.int32))["output_0"]
            codes[:, t] = rows[:k, 0, 0]
        return codes

    def _decode_stream(self, codes: np.ndarray) -> np.ndarray:
        """Audio ``[T * 320]`` of one stream's codes ``[k, T]``; quantiser rows beyond ``k`` are -1 (unused)."""
        dequantize, decoder = self._runners((MODELS[1], "decode"), (MODELS[2], "serving_default"))
        rows = np.full((MAX_QUANTIZERS, 1, 1), -1, dtype=np.int32)
        out = np.empty(codes.shape[1] * FRAME, dtype=np.float32)
        for t in range(codes.shape[1]):
            rows[: codes.shape[0], 0, 0] = codes[:, t]
            feature = dequantize(encoding_indices=rows)["output_0"]
            out[t * FRAME : (t + 1) * FRAME] = decoder(input_audio=feature)["output_0"][0]
        return out

    def encode(self, audio: torch.Tensor, lengths: torch.Tensor) -> Tokens:
        streams = [self._encode_stream(audio[i, 0, : int(n)].cpu().numpy()) for i, n in enumerate(lengths.tolist())]
        t = max(c.shape[1] for c in streams)
        codes = torch.zeros(len(streams), self.info.num_codebooks, t, dtype=torch.int64)
        for i, c in enumerate(streams):
            codes[i, :, : c.shape[1]] = torch.from_numpy(c)
        return Tokens(codes, torch.tensor([c.shape[1] for c in streams], dtype=torch.int64))

    def decode(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        k = tokens.codes.shape[1]
        if not 1 <= k <= MAX_QUANTIZERS:
            raise ValueError(f"tokenizer {self.info.name!r}: {k} codebooks given, Lyra decodes 1..{MAX_QUANTIZERS}")
        lengths = tokens.lengths * FRAME
        out = torch.zeros(tokens.codes.shape[0], 1, int(lengths.max()))
        for i, n in enumerate(tokens.lengths.tolist()):
            out[i, 0, : n * FRAME] = torch.from_numpy(self._decode_stream(tokens.codes[i, :, : int(n)].cpu().numpy()))
        return out, lengths
