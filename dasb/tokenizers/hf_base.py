"""Shared machinery of the adapters built on Hugging Face ``transformers`` models.

Loading follows the authors' release: ``Model.from_pretrained(hub_id, revision=...)``
or a local folder. Weights that are not available fail within seconds with an
error that names the hub id and the ways to supply it, instead of waiting for
network retries. Tests inject a small random-initialised model through
``model=`` (or ``config=``), so the real loading path stays the default.

Revisions: a hub source is resolved to one commit before loading (the snapshot
folder of the Hugging Face cache is named after it) and every file is loaded
from that commit; the adapter reports it as ``info.extras["resolved_revision"]``.
A card revision that is not a commit hash (``main``) warns, naming that commit.

Batching: Hugging Face codecs pad with reflection, normalise loudness per input
or attend over padded frames, so a padded batch does not give the codes an item
gets alone. The adapters therefore batch items of equal length together and run
each distinct length separately; lengths are the frames the model actually
emitted for each item's own length.
"""
from __future__ import annotations

import os
import re
import socket
import warnings
from abc import abstractmethod
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from dasb.tokenizers.base import AudioTokenizer, Tokens, TokenizerInfo

WEIGHTS_ENV = "DASB_WEIGHTS"
COMMIT = re.compile(r"[0-9a-f]{40}")


class WeightsUnavailable(RuntimeError):
    """A checkpoint is neither a local folder, in the DASB weights folder, nor in the HF cache."""


def require(module: str, extra: str) -> Any:
    """Import ``module`` or raise an error naming the dasb extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"{module} is not installed: pip install 'dasb[{extra}]' ({err})") from err


def _hub_reachable(timeout: float = 3.0) -> bool:
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def is_commit(revision: str | None) -> bool:
    """Whether ``revision`` is a full commit hash (a branch or tag name can move)."""
    return revision is not None and COMMIT.fullmatch(revision) is not None


def snapshot_commit(path: str) -> str | None:
    """The commit of a file in the Hugging Face cache: the folder after ``snapshots`` in its path."""
    parts = Path(path).parts
    for i, part in enumerate(parts[:-1]):
        if part == "snapshots" and COMMIT.fullmatch(parts[i + 1]):
            return parts[i + 1]
    return None


def find_local(checkpoint: str, revision: str | None, probe: str = "config.json") -> tuple[str, dict[str, Any]] | None:
    """A local source of ``checkpoint`` without touching the network: an existing folder,
    ``$DASB_WEIGHTS/<hub id>``, or the Hugging Face cache (loaded with ``local_files_only``).

    From the cache, ``revision`` is replaced by the commit of the snapshot holding ``probe``,
    so that a branch name cannot resolve to another commit for the next file."""
    local = Path(checkpoint).expanduser()
    if local.is_dir():
        return str(local), {}
    root = os.environ.get(WEIGHTS_ENV)
    if root and (Path(root) / checkpoint).is_dir():
        return str(Path(root) / checkpoint), {}
    from huggingface_hub import try_to_load_from_cache

    # A pinned commit that is not in the cache gives None here, even when another commit is cached.
    cached = try_to_load_from_cache(checkpoint, probe, revision=revision)
    if isinstance(cached, str):
        return checkpoint, {"revision": snapshot_commit(cached) or revision, "local_files_only": True}
    return None


def how_to_supply(checkpoint: str, revision: str | None) -> str:
    """The ways to make ``checkpoint`` available offline."""
    rev = revision or "main"
    return (f"`huggingface-cli download {checkpoint} --revision {rev}` on a connected machine (then copy "
            f"~/.cache/huggingface), or put the files in ${WEIGHTS_ENV}/{checkpoint}/, or set the card's "
            f"checkpoint to a local folder")


def locate(checkpoint: str, revision: str | None, probe: str = "config.json") -> tuple[str, dict[str, Any]]:
    """Where to load ``checkpoint`` from: ``(path_or_id, from_pretrained kwargs)``.

    A local source (:func:`find_local`) first; the hub only when it is reachable
    and ``HF_HUB_OFFLINE`` is unset. Raises :class:`WeightsUnavailable` otherwise,
    within a few seconds. Except for a folder, the kwargs' ``revision`` is a commit:
    from the hub, the one ``probe`` downloads from (see :func:`loaded_revision`).
    """
    found = find_local(checkpoint, revision, probe)
    if found is not None:
        return found
    if not _offline() and _hub_reachable():
        if is_commit(revision):
            return checkpoint, {"revision": revision}
        from huggingface_hub import hf_hub_download

        # Resolve the branch once, so every file comes from the same commit.
        path = hf_hub_download(checkpoint, probe, revision=revision)
        return checkpoint, {"revision": snapshot_commit(path) or revision}
    why = "HF_HUB_OFFLINE is set" if _offline() else "the hub is unreachable"
    raise WeightsUnavailable(
        f"weights for {checkpoint!r} (revision {revision or 'main'}) are not available: not a local folder, "
        f"not under ${WEIGHTS_ENV}, not in the Hugging Face cache, and {why}. Supply them with "
        + how_to_supply(checkpoint, revision) + "."
    )


def loaded_revision(checkpoint: str, revision: str | None, where: str, kwargs: dict[str, Any]) -> str | None:
    """What an answer of :func:`locate` loads: its commit, or ``"local folder <path>"``
    (None when the commit is unknown). Warns when the card's ``revision`` is not a commit."""
    if Path(where).is_dir():
        return f"local folder {where}"
    got = kwargs.get("revision")
    got = got if is_commit(got) else None
    if not is_commit(revision):
        warnings.warn(f"{checkpoint}: revision {revision or 'main'!r} is not pinned to a commit; it resolved to "
                      f"{got or 'an unknown commit'}. Pin it in the card: `revision: {got or '<40-hex commit>'}`.",
                      stacklevel=3)
    return got


