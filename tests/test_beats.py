"""BEATs tokenizer port: the authors' layout and codes, their fbank, the cards' loading path, conformance at full size."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
import torch
import torchaudio.compliance.kaldi as kaldi

from _ports import (assert_matches_manifest, assert_missing_weights_fail_fast, assert_published_figures,
                    card_from_weights_dir, clip)
from dasb.testing import check_tokenizer, speech_like_signal
from dasb.tokenizers import beats as B
from dasb.tokenizers.cards import load_cards

# Made with the authors' code: see scripts/ports/beats_reference.py.
REFERENCE = Path(__file__).parent / "fixtures" / "beats_reference"
MANIFEST = Path(__file__).parent / "manifests" / "beats-tokenizer.json"
CARDS = ["beats-tokenizer-iter3plus-as2m", "beats-tokenizer-iter3plus-as20k", "beats-tokenizer-iter3", "beats-tokenizer-iter2"]


def test_state_dict_and_size_match_the_authors_manifest():
    with torch.device("meta"):
        model = B.BEATsTokenizerModel(B.PUBLISHED_CONFIG)
    assert_matches_manifest(model, "beats-tokenizer", B.PUBLISHED_CONFIG)


def test_codes_equal_the_authors_extract_labels():
    """Their checkpoint file and the step-major labels of their extract_labels (relative bias, gate, deep norm on)."""
    tok = B.BEATsTokenizer("beats-ref", model=B.load_checkpoint(REFERENCE / "Tokenizer_reference.pt"))
    x = torch.from_numpy(speech_like_signal(3.13, 16000))[None]
    codes = tok.encode(x, torch.tensor([x.shape[-1]])).codes[0]  # [bands, steps]
    want = json.loads((REFERENCE / "codes.json").read_text())
    frames = 1 + (x.shape[-1] - 400) // 160
    assert codes.shape == (8, frames // 16) and len(want) == codes.numel()
    assert codes.t().reshape(-1).tolist() == want
    assert len(set(want)) > 5, "the reference must exercise several codes"


def test_fbank_is_torchaudio_kaldi_with_the_authors_normalisation():
    """Each item as the authors' preprocess does it: 16-bit scale, 128 bins, 25/10 ms, (x - 15.41663) / (2 * 6.55582)."""
    audio = torch.from_numpy(speech_like_signal(0.9, 16000, channels=2))
    audio[1] *= 0.3
    got = B.beats_fbank(audio)
    for i in range(2):
        want = kaldi.fbank(audio[i : i + 1] * 32768, num_mel_bins=128, sample_frequency=16000, frame_length=25, frame_shift=10)
        torch.testing.assert_close(got[i], (want - 15.41663) / 13.11164, rtol=0, atol=0)
    assert got.shape == (2, 1 + (14400 - 400) // 160, 128)


def _save_authors_format(folder: Path, cfg: dict, seed: int) -> tuple[B.BEATsTokenizerModel, Path]:
    """A random model saved as the authors' files are: torch.save({"cfg": ..., "model": state_dict})."""
    torch.manual_seed(seed)
    model = B.BEATsTokenizerModel(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / B.FILES[-1]
    torch.save({"cfg": cfg, "model": model.state_dict()}, path)
    return model, path


# The small configuration of the reference fixture (relative position bias, its gate and deep norm on).
SMALL = torch.load(REFERENCE / "Tokenizer_reference.pt", weights_only=True)["cfg"]


def test_card_loads_a_checkpoint_in_the_authors_format(tmp_path, monkeypatch):
    """Through the card, from $DASB_WEIGHTS/beats/: the in-memory model's codes, the file's sha256 as the revision."""
    model, path = _save_authors_format(tmp_path / "beats", SMALL, seed=3)
    tok = card_from_weights_dir(CARDS[0], tmp_path, monkeypatch)
    mem = B.BEATsTokenizer("mem", model=model)
    x, n = clip(tok, 2.0)
    got = tok.encode(x, n).codes
    assert torch.equal(got, mem.encode(x, n).codes) and len(set(got.flatten().tolist())) > 5
    assert tok.info.extras["resolved_revision"] == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_local_folder_is_searched_first(tmp_path, monkeypatch):
    model, _ = _save_authors_format(tmp_path / "mine", {**SMALL, "relative_position_embedding": False,
                                                        "gru_rel_pos": False, "deep_norm": False}, seed=4)
    monkeypatch.setenv("DASB_WEIGHTS", str(tmp_path / "empty"))
    tok = B.BEATsTokenizer("local", checkpoint=str(tmp_path / "mine"))
    x, n = clip(tok)
    assert torch.equal(tok.encode(x, n).codes, B.BEATsTokenizer("mem", model=model).encode(x, n).codes)


def test_a_file_that_is_not_a_tokenizer_checkpoint_is_refused(tmp_path):
    torch.save({"model": {}}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="'cfg' and 'model'"):
        B.load_checkpoint(tmp_path / "x.pt")


def test_missing_weights_fail_fast_naming_the_file_url_and_missing_checksum(tmp_path, monkeypatch):
    assert_missing_weights_fail_fast(CARDS[0], tmp_path, monkeypatch, "Tokenizer_iter3_plus_AS2M.pt",
                                     "valle.blob.core.windows.net", "No SHA-256 is published", "beats")


def test_short_audio_gives_no_codes_as_the_authors():
    """Under one patch (16 fbank frames = 2800 samples) there is nothing to tokenise; one more frame gives 8 codes."""
    torch.manual_seed(0)
    tok = B.BEATsTokenizer("small", config=SMALL)
    x = torch.from_numpy(speech_like_signal(1.0, 16000))[None]
    assert tok.encode(x[..., :2799], torch.tensor([2799])).codes.shape == (1, 8, 0)
    assert tok.encode(x[..., :2800], torch.tensor([2800])).codes.shape == (1, 8, 1)


def test_ten_second_clips_stay_whole_and_longer_audio_is_windowed():
    from dasb.tokenizers.runtime import encode

    torch.manual_seed(0)
    tok = B.BEATsTokenizer("small", config=SMALL)
    ten = speech_like_signal(10.0, 16000)
    whole = tok.encode(torch.from_numpy(ten)[None], torch.tensor([160000]))
    assert torch.equal(encode(tok, [ten], [16000])[0].codes, whole.codes) and whole.codes.shape[-1] == 62
    long = encode(tok, [speech_like_signal(25.0, 16000)], [16000])[0]
    assert long.codes.shape[:2] == (1, 8) and abs(long.codes.shape[-1] - 25 * 6.25) <= 2


@pytest.mark.parametrize("name", CARDS)
def test_published_figures_match_the_model(name):
    card = load_cards()[name]
    with torch.device("meta"):
        info = B.BEATsTokenizer(card.name, config=B.PUBLISHED_CONFIG, **card.params).info
    assert_published_figures(info, card.published)
    assert info.num_codebooks * info.frame_rate == 50  # codes per second: 8 bands x 6.25 steps


@pytest.mark.slow
def test_conformance_at_the_published_size():
    """Random weights at the released size (91.6 M parameters), through the conformance kit; encode-only."""
    torch.manual_seed(0)
    start = time.perf_counter()
    tok = B.BEATsTokenizer("beats-tokenizer", config=B.PUBLISHED_CONFIG)
    assert sum(p.numel() for p in tok.model.parameters()) == json.loads(MANIFEST.read_text())["parameters"]
    report = check_tokenizer(tok, durations=(1.0, 0.37, 2.2))
    assert not tok.info.decodes and report["decoded_samples"] is None
    print(f"built and checked in {time.perf_counter() - start:.1f} s; frames {report['frames']}")
