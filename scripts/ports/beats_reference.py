"""Derive the BEATs tokenizer's state-dict manifest and a reference fixture from the AUTHORS' code.

Their four files need only torch, numpy and torchaudio (the project's own venv):

    git clone https://github.com/microsoft/unilm && git -C unilm checkout 768a3c873f598bb9b4d4dfb9267b099e35f8fe56
    PYTHONPATH=unilm/beats python scripts/ports/beats_reference.py tests/manifests/beats-tokenizer.json \
        tests/fixtures/beats_reference

1. Manifest: their ``Tokenizers(TokenizersConfig(cfg))`` with dasb's ``PUBLISHED_CONFIG`` (the BEATs encoder
   settings; see that constant for why), its ``state_dict()`` keys and shapes and its parameter count.
2. Fixture: the same class on a small configuration (relative position bias, its gate and deep norm on, so
   every code path of the encoder runs), random weights (seed 0), a random unit-norm codebook marked as
   initialised (their quantiser would otherwise run k-means on the first input), saved as their README loads a
   tokenizer (``torch.save({"cfg": ..., "model": state_dict})``), with the labels their ``extract_labels`` gives
   for ``dasb.testing.speech_like_signal(3.13, 16000)``.
"""
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from Tokenizers import Tokenizers, TokenizersConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dasb.testing import speech_like_signal  # noqa: E402
from port_manifest import state_dict_manifest  # noqa: E402  (beside this script)
from dasb.tokenizers.beats import PUBLISHED_CONFIG  # noqa: E402

SMALL = {**PUBLISHED_CONFIG, "embed_dim": 24, "encoder_layers": 2, "encoder_embed_dim": 32, "encoder_ffn_embed_dim": 64,
         "encoder_attention_heads": 4, "conv_pos": 16, "conv_pos_groups": 4, "num_buckets": 32, "max_distance": 64,
         "quant_n": 64, "quant_dim": 16}

manifest_path, fixture = Path(sys.argv[1]), Path(sys.argv[2])
published = Tokenizers(TokenizersConfig(PUBLISHED_CONFIG))
manifest_path.write_text(json.dumps({
    "system": "BEATs tokenizer (Tokenizer_iter2/iter3/iter3_plus_AS20K/iter3_plus_AS2M.pt)",
    "source": "github.com/microsoft/unilm beats/Tokenizers.py, backbone.py, quantizer.py, commit 768a3c873f598bb9b4d4dfb9267b099e35f8fe56",
    "how": "scripts/ports/beats_reference.py: the authors' Tokenizers(TokenizersConfig(cfg)) with cfg = dasb's "
           "beats.PUBLISHED_CONFIG; state_dict() keys and shapes",
    "config": PUBLISHED_CONFIG, **state_dict_manifest(published)}, indent=1))

torch.manual_seed(0)
model = Tokenizers(TokenizersConfig(SMALL)).eval()
with torch.no_grad():
    model.quantize.embedding.weight.copy_(F.normalize(torch.randn(SMALL["quant_n"], SMALL["quant_dim"]), dim=-1))
    model.quantize.embedding.initted.fill_(1.0)
fixture.mkdir(parents=True, exist_ok=True)
torch.save({"cfg": SMALL, "model": model.state_dict()}, fixture / "Tokenizer_reference.pt")
x = torch.from_numpy(speech_like_signal(3.13, 16000))
with torch.no_grad():
    labels = model.extract_labels(x, padding_mask=torch.zeros_like(x, dtype=torch.bool))
(fixture / "codes.json").write_text(json.dumps(labels.tolist()))
print(len(published.state_dict()), "keys,", sum(p.numel() for p in published.parameters()), "parameters;",
      len(labels), "reference labels,", len(set(labels.tolist())), "distinct")
