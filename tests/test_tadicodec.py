"""TaDiCodec port: the authors' layout and codes, their mel front end, the card's loading path, conformance at full size."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_model

from _ports import (assert_matches_manifest, assert_missing_weights_fail_fast, assert_published_figures,
                    card_from_weights_dir, clip)
from dasb.testing import check_tokenizer, speech_like_signal
from dasb.tokenizers import tadicodec as T
from dasb.tokenizers.cards import load_cards

# Made with the authors' code: see scripts/ports/tadicodec_reference.py.
REFERENCE = Path(__file__).parent / "fixtures" / "tadicodec_reference"
MANIFEST = Path(__file__).parent / "manifests" / "tadicodec.json"
SMALL, _ = T.read_config(REFERENCE)


def test_state_dict_and_size_match_the_authors_manifest():
    with torch.device("meta"):
        model = T.TaDiCodecModel(T.PUBLISHED_CONFIG)
    assert_matches_manifest(model, "tadicodec", T.PUBLISHED_CONFIG)


def test_codes_and_mel_equal_the_authors():
    """Their saved files loaded strictly; their pipeline's normalised mel and TaDiCodec.encode codes."""
    tok = T.TaDiCodecTokenizer("ref", model=T.load_folder(REFERENCE)[0])
    want = json.loads((REFERENCE / "codes.json").read_text())
    x = torch.from_numpy(speech_like_signal(3.13, 24000))[None]
    mel = tok.model.mel(x[:, 0])
    assert mel.shape[1] == want["mel_frames"] == x.shape[-1] // 480
    torch.testing.assert_close(mel[0, :4], torch.tensor(want["mel_head"]), rtol=0, atol=1e-4)
    codes = tok.encode(x, torch.tensor([x.shape[-1]])).codes[0, 0].tolist()
    assert codes == want["codes"] and len(codes) == want["mel_frames"] // 8
    assert len(set(codes)) > 5, "the reference must exercise several codes"


def test_decoding_equals_the_authors_reverse_diffusion_and_vocoder():
    """Their reverse_diffusion (32 steps, guidance 2.0 rescaled 0.75, same noise) and their Vocos on its mel."""
    model, vocoder, _ = T.load_folder(REFERENCE)
    want = load_file(REFERENCE / "decoded.safetensors")
    codes = torch.tensor(json.loads((REFERENCE / "codes.json").read_text())["codes"][:8])[None]
    noise = torch.randn(1, 64, 128, generator=torch.Generator().manual_seed(1))  # their torch.manual_seed(1); randn
    with torch.no_grad():
        mel = model.eval().generate(codes, torch.arange(3, 10)[None], noise=noise)
        audio = vocoder.eval()(mel.transpose(1, 2))
    torch.testing.assert_close(mel, want["mel"], rtol=0, atol=1e-5)
    torch.testing.assert_close(audio, want["audio"][:, 0], rtol=0, atol=1e-6)
    assert want["audio"].abs().max() > 1e-3, "the reference must not be silence"


def test_bsq_codes_are_the_sign_bits_first_dimension_most_significant():
    bsq = T.BSQ(14)
    z = -torch.ones(3, 14)
    z[1, 0], z[2, 13] = 0.5, 0.5
    assert bsq(z).tolist() == [0, 2**13, 1]
    assert torch.equal(bsq(bsq.embed(torch.tensor([0, 2**13, 1, 12345]))), torch.tensor([0, 2**13, 1, 12345]))


def _text_tokenizer(folder: Path) -> Path:
    """A word-level tokenizer.json standing in for the hub's text_tokenizer/ (same file format)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = "[UNK] a short test sentence".split()
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    return folder


def _save_authors_format(folder: Path, seed: int) -> T.TaDiCodecModel:
    """A random model saved as the hub folder is: the authors' config.json and model.safetensors."""
    torch.manual_seed(seed)
    model = T.TaDiCodecModel(SMALL)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REFERENCE / "config.json", folder / "config.json")
    save_model(model, str(folder / "model.safetensors"))
    shutil.copytree(REFERENCE / "vocoder", folder / "vocoder")
    _text_tokenizer(folder / "text_tokenizer")
    return model


