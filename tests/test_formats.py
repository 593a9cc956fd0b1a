"""Corpus formats the field uses load to the same utterances as the manifest they were made from."""
import numpy as np
import pytest
import soundfile as sf

from dasb.data.corpus import load_corpus
from dasb.data.formats import read_wav_scp


def _same_utterances(loaded, corpus):
    assert [u.id for u in loaded.utterances] == [u.id for u in corpus.utterances]
    for a, b in zip(loaded.utterances, corpus.utterances):
        assert (a.text, a.speaker, a.sample_rate) == (b.text, b.speaker, b.sample_rate)
        assert a.duration == pytest.approx(b.duration, abs=1e-3)
        assert np.array_equal(sf.read(a.audio)[0], sf.read(b.audio)[0])


def _kaldi_dir(corpus, root):
    root.mkdir()
    (root / "wav.scp").write_text("".join(f"{u.id} {u.audio}\n" for u in corpus.utterances))
    (root / "text").write_text("".join(f"{u.id} {u.text}\n" for u in corpus.utterances))
    (root / "utt2spk").write_text("".join(f"{u.id} {u.speaker}\n" for u in corpus.utterances))
    return root


def _hf_rows(corpus):
    return [{"id": u.id, "audio": u.audio, "text": u.text, "speaker": u.speaker} for u in corpus.utterances]


@pytest.fixture(params=["mini", "speech_dev"])
def corpus(request):
    if request.param == "mini":
        return load_corpus("mini")
    return load_corpus(str(request.getfixturevalue("speech_dev")))


def test_kaldi_data_dir(tmp_path, corpus):
    _same_utterances(load_corpus(_kaldi_dir(corpus, tmp_path / "data")), corpus)


def test_saved_datasets_dataset_and_parquet_folder(tmp_path, corpus, monkeypatch):
    datasets = pytest.importorskip("datasets", reason="needs the hf-datasets extra")
    monkeypatch.setenv("DASB_CACHE_DIR", str(tmp_path / "cache"))  # embedded audio is written here once
    ds = datasets.Dataset.from_list(_hf_rows(corpus)).cast_column("audio", datasets.Audio())
    ds.save_to_disk(str(tmp_path / "saved"))
    _same_utterances(load_corpus(tmp_path / "saved"), corpus)
    ds.to_parquet(str(tmp_path / "parquet" / "train-00000.parquet"))
    _same_utterances(load_corpus(tmp_path / "parquet"), corpus)


def test_lhotse_recordings_and_cuts(tmp_path):
    lhotse = pytest.importorskip("lhotse", reason="needs the lhotse extra")
    corpus = load_corpus("mini")
    recordings = lhotse.RecordingSet.from_recordings(
        lhotse.Recording.from_file(u.audio, recording_id=u.id) for u in corpus.utterances)
    sups = lhotse.SupervisionSet.from_segments(
        lhotse.SupervisionSegment(id=u.id, recording_id=u.id, start=0, duration=r.duration, text=u.text, speaker=u.speaker)
        for u, r in zip(corpus.utterances, recordings))
    recordings.to_file(tmp_path / "mini_recordings.jsonl.gz")
    sups.to_file(tmp_path / "mini_supervisions.jsonl.gz")
    _same_utterances(load_corpus(tmp_path / "mini_recordings.jsonl.gz"), corpus)
    # Cut ids are lhotse's ("<recording>-<n>"); named here as the recordings, to compare with the manifest.
    cuts = lhotse.CutSet.from_manifests(recordings=recordings, supervisions=sups).modify_ids(lambda i: i.rsplit("-", 1)[0])
    cuts.to_file(tmp_path / "cuts.jsonl.gz")
    _same_utterances(load_corpus(tmp_path / "cuts.jsonl.gz"), corpus)
    cuts.truncate(max_duration=1.0, offset_type="start").to_file(tmp_path / "parts.jsonl.gz")
    with pytest.raises(ValueError, match="is not a whole recording"):
        load_corpus(tmp_path / "parts.jsonl.gz")


@pytest.mark.parametrize("line, problem", [("u1 sox in.flac -t wav - |", "is a command"),
                                           ("u1 flac -c -d in.flac", "is a command"),
                                           ("u1 feats.ark:1234", "offset into a Kaldi archive")])
def test_wav_scp_commands_are_refused_naming_the_line(tmp_path, line, problem):
    (tmp_path / "wav.scp").write_text(f"u0 a.wav\n{line}\n")
    with pytest.raises(ValueError, match=problem) as err:
        read_wav_scp(tmp_path / "wav.scp")
    assert "wav.scp:2" in str(err.value) and "'u1'" in str(err.value)
