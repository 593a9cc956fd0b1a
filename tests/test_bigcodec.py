"""BigCodec port: the authors' layout, their codes and audio, the card's loading path, conformance at full size."""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from _ports import assert_matches_manifest, assert_missing_weights_fail_fast, clip  # noqa: E402
from dasb.testing import check_tokenizer, speech_like_signal
from dasb.tokenizers.bigcodec import PUBLISHED_CONFIG, BigCodec, BigCodecTokenizer, load_checkpoint
from dasb.tokenizers.cards import get_card

# Made with the authors' code: see scripts/ports/bigcodec_reference.py.
REFERENCE = Path(__file__).parent / "fixtures" / "bigcodec_reference"
HUB_ID = "Alethia/BigCodec"


def test_state_dict_matches_the_authors_manifest():
    with torch.device("meta"):
        model = BigCodec(PUBLISHED_CONFIG)
    assert_matches_manifest(model, "bigcodec")
    manifest = json.loads((Path(__file__).parent / "manifests" / "bigcodec.json").read_text())
    assert sum(p.numel() for p in model.parameters()) == manifest["parameters"] == 159_436_290


def test_codes_and_audio_equal_the_authors_implementation():
    """A small random model saved by the authors' classes in bigcodec.pt's format; codes and decoded audio of their
    inference.py recipe."""
    small = json.loads((REFERENCE / "config.json").read_text())
    config = {part: {**PUBLISHED_CONFIG[part], **small[part]} for part in ("encoder", "decoder")}
    tok = BigCodecTokenizer("bigcodec-ref", model=load_checkpoint(BigCodec(config), REFERENCE / "bigcodec.pt"))
    x = torch.from_numpy(speech_like_signal(0.77, 16000))[None]
    tokens = tok.encode(x, torch.tensor([x.shape[-1]]))
    want = json.loads((REFERENCE / "codes.json").read_text())
    assert tokens.codes[0, 0].tolist() == want and len(set(want)) > 5
    audio, _ = tok.decode(tokens)
    np.testing.assert_allclose(audio[0, 0].numpy(), np.load(REFERENCE / "decoded.npy"), atol=1e-6)


def test_bad_checkpoint_files_are_named(tmp_path, monkeypatch):
    folder = tmp_path / HUB_ID
    folder.mkdir(parents=True)
    torch.save({"model": {}}, folder / "bigcodec.pt")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DASB_WEIGHTS", str(tmp_path))
    with pytest.raises(ValueError, match="differs from the card's pinned 1fba3806"):
        get_card("bigcodec").build()
    card = get_card("bigcodec")
    with pytest.raises(ValueError, match="not a BigCodec checkpoint"):
        replace(card, params={**card.params, "sha256": None}).build()


def test_missing_weights_fail_fast_naming_the_file(tmp_path, monkeypatch):
    assert_missing_weights_fail_fast("bigcodec", tmp_path, monkeypatch, HUB_ID, "bigcodec.pt", "DASB_WEIGHTS")


@pytest.mark.slow
def test_card_loads_a_full_size_checkpoint_in_the_authors_format(tmp_path, monkeypatch):
    """A random full-size model saved as bigcodec.pt ({"CodecEnc", "generator"} state dicts), loaded through the
    card from $DASB_WEIGHTS/<hub id> with its sha256 checked: same codes as the in-memory model."""
    torch.manual_seed(0)
    model = BigCodec(PUBLISHED_CONFIG)
    folder = tmp_path / HUB_ID
    folder.mkdir(parents=True)
    torch.save({"CodecEnc": model.CodecEnc.state_dict(), "generator": model.generator.state_dict()}, folder / "bigcodec.pt")
    digest = hashlib.sha256((folder / "bigcodec.pt").read_bytes()).hexdigest()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DASB_WEIGHTS", str(tmp_path))
    card = get_card("bigcodec")
    tok = replace(card, params={**card.params, "sha256": digest}).build()
    assert tok.info.extras["resolved_revision"] == f"sha256:{digest}"
    x, n = clip(tok, 0.6)
    assert torch.equal(tok.encode(x, n).codes, BigCodecTokenizer("mem", model=model).encode(x, n).codes)


@pytest.mark.slow
def test_conformance_at_the_published_size():
    torch.manual_seed(0)
    tok = BigCodecTokenizer("bigcodec", config=PUBLISHED_CONFIG)
    check_tokenizer(tok, durations=(0.5, 0.23, 0.8))
    assert tok.info.frame_rate == 80 and tok.info.codebook_sizes == (8192,) and tok.info.decodes
