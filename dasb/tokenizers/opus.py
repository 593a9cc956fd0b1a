"""Opus (RFC 6716) through libopus in PyAV's bundled FFmpeg.

Tokens are the bytes of the Opus packets, one packet per 20 ms frame:
``codes[b, k, t]`` is byte ``k`` of packet ``t`` (codebook size 256) and
``mask[b, k, t]`` is True for the packet's real bytes. Opus is variable-rate,
so ``info.num_codebooks`` is only the largest packet the adapter accepts and
the nominal bitrate is a capacity; the real bitrate is measured from the
masked bytes (``bitrate_bps`` of the ``tokens`` benchmark, which the
leaderboard shows instead of the nominal one).

Decoding feeds those packets to the libopus decoder (never re-encodes) with
the encoder's Opus header, so the encoder's look-ahead (pre-skip) is removed
and decoded audio starts aligned with the input.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch

from dasb.audio import resample
from dasb.tokenizers.base import AudioTokenizer, Tokens, TokenizerInfo

APPLICATIONS = ("voip", "audio", "lowdelay")
DECODER_RATE = 48000  # FFmpeg's libopus decoder always returns 48 kHz


def _import_av():
    try:
        import av
    except ImportError as err:
        raise ImportError("Opus needs PyAV (bundled FFmpeg with libopus): pip install 'dasb[codecs]'") from err
    return av


class OpusTokenizer(AudioTokenizer):
    """Opus at a target ``bitrate`` (bits/s), VBR, ``frame_ms`` frames, input at ``sample_rate``.

    ``max_packet_bytes`` (default: three times the average packet at the target
    bitrate; about twice the largest packet seen on speech) bounds the token axis K; a longer packet raises an error saying
    to raise it.
    """

    def __init__(
        self,
        name: str,
        bitrate: int = 12000,
        application: str = "voip",
        sample_rate: int = 16000,
        frame_ms: int = 20,
        max_packet_bytes: int | None = None,
    ) -> None:
        if application not in APPLICATIONS:
            raise ValueError(f"Opus application must be one of {APPLICATIONS}, got {application!r}")
        self._av = _import_av()
        self.bitrate = int(bitrate)
        self.application = application
        self.frame_size = sample_rate * frame_ms // 1000
        self.frame_ms = frame_ms
        average = self.bitrate * frame_ms / 8000
        self.max_bytes = int(max_packet_bytes or int(np.ceil(3 * average)))
        # The Opus header (carries the pre-skip) is fixed by the configuration: take it from an encoder.
        self._header = bytes(self._encoder(sample_rate).extradata)
        self.info = TokenizerInfo(
            name=name,
            sample_rate=sample_rate,
            num_codebooks=self.max_bytes,
            codebook_size=256,
            frame_rate=1000.0 / frame_ms,
            kind="classic",
            causal=True,
            variable_rate=True,
            extras={"target_bitrate": self.bitrate, "application": application, "vbr": "on"},
        )

    def _encoder(self, sample_rate: int):
        ctx = self._av.CodecContext.create("libopus", "w")
        ctx.sample_rate = sample_rate
        ctx.layout = "mono"
        ctx.format = "s16"
        ctx.bit_rate = self.bitrate
        ctx.time_base = Fraction(1, sample_rate)
        ctx.options = {"application": self.application, "frame_duration": str(self.frame_ms), "vbr": "on"}
        ctx.open()
        return ctx

    def _packets(self, pcm: np.ndarray) -> list[bytes]:
        """Encode int16 mono ``pcm`` with a fresh encoder (the last frame may be short)."""
        av = self._av
        enc = self._encoder(self.info.sample_rate)
        packets: list[bytes] = []
        for start in range(0, pcm.size, self.frame_size):
            frame = av.AudioFrame.from_ndarray(pcm[None, start : start + self.frame_size], format="s16", layout="mono")
            frame.sample_rate = self.info.sample_rate
            frame.pts = start
            packets.extend(bytes(p) for p in enc.encode(frame))
        packets.extend(bytes(p) for p in enc.encode(None))  # flush the look-ahead
        return packets

    def encode(self, audio: torch.Tensor, lengths: torch.Tensor) -> Tokens:
        per_item = []
        for b, n in enumerate(lengths.tolist()):
            pcm = np.round(audio[b].mean(dim=0)[:n].clamp(-1.0, 1.0).numpy() * 32767.0).astype(np.int16)
            packets = self._packets(pcm)
            longest = max(len(p) for p in packets)
            if longest > self.max_bytes:
                raise ValueError(
                    f"Opus packet of {longest} bytes exceeds max_packet_bytes={self.max_bytes} "
                    f"of tokenizer {self.info.name!r}; raise it in the card's params"
                )
            per_item.append(packets)
        t = max(len(p) for p in per_item)
        codes = torch.zeros(len(per_item), self.max_bytes, t, dtype=torch.int64)
        mask = torch.zeros(len(per_item), self.max_bytes, t, dtype=torch.bool)
        for b, packets in enumerate(per_item):
            for j, packet in enumerate(packets):
                codes[b, : len(packet), j] = torch.from_numpy(np.frombuffer(packet, dtype=np.uint8).astype(np.int64))
                mask[b, : len(packet), j] = True
        return Tokens(codes, torch.tensor([len(p) for p in per_item], dtype=torch.int64), mask)

    def _decode_one(self, codes: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
        av = self._av
        dec = av.CodecContext.create("libopus", "r")
        dec.sample_rate = DECODER_RATE
        dec.layout = "mono"
        dec.extradata = self._header
        chunks = []
        for j in range(codes.shape[-1]):
            packet = codes[mask[:, j], j].numpy().astype(np.uint8).tobytes()
            if not packet:
                raise ValueError(f"tokenizer {self.info.name!r}: empty Opus packet at frame {j}")
            chunks.extend(f.to_ndarray().reshape(-1) for f in dec.decode(av.Packet(packet)))
        chunks.extend(f.to_ndarray().reshape(-1) for f in dec.decode(None))
        pcm = np.concatenate(chunks).astype(np.float32) / 32768.0
        return resample(pcm[None], DECODER_RATE, self.info.sample_rate)[0]

    def decode(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        if tokens.mask is None:
            raise ValueError(f"tokenizer {self.info.name!r}: Opus tokens need a mask of valid packet bytes")
        waves = []
        for b in range(tokens.codes.shape[0]):
            n = int(tokens.lengths[b])
            waves.append(self._decode_one(tokens.codes[b, :, :n], tokens.mask[b, :, :n]))
        lengths = torch.tensor([w.size for w in waves], dtype=torch.int64)
        out = torch.zeros(len(waves), 1, int(lengths.max()))
        for b, w in enumerate(waves):
            out[b, 0, : w.size] = torch.from_numpy(w)
        return out, lengths
