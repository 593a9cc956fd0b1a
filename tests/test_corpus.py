"""Corpus readers and the embedded default corpus."""
import json

import numpy as np
import pytest
import soundfile as sf

from dasb.data.corpus import MINI_DIR, load_corpus


def test_embedded_corpus_is_small_real_and_multi_speaker():
    corpus = load_corpus("mini")
    assert 20 <= len(corpus.utterances) <= 40
    assert len({u.speaker for u in corpus.utterances}) >= 4
    assert all(u.text for u in corpus.utterances)
    assert sum(p.stat().st_size for p in MINI_DIR.glob("*.flac")) <= 2_000_000
    for u in corpus.utterances[:4]:
        info = sf.info(u.audio)
        assert info.samplerate == 16000 and abs(info.frames / 16000 - u.duration) < 1e-3


def test_librispeech_layout(tmp_path):
    chapter = tmp_path / "LibriSpeech" / "test-clean" / "1089" / "134686"
    chapter.mkdir(parents=True)
    sf.write(chapter / "1089-134686-0000.flac", np.zeros(1600, np.float32), 16000)
    (chapter / "1089-134686.trans.txt").write_text("1089-134686-0000 HELLO WORLD\n")
    corpus = load_corpus(tmp_path / "LibriSpeech")
    (u,) = corpus.utterances
    assert (u.id, u.text, u.speaker, u.sample_rate, u.duration) == ("1089-134686-0000", "HELLO WORLD", "1089", 16000, 0.1)


def test_folder_with_optional_transcripts(tmp_path):
    (tmp_path / "spk1").mkdir()
    sf.write(tmp_path / "spk1" / "a.wav", np.zeros(800, np.float32), 8000)
    (tmp_path / "spk1" / "a.txt").write_text("hi there\n")
    sf.write(tmp_path / "b.flac", np.zeros(800, np.float32), 16000)
    corpus = load_corpus(tmp_path)
    by_id = {u.id: u for u in corpus.utterances}
    assert by_id["spk1_a"].text == "hi there" and by_id["spk1_a"].speaker == "spk1"
    assert by_id["b"].text is None


def test_manifest_round_trip_and_errors(tmp_path):
    corpus = load_corpus("mini")
    out = tmp_path / "m.jsonl"
    corpus.write_manifest(out)
    again = load_corpus(out)
    assert [u.audio for u in again.utterances] == [u.audio for u in corpus.utterances]
    assert again.hash == corpus.hash
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "audio": "x.wav"}) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        load_corpus(bad)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_corpus(tmp_path / "missing")
