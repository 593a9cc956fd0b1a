"""Neural tokenizer adapters on small random-initialised configs of their real architectures.

No weights exist offline: each family's model is built from a shrunk config of
the same class (same code path as the released checkpoints), with codebooks
re-randomised (EnCodec/Mimi/X-Codec start with all-zero codebooks, which would
give all-zero codes).
"""
from __future__ import annotations

import math
import time

import pytest
import torch

T = pytest.importorskip("transformers", reason="the neural adapters need transformers: pip install 'dasb[neural]'")

from dasb.testing import check_tokenizer, randomise_codebooks, speech_like_signal  # noqa: E402
from dasb.tokenizers import hf_codecs as H  # noqa: E402
from dasb.tokenizers.cards import load_cards  # noqa: E402
from dasb.tokenizers.hf_base import WeightsUnavailable  # noqa: E402
from dasb.tokenizers.ssl_kmeans import SSLKMeansTokenizer, train_kmeans  # noqa: E402


def _hubert(**kw):
    return dict(model_type="hubert", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, **kw)


def _dac(**kw):
    return dict(model_type="dac", encoder_hidden_size=8, decoder_hidden_size=32, codebook_dim=4, **kw)


def _w2vbert():
    return dict(model_type="wav2vec2-bert", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64, output_hidden_size=32, conv_depthwise_kernel_size=5)


_X2 = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
           head_dim=16, encoder_hidden_size=8, quantization_dim=64, semantic_model_config=_w2vbert())
_ENCODEC = dict(num_filters=8, hidden_size=32, num_lstm_layers=1, codebook_dim=32)
_ENCODEC48 = dict(sampling_rate=48000, audio_channels=2, normalize=True, norm_type="time_group_norm", chunk_length_s=1.0, overlap=0.01,
                  target_bandwidths=[3.0, 6.0, 12.0, 24.0], use_causal_conv=False)
_MIMI = dict(hidden_size=32, num_filters=8, codebook_dim=16, vector_quantization_hidden_dimension=16, upsample_groups=32,
             num_hidden_layers=1, intermediate_size=64, num_attention_heads=2, num_key_value_heads=2)
_WAVTOK = dict(num_filters=8, hidden_size=32, codebook_dim=32, decoder_hidden_size=32, decoder_intermediate_size=64,
               decoder_num_layers=1, decoder_attention_num_groups=4, num_lstm_layers=1)
_HIGGS = dict(acoustic_model_config=_dac(downsampling_ratios=[8, 5, 4, 2, 3], upsampling_ratios=[3, 8, 5, 4, 2]),
              semantic_model_config=_hubert(), downsample_factor=320)

# (name, adapter class, config class, small config, adapter params)
CASES = [
    ("encodec-24k-1.5", H.EncodecTokenizer, "EncodecConfig", _ENCODEC, {"bandwidth": 1.5}),
    ("encodec-24k-6", H.EncodecTokenizer, "EncodecConfig", _ENCODEC, {"bandwidth": 6.0}),
    ("encodec-24k-24", H.EncodecTokenizer, "EncodecConfig", _ENCODEC, {"bandwidth": 24.0}),
    ("encodec-48k-3", H.EncodecTokenizer, "EncodecConfig", {**_ENCODEC, **_ENCODEC48}, {"bandwidth": 3.0}),
    ("dac-16k", H.DacTokenizer, "DacConfig", dict(encoder_hidden_size=8, decoder_hidden_size=32, codebook_dim=4,
                                                   downsampling_ratios=[2, 4, 5, 8], upsampling_ratios=[8, 5, 4, 2],
                                                   n_codebooks=12), {}),
    ("dac-44k-4q", H.DacTokenizer, "DacConfig", dict(encoder_hidden_size=8, decoder_hidden_size=32, codebook_dim=4,
                                                      sampling_rate=44100), {"n_quantizers": 4}),
    ("mimi-8q", H.MimiTokenizer, "MimiConfig", _MIMI, {"num_quantizers": 8}),
    ("mimi-32q", H.MimiTokenizer, "MimiConfig", _MIMI, {"num_quantizers": 32}),
    ("wavtokenizer-40", H.WavTokenizerTokenizer, "WavTokenizerConfig", _WAVTOK, {}),
    ("wavtokenizer-75", H.WavTokenizerTokenizer, "WavTokenizerConfig", {**_WAVTOK, "upsampling_ratios": [8, 5, 4, 2]}, {}),
    ("xcodec-0.5", H.XcodecTokenizer, "XcodecConfig", dict(acoustic_model_config=_dac(), semantic_model_config=_hubert()), {"bandwidth": 0.5}),
    ("xcodec-4", H.XcodecTokenizer, "XcodecConfig", dict(acoustic_model_config=_dac(), semantic_model_config=_hubert()), {"bandwidth": 4.0}),
    ("higgs-v2-2", H.HiggsAudioV2Tokenizer, "HiggsAudioV2TokenizerConfig", _HIGGS, {"bandwidth": 2.0}),
    ("xcodec2", H.Xcodec2Tokenizer, "Xcodec2Config", _X2, {}),
    ("neucodec", H.NeuCodecTokenizer, "NeuCodecConfig", _X2, {}),
]
# Cheap representatives of each family for the everyday run; the rest are marked slow.
DURATIONS = (0.3, 0.5, 0.2)  # seconds; longer than the small models' receptive fields
EVERYDAY = {"encodec-24k-6", "dac-16k", "mimi-8q", "xcodec-0.5"}


