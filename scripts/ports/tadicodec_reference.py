"""Derive TaDiCodec's state-dict manifest and a reference fixture from the AUTHORS' code.

Their model code needs transformers 4.42 (requirements.txt pins 4.42.4); it is installed beside, not into, the
project's venv, and their sources are taken from a checkout outside the project:

    git clone https://github.com/HeCheng0625/Diffusion-Speech-Tokenizer authors
    git -C authors checkout cc660a8951a8324d5e05dac7bb083fa9f24a402e
    pip install --no-deps --target site transformers==4.42.4 tokenizers==0.19.1 huggingface_hub==0.24.6
    PYTHONPATH=site:authors python scripts/ports/tadicodec_reference.py tests/manifests/tadicodec.json \
        tests/fixtures/tadicodec_reference

transformers 4.42's import-time version check refuses numpy 2, and their mel module imports pyworld (unused for
mel): both are stubbed below. Nothing else of theirs is changed.

1. Manifest: their ``TaDiCodec(cfg=...)`` with dasb's ``PUBLISHED_CONFIG`` (the values of their
   egs/tts/TaDiCodec/tadicodec_6_25hz_16384_bsq.json), built on the meta device: ``state_dict()`` keys and
   shapes, and the parameter count.
2. Fixture: the same class on a small configuration, their random initialisation (seed 0), saved as their
   pipeline loads it (``config.json`` with ``preprocess`` and ``model.tadicodec``, ``model.safetensors`` by
   ``safetensors.torch.save_model``), with the codes their ``TaDiCodecPipline`` steps give
   (``MelSpectrogram`` -> ``(mel - mel_mean) / sqrt(mel_var)`` -> ``TaDiCodec.encode``) for
   ``dasb.testing.speech_like_signal(3.13, 24000)``, and that normalised mel's first 4 frames.
3. Decoding: their ``reverse_diffusion`` (32 steps, cfg 2.0, rescale 0.75, as their pipeline) from the first 8
   of those codes and text ids 3..9, noise from ``torch.manual_seed(1)``, and their ``Vocos`` (small, random,
   saved as ``vocoder/model.safetensors``) on that mel: ``decoded.safetensors`` holds the mel and the audio.
"""
import json
import math
import sys
import types
from pathlib import Path

import torch

sys.modules["pyworld"] = types.ModuleType("pyworld")
_check = types.ModuleType("transformers.dependency_versions_check")
_check.dep_version_check = lambda *args, **kwargs: None
sys.modules["transformers.dependency_versions_check"] = _check

from models.codec.amphion_codec.vocos import Vocos  # noqa: E402
from models.codec.melvqgan.melspec import MelSpectrogram  # noqa: E402
from models.tts.tadicodec.modeling_tadicodec import TaDiCodec  # noqa: E402
from safetensors.torch import save_file, save_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dasb.testing import speech_like_signal  # noqa: E402
from port_manifest import state_dict_manifest  # noqa: E402  (beside this script)
from dasb.tokenizers.tadicodec import PREPROCESS, PUBLISHED_CONFIG  # noqa: E402

SMALL = {**PUBLISHED_CONFIG, "hidden_size": 32, "encoder_num_layers": 2, "decoder_num_layers": 2, "num_heads": 2,
         "text_vocab_size": 50}
VOCOS = {"input_channels": 128, "dim": 32, "intermediate_dim": 64, "num_layers": 2, "n_fft": 1920, "hop_size": 480,
         "padding": "same"}

manifest_path, fixture = Path(sys.argv[1]), Path(sys.argv[2])
with torch.device("meta"):
    published = TaDiCodec(cfg=types.SimpleNamespace(**PUBLISHED_CONFIG))
manifest_path.write_text(json.dumps({
    "system": "TaDiCodec (hub amphion/TaDiCodec, model.safetensors)",
    "source": "github.com/HeCheng0625/Diffusion-Speech-Tokenizer models/tts/tadicodec/modeling_tadicodec.py, "
              "llama_nar_prefix.py, models/codec/amphion_codec/quantize/bsq.py, commit "
              "cc660a8951a8324d5e05dac7bb083fa9f24a402e, with transformers 4.42.4",
    "how": "scripts/ports/tadicodec_reference.py: the authors' TaDiCodec(cfg) with cfg = dasb's "
           "tadicodec.PUBLISHED_CONFIG; state_dict() keys and shapes",
    "config": PUBLISHED_CONFIG, **state_dict_manifest(published)}, indent=1))

torch.manual_seed(0)
model = TaDiCodec(cfg=types.SimpleNamespace(**SMALL)).eval()
fixture.mkdir(parents=True, exist_ok=True)
save_model(model, str(fixture / "model.safetensors"))
(fixture / "config.json").write_text(json.dumps({"preprocess": PREPROCESS, "model": {"tadicodec": SMALL, "vocos": VOCOS}},
                                                      indent=1))
p = PREPROCESS
mel_model = MelSpectrogram(n_fft=p["n_fft"], num_mels=p["num_mels"], sampling_rate=p["sample_rate"],
                           hop_size=p["hop_size"], win_size=p["win_size"], fmin=p["fmin"], fmax=p["fmax"])
x = torch.from_numpy(speech_like_signal(3.13, 24000))  # [1, N]
with torch.no_grad():
    mel = (mel_model(x).transpose(1, 2) - p["mel_mean"]) / math.sqrt(p["mel_var"])
    _, codes = model.encode(mel, torch.ones(mel.shape[:2]))
(fixture / "codes.json").write_text(json.dumps({"codes": codes[0].tolist(), "mel_frames": mel.shape[1],
                                                "mel_head": mel[0, :4].tolist()}))
vocoder = Vocos(cfg=types.SimpleNamespace(**VOCOS)).eval()
(fixture / "vocoder").mkdir(exist_ok=True)
# As accelerate saves a model (the hann window is a view of a larger storage, which save_model refuses).
save_file({k: v.contiguous().clone() for k, v in vocoder.state_dict().items()}, str(fixture / "vocoder" / "model.safetensors"),
          metadata={"format": "pt"})
with torch.no_grad():
    torch.manual_seed(1)
    rec = model.reverse_diffusion(indices=codes[:, :8], text_ids=torch.arange(3, 10)[None], n_timesteps=32, cfg=2.0,
                                  rescale_cfg=0.75)
    audio = vocoder(rec.transpose(1, 2))
save_file({"mel": rec.contiguous(), "audio": audio.contiguous()}, str(fixture / "decoded.safetensors"))
print(len(published.state_dict()), "keys,", sum(p.numel() for p in published.parameters()), "parameters;",
      codes.shape[-1], "reference codes,", len(set(codes[0].tolist())), "distinct")
