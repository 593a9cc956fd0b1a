"""XY-Tokenizer port: the authors' parameter layout, conformance, and the checkpoint load path end to end."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers", reason="XY-Tokenizer needs transformers' mel filters: pip install 'dasb[neural]'")

from dasb.testing import check_tokenizer, speech_like_signal  # noqa: E402
from dasb.tokenizers import xy_tokenizer as X  # noqa: E402
from dasb.tokenizers.cards import load_cards  # noqa: E402
from _ports import assert_missing_weights_fail_fast, assert_published_figures

MANIFESTS = Path(__file__).parent / "manifests"
SMALL = dict(d_model=64, heads=4, ffn=128, encoder_layers=1, adapter_layers=1, decoder_layers=1, rvq_dim=16,
             codebook_size=32, vocos_dim=32, vocos_intermediate=64, vocos_layers=2)


@pytest.mark.parametrize("variant", sorted(X.VARIANTS))
def test_state_dict_equals_the_authors_manifest(variant):
    """Keys and shapes of the full-size model equal those of the authors' class (see the manifest's "how")."""
    manifest = json.loads((MANIFESTS / f"xy-tokenizer-{variant}.json").read_text())
    with torch.device("meta"):
        model = X.XYTokenizerModel(X.VARIANTS[variant][0])
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == manifest["keys"]


@pytest.mark.parametrize("variant", sorted(X.VARIANTS))
def test_small_model_conforms(variant):
    torch.manual_seed(0)
    tok = X.XYTokenizer("xy-small", variant=variant, config=SMALL)
    report = check_tokenizer(tok)
    assert report["frames"] == [7, 13, 4]  # floor(ceil(n / 160) / 8) for 0.6, 1.1, 0.35 s
    codes = tok.encode(torch.from_numpy(speech_like_signal(1.0, tok.info.sample_rate))[None], torch.tensor([tok.info.sample_rate])).codes
    assert len(set(codes.flatten().tolist())) > 1, "codes are constant"


@pytest.mark.slow
def test_full_size_random_model_conforms():
    torch.manual_seed(0)
    tok = X.XYTokenizer("xy-tokenizer", config=X.VARIANTS["xy-tokenizer"][0])
    assert sum(p.numel() for p in tok.model.parameters()) == 519_621_074  # the authors' model, counted in scratch
    check_tokenizer(tok)


def test_checkpoint_in_the_authors_format_loads_through_the_card(tmp_path, monkeypatch):
    """A random model saved as the authors save it ({"generator": state_dict} in xy_tokenizer.ckpt under the hub
    id) loads through the card and the weights lookup with strict=True and gives the in-memory model's codes."""
    torch.manual_seed(1)
    small = X.XYConfig(**SMALL)
    reference = X.XYTokenizer("ref", config=small)
    folder = tmp_path / "fdugyt" / "XY_Tokenizer"
    folder.mkdir(parents=True)
    torch.save({"generator": reference.model.state_dict()}, folder / "xy_tokenizer.ckpt")
    monkeypatch.setenv("DASB_WEIGHTS", str(tmp_path))
    monkeypatch.setitem(X.VARIANTS, "xy-tokenizer", (small, "xy_tokenizer.ckpt"))
    loaded = load_cards()["xy-tokenizer"].build()
    assert loaded.info.extras["resolved_revision"] == f"local folder {folder}"
    audio = torch.from_numpy(speech_like_signal(1.3, 16000, seed=3))[None]
    n = torch.tensor([audio.shape[-1]])
    a, b = reference.encode(audio, n), loaded.encode(audio, n)
    assert torch.equal(a.codes, b.codes) and torch.equal(a.lengths, b.lengths)
    assert torch.equal(reference.decode(a)[0], loaded.decode(b)[0])


def test_checkpoint_of_another_layout_is_refused_by_name(tmp_path):
    small = X.XYConfig(**SMALL)
    path = tmp_path / "xy_tokenizer.ckpt"
    torch.save(X.XYTokenizerModel(small).state_dict(), path)  # a flat state dict is accepted too, as by the authors
    X.load_checkpoint(path, X.XYTokenizerModel(small))
    with pytest.raises(RuntimeError, match="enhanced_vocos"):
        X.load_checkpoint(path, X.XYTokenizerModel(X.XYConfig(**SMALL, vocoder_name="enhanced_vocos")))


def test_missing_weights_fail_fast_naming_the_file(monkeypatch, tmp_path):
    assert_missing_weights_fail_fast("xy-tokenizer", tmp_path, monkeypatch, "fdugyt/XY_Tokenizer")
    from dasb.doctor import check_card

    assert "xy_tokenizer.ckpt" in check_card(load_cards()["xy-tokenizer"]).fix


@pytest.mark.parametrize("name", ["xy-tokenizer", "xy-tokenizer-ttsd-v0.7"])
def test_published_figures_match_the_model(name):
    card = load_cards()[name]
    with torch.device("meta"):
        tok = X.XYTokenizer(card.name, config=X.VARIANTS[card.params["variant"]][0], **card.params)
    info, pub = tok.info, card.published
    assert_published_figures(info, pub)