def build(case) -> H.HFTokenizer:
    name, cls, cfg_cls, cfg, params = case
    torch.manual_seed(0)
    model = randomise_codebooks(getattr(T, cls.model_class)(getattr(T, cfg_cls)(**cfg)))
    return cls(name, model=model, **params)


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0], marks=() if c[0] in EVERYDAY else pytest.mark.slow) for c in CASES])
def test_conformance(case):
    tok = build(case)
    check_tokenizer(tok, durations=DURATIONS)
    if tok.info.num_codebooks > 1:  # residual levels see varied inputs even with random weights
        assert len(set(tok.encode(*_clip(tok)).codes.flatten().tolist())) > 1, "codes are constant: codebooks not exercised"
    embs = tok.codebook_embeddings()
    if embs is not None:
        assert [e.shape[0] for e in embs] == list(tok.info.codebook_sizes)


def _clip(tok):
    x = torch.from_numpy(speech_like_signal(0.5, tok.info.sample_rate, tok.info.channels))[None]
    return x, torch.tensor([x.shape[-1]])




@pytest.mark.parametrize("family", ["hubert", pytest.param("wavlm", marks=pytest.mark.slow),
                                    pytest.param("wav2vec2", marks=pytest.mark.slow)])
def test_ssl_kmeans_conformance(family, tmp_path):
    cfg_cls = {"hubert": T.HubertConfig, "wavlm": T.WavLMConfig, "wav2vec2": T.Wav2Vec2Config}[family]
    torch.manual_seed(0)
    model = T.AutoModel.from_config(cfg_cls(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
                                            conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4))
    waves = [speech_like_signal(1.0, 16000, seed=s) for s in range(3)]
    inertia = train_kmeans(model, waves, [1, 3], 16, tmp_path, {"model": f"random-{family}"})
    assert set(inertia) == {1, 3} and all(v > 0 for v in inertia.values())
    tok = SSLKMeansTokenizer(f"{family}-km16", kmeans=str(tmp_path), model=model)
    check_tokenizer(tok)
    assert tok.info.codebook_sizes == (16, 16) and tok.info.frame_rate == 50 and not tok.info.decodes
    with pytest.raises(ValueError, match="no k-means codebook for layers"):
        SSLKMeansTokenizer("x", kmeans=str(tmp_path), layers=[2], model=model)


def test_missing_checkpoint_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DASB_WEIGHTS", raising=False)
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailable) as err:
        H.EncodecTokenizer("e", bandwidth=6.0, checkpoint="facebook/encodec_24khz", revision="main")
    assert time.perf_counter() - start < 5
    msg = str(err.value)
    assert "facebook/encodec_24khz" in msg and "DASB_WEIGHTS" in msg and "huggingface-cli download" in msg


def test_unreachable_hub_fails_fast(monkeypatch):
    from dasb.weights import hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "_hub_reachable", lambda timeout=3.0: False)
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailable, match="unreachable"):
        H.MimiTokenizer("m", num_quantizers=8, checkpoint="kyutai/mimi", revision="main")
    assert time.perf_counter() - start < 5


