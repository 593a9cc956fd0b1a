"""GLM-4-Voice tokenizer port: the authors' layout, their codes, the card's loading path, conformance at full size."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers", reason="the GLM-4-Voice port uses transformers' Whisper layers: pip install 'dasb[neural]'")

from _ports import assert_matches_manifest, assert_missing_weights_fail_fast, card_from_weights_dir, clip  # noqa: E402
from dasb.testing import check_tokenizer, speech_like_signal  # noqa: E402
from dasb.tokenizers.glm4voice import PUBLISHED_CONFIG, GLM4VoiceTokenizer, WhisperVQEncoder  # noqa: E402

# Made with the authors' code: see scripts/ports/glm4voice_reference.py.
REFERENCE = Path(__file__).parent / "fixtures" / "glm4voice_reference"
HUB_ID = "THUDM/glm-4-voice-tokenizer"


def test_state_dict_matches_the_authors_manifest():
    with torch.device("meta"):
        model = WhisperVQEncoder(PUBLISHED_CONFIG)
    assert_matches_manifest(model, "glm-4-voice-tokenizer")


def test_codes_equal_the_authors_implementation():
    """Weights and codes saved by the authors' WhisperVQEncoder (small random config, block-causal mask active)."""
    tok = GLM4VoiceTokenizer("glm-ref", checkpoint=str(REFERENCE))
    x = torch.from_numpy(speech_like_signal(3.13, 16000))[None]
    codes = tok.encode(x, torch.tensor([x.shape[-1]])).codes[0, 0].tolist()
    want = json.loads((REFERENCE / "codes.json").read_text())
    assert len(codes) == math.ceil(x.shape[-1] / 1280) == len(want)
    assert codes == want
    assert len(set(want)) > 5, "the reference must exercise several codes"


def test_card_loads_a_checkpoint_in_the_authors_layout(tmp_path, monkeypatch):
    """A random model saved as the hub repo is (whole Whisper-VQ under model.encoder., decoder side included),
    loaded through the card from $DASB_WEIGHTS/<hub id>: same codes as the in-memory model."""
    from safetensors.torch import save_file

    config = {**json.loads((REFERENCE / "config.json").read_text()), "encoder_layers": 4}
    torch.manual_seed(1)
    model = WhisperVQEncoder(config)
    torch.nn.init.normal_(model.codebook.weight, std=0.5)
    state = {"model.encoder." + k: v for k, v in model.state_dict().items()}
    # What the tokenizer does not use: layers past the bottleneck, the final norm, the text decoder.
    state.update({"model.encoder.layers.3.fc1.bias": torch.zeros(64), "model.encoder.layer_norm.weight": torch.ones(32),
                  "model.decoder.embed_tokens.weight": torch.zeros(8, 32)})
    folder = tmp_path / HUB_ID
    folder.mkdir(parents=True)
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "preprocessor_config.json").write_text((REFERENCE / "preprocessor_config.json").read_text())
    tok = card_from_weights_dir("glm-4-voice-tokenizer", tmp_path, monkeypatch)
    mem = GLM4VoiceTokenizer("glm-mem", model=model)
    x, n = clip(tok)
    assert torch.equal(tok.encode(x, n).codes, mem.encode(x, n).codes)
    assert tok.info.extras["resolved_revision"] == f"local folder {folder}"


def test_missing_weights_fail_fast_naming_the_hub_id(tmp_path, monkeypatch):
    assert_missing_weights_fail_fast("glm-4-voice-tokenizer", tmp_path, monkeypatch, HUB_ID, "DASB_WEIGHTS")


@pytest.mark.slow
def test_conformance_at_the_published_size():
    """Random weights, the released size: 343.6 M parameters (16 Whisper-large layers and the codebook)."""
    torch.manual_seed(0)
    start = time.perf_counter()
    tok = GLM4VoiceTokenizer("glm-4-voice-tokenizer", config=PUBLISHED_CONFIG)
    assert sum(p.numel() for p in tok.model.parameters()) == 343_599_360
    check_tokenizer(tok, durations=(1.0, 0.37, 2.2))
    assert tok.info.frame_rate == 12.5 and tok.info.codebook_sizes == (16384,) and not tok.info.decodes
    print(f"built and checked in {time.perf_counter() - start:.1f} s")
