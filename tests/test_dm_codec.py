"""DM-Codec through the SpeechTokenizer package: the authors' layout, conformance, and the load path end to end."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip("einops", reason="DM-Codec runs on the SpeechTokenizer package: pip install 'dasb[speechtokenizer]'")

from _ports import assert_published_figures  # noqa: E402
from dasb.testing import check_tokenizer, randomise_codebooks, speech_like_signal  # noqa: E402
from dasb.tokenizers import dm_codec as D  # noqa: E402
from dasb.tokenizers.cards import load_cards  # noqa: E402
from dasb.tokenizers.hf_base import WeightsUnavailable  # noqa: E402

MANIFEST = Path(__file__).parent / "manifests" / "dm-codec.json"
SMALL = {**D.ARCHITECTURE, "n_filters": 8, "dimension": 32, "semantic_dimension": 16, "lstm_layers": 1, "codebook_size": 64}


def test_state_dict_equals_the_authors_manifest():
    with torch.device("meta"):
        tok = D.DMCodecTokenizer("dm-codec", config=D.ARCHITECTURE)
    assert {k: list(v.shape) for k, v in tok.model.state_dict().items()} == json.loads(MANIFEST.read_text())["keys"]


@pytest.mark.slow
def test_full_size_random_model_conforms():
    torch.manual_seed(0)
    tok = D.DMCodecTokenizer("dm-codec", config=D.ARCHITECTURE)
    randomise_codebooks(tok.model)
    check_tokenizer(tok)


def test_checkpoint_from_the_drive_folder_loads_through_the_card(tmp_path, monkeypatch):
    """A random model saved as a state dict under the card's file name loads strictly, gives the in-memory codes,
    and the run records the file's SHA-256."""
    torch.manual_seed(2)
    reference = D.DMCodecTokenizer("ref", config=SMALL)
    randomise_codebooks(reference.model)
    torch.save(reference.model.state_dict(), tmp_path / "DM-Codec_checkpoint_LM_SM.pt")
    monkeypatch.setattr(D, "ARCHITECTURE", SMALL)
    card = load_cards()["dm-codec-lm-sm"]
    loaded = D.DMCodecTokenizer(card.name, checkpoint=str(tmp_path), **card.params)
    assert loaded.info.extras["resolved_revision"].startswith("sha256:")
    audio = torch.from_numpy(speech_like_signal(1.0, 16000))[None]
    a, b = reference.encode(audio, torch.tensor([16000])), loaded.encode(audio, torch.tensor([16000]))
    assert torch.equal(a.codes, b.codes) and len(set(a.codes.flatten().tolist())) > 1


def test_missing_weights_fail_fast_naming_the_download(tmp_path):
    card = load_cards()["dm-codec-lm"]
    start = time.monotonic()
    with pytest.raises(WeightsUnavailable, match="14DMrDzIssP-8qzXBG8v65ctF4WPA_Uyv"):
        D.DMCodecTokenizer(card.name, checkpoint=str(tmp_path), **card.params)
    assert time.monotonic() - start < 5
    assert "DM-Codec_checkpoint_LM.pt" in D.DMCodecTokenizer.missing_weights(str(tmp_path), None, card.params)


@pytest.mark.parametrize("name", ["dm-codec-lm-sm", "dm-codec-lm"])
def test_published_figures_match_the_model(name):
    card = load_cards()[name]
    with torch.device("meta"):
        info = D.DMCodecTokenizer(card.name, config=D.ARCHITECTURE, **card.params).info
    pub = card.published
    assert_published_figures(info, pub)