def test_local_folder_checkpoint_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tok = build(CASES[6])  # mimi-8q
    tok.model.save_pretrained(tmp_path / "mimi")
    again = H.MimiTokenizer("m", num_quantizers=8, checkpoint=str(tmp_path / "mimi"))
    x, n = _clip(tok)
    assert torch.equal(tok.encode(x, n).codes, again.encode(x, n).codes)


def test_runner_records_missing_checkpoint_and_goes_on(tmp_path, monkeypatch):
    from dasb.runner import Runner
    from dasb.suites import Suite

    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "missing.yaml").write_text(
        "name: dac-missing\nadapter: dac\ncheckpoint: dasb-test/no-such-codec\nrevision: main\n", encoding="utf-8")
    monkeypatch.setenv("DASB_CARDS", str(cards))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    suite = Suite("t", "mini", ["dac-missing", "pcm8"], {"reconstruction": {"max_utterances": 1}})
    summary = Runner(suite, tmp_path / "run", progress=False).run()
    recs = list(Runner(suite, tmp_path / "run", progress=False).store.records())
    bad = [r for r in recs if r.tokenizer == "dac-missing"]
    good = [r for r in recs if r.tokenizer == "pcm8" and r.status == "ok"]
    assert bad and all(r.status == "error" and "dasb-test/no-such-codec" in r.message for r in bad)
    assert good, "the run must go on with the other tokenizers"
    assert summary.exit_code == 1


def test_library_defaults_are_not_paper_configs():
    """EnCodec encodes at 1.5 kbps and Mimi with 32 codebooks unless told; the cards fix both."""
    enc = build(CASES[1])  # 6 kbps card
    x, n = _clip(enc)
    assert enc.model.encode(x).audio_codes.shape[2] == 2  # library default: 1.5 kbps
    assert enc.encode(x, n).codes.shape[1] == 8
    mimi = build(CASES[6])
    xm, nm = _clip(mimi)
    assert mimi.model.encode(xm).audio_codes.shape[1] == 32
    assert mimi.encode(xm, nm).codes.shape[1] == 8
    cards = load_cards()
    assert cards["encodec-24khz-6kbps"].params["bandwidth"] == 6.0 and cards["mimi-8q"].params["num_quantizers"] == 8


