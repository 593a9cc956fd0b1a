"""A minimal ctypes binding to libopus: one mono encoder and decoder, 16-bit in, float out.

FFmpeg's Opus encoder (what PyAV offers) cannot bound the size of a packet, and
libopus's VBR has no bound of its own below 1275 bytes per frame; libopus's own
``opus_encode(..., max_data_bytes)`` makes every packet fit a given size. So
dasb calls libopus directly: the copy PyAV's wheel bundles (``av.libs``, pinned
with the ``codecs`` extra), else the system's ``libopus``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from pathlib import Path

import numpy as np

APPLICATIONS = {"voip": 2048, "audio": 2049, "lowdelay": 2051}
MAX_FRAME_BYTES = 1276  # a TOC byte and the largest Opus frame (RFC 6716, 3.2.1)
_SET_BITRATE, _SET_VBR, _SET_COMPLEXITY, _SET_VBR_CONSTRAINT, _GET_LOOKAHEAD = 4002, 4006, 4010, 4020, 4027


class OpusError(RuntimeError):
    """libopus returned an error code."""


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL:
    """libopus, loaded once; ImportError naming the extra when there is none."""
    candidates: list[str] = []
    try:
        import av

        root = Path(av.__file__).resolve().parent
        candidates += [str(p) for p in sorted((root.parent / "av.libs").glob("libopus*.so*"))]
        candidates += [str(p) for p in sorted((root / ".dylibs").glob("libopus*.dylib"))]
    except ImportError:
        pass
    system = ctypes.util.find_library("opus")
    candidates += [system] if system else []
    if not candidates:
        raise ImportError("Opus needs libopus: pip install 'dasb[codecs]' (PyAV's wheel bundles it) or install the system libopus")
    lib = ctypes.CDLL(candidates[0])
    lib.opus_get_version_string.restype = ctypes.c_char_p
    lib.opus_strerror.restype = ctypes.c_char_p
    for create in (lib.opus_encoder_create, lib.opus_decoder_create):
        create.restype = ctypes.c_void_p
        create.argtypes = [ctypes.c_int32, ctypes.c_int, *([ctypes.c_int] if create is lib.opus_encoder_create else []),
                           ctypes.POINTER(ctypes.c_int)]
    lib.opus_encoder_destroy.argtypes = lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_encode.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int, ctypes.c_char_p, ctypes.c_int32]
    lib.opus_decode_float.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_float),
                                      ctypes.c_int, ctypes.c_int]
    return lib


def version() -> str:
    """The loaded libopus's version string, e.g. ``libopus 1.6.1``."""
    return library().opus_get_version_string().decode()


def _check(code: int, what: str) -> int:
    if code < 0:
        raise OpusError(f"libopus {what} failed: {library().opus_strerror(code).decode()} ({code})")
    return code


class Encoder:
    """A mono libopus encoder at ``sample_rate``: ``bitrate`` bits/s, unconstrained VBR, complexity 10
    (FFmpeg's defaults for ``vbr=on``)."""

    def __init__(self, sample_rate: int, application: str, bitrate: int) -> None:
        self._lib = lib = library()
        err = ctypes.c_int()
        self._st = lib.opus_encoder_create(sample_rate, 1, APPLICATIONS[application], ctypes.byref(err))
        _check(err.value, "encoder creation")
        for request, value in ((_SET_BITRATE, bitrate), (_SET_VBR, 1), (_SET_VBR_CONSTRAINT, 0), (_SET_COMPLEXITY, 10)):
            _check(lib.opus_encoder_ctl(ctypes.c_void_p(self._st), ctypes.c_int(request), ctypes.c_int32(value)), "setting")
        lookahead = ctypes.c_int32()
        _check(lib.opus_encoder_ctl(ctypes.c_void_p(self._st), ctypes.c_int(_GET_LOOKAHEAD), ctypes.byref(lookahead)), "lookahead")
        self.lookahead = lookahead.value  # samples the decoded audio is delayed by (the pre-skip)

    def encode(self, frame: np.ndarray, max_bytes: int) -> bytes:
        """One packet for ``frame`` (int16, a whole frame), at most ``max_bytes`` long."""
        pcm = np.ascontiguousarray(frame, dtype=np.int16)
        out = ctypes.create_string_buffer(max_bytes)
        n = self._lib.opus_encode(self._st, pcm.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), pcm.size, out, max_bytes)
        return out.raw[: _check(n, "encoding")]

    def __del__(self) -> None:
        if getattr(self, "_st", None):
            self._lib.opus_encoder_destroy(self._st)


class Decoder:
    """A mono libopus decoder at ``sample_rate``."""

    def __init__(self, sample_rate: int) -> None:
        self._lib = library()
        err = ctypes.c_int()
        self._st = self._lib.opus_decoder_create(sample_rate, 1, ctypes.byref(err))
        _check(err.value, "decoder creation")
        self._max_samples = sample_rate * 120 // 1000  # the longest packet Opus allows

    def decode(self, packet: bytes) -> np.ndarray:
        """The float32 samples of one packet."""
        out = np.zeros(self._max_samples, dtype=np.float32)
        n = self._lib.opus_decode_float(self._st, packet, len(packet), out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                        self._max_samples, 0)
        return out[: _check(n, "decoding")]

    def __del__(self) -> None:
        if getattr(self, "_st", None):
            self._lib.opus_decoder_destroy(self._st)
