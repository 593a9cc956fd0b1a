"""Unit HiFi-GAN vocoders for discrete SSL tokens, as DASB ships them (SpeechBrain).

A vocoder repository (e.g. ``speechbrain/hifigan-wavlm-k1000-LibriTTS``) holds
``hyperparams.yaml`` + ``generator.ckpt`` and, under ``kmeans/``, the k-means
models its units come from (``<dataset>_<model>_k<K>_L<layer>.pt``, pickled
scikit-learn models). The generator embeds one unit per trained layer, each
layer's ids offset by ``layer_index * K`` plus one (0 is reserved), and pools
them; layers a tokenizer does not use stay 0.

A multi-speaker generator also takes a speaker embedding. It is computed from
the framework's ``speaker_prompt`` (another utterance of the same speaker, see
:mod:`dasb.decode_inputs`) by the speaker encoder it was trained with
(DASB: ``speechbrain/spkrec-ecapa-voxceleb-mel-spec``).

Trust: such a folder is code. ``hyperparams.yaml`` goes through HyperPyYAML,
which builds any Python object it names, and the k-means files are pickles
(``joblib.load``), which run code when read; only ``generator.ckpt`` (tensors,
read by ``torch.load``'s weights-only default) is plain data. The authors
publish no safe format for these; the safe alternative for the codebooks is
dasb's own ``kmeans.safetensors`` (``dasb train kmeans``, card param ``kmeans``),
which is then used instead of the folder's pickles.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dasb.settings import cache_dir
from dasb.tokenizers.hf_base import fetch_folder, require

VOCODER_FILES = ("hyperparams.yaml", "generator.ckpt")
TRUST_NOTICE = ("the vocoder folder {source} is loaded through HyperPyYAML (hyperparams.yaml builds the Python "
                "objects it names){pickles}: trust it like code you run")
PICKLES = " and pickle (joblib.load of kmeans/*.pt)"


def trust_notice(source: str, reads_kmeans: bool) -> str:
    """The warning ``dasb info`` shows for a card that loads a unit-vocoder folder."""
    return TRUST_NOTICE.format(source=source, pickles=PICKLES if reads_kmeans else "")


def _savedir(source: str) -> str:
    """Where SpeechBrain links a model's files (it insists on a folder of its own)."""
    root = cache_dir("speechbrain")
    return str(root / source.replace("/", "--"))


def kmeans_from_folder(folder: Path, layers: list[int], k: int) -> dict[int, torch.Tensor]:
    """Centroids ``[k, dim]`` per layer from a vocoder folder's ``kmeans/*_k<k>_L<layer>.pt`` files."""
    joblib = require("joblib", "neural")
    out = {}
    for layer in layers:
        found = sorted((folder / "kmeans").glob(f"*_k{k}_L{layer}.pt"))
        if len(found) != 1:
            raise FileNotFoundError(f"expected one k-means file kmeans/*_k{k}_L{layer}.pt in {folder}, found {len(found)}")
        model = joblib.load(found[0])  # the authors ship pickled scikit-learn models
        out[layer] = torch.as_tensor(np.asarray(model.cluster_centers_), dtype=torch.float32)
    return out


class UnitVocoder:
    """A unit HiFi-GAN ``generator`` trained on units of ``layers`` with ``k`` clusters each.

    ``speaker_encoder`` (an object with ``encode_waveform(wav [N]) -> [..., D]``
    at 16 kHz) is required when the generator is multi-speaker.
    """

    def __init__(self, generator: torch.nn.Module, layers: list[int], k: int, speaker_encoder: Any = None,
                 resolved_revision: str | None = None) -> None:
        self.generator = generator.eval()
        self.resolved_revision = resolved_revision  # what was loaded (commit or folder), for the records
        self.layers = [int(x) for x in layers]
        self.k = int(k)
        self.multi_speaker = bool(getattr(generator, "multi_speaker", False))
        if self.multi_speaker and speaker_encoder is None:
            raise ValueError("this unit vocoder is multi-speaker: give the speaker encoder it was trained with")
        self.speaker_encoder = speaker_encoder
        # Samples per unit frame: the product of the transposed convolutions' strides.
        self.hop = math.prod(int(up.conv.stride[0]) for up in generator.ups)

    @classmethod
    def load(cls, source: str, revision: str | None, layers: list[int], k: int,
             speaker_source: str | None = None, speaker_revision: str | None = None) -> "UnitVocoder":
        """The released vocoder (and speaker encoder) through SpeechBrain's own loaders."""
        require("speechbrain", "speechbrain")
        from speechbrain.inference.vocoders import UnitHIFIGAN

        folder, loaded = fetch_folder(source, revision, list(VOCODER_FILES))
        generator = UnitHIFIGAN.from_hparams(source=str(folder), savedir=_savedir(source)).hparams.generator
        generator.remove_weight_norm()  # as SpeechBrain does before inference
        encoder = None
        if speaker_source is not None:
            from speechbrain.inference.encoders import MelSpectrogramEncoder

            spk_folder, _ = fetch_folder(speaker_source, speaker_revision, ["hyperparams.yaml"])
            encoder = MelSpectrogramEncoder.from_hparams(source=str(spk_folder), savedir=_savedir(speaker_source))
        return cls(generator, layers, k, encoder, loaded)

    def speaker_embeddings(self, prompts: list[np.ndarray], device: str) -> torch.Tensor:
        """``[b, D]`` embeddings of mono 16 kHz prompts ``[1, N]``."""
        embs = [self.speaker_encoder.encode_waveform(torch.as_tensor(p[0], dtype=torch.float32, device=device))
                for p in prompts]
        return torch.stack([e.reshape(-1) for e in embs])

    def units(self, codes: torch.Tensor, code_layers: list[int]) -> torch.Tensor:
        """Generator input ``[b, T, len(self.layers)]`` from codes ``[b, K, T]`` of ``code_layers``."""
        missing = [x for x in code_layers if x not in self.layers]
        if missing:
            raise ValueError(f"the vocoder was not trained on layers {missing} (it knows {self.layers})")
        b, _, t = codes.shape
        units = torch.zeros(b, t, len(self.layers), dtype=torch.long, device=codes.device)
        for i, layer in enumerate(code_layers):
            j = self.layers.index(layer)
            units[:, :, j] = codes[:, i] + j * self.k + 1
        return units

    def decode(self, codes: torch.Tensor, code_layers: list[int], prompts: list[np.ndarray] | None = None) -> torch.Tensor:
        """Audio ``[b, 1, T * hop]`` of codes ``[b, K, T]``."""
        spk = None
        if self.multi_speaker:
            if prompts is None:
                raise ValueError("a multi-speaker unit vocoder needs a speaker prompt per item")
            spk = self.speaker_embeddings(prompts, str(codes.device))
        return self.generator.inference(self.units(codes, code_layers), spk=spk)

    def to(self, device: str) -> "UnitVocoder":
        self.generator.to(device)
        if self.speaker_encoder is not None and hasattr(self.speaker_encoder, "to"):
            self.speaker_encoder.to(device)
        return self
