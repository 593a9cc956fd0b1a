"""Discrete SSL tokens as DASB defines them: k-means on self-supervised hidden states.

A HuBERT / WavLM / wav2vec 2.0 model (``transformers``) gives hidden states;
each chosen layer is quantised by its own k-means codebook, so several layers
give several codebooks.

The codebooks come either from ``dasb train kmeans`` (:func:`train_kmeans`),
saved as ``kmeans.safetensors`` (``layer_<L>`` -> centroids ``[k, dim]``) plus
``kmeans.json`` (model, revision, layers, k, corpus, normalize) in one folder,
or from a DASB unit-vocoder repository, which ships its k-means models beside
the vocoder (:mod:`dasb.tokenizers.unit_vocoder`). Without a vocoder the
tokenizer is encode-only.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dasb.tokenizers.base import TokenizerInfo
from dasb.tokenizers.hf_base import HFTokenizer, fetch_files, fetch_folder, find_local, require
from dasb.tokenizers.unit_vocoder import UnitVocoder, kmeans_from_folder, trust_notice
from dasb.weights.catalog import LocalFiles, Source, hub_or_folder

KMEANS_FILE = "kmeans.safetensors"
META_FILE = "kmeans.json"


def load_kmeans(folder: str | Path) -> tuple[dict[str, Any], dict[int, torch.Tensor]]:
    """Metadata and per-layer centroids saved by :func:`train_kmeans`."""
    folder = Path(folder).expanduser()
    if not (folder / KMEANS_FILE).is_file():
        raise FileNotFoundError(f"no k-means codebooks at {folder / KMEANS_FILE}; create them with `dasb train kmeans --out {folder}`")
    from safetensors.torch import load_file

    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    tensors = load_file(str(folder / KMEANS_FILE))
    return meta, {int(k.split("_")[1]): v.float() for k, v in tensors.items()}


class SSLKMeansTokenizer(HFTokenizer):
    """Hidden states of ``layers`` of an SSL model, each quantised by its k-means codebook.

    Codebooks: ``kmeans``, the folder written by ``dasb train kmeans`` (then
    ``checkpoint`` defaults to the SSL model they were trained on); or, without
    ``kmeans``, the ``k``-cluster models shipped in the ``vocoder`` repository.
    ``vocoder`` (hub id or folder) makes the tokens decodable; ``vocoder_layers``
    are the layers it was trained on (default ``layers``); a multi-speaker
    vocoder needs ``speaker_encoder`` and then decodes with a speaker prompt.
    ``normalize`` applies per-utterance zero-mean unit-variance input
    normalisation, as the large wav2vec 2.0 / WavLM models expect. Tests pass a
    ready ``unit_vocoder``.
    """

    model_class = "AutoModel"

    def __init__(self, name: str, kmeans: str | None = None, layers: list[int] | None = None, checkpoint: str | None = None,
                 revision: str | None = None, normalize: bool | None = None, k: int | None = None,
                 vocoder: str | None = None, vocoder_revision: str | None = None, vocoder_layers: list[int] | None = None,
                 speaker_encoder: str | None = None, speaker_encoder_revision: str | None = None,
                 unit_vocoder: UnitVocoder | None = None, **kwargs) -> None:
        if kmeans is not None:
            self.meta, centroids = load_kmeans(kmeans)
        elif vocoder is not None and k is not None and layers:
            folder, _ = fetch_folder(vocoder, vocoder_revision, ["hyperparams.yaml", "kmeans/*"])
            centroids = kmeans_from_folder(folder, [int(x) for x in layers], int(k))
            self.meta = {"model": checkpoint, "revision": revision, "layers": layers, "kmeans_source": vocoder}
        else:
            raise ValueError(f"tokenizer {name!r}: give `kmeans` (a folder from `dasb train kmeans`) or `vocoder`, `k` "
                             "and `layers` (k-means models shipped in a DASB vocoder repository)")
        self.layers = [int(x) for x in (layers or self.meta["layers"])]
        missing = [x for x in self.layers if x not in centroids]
        if missing:
            raise ValueError(f"tokenizer {name!r}: no k-means codebook for layers {missing} in {kmeans} (has {sorted(centroids)})")
        self.centroids = [centroids[x] for x in self.layers]
        if normalize is None and "normalize" not in self.meta and checkpoint is not None:
            normalize = checkpoint_normalizes(checkpoint, revision)
        self.normalize = bool(self.meta.get("normalize", False) if normalize is None else normalize)
        if unit_vocoder is None and vocoder is not None:
            sizes = {int(cb.shape[0]) for cb in self.centroids}
            if len(sizes) != 1:
                raise ValueError(f"tokenizer {name!r}: a unit vocoder needs one codebook size for all layers, got {sorted(sizes)}")
            unit_vocoder = UnitVocoder.load(vocoder, vocoder_revision, vocoder_layers or self.layers, sizes.pop(),
                                            speaker_encoder, speaker_encoder_revision)
        self.vocoder = unit_vocoder
        self.vocoder_source = vocoder
        if checkpoint is None and kwargs.get("model") is None and kwargs.get("config") is None:
            checkpoint, revision = self.meta["model"], self.meta.get("revision")
        super().__init__(name, checkpoint=checkpoint, revision=revision, **kwargs)

    @classmethod
    def trust_notice(cls, params: dict) -> str | None:
        vocoder = params.get("vocoder")
        return None if vocoder is None else trust_notice(vocoder, reads_kmeans=params.get("kmeans") is None)

    @classmethod
    def weight_sources(cls, checkpoint, revision, params) -> list[Source]:
        """The SSL model, the k-means folder you trained (``kmeans``) or the vocoder repository shipping them."""
        sources = hub_or_folder(checkpoint, revision)
        if params.get("kmeans") is not None:
            layers = ",".join(str(x) for x in params.get("layers", []))
            sources.append(LocalFiles(params["kmeans"], (KMEANS_FILE, META_FILE),
                                      f"dasb train kmeans --model {checkpoint} --layers {layers} --k K --data CORPUS "
                                      f"--out {params['kmeans']}"))
        if params.get("vocoder") is not None:
            sources += hub_or_folder(params["vocoder"], params.get("vocoder_revision"), probe="hyperparams.yaml")
        return sources

    @classmethod
    def missing_weights(cls, checkpoint, revision, params) -> str | None:
        vocoder = params.get("vocoder")
        if vocoder is not None and find_local(vocoder, params.get("vocoder_revision"), probe="hyperparams.yaml") is None:
            return f"vocoder missing: huggingface-cli download {vocoder} --revision {params.get('vocoder_revision') or 'main'}"
        folder = Path(params.get("kmeans") or "").expanduser()
        if params.get("kmeans") is not None and not (folder / KMEANS_FILE).is_file():
            layers = ",".join(str(x) for x in params.get("layers", []))
            return f"dasb train kmeans --model {checkpoint} --layers {layers} --k K --data CORPUS --out {params.get('kmeans')}"
        return super().missing_weights(checkpoint, revision, params)

    def build_info(self, name, checkpoint, revision) -> TokenizerInfo:
        c = self.model.config
        stride = int(np.prod(c.conv_stride))
        voc = self.vocoder
        if voc is not None and voc.hop != stride:
            raise ValueError(f"tokenizer {name!r}: the vocoder makes {voc.hop} samples per unit, the SSL model strides {stride}")
        return TokenizerInfo(
            name=name, sample_rate=16000, num_codebooks=len(self.layers),
            codebook_size=tuple(int(cb.shape[0]) for cb in self.centroids), frame_rate=16000 / stride,
            kind="semantic", causal=False, decodes=voc is not None, checkpoint=checkpoint, revision=revision,
            align="envelope",  # a unit vocoder synthesises its own phase
            decode_inputs=("speaker_prompt",) if voc is not None and voc.multi_speaker else (),
            extras={"layers": self.layers, "kmeans_model": self.meta.get("model"), "kmeans_corpus": self.meta.get("corpus"),
                    "vocoder": self.vocoder_source, "vocoder_resolved_revision": voc.resolved_revision if voc else None},
        )

    def to(self, device: str) -> "SSLKMeansTokenizer":
        super().to(device)
        self.centroids = [cb.to(device) for cb in self.centroids]
        if self.vocoder is not None:
            self.vocoder.to(device)
        return self

    def _decode(self, codes, side):
        if self.vocoder is None:
            return super()._decode(codes, side)
        return self.vocoder.decode(codes, self.layers, side.get("speaker_prompt"))

    def _encode(self, audio):
        codes = []
        for layer, feats in zip(self.layers, hidden_states(self.model, audio, self.layers, self.normalize)):
            cb = self.centroids[self.layers.index(layer)]
            codes.append(torch.cdist(feats.float(), cb[None].expand(feats.shape[0], -1, -1)).argmin(-1))
        return torch.stack(codes, 1), {}

    def codebook_embeddings(self) -> list[torch.Tensor]:
        return [cb.cpu() for cb in self.centroids]


def checkpoint_normalizes(checkpoint: str, revision: str | None) -> bool:
    """Whether the checkpoint's feature extractor normalises each waveform (``do_normalize``),
    as SpeechBrain's wrappers, which DASB's k-means were trained through, read it."""
    path = fetch_files(checkpoint, revision, ["preprocessor_config.json"])[0][0]
    return bool(json.loads(Path(path).read_text(encoding="utf-8")).get("do_normalize", False))


def hidden_states(model: torch.nn.Module, audio: torch.Tensor, layers: list[int], normalize: bool) -> list[torch.Tensor]:
    """Hidden states ``[B, T, D]`` of ``layers`` (0 = CNN feature projection) for mono ``audio [B, 1, N]``."""
    x = audio[:, 0]
    if normalize:
        x = (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + 1e-7)
    out = model(x, output_hidden_states=True)
    n = len(out.hidden_states)
    bad = [x for x in layers if not 0 <= x < n]
    if bad:
        raise ValueError(f"layers {bad} outside 0..{n - 1} of this model")
    return [out.hidden_states[x] for x in layers]


@torch.inference_mode()
def train_kmeans(model: torch.nn.Module, waves: list[np.ndarray], layers: list[int], k: int, out: str | Path,
                 meta: dict[str, Any], seed: int = 0, normalize: bool = False) -> dict[int, float]:
    """Fit one k-means codebook per layer on 16 kHz mono ``waves``; save to ``out``; return inertia per frame."""
    cluster = require("sklearn.cluster", "learned")
    from safetensors.torch import save_file

    feats: dict[int, list[np.ndarray]] = {x: [] for x in layers}
    for w in waves:
        audio = torch.from_numpy(np.ascontiguousarray(w[:1], dtype=np.float32))[None]
        for x, h in zip(layers, hidden_states(model.eval(), audio, layers, normalize)):
            feats[x].append(h[0].float().numpy())
    tensors, inertia = {}, {}
    for x in layers:
        data = np.concatenate(feats[x])
        if len(data) < k:
            raise ValueError(f"layer {x}: {len(data)} frames are fewer than k={k}; give more audio or a smaller k")
        km = cluster.MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=min(len(data), 10000)).fit(data)
        tensors[f"layer_{x}"] = torch.from_numpy(km.cluster_centers_.astype(np.float32))
        inertia[x] = float(km.inertia_ / len(data))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / KMEANS_FILE))
    info = {**meta, "layers": layers, "k": k, "normalize": normalize, "seed": seed, "frames": {str(x): len(np.concatenate(feats[x])) for x in layers}}
    (out / META_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
    return inertia


def train_from_corpus(checkpoint: str, revision: str | None, layers: list[int], k: int, data: str, out: str | Path,
                      max_utterances: int | None = None, normalize: bool = False, seed: int = 0) -> dict[int, float]:
    """``dasb train kmeans``: load the SSL model, read ``data`` (any corpus dasb reads) at 16 kHz, fit, save."""
    from dasb.audio import load_audio, resample, to_channels
    from dasb.data.corpus import load_corpus
    from dasb.tokenizers.hf_base import load_pretrained

    model, loaded = load_pretrained("AutoModel", checkpoint, revision)
    corpus = load_corpus(data)
    utts = corpus.utterances[:max_utterances] if max_utterances else corpus.utterances
    waves = []
    for u in utts:
        wav, sr = load_audio(u.audio)
        waves.append(to_channels(resample(wav, sr, 16000), 1))
    # The commit actually loaded, so a card built on these codebooks pins the model they were trained on.
    pinned = loaded if loaded and not loaded.startswith("local folder") else revision
    meta = {"model": checkpoint, "revision": pinned, "corpus": corpus.name, "corpus_hash": corpus.hash,
            "utterances": len(utts)}
    return train_kmeans(model, waves, layers, k, out, meta, seed=seed, normalize=normalize)