def test_card_loads_a_checkpoint_in_the_authors_format(tmp_path, monkeypatch):
    """Through the card and the weights module, from $DASB_WEIGHTS/amphion/TaDiCodec/: the in-memory model's codes."""
    model = _save_authors_format(tmp_path / "amphion" / "TaDiCodec", seed=3)
    tok = card_from_weights_dir("tadicodec", tmp_path, monkeypatch)
    x, n = clip(tok, 2.5)
    got = tok.encode(x, n).codes
    assert torch.equal(got, T.TaDiCodecTokenizer("mem", model=model).encode(x, n).codes)
    assert got.shape == (1, 1, x.shape[-1] // 3840) and len(set(got.flatten().tolist())) > 3
    assert tok.info.decodes and tok.info.decode_inputs == ("transcript",)


def test_decode_through_the_card_needs_the_transcript_and_gives_24khz_audio(tmp_path, monkeypatch):
    _save_authors_format(tmp_path / "amphion" / "TaDiCodec", seed=4)
    tok = card_from_weights_dir("tadicodec", tmp_path, monkeypatch)
    x, n = clip(tok, 1.0)
    tokens = tok.encode(x, n)
    with pytest.raises(ValueError, match="transcript"):
        tok.decode(tokens)
    tokens.side["transcript"] = ["a short test sentence"]
    torch.manual_seed(0)
    audio, lengths = tok.decode(tokens)
    assert audio.shape == (1, 1, 6 * 3840) and lengths.tolist() == [6 * 3840]
    assert torch.isfinite(audio).all() and audio.abs().max() > 0


def test_a_folder_that_is_not_a_tadicodec_config_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model": {}}))
    with pytest.raises(ValueError, match="not a TaDiCodec config"):
        T.read_config(tmp_path)


def test_missing_weights_fail_fast_naming_the_repo(tmp_path, monkeypatch):
    assert_missing_weights_fail_fast("tadicodec", tmp_path, monkeypatch, "amphion/TaDiCodec")


def test_short_audio_gives_no_codes_and_one_code_per_3840_samples():
    torch.manual_seed(0)
    tok = T.TaDiCodecTokenizer("small", config=SMALL)
    x = torch.from_numpy(speech_like_signal(1.0, 24000))[None]
    assert tok.encode(x[..., :3839], torch.tensor([3839])).codes.shape == (1, 1, 0)
    assert tok.encode(x[..., :3840], torch.tensor([3840])).codes.shape == (1, 1, 1)
    assert not tok.info.decodes, "a random model without a text tokenizer cannot decode"


def test_published_figures_match_the_model():
    card = load_cards()["tadicodec"]
    with torch.device("meta"):
        info = T.TaDiCodecTokenizer(card.name, config=T.PUBLISHED_CONFIG).info
    assert_published_figures(info, card.published)


@pytest.mark.slow
def test_conformance_at_the_published_size(tmp_path):
    """Random weights at the released size (495.8 M parameters and the 30-layer vocoder), through the conformance
    kit with decoding (4 flow steps instead of 32: the contract, not the quality, is checked)."""
    torch.manual_seed(0)
    start = time.perf_counter()
    tok = T.TaDiCodecTokenizer("tadicodec", config=T.PUBLISHED_CONFIG, steps=4,
                               text_tokenizer=str(_text_tokenizer(tmp_path)))
    assert sum(p.numel() for p in tok.model.parameters()) == json.loads(MANIFEST.read_text())["parameters"]
    report = check_tokenizer(tok, durations=(1.0, 0.37, 2.2))
    assert tok.info.decodes and report["decoded_samples"] is not None
    print(f"built and checked in {time.perf_counter() - start:.1f} s; frames {report['frames']}")