def test_dac_keeps_the_last_partial_frame():
    """HF's DAC floors the frame count; the adapter pads to whole hops like DAC's own preprocess."""
    tok = build(CASES[4])
    hop = tok.model.config.hop_length
    short = []
    for n in (hop * 20, hop * 20 + 1, hop * 20 + hop // 4, hop * 21 - 1):
        x = torch.from_numpy(speech_like_signal(n / 16000, 16000))[None][..., :n]
        short.append(tok.model.encode(x).audio_codes.shape[-1] < math.ceil(n / hop))
        tokens = tok.encode(x, torch.tensor([n]))
        assert int(tokens.lengths[0]) == math.ceil(n / hop)
        out, out_len = tok.decode(tokens)
        assert int(out_len[0]) == math.ceil(n / hop) * hop and out.shape[-1] == int(out_len[0])
        assert 0 <= int(out_len[0]) - n < hop
    assert any(short), "the library no longer drops the partial frame: revisit the padding"


def test_padded_batch_lengths_are_emitted_frames():
    """Lengths are the frames emitted for each item's own length, not for the padded batch."""
    tok = build(CASES[6])  # Mimi: 1920 samples per frame, ceil
    waves = [speech_like_signal(d, 24000, seed=i) for i, d in enumerate((0.3, 1.0))]
    from dasb.audio import pad_batch

    tokens = tok.encode(*pad_batch(waves))
    assert tokens.lengths.tolist() == [math.ceil(w.shape[-1] / 1920) for w in waves]


# Published configurations: transformers' default config classes mirror the released checkpoints;
# where a release differs from the default, the override is the release's config.json value.
PUBLISHED = {
    "encodec-24khz-1.5kbps": ("EncodecConfig", {}), "encodec-24khz-6kbps": ("EncodecConfig", {}),
    "encodec-24khz-24kbps": ("EncodecConfig", {}),
    "encodec-48khz-3kbps": ("EncodecConfig", _ENCODEC48), "encodec-48khz-24kbps": ("EncodecConfig", _ENCODEC48),
    "dac-44khz": ("DacConfig", {"sampling_rate": 44100}),
    "dac-16khz": ("DacConfig", {"downsampling_ratios": [2, 4, 5, 8], "upsampling_ratios": [8, 5, 4, 2], "n_codebooks": 12}),
    "dac-24khz": ("DacConfig", {"sampling_rate": 24000, "downsampling_ratios": [2, 4, 5, 8],
                                "upsampling_ratios": [8, 5, 4, 2], "n_codebooks": 32}),
    "mimi-8q": ("MimiConfig", {}), "mimi-32q": ("MimiConfig", {}),
    "wavtokenizer-large-40": ("WavTokenizerConfig", {}),
    "xcodec-hubert-ls-0.5kbps": ("XcodecConfig", {}), "xcodec-hubert-ls-4kbps": ("XcodecConfig", {}),
    "xcodec2": ("Xcodec2Config", {}), "neucodec": ("NeuCodecConfig", {}),
    "higgs-audio-v2-tokenizer": ("HiggsAudioV2TokenizerConfig", {
        "acoustic_model_config": {"downsampling_ratios": [8, 5, 4, 2, 3], "upsampling_ratios": [8, 5, 4, 2, 3]}}),
}


@pytest.mark.parametrize("card_name", sorted(PUBLISHED))
def test_nominal_bitrate_matches_published(card_name):
    """Bitrate, frame rate and codebooks computed from the model config equal the card's published figures."""
    card = load_cards()[card_name]
    cfg_cls, override = PUBLISHED[card_name]
    cls = {"encodec": H.EncodecTokenizer, "dac": H.DacTokenizer, "mimi": H.MimiTokenizer, "wavtokenizer": H.WavTokenizerTokenizer,
           "xcodec": H.XcodecTokenizer, "xcodec2": H.Xcodec2Tokenizer, "neucodec": H.NeuCodecTokenizer,
           "higgs-audio-v2": H.HiggsAudioV2Tokenizer}[card.adapter]
    with torch.device("meta"):  # the full-size architecture without allocating it
        model = getattr(T, cls.model_class)(getattr(T, cfg_cls)(**override))
    info = cls(card.name, model=model, **card.params).info
    pub = card.published
    assert info.nominal_bitrate / 1000 == pytest.approx(pub["bitrate_kbps"], rel=0.01)
    assert info.frame_rate == pytest.approx(pub["frame_rate"], rel=0.001)
    assert (info.num_codebooks, info.codebook_sizes[0], info.sample_rate) == (pub["codebooks"], pub["codebook_size"], pub["sample_rate"])


def test_encodec_and_mimi_reference_arithmetic():
    """The issue's worked examples: 75 Hz x 2 x 10 bits = 1.5 kbps; 12.5 Hz x 8 x 11 bits = 1.1 kbps; 86.13 x 9 x 10 = 7.75 kbps."""
    assert 75 * 2 * 10 == 1500 and 12.5 * 8 * 11 == 1100 and 44100 / 512 * 9 * 10 == pytest.approx(7752, abs=1)


def test_cards_load_and_unavailable_have_reasons():
    cards = load_cards()
    neural = [c for c in cards.values() if c.adapter in ("encodec", "dac", "mimi", "wavtokenizer", "xcodec", "xcodec2",
                                                          "neucodec", "higgs-audio-v2", "ssl-kmeans")]
    assert len(neural) >= 25 and all(c.checkpoint and c.revision and c.published for c in neural)
    assert all(c.reason for c in cards.values() if c.status == "unavailable")


def test_doctor_names_the_fix(monkeypatch):
    from dasb.doctor import check_card

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DASB_WEIGHTS", raising=False)
    cards = load_cards()
    r = check_card(cards["mimi-8q"])
    assert r.ok is False and "kyutai/mimi" in r.fix and r.bitrate_kbps == 1.1
    assert "dasb train kmeans" in check_card(cards["hubert-base-km500"]).fix
    assert check_card(cards["pcm8"]).ok


# Families from their own packages (each behind its extra): random-init models of the released architectures.
_SNAC24 = dict(sampling_rate=24000, encoder_dim=8, encoder_rates=[2, 4, 8, 8], decoder_dim=64, decoder_rates=[8, 8, 4, 2],
               attn_window_size=32, codebook_size=4096, codebook_dim=8, vq_strides=[4, 2, 1])
_ST = dict(n_filters=8, dimension=32, semantic_dimension=16, strides=[8, 5, 4, 2], lstm_layers=1, bidirectional=True,
           dilation_base=2, residual_kernel_size=3, n_residual_layers=1, activation="ELU", sample_rate=16000, n_q=8,
           codebook_size=1024)


def _pypi_case(name):
    from dasb.tokenizers import pypi_codecs as P

    if name.startswith("snac"):
        pytest.importorskip("snac", reason="SNAC needs its package: pip install 'dasb[snac]'")
        return P.SnacTokenizer(name, config=_SNAC24)
    if name.startswith("speechtokenizer"):
        import importlib.util

        if importlib.util.find_spec("speechtokenizer") is None:
            pytest.skip("SpeechTokenizer needs its package: pip install 'dasb[speechtokenizer]'")
        return P.SpeechTokenizerTokenizer(name, config=_ST, n_q=8 if name.endswith("8q") else 1)
    pytest.importorskip("s3tokenizer", reason="the S3 tokenizers need their package: pip install 'dasb[s3tokenizer]'")
    if name.endswith("v2"):
        from s3tokenizer.model_v2 import ModelConfig
        return P.S3Tokenizer(name, model_name="speech_tokenizer_v2_25hz",
                             config=ModelConfig(n_audio_state=128, n_audio_head=2, n_audio_layer=1))
    from s3tokenizer.model import ModelConfig
    return P.S3Tokenizer(name, model_name="speech_tokenizer_v1",
                         config=ModelConfig(n_audio_state=32, n_audio_head=2, n_audio_layer=1, n_codebook_size=4096))


@pytest.mark.parametrize("name", [pytest.param("snac-24k", marks=pytest.mark.slow),
                                  pytest.param("speechtokenizer-8q", marks=pytest.mark.slow), "speechtokenizer-1q",
                                  "s3-v1", "s3-v2"])
def test_pypi_conformance(name):
    torch.manual_seed(0)
    tok = _pypi_case(name)
    randomise_codebooks(tok.model)
    check_tokenizer(tok, durations=DURATIONS)
    if tok.info.num_codebooks > 1:
        assert len(set(tok.encode(*_clip(tok)).codes.flatten().tolist())) > 1, "codes are constant"


def test_snac_layout_and_bitrate():
    """SNAC's 3 levels (strides 4/2/1) become 7 slots per coarse frame: 24000/512/4 Hz x 7 x 12 bits = 984 bit/s."""
    tok = _pypi_case("snac-24k")
    assert tok.info.num_codebooks == 7 and tok.info.nominal_bitrate == pytest.approx(984.375)
    x, n = _clip(tok)
    levels = tok.model.encode(x)
    codes = tok.encode(x, n).codes[0]
    frames = codes.shape[-1]
    assert torch.equal(codes[0], levels[0][0, :frames])
    assert torch.equal(codes[1:3].T.reshape(-1), levels[1][0, : 2 * frames])
    assert torch.equal(codes[3:7].T.reshape(-1), levels[2][0, : 4 * frames])


def test_cli_train_kmeans_then_encode(tmp_path, monkeypatch, capsys):
    """`dasb train kmeans` on a local model folder and the embedded corpus, then the card encodes with it."""
    from dasb.cli import main
    from dasb.tokenizers.cards import get_card

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    T.AutoModel.from_config(T.HubertConfig(**{k: v for k, v in _hubert().items() if k != "model_type"})).save_pretrained(tmp_path / "hubert")
    out = tmp_path / "km"
    assert main(["train", "kmeans", "--model", str(tmp_path / "hubert"), "--layers", "1,2", "--k", "8",
                 "--data", "mini", "--max-utterances", "2", "--out", str(out)]) == 0
    assert "layer 2: k=8" in capsys.readouterr().out
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "km.yaml").write_text(f"name: tiny-km8\nadapter: ssl-kmeans\nparams: {{kmeans: {out}}}\n", encoding="utf-8")
    monkeypatch.setenv("DASB_CARDS", str(cards))
    tok = get_card("tiny-km8").build()
    assert tok.info.codebook_sizes == (8, 8) and tok.info.checkpoint == str(tmp_path / "hubert")
    check_tokenizer(tok, durations=DURATIONS)


