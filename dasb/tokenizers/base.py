"""The tokenizer interface every adapter implements.

An adapter sees audio only at its native sample rate, as a padded batch
``[B, C, N]`` with per-item lengths. Resampling, channel handling, batching and
chunking of long audio are the framework's job (:mod:`dasb.tokenizers.runtime`).
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import torch

# "external": a system declared by its outputs (decoded files, token files), see dasb.external.
KINDS = ("classic", "acoustic", "semantic", "hybrid", "learned-baseline", "reference", "external")
# Inputs a decoder may need besides the tokens, supplied by the framework (see dasb.decode_inputs).
DECODE_INPUTS = ("transcript", "speaker_prompt")


@dataclass(frozen=True)
class TokenizerInfo:
    """Static description of one tokenizer configuration.

    ``codebook_size`` is one int when all codebooks share a size, else a tuple
    with one size per codebook. ``frame_rate`` is token frames per second per
    codebook (nominal for variable-rate tokenizers). ``max_samples`` is the
    longest input (at the native rate) the model accepts in one call; longer
    audio is chunked by the framework. ``align`` says how decoded audio is
    time-aligned to the reference: ``"waveform"`` (cross-correlation) or
    ``"envelope"`` for decoders that synthesise their own phase.
    ``decode_inputs`` names what the decoder needs besides the tokens (from
    :data:`DECODE_INPUTS`); it finds them in ``Tokens.side`` under those names.
    ``residual`` says the codebooks are residual levels (RVQ): the decoder also
    accepts only the first k codebooks, each further level refining the result.
    ``encodes`` is False for systems known only by their outputs (:mod:`dasb.external`):
    nothing can be encoded or decoded anew, and ``num_codebooks`` is 0 when no tokens were given.
    """

    name: str
    sample_rate: int
    num_codebooks: int
    codebook_size: int | tuple[int, ...]
    frame_rate: float
    kind: str
    causal: bool | None = None
    decodes: bool = True
    encodes: bool = True
    variable_rate: bool = False
    max_samples: int | None = None
    align: str = "waveform"
    channels: int = 1
    checkpoint: str | None = None
    revision: str | None = None
    decode_inputs: tuple[str, ...] = ()
    residual: bool = False
    extras: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"tokenizer {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        sizes = self.codebook_sizes
        if len(sizes) != self.num_codebooks:
            raise ValueError(
                f"tokenizer {self.name!r}: {len(sizes)} codebook sizes for {self.num_codebooks} codebooks"
            )
        if self.align not in ("waveform", "envelope"):
            raise ValueError(f"tokenizer {self.name!r}: align must be 'waveform' or 'envelope'")
        unknown = [x for x in self.decode_inputs if x not in DECODE_INPUTS]
        if unknown:
            raise ValueError(f"tokenizer {self.name!r}: unknown decode inputs {unknown}; known: {DECODE_INPUTS}")

    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        """Size of each codebook, one entry per codebook."""
        if isinstance(self.codebook_size, int):
            return (self.codebook_size,) * self.num_codebooks
        return tuple(self.codebook_size)

    @property
    def nominal_bitrate(self) -> float:
        """Bits per second if every frame carries log2(size) bits per codebook."""
        return self.frame_rate * sum(math.log2(s) for s in self.codebook_sizes)

    @property
    def samples_per_frame(self) -> float:
        """Native-rate samples covered by one token frame."""
        return self.sample_rate / self.frame_rate


@dataclass
class Tokens:
    """A batch of token sequences.

    ``codes`` is int64 ``[B, K, T]``; ``lengths`` holds the valid frames of each
    item ``[B]``. ``mask`` (bool ``[B, K, T]``), when given, marks valid entries
    for tokenizers whose codebooks carry a variable number of symbols per frame.
    ``side`` carries side information a decoder needs: from the encoder (global
    tokens, scales) or from the framework (``TokenizerInfo.decode_inputs``).
    Each value is a tensor with the batch first or a list with one entry per item.
    """

    codes: torch.Tensor
    lengths: torch.Tensor
    mask: torch.Tensor | None = None
    side: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.codes.dim() != 3:
            raise ValueError(f"codes must be [B, K, T], got shape {tuple(self.codes.shape)}")
        if self.codes.dtype != torch.int64:
            raise TypeError(f"codes must be int64, got {self.codes.dtype}")
        if self.lengths.shape != (self.codes.shape[0],):
            raise ValueError("lengths must have one entry per batch item")
        for key, val in self.side.items():
            if len(val) != self.codes.shape[0]:
                raise ValueError(f"side {key!r} has {len(val)} entries for a batch of {self.codes.shape[0]}")

    def item(self, i: int) -> "Tokens":
        """Item ``i`` alone, trimmed to its valid length."""
        n = int(self.lengths[i])
        mask = None if self.mask is None else self.mask[i : i + 1, :, :n]
        side = {k: v[i : i + 1] for k, v in self.side.items()}
        return Tokens(self.codes[i : i + 1, :, :n], self.lengths[i : i + 1].clone(), mask, side)


class AudioTokenizer(ABC):
    """Base class of every tokenizer adapter.

    Subclasses set ``self.info`` and implement :meth:`encode` and (unless
    ``info.decodes`` is False) :meth:`decode`. Both work on padded batches at
    ``info.sample_rate``; outputs beyond an item's length are ignored.
    """

    info: TokenizerInfo
    # True for adapters whose constructor takes ``half=True`` (float16 weights and activations).
    supports_half: ClassVar[bool] = False

    @classmethod
    def trust_notice(cls, params: dict) -> str | None:
        """What a card with ``params`` loads that can run code (pickles, YAML that builds objects), or None.
        ``dasb info`` shows it: such files must be trusted like code."""
        return None

    @abstractmethod
    def encode(self, audio: torch.Tensor, lengths: torch.Tensor) -> Tokens:
        """Encode ``audio`` float ``[B, C, N]`` in [-1, 1] with valid ``lengths`` ``[B]``."""

    def decode(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode to audio ``[B, C, N']`` at the native rate and valid lengths ``[B]``."""
        raise NotImplementedError(f"tokenizer {self.info.name!r} is encode-only")

    def codebook_embeddings(self) -> list[torch.Tensor] | None:
        """One ``[size_k, dim]`` tensor per codebook, or None if the model has none."""
        return None

    def to(self, device: str) -> "AudioTokenizer":
        """Move model weights to ``device``; adapters without weights ignore it."""
        return self
