"""Shared machinery of the adapters built on Hugging Face ``transformers`` models.

Where weights come from (a local folder, ``$DASB_WEIGHTS``, the Hugging Face cache,
the hub at the card's revision) is :mod:`dasb.weights.hub`'s job; the helpers used
by adapters are imported here. Tests inject a small random-initialised model through
``model=`` (or ``config=``), so the real loading path stays the default. The commit
loaded is reported as ``info.extras["resolved_revision"]``.

Batching: Hugging Face codecs pad with reflection, normalise loudness per input
or attend over padded frames, so a padded batch does not give the codes an item
gets alone. The adapters therefore batch items of equal length together and run
each distinct length separately; lengths are the frames the model actually
emitted for each item's own length.
"""
from __future__ import annotations

import warnings
from abc import abstractmethod
from dataclasses import replace
from typing import Any

import torch

from dasb.tokenizers.base import AudioTokenizer, Tokens, TokenizerInfo
from dasb.weights.base import WEIGHTS_ENV, WeightsUnavailable
from dasb.weights.catalog import Source, hub_or_folder
from dasb.weights.hub import (HubSource, fetch_files, fetch_folder, find_local, how_to_supply, is_commit, loaded_revision,
                               locate)

__all__ = ["HFTokenizer", "HubSource", "WEIGHTS_ENV", "WeightsUnavailable", "fetch_files", "fetch_folder", "find_local",
           "how_to_supply", "is_commit", "length_groups", "load_pretrained", "loaded_revision", "locate", "require"]


