"""DualCodec port: the authors' parameter layout, conformance, and the load path end to end."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

T = pytest.importorskip("transformers", reason="DualCodec needs transformers (w2v-BERT 2.0): pip install 'dasb[neural]'")

from dasb.testing import check_tokenizer, speech_like_signal  # noqa: E402
from dasb.tokenizers import dualcodec as D  # noqa: E402
from dasb.tokenizers.cards import load_cards  # noqa: E402
from _ports import assert_missing_weights_fail_fast, assert_published_figures

MANIFESTS = Path(__file__).parent / "manifests"
CODEC = D.DualCodecConfig(encoder_dim=4, decoder_dim=32, convnext_dim=16, convnext_layers=1, semantic_dim=64,
                          codebook_size=64, semantic_codebook_size=128)


def _semantic_config():
    return T.Wav2Vec2BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                output_hidden_size=64, conv_depthwise_kernel_size=3)


@pytest.mark.parametrize("variant", sorted(D.VARIANTS))
def test_state_dict_equals_the_authors_manifest(variant):
    manifest = json.loads((MANIFESTS / f"dualcodec-{variant}.json").read_text())
    with torch.device("meta"):
        model = D.DualCodecModel(D.VARIANTS[variant][0])
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == manifest["keys"]


def test_small_model_conforms():
    torch.manual_seed(0)
    tok = D.DualCodecTokenizer("dualcodec-small", config={"codec": CODEC, "semantic": _semantic_config()}, semantic_layer=2)
    assert tok.info.codebook_sizes == (128,) + (64,) * 7
    check_tokenizer(tok)


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(D.VARIANTS))
def test_full_size_random_model_conforms(variant):
    torch.manual_seed(0)
    tok = D.DualCodecTokenizer(f"dualcodec-{variant}", variant=variant,
                               config={"codec": D.VARIANTS[variant][0], "semantic": T.Wav2Vec2BertConfig()})
    check_tokenizer(tok, durations=(1.1, 0.6))


def test_checkpoint_in_the_authors_format_loads_through_the_card(tmp_path, monkeypatch):
    """Codec weights saved as the authors' safetensors file, the feature statistics and a (small) w2v-BERT in the
    layout of their hub repos load through the card with strict=True and give the in-memory model's codes."""
    from safetensors.torch import save_file

    torch.manual_seed(3)
    reference = D.DualCodecTokenizer("ref", config={"codec": CODEC, "semantic": _semantic_config()}, semantic_layer=2)
    codec_dir, w2v_dir = tmp_path / "amphion" / "dualcodec", tmp_path / "facebook" / "w2v-bert-2.0"
    codec_dir.mkdir(parents=True)
    save_file(reference.model.codec.state_dict(), codec_dir / D.VARIANTS["12hz"][1])
    torch.save({"mean": torch.randn(64), "var": torch.rand(64) + 0.5}, codec_dir / D.STATS_FILE)
    reference.model.semantic_model.save_pretrained(w2v_dir)
    reference.model.extractor.save_pretrained(w2v_dir)
    monkeypatch.setenv("DASB_WEIGHTS", str(tmp_path))
    monkeypatch.setitem(D.VARIANTS, "12hz", (CODEC, D.VARIANTS["12hz"][1]))
    card = load_cards()["dualcodec-12hz"]
    loaded = D.DualCodecTokenizer(card.name, checkpoint=card.checkpoint, revision=card.revision,
                                  **card.params, semantic_layer=2)
    assert loaded.info.extras["resolved_revision"] == f"local folder {codec_dir}"
    stats = torch.load(codec_dir / D.STATS_FILE, weights_only=True)
    reference.model.mean.copy_(stats["mean"])
    reference.model.std.copy_(stats["var"].sqrt())
    audio = torch.from_numpy(speech_like_signal(1.2, D.SAMPLE_RATE, seed=4))[None]
    n = torch.tensor([audio.shape[-1]])
    a, b = reference.encode(audio, n), loaded.encode(audio, n)
    assert torch.equal(a.codes, b.codes) and len(set(a.codes[0, 1].tolist())) > 1
    assert torch.equal(reference.decode(a)[0], loaded.decode(b)[0])


def test_missing_weights_fail_fast_naming_the_repo(monkeypatch, tmp_path):
    assert_missing_weights_fail_fast("dualcodec-12hz", tmp_path, monkeypatch, "amphion/dualcodec")
    from dasb.doctor import check_card

    fix = check_card(load_cards()["dualcodec-25hz"]).fix
    assert "dualcodec_25hz_16384_1024.safetensors" in fix and "facebook/w2v-bert-2.0" in fix


@pytest.mark.parametrize("name", ["dualcodec-12hz", "dualcodec-25hz"])
def test_published_figures_match_the_model(name):
    card = load_cards()[name]
    with torch.device("meta"):
        tok = D.DualCodecTokenizer(card.name, config={"codec": D.VARIANTS[card.params["variant"]][0],
                                                      "semantic": _semantic_config()}, **card.params)
    info, pub = tok.info, card.published
    assert_published_figures(info, pub)