# The released configs of the package codecs (their config.json / package defaults).
_ST_RELEASE = dict(_ST, n_filters=64, dimension=1024, semantic_dimension=768, lstm_layers=2)
_SNAC_RELEASE = {
    "snac-24khz": dict(_SNAC24, encoder_dim=48, decoder_dim=1024, attn_window_size=None),  # 19.8 M params: no local attention
    "snac-32khz": dict(sampling_rate=32000, encoder_dim=64, encoder_rates=[2, 3, 8, 8], decoder_dim=1536,
                       decoder_rates=[8, 8, 3, 2], attn_window_size=32, vq_strides=[8, 4, 2, 1]),
    "snac-44khz": dict(sampling_rate=44100, encoder_dim=64, encoder_rates=[2, 3, 8, 8], decoder_dim=1536,
                       decoder_rates=[8, 8, 3, 2], attn_window_size=32, vq_strides=[8, 4, 2, 1]),
}


@pytest.mark.parametrize("card_name", ["snac-24khz", "snac-32khz", "snac-44khz", "speechtokenizer-8q", "speechtokenizer-1q",
                                       "cosyvoice-s3-v1", "cosyvoice-s3-v1-25hz", "cosyvoice2-s3"])
def test_package_codec_bitrates_match_published(card_name):
    from dasb.tokenizers import pypi_codecs as P

    card = load_cards()[card_name]
    with torch.device("meta"):
        if card.adapter == "snac":
            pytest.importorskip("snac", reason="pip install 'dasb[snac]'")
            tok = P.SnacTokenizer(card.name, config=_SNAC_RELEASE[card_name])
        elif card.adapter == "speechtokenizer":
            pytest.importorskip("einops", reason="pip install 'dasb[speechtokenizer]'")
            tok = P.SpeechTokenizerTokenizer(card.name, config=_ST_RELEASE, **card.params)
        else:
            s3 = pytest.importorskip("s3tokenizer", reason="pip install 'dasb[s3tokenizer]'")
            v2 = "v2" in card.params["model_name"]
            cfg = (s3.model_v2.ModelConfig() if v2 else s3.model.ModelConfig())
            tok = P.S3Tokenizer(card.name, config=cfg, **card.params)
    info, pub = tok.info, card.published
    assert info.nominal_bitrate / 1000 == pytest.approx(pub["bitrate_kbps"], rel=0.02)
    assert info.frame_rate == pytest.approx(pub["frame_rate"], rel=0.002)
    assert (info.num_codebooks, info.codebook_sizes[0], info.sample_rate) == (pub["codebooks"], pub["codebook_size"], pub["sample_rate"])


