"""No work done twice: STOI/ESTOI share one analysis (equal to pystoi), each rate is resampled once per item,
and the judges see each original utterance once per run."""
import numpy as np
import pytest
from pystoi import stoi as pystoi_stoi

import dasb.audio
import dasb.benchmarks.asr
import dasb.benchmarks.speaker
from dasb.audio import content_hash, load_audio, resample, shared_work
from dasb.benchmarks.reconstruction import DEFAULT_METRICS, score_decoded
from dasb.data.corpus import load_corpus, read_manifest
from dasb.metrics import MetricError
from dasb.metrics.signal import ESTOI, STOI
from dasb.metrics.stoi import DITHER_SEED, estoi, stoi
from dasb.registry import METRICS
from dasb.results import read_records
from dasb.runner import Runner
from dasb.specs import judge_controls
from dasb.suites import Suite


def _noisy(x: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(len(x))
    return x + noise * np.sqrt(np.mean(x**2) / np.mean(noise**2) / 10 ** (snr_db / 10))


def _pairs(wavs: list[tuple[np.ndarray, int]]) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Reference/estimate pairs of several kinds: noisy, at other rates, with silences, other lengths."""
    out = []
    for i, (x, sr) in enumerate(wavs):
        x = x.astype(np.float64)
        out.append((x, _noisy(x, 5 + 5 * i, i), sr))
        for rate in (8000, 10000, 22050):
            xr = resample(x[None], sr, rate)[0].astype(np.float64)
            out.append((xr, _noisy(xr, 10, i + 10), rate))
        gap = np.zeros(sr // 2)  # half a second of digital silence in the middle and at the end
        xs = np.concatenate([x[: len(x) // 2], gap, x[len(x) // 2:], gap])
        out.append((xs, _noisy(xs, 15, i + 20), sr))
        out.append((x[: int(0.8 * sr)], 0.5 * x[: int(0.8 * sr)] + 0.01, sr))  # short, scaled, offset
    return out


def _assert_equal_to_pystoi(pairs: list[tuple[np.ndarray, np.ndarray, int]]) -> None:
    for ref, est, sr in pairs:
        with shared_work():
            ours = (stoi(ref, est, sr), estoi(ref, est, sr))
        np.random.seed(DITHER_SEED)  # pystoi's ESTOI dithers from numpy's global generator
        theirs = (pystoi_stoi(ref, est, sr), pystoi_stoi(ref, est, sr, extended=True))
        assert ours == pytest.approx(theirs, abs=1e-12), f"{len(ref)} samples at {sr} Hz"


def test_stoi_and_estoi_equal_pystoi_on_the_embedded_corpus():
    wavs = [load_audio(u.audio) for u in load_corpus("mini").utterances[:3]]
    _assert_equal_to_pystoi(_pairs([(w[0], sr) for w, sr in wavs]))


def test_stoi_and_estoi_equal_pystoi_on_real_speech(speech_dev):
    wavs = [load_audio(u.audio) for u in read_manifest(speech_dev).utterances[::6]]
    _assert_equal_to_pystoi(_pairs([(w[0], sr) for w, sr in wavs]))


def test_estoi_is_reproducible_and_equals_pystoi_seeded_where_it_dithers_constant_bands():
    wav, sr = load_audio(load_corpus("mini").utterances[0].audio)
    ref = wav[0].astype(np.float64)
    est = ref.copy()
    est[len(ref) // 3: len(ref) // 3 + sr // 2] = 0  # half a second of exact zeros: every band constant there
    unseeded = {pystoi_stoi(ref, est, sr, extended=True) for _ in range(4)}
    assert len(unseeded) > 1, "pystoi's dither no longer changes its value: the seed is not needed"
    ours = [estoi(ref, est, sr) for _ in range(2)]
    np.random.seed(DITHER_SEED)
    assert ours == [pystoi_stoi(ref, est, sr, extended=True)] * 2  # bit for bit: same filter, draws and rounding
    np.random.seed(DITHER_SEED + 1)
    assert pystoi_stoi(ref, est, sr, extended=True) != ours[0]  # the seed is what makes them equal


def test_too_few_speech_frames_is_an_error_where_pystoi_returns_a_placeholder():
    x = np.zeros(16000)
    x[8000:8400] = np.sin(np.arange(400) / 3)  # 25 ms of sound: the rest is removed as silence
    with pytest.warns(RuntimeWarning, match="Not enough STFT frames"):
        assert pystoi_stoi(x, x, 16000) == 1e-5
    for metric in (STOI, ESTOI):
        with pytest.raises(MetricError, match="fewer than the 30"):
            metric(x, x, 16000)


def _count_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []
    real = getattr(dasb.audio, name)

    def spy(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
        calls.append((orig_sr, target_sr))
        return real(x, orig_sr, target_sr)
    monkeypatch.setattr(dasb.audio, name, spy)
    return calls


def test_each_rate_is_resampled_once_per_item(monkeypatch):
    wav, sr = load_audio(load_corpus("mini").utterances[0].audio)
    ref = resample(wav, sr, 24000)[0]  # a rate none of the metrics is defined at
    est = _noisy(ref, 20, 0).astype(np.float32)
    sinc, octave = _count_calls(monkeypatch, "resample"), _count_calls(monkeypatch, "resample_octave")
    metrics = [METRICS.get(m) for m in DEFAULT_METRICS]
    scores = score_decoded(ref, est, 24000, "waveform", metrics)
    assert not [m for m, v in scores.items() if isinstance(v, Exception)]
    # PESQ-WB at 16 kHz, PESQ-NB at 8 kHz, STOI and ESTOI at 10 kHz: once each for reference and decoded audio.
    assert sorted(sinc) == [(24000, 8000)] * 2 + [(24000, 16000)] * 2
    assert octave == [(24000, 10000)] * 2


def test_levels_resamples_the_reference_once_per_item_for_all_levels(tmp_path, monkeypatch):
    octave = _count_calls(monkeypatch, "resample_octave")
    benches = {"levels": {"levels": [1, 2, 4], "metrics": ["stoi", "estoi"], "max_utterances": 1}}
    Runner(Suite("t", "mini", ["melrvq-4cb"], benches), tmp_path / "run", progress=False, workers=1).run()
    recs = [r for r in read_records(tmp_path / "run") if r.utterance]
    assert len(recs) == 6 and all(r.status == "ok" for r in recs), [r.message for r in recs if r.status != "ok"]
    # STOI and ESTOI at 10 kHz: each level's decode once, and the reference once for the three levels (its
    # alignment is the same for all), where scoring level by level resampled it three times.
    assert len(octave) == 1 + 3, octave


def test_outside_a_shared_block_nothing_is_kept(monkeypatch):
    wav, sr = load_audio(load_corpus("mini").utterances[0].audio)
    x = wav[0].astype(np.float64)
    octave = _count_calls(monkeypatch, "resample_octave")
    stoi(x, x, 22050)
    stoi(x, x, 22050)
    assert len(octave) == 4


class _CountingJudge:
    """A stand-in ASR backend and speaker encoder that records the content of every waveform it is given."""

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def config(self) -> dict:
        return {}

    def normalize(self, text: str) -> str:
        return text.lower()

    def transcribe(self, waves: list[np.ndarray]) -> list[str]:
        self.seen += [content_hash(w, 16000) for w in waves]
        return ["some words"] * len(waves)

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        self.seen += [content_hash(w, 16000) for w in waves]
        return np.tile(np.eye(4)[:1], (len(waves), 1))


def test_judges_see_each_original_once_per_run_whatever_the_number_of_tokenizers(tmp_path, monkeypatch):
    seen = {"asr": [], "speaker": []}
    monkeypatch.setenv("DASB_CACHE_DIR", str(tmp_path / "cache"))  # no scores from earlier runs
    monkeypatch.setattr(dasb.benchmarks.asr.ASR, "make_judge", staticmethod(lambda *a, **k: _CountingJudge(seen["asr"])))
    monkeypatch.setattr(dasb.benchmarks.speaker.Speaker, "make_judge",
                        staticmethod(lambda *a, **k: _CountingJudge(seen["speaker"])))
    tokenizers = ["pcm8", "pcm6", "mulaw8-8k"]
    suite = Suite("judges", "mini", tokenizers, {"asr": {"max_utterances": 3}, "speaker": {"max_utterances": 4}})
    Runner(suite, tmp_path / "run", progress=False, workers=1).run()
    # The mini corpus is at 16 kHz, the judges' rate: an original reaches them as its file's samples.
    originals = {content_hash(load_audio(u.audio)[0][0], 16000) for u in load_corpus("mini").utterances}
    for bench, n in (("asr", 3), ("speaker", 4)):
        judged = [h for h in seen[bench] if h in originals]
        assert len(judged) == len(set(judged)) == n, bench  # each original once, for 3 tokenizers
        # plus each tokenizer's decoded audio and each judge control's audio
        assert len(seen[bench]) == n * (1 + len(tokenizers) + len(judge_controls(bench))), bench
