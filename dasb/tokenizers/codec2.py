"""Codec2 (Rowe), the open low-bitrate speech vocoder, through the ``pycodec2`` wheel.

Codec2 codes 8 kHz speech in fixed-size frames of ``bits_per_frame`` bits
(e.g. 700C: 28 bits every 40 ms). The tokens are those bits, most significant
first, cut into ``bits_per_frame / symbol_bits`` symbols of ``symbol_bits``
bits, one codebook per symbol position. So
``frame_rate * sum(log2(codebook_size))`` is exactly the mode's bitrate, and
decoding the tokens is exactly Codec2's own decoding of those frames.

Codec2 is a sinusoidal vocoder that synthesises its own phase: decoded audio
is aligned to the reference on the energy envelope (``align="envelope"``).
Its decoder draws random phases from a process-global generator
(``codec2_rand``, seed 1 at load time), so decoding the same bits twice gives
different audio. To make decoding reproducible, and equal to a fresh process's
decoding, the generator's state is reset to 1 before each utterance.
"""
from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import torch

from dasb.tokenizers.base import AudioTokenizer, Tokens, TokenizerInfo

MODES = {"3200": 3200, "2400": 2400, "1600": 1600, "1400": 1400, "1300": 1300, "1200": 1200, "700C": 700}
SAMPLE_RATE = 8000


def _import_pycodec2():
    try:
        import pycodec2
    except ImportError as err:
        raise ImportError("Codec2 needs the pycodec2 wheel: pip install 'dasb[codecs]'") from err
    return pycodec2


_LCG_MULTIPLIER = (1103515245).to_bytes(4, "little")


def _rng_state(pycodec2) -> ctypes.c_uint64:
    """The ``next`` variable of libcodec2's ``codec2_rand`` (a static, not exported).

    ``codec2_rand`` starts with ``imul $1103515245, next(%rip), %rax``; the
    instruction's RIP-relative displacement gives the variable's address. The
    bytes are checked, so another build fails loudly instead of corrupting memory.
    """
    libs = sorted((Path(pycodec2.__file__).parent.parent / "pycodec2.libs").glob("libcodec2*.so*"))
    if not libs:
        raise ImportError("cannot find libcodec2 inside the pycodec2 wheel; install pycodec2==4.1.1 ('dasb[codecs]')")
    func = ctypes.cast(ctypes.CDLL(str(libs[0])).codec2_rand, ctypes.c_void_p).value
    code = ctypes.string_at(func, 11)
    if code[:3] != b"\x48\x69\x05" or code[7:] != _LCG_MULTIPLIER:
        raise ImportError(
            f"unsupported libcodec2 build ({libs[0].name}): cannot reset its decoder's random generator, "
            "so decoding would not be reproducible; install pycodec2==4.1.1 ('dasb[codecs]')"
        )
    return ctypes.c_uint64.from_address(func + 11 + int.from_bytes(code[3:7], "little", signed=True))


def bits_to_symbols(frame: bytes, n_bits: int, symbol_bits: int) -> np.ndarray:
    """Split the first ``n_bits`` bits of ``frame`` (MSB first) into ``symbol_bits``-bit integers."""
    bits = np.unpackbits(np.frombuffer(frame, dtype=np.uint8))[:n_bits]
    weights = 1 << np.arange(symbol_bits - 1, -1, -1, dtype=np.int64)
    return bits.reshape(-1, symbol_bits).astype(np.int64) @ weights


def symbols_to_bits(symbols: np.ndarray, symbol_bits: int, n_bytes: int) -> bytes:
    """Inverse of :func:`bits_to_symbols`: pack symbols MSB first, zero-padded to ``n_bytes``."""
    shifts = np.arange(symbol_bits - 1, -1, -1, dtype=np.int64)
    bits = ((np.asarray(symbols, dtype=np.int64)[:, None] >> shifts) & 1).astype(np.uint8).reshape(-1)
    bits = np.pad(bits, (0, 8 * n_bytes - bits.size))
    return np.packbits(bits).tobytes()


class Codec2Tokenizer(AudioTokenizer):
    """One Codec2 mode; ``symbol_bits`` must divide the mode's bits per frame."""

    def __init__(self, name: str, mode: str = "3200", symbol_bits: int = 8) -> None:
        mode = str(mode).upper()
        if mode not in MODES:
            raise ValueError(f"unknown Codec2 mode {mode!r}; choose one of {', '.join(MODES)}")
        self._pycodec2 = _import_pycodec2()
        self._rng = _rng_state(self._pycodec2)
        self.mode = MODES[mode]
        probe = self._pycodec2.Codec2(self.mode)
        self.samples = probe.samples_per_frame()
        self.bits = probe.bits_per_frame()
        self.bytes = probe.bytes_per_frame()
        if symbol_bits < 1 or self.bits % symbol_bits:
            raise ValueError(f"Codec2 {mode}: symbol_bits={symbol_bits} does not divide {self.bits} bits per frame")
        self.symbol_bits = symbol_bits
        self.info = TokenizerInfo(
            name=name,
            sample_rate=SAMPLE_RATE,
            num_codebooks=self.bits // symbol_bits,
            codebook_size=2**symbol_bits,
            frame_rate=SAMPLE_RATE / self.samples,
            kind="classic",
            causal=True,
            align="envelope",
            extras={"mode": mode, "bits_per_frame": self.bits, "samples_per_frame": self.samples},
        )

    def encode(self, audio: torch.Tensor, lengths: torch.Tensor) -> Tokens:
        # Whole frames only, as Codec2's c2enc does; a last partial frame is kept (zero-padded)
        # when at least half full, so bits / duration tracks the mode's bitrate within half a frame.
        frames = [max(1, (int(n) + self.samples // 2) // self.samples) for n in lengths]
        codes = torch.zeros(audio.shape[0], self.info.num_codebooks, max(frames), dtype=torch.int64)
        for b, n in enumerate(lengths.tolist()):
            x = audio[b].mean(dim=0)[: min(n, frames[b] * self.samples)].clamp(-1.0, 1.0).numpy()
            pcm = np.zeros(frames[b] * self.samples, dtype=np.int16)
            pcm[: x.size] = np.round(x * 32767.0).astype(np.int16)
            c2 = self._pycodec2.Codec2(self.mode)  # fresh state per item: items must not share it
            for t in range(frames[b]):
                frame = c2.encode(pcm[t * self.samples : (t + 1) * self.samples])
                codes[b, :, t] = torch.from_numpy(bits_to_symbols(frame, self.bits, self.symbol_bits))
        return Tokens(codes, torch.tensor(frames, dtype=torch.int64))

    def decode(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, t = tokens.codes.shape
        out = torch.zeros(b, 1, t * self.samples)
        for i in range(b):
            c2 = self._pycodec2.Codec2(self.mode)
            self._rng.value = 1
            symbols = tokens.codes[i].numpy()
            pcm = [c2.decode(symbols_to_bits(symbols[:, j], self.symbol_bits, self.bytes)) for j in range(int(tokens.lengths[i]))]
            if pcm:
                y = np.concatenate(pcm).astype(np.float32) / 32768.0
                out[i, 0, : y.size] = torch.from_numpy(y)
        return out, tokens.lengths * self.samples