def require(module: str, extra: str) -> Any:
    """Import ``module`` or raise an error naming the dasb extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"{module} is not installed: pip install 'dasb[{extra}]' ({err})") from err


def load_pretrained(cls_name: str, checkpoint: str, revision: str | None) -> tuple[torch.nn.Module, str | None]:
    """``transformers.<cls_name>.from_pretrained`` after :func:`locate`, and the :func:`loaded_revision`."""
    transformers = require("transformers", "neural")
    where, kwargs = locate(checkpoint, revision)
    model = getattr(transformers, cls_name).from_pretrained(where, **kwargs)
    return model, loaded_revision(checkpoint, revision, where, kwargs)


def length_groups(lengths: torch.Tensor) -> dict[int, list[int]]:
    """Batch indices grouped by equal length."""
    groups: dict[int, list[int]] = {}
    for i, n in enumerate(lengths.tolist()):
        groups.setdefault(int(n), []).append(i)
    return groups


class HFTokenizer(AudioTokenizer):
    """Base of the adapters that wrap a PyTorch model (``transformers`` or a codec's own package).

    Subclasses name ``model_class`` (a ``transformers`` attribute) or override
    :meth:`_load` / :meth:`_from_config`; build ``self.info`` from the model
    config in :meth:`build_info`; and implement :meth:`_encode` / :meth:`_decode`
    on same-length batches. Pass ``model=`` (a ready model) or ``config=`` (a
    config, random init) to bypass loading; otherwise ``checkpoint`` is required.
    ``requires`` is the module that must be importable, ``extra`` the dasb
    extra that installs it. A loading ``_load`` sets ``self.resolved_revision``
    (see :func:`loaded_revision`); it is added to ``info.extras``.
    """

    model_class: str = ""
    supports_half = True
    requires = "transformers"
    extra = "neural"

    def __init__(
        self,
        name: str,
        checkpoint: str | None = None,
        revision: str | None = None,
        model: torch.nn.Module | None = None,
        config: Any = None,
        half: bool = False,
    ) -> None:
        self.resolved_revision: str | None = None
        if model is None:
            if config is not None:
                model = self._from_config(config)
            elif checkpoint is not None:
                model = self._load(checkpoint, revision)
            else:
                raise ValueError(f"tokenizer {name!r}: give a checkpoint (hub id or folder), a model or a config")
        self.model = model.eval()
        self.half = half
        self.device = "cpu"
        self.info = self.build_info(name, checkpoint, revision)
        if self.resolved_revision is not None:
            self.info = replace(self.info, extras={**self.info.extras, "resolved_revision": self.resolved_revision})

    @classmethod
    def weight_sources(cls, checkpoint: str | None, revision: str | None, params: dict[str, Any]) -> list[Source]:
        """Where the card's weights come from (:mod:`dasb.weights`): the checkpoint's hub repo or folder."""
        return hub_or_folder(checkpoint, revision)

    @classmethod
    def missing_weights(cls, checkpoint: str | None, revision: str | None, params: dict[str, Any]) -> str | None:
        """Offline check for ``dasb doctor``: None when the weights are here, else the step that fixes it."""
        if checkpoint is None or find_local(checkpoint, revision) is not None:
            return None
        return (f"weights missing: huggingface-cli download {checkpoint} --revision {revision or 'main'}"
                f" (or files in ${WEIGHTS_ENV}/{checkpoint}/)")

    def _from_config(self, config: Any) -> torch.nn.Module:
        """A randomly initialised model of ``config``."""
        cls = getattr(require("transformers", self.extra), self.model_class)
        return cls.from_config(config) if self.model_class.startswith("Auto") else cls(config)

    def _load(self, checkpoint: str, revision: str | None) -> torch.nn.Module:
        """The released model: ``from_pretrained`` after :func:`locate`."""
        model, self.resolved_revision = load_pretrained(self.model_class, checkpoint, revision)
        return model

    @abstractmethod
    def build_info(self, name: str, checkpoint: str | None, revision: str | None) -> TokenizerInfo:
        """TokenizerInfo from ``self.model.config`` and the card's choices."""

    @abstractmethod
    def _encode(self, audio: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Codes ``[b, K, T]`` (and per-item side tensors) of a batch of equal-length items ``[b, C, N]``."""

    def _decode(self, codes: torch.Tensor, side: dict[str, Any]) -> torch.Tensor:
        """Audio ``[b, C, N']`` from codes ``[b, K, T]`` of equal length (encode-only adapters keep this).

        ``side`` holds the encoder's side tensors and, as lists, the framework's decode inputs."""
        raise NotImplementedError(f"tokenizer {self.info.name!r} is encode-only")

    @property
    def dtype(self) -> torch.dtype:
        """float16 when built with ``half=True`` (weights and inputs; codes and audio come back as int64 / float32)."""
        return torch.float16 if self.half else torch.float32

    def to(self, device: str) -> "HFTokenizer":
        self.device = str(device)
        if self.half and not self.device.startswith("cuda"):
            warnings.warn(f"tokenizer {self.info.name!r}: half precision on {self.device} is slow and only useful for "
                          "testing; it is meant for CUDA devices")
        self.model.to(device=device, dtype=self.dtype)
        return self

    @torch.inference_mode()
    def encode(self, audio: torch.Tensor, lengths: torch.Tensor) -> Tokens:
        parts: dict[int, tuple[torch.Tensor, dict[str, torch.Tensor]]] = {}
        for n, idx in length_groups(lengths).items():
            x = audio[idx, :, :n].to(self.device, self.dtype)
            codes, side = self._encode(x)
            for j, i in enumerate(idx):
                parts[i] = codes[j].long().cpu(), {k: v[j : j + 1].cpu() for k, v in side.items()}
        b = audio.shape[0]
        t = max(c.shape[-1] for c, _ in parts.values())
        codes = torch.zeros(b, self.info.num_codebooks, t, dtype=torch.int64)
        for i, (c, _) in parts.items():
            codes[i, :, : c.shape[-1]] = c
        out_len = torch.tensor([parts[i][0].shape[-1] for i in range(b)], dtype=torch.int64)
        side = {k: torch.cat([parts[i][1][k] for i in range(b)]) for k in parts[0][1]}
        return Tokens(codes, out_len, side=side)

    @torch.inference_mode()
    def decode(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        spf = self.info.samples_per_frame
        want = torch.round(tokens.lengths.double() * spf).long()
        out = torch.zeros(tokens.codes.shape[0], self.info.channels, int(want.max()))
        for t, idx in length_groups(tokens.lengths).items():
            side = {k: v[idx].to(self.device, self.dtype) if torch.is_tensor(v) else [v[i] for i in idx]
                    for k, v in tokens.side.items()}
            wav = self._decode(tokens.codes[idx, :, :t].to(self.device), side).float().cpu()
            # Trim or zero-pad to exactly frames x samples-per-frame: decoders overshoot
            # (Mimi pads) or fall short (DAC's transposed convolutions), never by a frame.
            n = min(wav.shape[-1], int(want[idx[0]]))
            out[idx, :, :n] = wav[..., :n]
        return out, want
