"""Token-level benchmarks: statistics, LM, robustness, streaming, efficiency, ABX, invariance."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dasb.audio import load_audio, to_channels
from dasb.augment import get_augmentation
from dasb.benchmarks.abx import abx_errors, dtw_batch, triplets, window_features
from dasb.benchmarks.base import Item
from dasb.benchmarks.efficiency import Efficiency, parameter_count
from dasb.benchmarks.invariance import SpeakerInvariance
from dasb.benchmarks.lm import TokenLM, split
from dasb.benchmarks.robustness import Robustness
from dasb.benchmarks.streaming import Streaming, agreement
from dasb.benchmarks.tokens import TokenStatistics, codebook_stats
from dasb.data.corpus import Utterance, load_corpus
from dasb.data.minimal_pairs import ABXItem, read_item_file
from dasb.lm.transformer import layout
from dasb.tokenizers import runtime
from dasb.tokenizers.base import AudioTokenizer, Tokens, TokenizerInfo
from dasb.tokenizers.cards import get_card
from dasb.tokenseq import deduplicate, frame_symbols, unit_edit_distance


class FakeTokenizer(AudioTokenizer):
    """Only ``info``: the benchmarks under test read tokens, not audio."""

    def __init__(self, size: int | tuple[int, ...], codebooks: int = 1, frame_rate: float = 50.0,
                 causal: bool | None = None) -> None:
        self.info = TokenizerInfo("fake", 16000, codebooks, size, frame_rate, "classic", causal=causal)
        self.net = torch.nn.Linear(3, 2)  # 8 parameters, to check the parameter count
        self.centroids = torch.zeros(5, 2)  # 10 more: a learned codebook held as a plain tensor

    def encode(self, audio: torch.Tensor, lengths: torch.Tensor) -> Tokens:
        raise NotImplementedError


def make_items(codes: list[np.ndarray], frame_rate: float = 50.0, mask: list[np.ndarray] | None = None,
               texts: list[str] | None = None, speakers: list[str] | None = None) -> list[Item]:
    items = []
    for i, c in enumerate(codes):
        t = c.shape[-1]
        m = None if mask is None else torch.from_numpy(mask[i][None])
        utt = Utterance(f"u{i:03d}", "none", texts[i] if texts else None, speakers[i] if speakers else None)
        tokens = Tokens(torch.from_numpy(c[None]).long(), torch.tensor([t]), m)
        items.append(Item(utt, np.zeros(int(round(t / frame_rate * 16000)), np.float32), 16000, tokens))
    return items


def by_metric(results: list) -> dict[str, float]:
    return {r.metric: r.value for r in results if r.utterance is None and r.status == "ok"}


# ---- token statistics ------------------------------------------------------------------------


def test_token_statistics_hand_computed() -> None:
    # Codes 0 0 1 2 from a 4-code book over 1 s at 4 frames/s: p = (1/2, 1/4, 1/4).
    st = codebook_stats(np.array([0, 0, 1, 2]), 4)
    assert st.entropy_bits == pytest.approx(1.5)
    assert st.perplexity == pytest.approx(2**1.5)
    assert st.utilisation == 0.75 and st.dead_codes == 1
    res = by_metric(TokenStatistics().run(make_items([np.array([[0, 0, 1, 2]])], frame_rate=4.0), FakeTokenizer(4, 1, 4.0)))
    assert res["nominal_bitrate_bps"] == pytest.approx(8.0)
    assert res["bitrate_bps"] == pytest.approx(8.0)
    assert res["entropy_bitrate_bps"] == pytest.approx(6.0)
    assert res["tokens_per_second"] == pytest.approx(4.0)
    assert res["audio_seconds"] == pytest.approx(1.0)


def test_entropy_bitrate_never_exceeds_nominal_and_mask_is_honoured() -> None:
    rng = np.random.default_rng(0)
    codes = [rng.integers(0, 8, size=(3, 200)) for _ in range(4)]
    res = by_metric(TokenStatistics().run(make_items(codes), FakeTokenizer(8, 3)))
    assert res["entropy_bitrate_bps"] <= res["nominal_bitrate_bps"] + 1e-9
    assert res["utilisation"] == 1.0 and res["dead_codes"] == 0
    # Half of the entries masked: measured bitrate halves, entropy rate uses valid tokens per second.
    mask = [np.tile(np.arange(200) % 2 == 0, (3, 1)) for _ in range(4)]
    masked = by_metric(TokenStatistics().run(make_items(codes, mask=mask), FakeTokenizer(8, 3)))
    assert masked["bitrate_bps"] == pytest.approx(res["bitrate_bps"] / 2)
    assert masked["tokens_per_second"] == pytest.approx(res["tokens_per_second"] / 2)
    assert masked["entropy_bitrate_bps"] <= masked["bitrate_bps"] + 1e-9


# ---- token LM --------------------------------------------------------------------------------


def test_kneser_ney_distributions_sum_to_one_per_codebook() -> None:
    from dasb.lm.ngram import KneserNeyLM

    rng = np.random.default_rng(0)
    sizes = (4, 3)  # joint ids: codebook 0 -> 0..3, codebook 1 -> 4..6
    streams = []
    for _ in range(5):
        codes = np.stack([rng.integers(0, 4, 50), rng.integers(0, 3, 50) + 4])
        streams.append((codes.T.reshape(-1), np.tile([0, 1], 50)))
    lm = KneserNeyLM(sizes, order=3).fit(streams)
    for context in [(0,), (1, 2), (0, 5, 1), (1, 3, 3), (0, 6, 6)]:  # seen, unseen and impossible histories
        words = range(4) if context[0] == 0 else range(4, 7)
        assert sum(lm.prob(context, w) for w in words) == pytest.approx(1.0)
    assert lm.prob((0,), 1) > 0


def test_lm_split_is_deterministic_and_disjoint() -> None:
    ids = [f"u{i}" for i in range(20)]
    a = split(ids, 0.25, seed=0)
    assert a == split(list(reversed(ids)), 0.25, seed=0)
    assert not a[0] & a[1] and len(a[1]) == 5
    assert split(ids, 0.25, seed=1) != a


def test_delay_layout_shifts_codebook_k_by_k() -> None:
    codes = np.array([[1, 2, 3], [4, 5, 6]])
    lay = layout(codes, (8, 8), "delay")
    assert lay.targets.T.tolist() == [[1, 2, 3, -1], [-1, 4, 5, 6]]
    assert lay.input_ids[0].tolist() == [8, 8]  # BOS
    assert lay.input_ids[1].tolist() == [1, 9]  # codebook 1 still padded (PAD = 9)


def test_lm_predictable_versus_random_codes() -> None:
    rng = np.random.default_rng(0)
    size, frames = 16, 1500
    random = [rng.integers(0, size, size=(1, frames)) for _ in range(12)]
    periodic = [((np.arange(frames) * 3 + i) % size)[None] for i in range(12)]
    bench = TokenLM(steps=60, batch_size=8, context=64)
    rnd = by_metric(bench.run(make_items(random), FakeTokenizer(size)))
    pre = by_metric(bench.run(make_items(periodic), FakeTokenizer(size)))
    for model in ("ngram", "transformer_flatten"):
        assert rnd[f"{model}_bits_per_token"] == pytest.approx(math.log2(size), rel=0.05)
        assert pre[f"{model}_bps"] < 0.5 * rnd[f"{model}_bps"]  # far lower for the predictable stream
    # bits per second = bits per token x tokens per second (50 Hz, one codebook)
    assert rnd["ngram_bps"] == pytest.approx(50 * rnd["ngram_bits_per_token"], rel=1e-6)


def test_lm_multi_codebook_strategies_and_vocabulary_cap() -> None:
    rng = np.random.default_rng(1)
    codes = [rng.integers(0, 4, size=(2, 300)) for _ in range(6)]
    res = TokenLM(strategies=["flatten", "parallel", "delay"], steps=5, batch_size=4, context=32).run(
        make_items(codes), FakeTokenizer(4, 2))
    got = by_metric(res)
    for s in ("flatten", "parallel", "delay"):
        assert got[f"transformer_{s}_bits_per_token"] > 0
    skipped = TokenLM(steps=5, max_vocab=2).run(make_items(codes), FakeTokenizer(4, 2))
    reasons = [r.message for r in skipped if r.status == "skipped"]
    assert len(reasons) == 3 and "max_vocab" in reasons[0]


# ---- robustness ------------------------------------------------------------------------------


def test_unit_edit_distance_basics() -> None:
    assert deduplicate(np.array([1, 1, 2, 2, 1])).tolist() == [1, 2, 1]
    assert unit_edit_distance(np.array([1, 1, 2, 3]), np.array([1, 2, 2, 3])) == 0.0
    assert unit_edit_distance(np.array([1, 2, 3]), np.array([1, 5, 3])) == pytest.approx(1 / 3)


def test_augmentations_do_what_they_say() -> None:
    sr = 16000
    t = np.arange(sr) / sr
    x = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    rng = np.random.default_rng(0)
    noisy = get_augmentation("noise_10db")(x, sr, rng)
    snr = 10 * np.log10(np.mean(x**2) / np.mean((noisy - x) ** 2))
    assert snr == pytest.approx(10.0, abs=0.2)
    assert get_augmentation("gain_-6db")(x, sr, rng) == pytest.approx(x * 10 ** (-6 / 20), rel=1e-5)
    assert len(get_augmentation("speed_1.1")(x, sr, rng)) == pytest.approx(sr / 1.1, abs=2)
    shifted = get_augmentation("pitch_12st")(x, sr, rng)  # one octave up, same duration
    spectrum = np.abs(np.fft.rfft(shifted[2000:14000] * np.hanning(12000)))
    assert np.argmax(spectrum) * sr / 12000 == pytest.approx(440, abs=5)
    assert len(get_augmentation("reverb_300ms")(x, sr, rng)) == len(x)
    with pytest.raises(ValueError, match="unknown augmentation"):
        get_augmentation("chorus")


def _mini_item(tok: AudioTokenizer, index: int = 0) -> Item:
    utt = load_corpus("mini").utterances[index]
    wav, sr = load_audio(utt.audio)
    return Item(utt, to_channels(wav, 1)[0], sr, runtime.encode(tok, [wav], [sr])[0])


def test_identity_augmentation_gives_zero_distance() -> None:
    tok = get_card("mulaw8-16k").build("cpu")
    out = Robustness(augmentations=["identity", "noise_10db"], max_seconds=1.0).score(_mini_item(tok), tok)
    assert out["ued_identity"] == 0.0
    assert out["ued_noise_10db"] > 0.1


def test_unit_edit_distance_grows_with_noise_on_real_speech(speech_dev) -> None:
    corpus = load_corpus(str(speech_dev))
    tok = get_card("pcm4").build("cpu")
    bench = Robustness(augmentations=["noise_30db", "noise_10db", "noise_0db"], max_seconds=1.0)
    values = {k: [] for k in bench.metrics()}
    for utt in corpus.utterances[:3]:
        wav, sr = load_audio(utt.audio)
        item = Item(utt, wav[0], sr, runtime.encode(tok, [wav], [sr])[0])
        for k, v in bench.score(item, tok).items():
            values[k].append(v)
    mean = {k: float(np.mean(v)) for k, v in values.items()}
    assert mean["ued_noise_30db"] < mean["ued_noise_10db"] < mean["ued_noise_0db"]


def test_frame_symbols_honour_mask_and_match_across_items() -> None:
    codes = torch.tensor([[[5, 6, 5], [1, 7, 1]]])
    mask = torch.tensor([[[True, True, True], [True, False, True]]])
    a = frame_symbols(Tokens(codes, torch.tensor([3]), mask), "all")
    assert a[0] == a[2] and a[0] != a[1]
    b = frame_symbols(Tokens(codes[:, :, 2:], torch.tensor([1]), mask[:, :, 2:]), "all")
    assert b[0] == a[0]  # same code tuple, same symbol, in another item
    assert frame_symbols(Tokens(codes, torch.tensor([3]), ~mask), "first").tolist() == []


# ---- streaming -------------------------------------------------------------------------------


def test_streaming_agreement_is_one_for_mulaw() -> None:
    tok = get_card("mulaw8-16k").build("cpu")
    res = by_metric(Streaming(chunk_ms=[20, 80], max_seconds=1.0).run([_mini_item(tok)], tok))
    assert res["agreement_20ms"] == 1.0 and res["agreement_80ms"] == 1.0
    assert res["latency_ms_20ms"] == pytest.approx(20.0)
    assert res["mel_delta_20ms"] == pytest.approx(0.0, abs=1e-9)


def test_streaming_skips_non_causal_and_counts_length_changes() -> None:
    assert "causal" in Streaming().skip_reason(FakeTokenizer(4, causal=False))
    a = Tokens(torch.tensor([[[1, 2, 3, 4]]]), torch.tensor([4]))
    b = Tokens(torch.tensor([[[1, 2, 0]]]), torch.tensor([3]))
    assert agreement(a, b) == pytest.approx(2 / 4)


# ---- efficiency ------------------------------------------------------------------------------


def test_efficiency_reports_rtf_and_parameters() -> None:
    assert parameter_count(FakeTokenizer(4)) == 18
    tok = get_card("pcm8").build("cpu")
    res = by_metric(Efficiency(warmup=1, repetitions=2).run([_mini_item(tok)], tok))
    assert 0 < res["encode_rtf"] < 1 and 0 < res["decode_rtf"] < 1
    assert res["parameters"] == 0 and res["encode_peak_mb"] >= 0


# ---- ABX -------------------------------------------------------------------------------------


def test_dtw_known_cases() -> None:
    same = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert dtw_batch([same])[0] == 0.0
    # Path through 3 diagonal cells of cost 1 plus nothing cheaper: 3 / (3 + 3).
    assert dtw_batch([np.ones((3, 3)), same])[0] == pytest.approx(0.5)


def _abx_set(rng: np.random.Generator, copy_a: bool, embeddings: list | None = None) -> tuple[list[ABXItem], list]:
    """Two words x two speakers in one context; X (speaker 2) is an exact copy of A (speaker 1)."""
    items, feats = [], []
    base = {w: rng.integers(0, 32, size=(1, 20)) for w in ("bat", "pat")}
    for spk in ("s1", "s2"):
        for w in ("bat", "pat"):
            codes = base[w] if copy_a else rng.integers(0, 32, size=(1, 20))
            items.append(ABXItem(f"{w}-{spk}", 0.0, None, w, "at", spk))
            feats.append(window_features(Tokens(torch.from_numpy(codes[None]), torch.tensor([20])), 1, embeddings))
    return items, feats


def test_abx_error_zero_for_copies_and_half_for_random_codes() -> None:
    rng = np.random.default_rng(0)
    items, feats = _abx_set(rng, copy_a=True)
    trips = triplets(items)
    assert len(trips) == 4  # 2 ordered word pairs x 2 speaker orders
    assert abx_errors(feats, trips).mean() == 0.0
    errors = []
    for _ in range(100):
        items, feats = _abx_set(rng, copy_a=False)
        errors.extend(abx_errors(feats, triplets(items)))
    assert np.mean(errors) == pytest.approx(0.5, abs=0.08)


def test_abx_with_codebook_embeddings() -> None:
    rng = np.random.default_rng(1)
    table = [torch.randn(32, 8, generator=torch.Generator().manual_seed(0))]
    items, feats = _abx_set(rng, copy_a=True, embeddings=table)
    assert feats[0][0].shape == (20, 8)
    assert abx_errors(feats, triplets(items)).mean() == 0.0
    errors = []
    for _ in range(100):
        items, feats = _abx_set(rng, copy_a=False, embeddings=table)
        errors.extend(abx_errors(feats, triplets(items)))
    assert np.mean(errors) == pytest.approx(0.5, abs=0.08)


def test_read_zerospeech_item_file(tmp_path) -> None:
    path = tmp_path / "x.item"
    path.write_text("#file onset offset #phone prev-phone next-phone speaker\nf1 0.1 0.2 ae b t s1\nf2 0.3 0.4 ih b t s2\n")
    items = read_item_file(path, tmp_path)
    assert items[1] == ABXItem(str(tmp_path / "f2.wav"), 0.3, 0.4, "ih", "b_t", "s2")


def test_generated_minimal_pairs_are_cached(tmp_path) -> None:
    pytest.importorskip("espeakng_loader", reason="the generated ABX set needs the tokens extra (espeakng-loader)")
    from dasb.data.minimal_pairs import generate_minimal_pairs

    groups = {"onset-at": ("bat", "pat")}
    items = generate_minimal_pairs(("en-us", "en-us+f3"), groups, root=tmp_path)
    assert len(items) == 4 and len(triplets(items)) == 4
    wav, sr = load_audio(items[0].file)
    assert sr == 16000 and 0.1 < wav.shape[-1] / sr < 1.0
    assert generate_minimal_pairs(("en-us", "en-us+f3"), groups, root=tmp_path) == items


def test_two_fresh_abx_caches_give_the_same_score_and_key(tmp_path, monkeypatch) -> None:
    """espeak-ng draws breath noise (voice +f3) from a time-seeded generator; unseeded, the sets differed."""
    pytest.importorskip("espeakng_loader", reason="the generated ABX set needs the tokens extra (espeakng-loader)")
    import soundfile as sf

    from dasb.benchmarks.abx import ABX
    from dasb.hashing import hash_config

    tok = get_card("mulaw8-16k").build("cpu")
    outcomes = []
    for cache in ("first", "second"):
        monkeypatch.setenv("DASB_CACHE_DIR", str(tmp_path / cache))
        bench = ABX(voices=["en-us", "en-us+f3"], max_triplets=300)
        outcomes.append((hash_config(bench.config()), by_metric(bench.run([], tok))["abx_error"]))
    assert outcomes[0] == outcomes[1]
    # The key follows the audio: an edited file in the cache gives a new key.
    item = bench._items()[0][0]
    wav, sr = sf.read(item.file)
    sf.write(item.file, 0.5 * wav, sr)
    assert hash_config(ABX(voices=["en-us", "en-us+f3"], max_triplets=300).config()) != outcomes[1][0]


# ---- speaker invariance ----------------------------------------------------------------------


def test_invariance_ratio_zero_when_tokens_ignore_the_speaker() -> None:
    rng = np.random.default_rng(0)
    sentence = {t: rng.integers(0, 50, size=(1, 40)) for t in ("one", "two", "three")}
    texts = [t for t in sentence for _ in ("a", "b")]
    speakers = ["a", "b"] * 3
    items = make_items([sentence[t] for t in texts], texts=texts, speakers=speakers)
    res = by_metric(SpeakerInvariance().run(items, FakeTokenizer(50)))
    assert res["same_text_distance"] == 0.0 and res["invariance_ratio"] == 0.0
    assert res["different_text_distance"] > 0.5
    lone = SpeakerInvariance().run(items[:1], FakeTokenizer(50))
    assert all(r.status == "skipped" for r in lone)


# ---- end to end ------------------------------------------------------------------------------


@pytest.mark.slow
def test_token_benchmarks_run_end_to_end(tmp_path) -> None:
    import json

    from dasb.runner import Runner
    from dasb.suites import Suite

    light = {
        "tokens": {},
        "lm": {"steps": 5, "batch_size": 4, "context": 32, "max_tokens_per_utterance": 300},
        "robustness": {"max_utterances": 1, "max_seconds": 0.5, "augmentations": ["identity", "noise_0db"]},
        "streaming": {"max_utterances": 1, "max_seconds": 0.5},
        "efficiency": {"max_utterances": 2, "repetitions": 1},
        "abx": {"voices": ["en-us", "en-us+f3"]},
        "invariance": {},
    }
    Runner(Suite("t", "mini", ["mulaw8-8k"], light), tmp_path, progress=False).run()
    recs = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    agg = {(r["benchmark"], r["metric"]): r for r in recs if r["utterance"] is None}
    assert {b for b, _ in agg} == set(light)
    assert all(r["status"] == "ok" for r in agg.values()), [r["message"] for r in agg.values() if r["status"] != "ok"]
    assert agg[("robustness", "ued_identity")]["value"] == 0.0
    assert agg[("streaming", "agreement_20ms")]["value"] == 1.0
    assert agg[("tokens", "entropy_bitrate_bps")]["value"] <= agg[("tokens", "nominal_bitrate_bps")]["value"]
