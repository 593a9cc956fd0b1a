"""Derive the GLM-4-Voice tokenizer's state-dict manifest and a reference fixture from the AUTHORS' code.

Run outside the project environment's transformers, with the authors' pinned one (their code imports
transformers 4.44 internals):

    git clone https://github.com/THUDM/GLM-4-Voice && git -C GLM-4-Voice checkout eb00ce9142e8d98b0ed7c57cd47e0d6d5dce9a1a
    pip install --target tf444 --no-deps transformers==4.44.1 tokenizers==0.19.1 huggingface_hub==0.24.6
    PYTHONPATH=tf444:GLM-4-Voice python scripts/ports/glm4voice_reference.py tests/manifests/glm-4-voice-tokenizer.json \
        tests/fixtures/glm4voice_reference

1. Manifest: their ``WhisperVQEncoder`` built on the meta device from the published config (dasb's
   ``PUBLISHED_CONFIG``, with ``quantize_encoder_only=True`` as their ``load_quantize_encoder`` sets), its
   ``state_dict()`` keys and shapes.
2. Fixture: the same class on a small config, random weights (seed 0), saved in their layout
   (``model.encoder.*`` in model.safetensors, config.json, preprocessor_config.json) with the codes their
   ``extract_speech_token`` recipe gives for ``dasb.testing.speech_like_signal(3.13, 16000)``.
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from speech_tokenizer.configuration_whisper import WhisperVQConfig
from speech_tokenizer.modeling_whisper import WhisperVQEncoder
from transformers import WhisperFeatureExtractor

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dasb.testing import speech_like_signal  # noqa: E402

PUBLISHED = {"d_model": 1280, "encoder_attention_heads": 20, "encoder_ffn_dim": 5120, "encoder_layers": 32,
             "num_mel_bins": 128, "max_source_positions": 1500, "encoder_causal_convolution": True,
             "pooling_kernel_size": 4, "pooling_position": 16, "pooling_type": "avg", "quantize_position": 16,
             "quantize_vocab_size": 16384, "quantize_causal_block_size": 200, "quantize_ema_decay": 0.99}
# Small enough to commit (180 kB); a block of 40 frames (0.8 s) so that the block-causal mask matters.
REFERENCE_CONFIG = {**PUBLISHED, "d_model": 32, "encoder_attention_heads": 2, "encoder_ffn_dim": 64, "encoder_layers": 4,
                    "max_source_positions": 200, "pooling_position": 2, "quantize_position": 2,
                    "quantize_vocab_size": 64, "quantize_causal_block_size": 40}


def build(config: dict, **kw) -> WhisperVQEncoder:
    cfg = WhisperVQConfig(**config, quantize_encoder_only=True)
    cfg._attn_implementation = "sdpa"
    return WhisperVQEncoder(cfg, **kw)


manifest_path, fixture = Path(sys.argv[1]), Path(sys.argv[2])
with torch.device("meta"):
    shapes = {k: list(v.shape) for k, v in build(PUBLISHED).state_dict().items()}
manifest_path.write_text(json.dumps({
    "system": "GLM-4-Voice tokenizer (THUDM/glm-4-voice-tokenizer)",
    "source": "github.com/THUDM/GLM-4-Voice speech_tokenizer/modeling_whisper.py, commit eb00ce9142e8d98b0ed7c57cd47e0d6d5dce9a1a",
    "how": "scripts/ports/glm4voice_reference.py: the authors' WhisperVQEncoder (transformers 4.44.1, meta device) "
           "from the published config with quantize_encoder_only=True; state_dict() keys and shapes",
    "state_dict": shapes}, indent=1))

torch.manual_seed(0)
model = build(REFERENCE_CONFIG).eval()
with torch.no_grad():
    model.codebook.weight.normal_(0, 0.5)  # spread the codebook so that codes vary
fe = WhisperFeatureExtractor(feature_size=REFERENCE_CONFIG["num_mel_bins"])
x = speech_like_signal(3.13, 16000)[0]
f = fe([x], sampling_rate=16000, return_attention_mask=True, return_tensors="pt", padding="longest", pad_to_multiple_of=1280)
with torch.no_grad():
    ids = model(**f).quantized_token_ids
keep = f.attention_mask[:, ::2][:, ::4].bool()
fixture.mkdir(parents=True, exist_ok=True)
save_file({"model.encoder." + k: v.contiguous() for k, v in model.state_dict().items()}, str(fixture / "model.safetensors"))
(fixture / "config.json").write_text(json.dumps({**REFERENCE_CONFIG, "model_type": "whisper"}))
fe.save_pretrained(str(fixture))
(fixture / "codes.json").write_text(json.dumps(ids[0][keep[0]].tolist()))
print(len(shapes), "keys;", int(keep.sum()), "reference codes")
