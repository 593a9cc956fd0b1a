"""Opus (RFC 6716) through libopus.

Tokens are the bytes of the Opus packets, one packet per 20 ms frame:
``codes[b, k, t]`` is byte ``k`` of packet ``t`` (codebook size 256) and
``mask[b, k, t]`` is True for the packet's real bytes. Opus is variable-rate:
``info.num_codebooks`` is the packet-size cap ``max_packet_bytes``, which
libopus is given as each frame's ``max_data_bytes``, so every packet it emits
fits (a frame that would need more is coded with fewer bits). The nominal
bitrate is that capacity; the real bitrate is measured from the masked bytes
(``bitrate_bps`` of the ``tokens`` benchmark, which the leaderboard shows).

Packets are bit-identical to FFmpeg's libopus encoder at the same settings
(VBR on, complexity 10) whenever the cap does not bind. Decoding feeds those
packets to the libopus decoder (never re-encodes) at the native rate and drops
the encoder's look-ahead, so decoded audio starts aligned with the input.
"""
from __future__ import annotations

import numpy as np
import torch

from dasb.tokenizers import libopus
from dasb.tokenizers.base import AudioTokenizer, Tokens, TokenizerInfo

APPLICATIONS = tuple(libopus.APPLICATIONS)


class OpusTokenizer(AudioTokenizer):
    """Opus at a target ``bitrate`` (bits/s), VBR, ``frame_ms`` frames, input at ``sample_rate``.

    ``max_packet_bytes`` (default: three times the average packet at the target
    bitrate) caps every packet and is the token axis K; libopus keeps each packet
    within it.
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
        self.bitrate = int(bitrate)
        self.application = application
        self.frame_size = sample_rate * frame_ms // 1000
        average = self.bitrate * frame_ms / 8000
        self.max_bytes = int(max_packet_bytes or int(np.ceil(3 * average)))
        if not 3 <= self.max_bytes <= libopus.MAX_FRAME_BYTES:
            raise ValueError(f"tokenizer {name!r}: max_packet_bytes must be within 3..{libopus.MAX_FRAME_BYTES} "
                             f"(the largest Opus frame), got {self.max_bytes}")
        self.pre_skip = libopus.Encoder(sample_rate, application, self.bitrate).lookahead
        self.info = TokenizerInfo(
            name=name,
            sample_rate=sample_rate,
            num_codebooks=self.max_bytes,
            codebook_size=256,
            frame_rate=1000.0 / frame_ms,
            kind="classic",
            causal=True,
            variable_rate=True,
            extras={"target_bitrate": self.bitrate, "application": application, "vbr": "on",
                    "max_packet_bytes": self.max_bytes, "libopus": libopus.version()},
        )

    def _packets(self, pcm: np.ndarray) -> list[bytes]:
        """Encode int16 mono ``pcm`` with a fresh encoder, zero-padded to whole frames past the look-ahead."""
        enc = libopus.Encoder(self.info.sample_rate, self.application, self.bitrate)
        total = -(-(pcm.size + self.pre_skip) // self.frame_size) * self.frame_size
        padded = np.zeros(total, dtype=np.int16)
        padded[: pcm.size] = pcm
        return [enc.encode(padded[i : i + self.frame_size], self.max_bytes) for i in range(0, total, self.frame_size)]

    def encode(self, audio: torch.Tensor, lengths: torch.Tensor) -> Tokens:
        per_item = []
        for b, n in enumerate(lengths.tolist()):
            pcm = np.round(audio[b].mean(dim=0)[:n].clamp(-1.0, 1.0).numpy() * 32767.0).astype(np.int16)
            per_item.append(self._packets(pcm))
        t = max(len(p) for p in per_item)
        codes = torch.zeros(len(per_item), self.max_bytes, t, dtype=torch.int64)
        mask = torch.zeros(len(per_item), self.max_bytes, t, dtype=torch.bool)
        for b, packets in enumerate(per_item):
            for j, packet in enumerate(packets):
                codes[b, : len(packet), j] = torch.from_numpy(np.frombuffer(packet, dtype=np.uint8).astype(np.int64))
                mask[b, : len(packet), j] = True
        return Tokens(codes, torch.tensor([len(p) for p in per_item], dtype=torch.int64), mask)

    def _decode_one(self, codes: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
        dec = libopus.Decoder(self.info.sample_rate)
        chunks = []
        for j in range(codes.shape[-1]):
            packet = codes[mask[:, j], j].numpy().astype(np.uint8).tobytes()
            if not packet:
                raise ValueError(f"tokenizer {self.info.name!r}: empty Opus packet at frame {j}")
            chunks.append(dec.decode(packet))
        return np.concatenate(chunks)[self.pre_skip :]

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