@pytest.mark.slow
def test_runner_end_to_end_with_local_weights(tmp_path, monkeypatch):
    """A neural card whose checkpoint is a local folder runs through the runner like any tokenizer."""
    from dasb.runner import Runner
    from dasb.suites import Suite

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    build(CASES[6]).model.save_pretrained(tmp_path / "mimi")  # random weights, real architecture
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "m.yaml").write_text(f"name: tiny-mimi\nadapter: mimi\ncheckpoint: {tmp_path / 'mimi'}\nparams: {{num_quantizers: 8}}\n",
                                  encoding="utf-8")
    monkeypatch.setenv("DASB_CARDS", str(cards))
    suite = Suite("t", "mini", ["tiny-mimi"], {"reconstruction": {"max_utterances": 2}})
    Runner(suite, tmp_path / "run", progress=False).run()
    recs = [r for r in Runner(suite, tmp_path / "run", progress=False).store.records() if r.utterance is not None]
    assert recs and all(r.status == "ok" for r in recs), [r.message for r in recs if r.status != "ok"][:2]


def test_cli_list_and_doctor_show_neural_cards(monkeypatch, capsys):
    from dasb.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DASB_WEIGHTS", raising=False)
    assert main(["list", "tokenizers"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("mimi-8q "))
    assert all(part in row.split() for part in ("hybrid", "1.100", "12.50", "8", "no"))
    assert main(["list", "tokenizers", "--all"]) == 0
    assert "xy-tokenizer" in capsys.readouterr().out
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "huggingface-cli download kyutai/mimi" in out and "benchmarks:" in out


@pytest.mark.parametrize("family", ["encodec", "dac"])
def test_half_precision_runs_the_model_in_float16(family):
    """fp16 is meant for CUDA; on CPU it still exercises the same code path (casts in, int64 / float32 out)."""
    def build(half):
        torch.manual_seed(0)
        if family == "encodec":
            tok = H.EncodecTokenizer("e", bandwidth=6.0, config=T.EncodecConfig(**_ENCODEC), half=half)
        else:
            tok = H.DacTokenizer("d", config=T.DacConfig(**{k: v for k, v in _dac().items() if k != "model_type"}), half=half)
        randomise_codebooks(tok.model)
        return tok

    full = build(False)
    with pytest.warns(UserWarning, match="half precision on cpu is slow"):
        half = build(True).to("cpu")
    assert next(half.model.parameters()).dtype == torch.float16
    check_tokenizer(half)
    x, n = _clip(full)
    agree = (half.encode(x, n).codes == full.encode(x, n).codes).float().mean().item()
    assert agree > 0.5, f"fp16 codes agree with fp32 on only {agree:.2f} of entries"


def test_half_precision_gets_its_own_card_hash():
    cards = load_cards()
    enc, pcm = cards["encodec-24khz-6kbps"], cards["pcm16"]
    assert enc.in_half_precision().params["half"] is True
    assert enc.in_half_precision().config_hash != enc.config_hash
    assert enc.in_half_precision().name == enc.name + "@fp16"  # its own leaderboard row
    assert pcm.in_half_precision() is pcm  # no float16 mode: runs (and is keyed) as float32


# Weights a user copies in: each family's random-init model saved as $DASB_WEIGHTS/<hub id>/ and loaded through the
# real card gives the same codes, and the card's weights identity is the folder's content.
ROUND_TRIP = {"encodec-24k-6": "encodec-24khz-6kbps", "dac-16k": "dac-16khz", "mimi-8q": "mimi-8q",
              "wavtokenizer-40": "wavtokenizer-large-40", "xcodec-0.5": "xcodec-hubert-ls-0.5kbps",
              "higgs-v2-2": "higgs-audio-v2-tokenizer", "xcodec2": "xcodec2", "neucodec": "neucodec"}


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0], marks=() if c[0] in EVERYDAY else pytest.mark.slow)
                                  for c in CASES if c[0] in ROUND_TRIP])
