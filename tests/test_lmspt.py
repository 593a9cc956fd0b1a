"""LM-SPT port: the authors' parameter layout, conformance, and the load path end to end."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("safetensors", reason="LM-SPT weights are safetensors: pip install 'dasb[neural]'")

from dasb.testing import check_tokenizer, speech_like_signal  # noqa: E402
from dasb.tokenizers import lmspt as L  # noqa: E402
from dasb.tokenizers.cards import load_cards  # noqa: E402
from dasb.tokenizers.dualcodec import DualCodecConfig  # noqa: E402
from _ports import assert_missing_weights_fail_fast, assert_published_figures

SMALL = DualCodecConfig(encoder_dim=4, decoder_dim=32, n_codebooks=7, codebook_size=64, semantic_codebook_size=128,
                        is_causal=False)


def test_state_dict_equals_the_authors_manifest():
    manifest = json.loads((Path(__file__).parent / "manifests" / "lm-spt.json").read_text())
    with torch.device("meta"):
        model = L.LMSPTModel()
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == manifest["keys"]


def test_small_model_conforms():
    torch.manual_seed(0)
    tok = L.LMSPTTokenizer("lm-spt-small", config=SMALL)
    report = check_tokenizer(tok)
    assert report["frames"] == [7, 13, 4]  # no padding: the last partial 80 ms frame is dropped, as by the authors


@pytest.mark.slow
def test_full_size_random_model_conforms():
    torch.manual_seed(0)
    check_tokenizer(L.LMSPTTokenizer("lm-spt", config=L.RELEASE))


def test_checkpoint_in_the_authors_format_loads_through_the_card(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    torch.manual_seed(5)
    reference = L.LMSPTTokenizer("ref", config=SMALL)
    folder = tmp_path / "kakaocorp" / "lmspt"
    folder.mkdir(parents=True)
    save_file(reference.model.state_dict(), folder / L.FILENAME)
    monkeypatch.setenv("DASB_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(L, "RELEASE", SMALL)
    loaded = load_cards()["lm-spt"].build()
    assert loaded.info.extras["resolved_revision"] == f"local folder {folder}"
    audio = torch.from_numpy(speech_like_signal(1.3, 24000, seed=6))[None]
    n = torch.tensor([audio.shape[-1]])
    a, b = reference.encode(audio, n), loaded.encode(audio, n)
    assert torch.equal(a.codes, b.codes) and len(set(a.codes[0, 0].tolist())) > 1
    assert torch.equal(reference.decode(a)[0], loaded.decode(b)[0])


def test_missing_weights_fail_fast_naming_the_file(monkeypatch, tmp_path):
    assert_missing_weights_fail_fast("lm-spt", tmp_path, monkeypatch, "kakaocorp/lmspt")
    from dasb.doctor import check_card

    assert L.FILENAME in check_card(load_cards()["lm-spt"]).fix


def test_published_figures_match_the_model():
    card = load_cards()["lm-spt"]
    with torch.device("meta"):
        info = L.LMSPTTokenizer(card.name, config=L.RELEASE).info
    pub = card.published
    assert_published_figures(info, pub)