def load_pretrained(cls_name: str, checkpoint: str, revision: str | None) -> tuple[torch.nn.Module, str | None]:
    """``transformers.<cls_name>.from_pretrained`` after :func:`locate`, and the :func:`loaded_revision`."""
    transformers = require("transformers", "neural")
    where, kwargs = locate(checkpoint, revision)
    model = getattr(transformers, cls_name).from_pretrained(where, **kwargs)
    return model, loaded_revision(checkpoint, revision, where, kwargs)


def fetch_files(checkpoint: str, revision: str | None, filenames: list[str]) -> tuple[list[str], str | None]:
    """Local paths of ``filenames`` of a hub repo or folder (for codecs that are not ``transformers`` models),
    and the :func:`loaded_revision`.

    Same order and same fast failure as :func:`locate`; downloads only when the hub is reachable.
    """
    where, kwargs = locate(checkpoint, revision, probe=filenames[0])
    if Path(where).is_dir():
        paths = [str(Path(where) / f) for f in filenames]
    else:
        from huggingface_hub import hf_hub_download

        paths = [hf_hub_download(checkpoint, f, **kwargs) for f in filenames]
    return paths, loaded_revision(checkpoint, revision, where, kwargs)


def fetch_folder(checkpoint: str, revision: str | None, patterns: list[str]) -> tuple[Path, str | None]:
    """Local folder holding the files matching ``patterns`` (globs) of a hub repo or folder, and the
    :func:`loaded_revision`; ``patterns[0]`` must name one file (it probes the cache)."""
    where, kwargs = locate(checkpoint, revision, probe=patterns[0])
    loaded = loaded_revision(checkpoint, revision, where, kwargs)
    if Path(where).is_dir():
        return Path(where), loaded
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(checkpoint, allow_patterns=patterns, **kwargs)), loaded


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
    config in :meth:`describe`; and implement :meth:`_encode` / :meth:`_decode`
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
        self.info = self.describe(name, checkpoint, revision)
        if self.resolved_revision is not None:
            self.info = replace(self.info, extras={**self.info.extras, "resolved_revision": self.resolved_revision})

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
    def describe(self, name: str, checkpoint: str | None, revision: str | None) -> TokenizerInfo:
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