def test_weights_folder_round_trip(case, tmp_path, monkeypatch):
    from dasb.weights import identity
    from dasb.weights.base import folder_digest

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DASB_WEIGHTS", str(tmp_path))
    card = load_cards()[ROUND_TRIP[case[0]]]
    assert identity(card) == "absent"
    made = build(case)
    folder = tmp_path / card.checkpoint
    made.model.save_pretrained(folder)
    if hasattr(made, "extractor"):
        made.extractor.save_pretrained(folder)
    ref = type(made)(card.name, model=made.model, **card.params)
    loaded = card.build()
    assert loaded.info.extras["resolved_revision"] == f"local folder {folder}"
    x, n = _clip(ref)
    assert torch.equal(ref.encode(x, n).codes, loaded.encode(x, n).codes)
    assert identity(card) == "sha256:" + folder_digest(folder)


@pytest.mark.parametrize("name", ["snac-24khz", "speechtokenizer-8q"])
def test_package_weights_folder_round_trip(name, tmp_path, monkeypatch):
    """The files a user copies into $DASB_WEIGHTS/<hub id>/ (config + state dict) load through the real card."""
    import json

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DASB_WEIGHTS", str(tmp_path))
    card = load_cards()[name]
    made = _pypi_case(name)
    cfg_file, weights_file = (("config.json", "pytorch_model.bin") if name.startswith("snac") else type(made).FILES)
    folder = tmp_path / card.checkpoint
    (folder / cfg_file).parent.mkdir(parents=True, exist_ok=True)
    config = _SNAC24 if name.startswith("snac") else _ST
    (folder / cfg_file).write_text(json.dumps(config))
    torch.save(made.model.state_dict(), folder / weights_file)
    loaded = card.build()
    x, n = _clip(made)
    ref = type(made)(card.name, model=made.model, **card.params)
    assert torch.equal(ref.encode(x, n).codes, loaded.encode(x, n).codes)
