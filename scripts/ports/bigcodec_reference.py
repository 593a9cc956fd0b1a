"""Derive BigCodec's state-dict manifest and a reference fixture from the AUTHORS' code.

    git clone https://github.com/Aria-K-Alethia/BigCodec && git -C BigCodec checkout 09845ab1f5bc7a3d1589c16de820ef15bc2afefe
    PYTHONPATH=BigCodec python scripts/ports/bigcodec_reference.py tests/manifests/bigcodec.json tests/fixtures/bigcodec_reference

(torch 2.13 and einops suffice for their model code.)
1. Manifest: their ``CodecEncoder()`` and ``CodecDecoder()`` with default arguments (= config/model/default.yaml,
   what inference.py builds for bigcodec.pt), the ``state_dict()`` keys and shapes under the checkpoint's
   ``CodecEnc`` and ``generator`` entries.
2. Fixture: the same classes on a small configuration with random weights (seed 0), saved as their inference.py
   reads bigcodec.pt, with the codes and decoded audio of their inference.py recipe for
   ``dasb.testing.speech_like_signal(0.77, 16000)``.
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
from vq.codec_decoder import CodecDecoder
from vq.codec_encoder import CodecEncoder

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dasb.testing import speech_like_signal  # noqa: E402

SMALL_ENC = {"ngf": 2, "out_channels": 32, "rnn_num_layers": 1}
SMALL_DEC = {"in_channels": 32, "upsample_initial_channel": 32, "rnn_num_layers": 1, "vq_dim": 32, "codebook_size": 64, "codebook_dim": 8}


def shapes(module: torch.nn.Module) -> dict:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


manifest_path, fixture = Path(sys.argv[1]), Path(sys.argv[2])
enc, dec = CodecEncoder(), CodecDecoder()
manifest_path.write_text(json.dumps({
    "system": "BigCodec (Alethia/BigCodec bigcodec.pt)",
    "source": "github.com/Aria-K-Alethia/BigCodec vq/codec_encoder.py, vq/codec_decoder.py, commit 09845ab1f5bc7a3d1589c16de820ef15bc2afefe",
    "how": "scripts/ports/bigcodec_reference.py: the authors' CodecEncoder() and CodecDecoder() with default arguments "
           "(as inference.py builds them); state_dict() keys and shapes, under the checkpoint's entry names",
    "parameters": sum(p.numel() for m in (enc, dec) for p in m.parameters()),
    "state_dict": {"CodecEnc": shapes(enc), "generator": shapes(dec)}}, indent=1))

torch.manual_seed(0)
enc, dec = CodecEncoder(**SMALL_ENC).eval(), CodecDecoder(**SMALL_DEC).eval()
with torch.no_grad():  # random encoders are near-constant; 1.5x gains give varied codes (17 of 64)
    for name, p in enc.named_parameters():
        if name.endswith("weight_g"):
            p.mul_(1.5)
wav = torch.from_numpy(speech_like_signal(0.77, 16000))
wav = torch.nn.functional.pad(wav, (0, (200 - (wav.shape[1] % 200))))  # as their inference.py
with torch.no_grad():
    vq_emb = enc(wav.unsqueeze(1))
    vq_post_emb, vq_code, _ = dec(vq_emb, vq=True)
    recon = dec(vq_post_emb, vq=False)
fixture.mkdir(parents=True, exist_ok=True)
torch.save({"CodecEnc": enc.state_dict(), "generator": dec.state_dict()}, fixture / "bigcodec.pt")
(fixture / "config.json").write_text(json.dumps({"encoder": SMALL_ENC, "decoder": SMALL_DEC}))
(fixture / "codes.json").write_text(json.dumps(vq_code[0, 0].tolist()))
np.save(fixture / "decoded.npy", recon[0, 0].numpy())
print(len(vq_code[0, 0]), "codes,", len(set(vq_code[0, 0].tolist())), "distinct; decoded", tuple(recon.shape))
