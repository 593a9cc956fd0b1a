"""Every kind of bad corpus input gets one clear answer naming the file; nothing else is lost."""
import json
import os
import signal
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from dasb.audio import resample
from dasb.cli import main
from dasb.data.corpus import Corpus, Utterance, load_corpus
from dasb.results import read_records
from dasb.runner import Runner
from dasb.suites import Suite


class Hung(BaseException):
    """Not an Exception: the runner must not record it as one more error row."""


@pytest.fixture
def deadline():
    """Fail instead of hanging (a FIFO read blocks forever)."""
    def expire(*_):
        raise Hung("took over 900 s: something blocked")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(900)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _speech():
    utt = load_corpus("mini").utterances[0]
    wav, sr = sf.read(utt.audio, dtype="float32")
    return wav, sr, utt.text


# Each bad kind: file name -> what its error rows must say.
PROBLEMS = {
    "corrupt.wav": "cannot decode audio",
    "empty.wav": "cannot decode audio",
    "zero_samples.wav": "audio is empty",
    "nan.wav": "NaN or infinite",
    "inf.wav": "NaN or infinite",
    "fifo.wav": "not a regular file",
    "folder.wav": "not a regular file",
    "/dev/zero": "not a regular file",
    "missing.wav": "no such file",
}
TOO_SHORT = {"one_sample.wav": 1, "ten_ms.wav": 160}


def _bad_manifest(tmp_path):
    speech, sr, text = _speech()
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt this is not audio")
    (d / "empty.wav").write_bytes(b"")
    sf.write(d / "zero_samples.wav", np.zeros(0, np.float32), sr)
    for name, bad in (("nan.wav", np.nan), ("inf.wav", np.inf)):
        wav = speech.copy()
        wav[100:110] = bad
        sf.write(d / name, wav, sr, subtype="FLOAT")
    os.mkfifo(d / "fifo.wav")
    (d / "folder.wav").mkdir()
    for name, n in TOO_SHORT.items():
        sf.write(d / name, speech[4000 : 4000 + n], sr)
    sf.write(d / "good.flac", speech, sr)
    sf.write(d / "rate8k.wav", resample(speech[None], sr, 8000)[0], 8000)
    sf.write(d / "untranscribed.wav", speech, sr)
    lines = [{"id": n.strip("/").replace("/", "_").split(".")[0], "audio": n, "text": text, "speaker": "s"}
             for n in [*PROBLEMS, *TOO_SHORT, "good.flac", "rate8k.wav"]]
    lines.append({"id": "untranscribed", "audio": "untranscribed.wav", "speaker": "s"})
    (d / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return d / "manifest.jsonl"


def test_a_manifest_of_every_bad_kind_completes_with_one_clear_answer_each(tmp_path, deadline):
    manifest = _bad_manifest(tmp_path)
    benchmarks = {"reconstruction": {"metrics": ["pesq_wb", "stoi", "mel_distance"]}, "asr": {}, "streaming": {},
                  "robustness": {"augmentations": ["pitch_2st"]}}
    suite = Suite("bad", str(manifest), ["pcm16"], benchmarks, batch_size=4)
    summary = Runner(suite, tmp_path / "run", progress=False).run()
    assert summary.exit_code == 1
    recs = {(r.benchmark, r.utterance, r.metric): r for r in read_records(tmp_path / "run") if r.tokenizer == "pcm16"}
    for name, problem in PROBLEMS.items():
        uid = name.strip("/").replace("/", "_").split(".")[0]
        for metric in ("pesq_wb", "stoi"):
            rec = recs[("reconstruction", uid, metric)]
            assert rec.status == "error" and problem in rec.message and name.lstrip("/") in rec.message, rec.message
    for uid, metric, needs in (("one_sample", "stoi", "397 ms"), ("ten_ms", "stoi", "397 ms"),
                               ("one_sample", "pesq_wb", "250 ms"), ("ten_ms", "pesq_wb", "250 ms"),
                               ("one_sample", "mel_distance", "65 ms"), ("ten_ms", "mel_distance", "65 ms")):
        rec = recs[("reconstruction", uid, metric)]
        assert rec.status == "error" and "too short for" in rec.message and needs in rec.message, rec.message
    short = recs[("robustness", "one_sample", "ued_mean")]
    assert short.status == "error" and "too short for pitch shifting" in short.message
    for uid in ("good", "rate8k", "untranscribed"):
        assert recs[("reconstruction", uid, "stoi")].status == "ok"
    skipped = recs[("asr", "untranscribed", "wer")]
    assert skipped.status == "skipped" and skipped.message == "no transcript"
    assert "1 utterance(s) without a transcript not scored" in recs[("asr", None, "wer")].message
    agg = recs[("reconstruction", None, "stoi")]
    assert agg.status == "ok" and agg.n == 3
    # A corpus benchmark loses only the utterance it cannot use.
    short = recs[("streaming", "one_sample", "agreement_20ms")]
    assert short.status == "error" and "one_sample.wav" in short.message
    assert recs[("streaming", None, "agreement_20ms")].status == "ok"


def test_the_dataset_hash_streams_files_in_bounded_memory(tmp_path):
    utts = []
    for k in range(4):
        path = tmp_path / f"big{k}.wav"
        path.write_bytes(os.urandom(1 << 16) * 160)  # 10 MB each
        utts.append(Utterance(f"big{k}", str(path)))
    tracemalloc.start()
    Corpus("big", utts).hash
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 << 20  # the files total 40 MB


def test_the_dataset_hash_of_ordinary_files_is_unchanged():
    # Recorded with the former whole-file hash: stored results stay keyed the same.
    assert load_corpus("mini").hash == "b12ff8e16bd78a89"


def test_a_folder_with_the_same_name_in_two_formats_names_both(tmp_path):
    speech, sr, _ = _speech()
    sf.write(tmp_path / "a.wav", speech, sr)
    sf.write(tmp_path / "a.flac", speech, sr)
    with pytest.raises(ValueError, match=r"a\.flac.*a\.wav"):
        load_corpus(tmp_path)


@pytest.mark.parametrize("content", ["", "\n\n", '[1, 2]\n', '"x"\n'])
def test_an_empty_or_malformed_manifest_is_a_usage_error(tmp_path, capsys, content):
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(content)
    code = main(["run", "--data", str(manifest), "--tokenizers", "pcm16", "--benchmarks", "tokens",
                 "--out", str(tmp_path / "run"), "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2 and str(manifest) in err and len(err.strip().splitlines()) == 1
