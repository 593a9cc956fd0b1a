"""DASB's discrete SSL tokens with a unit HiFi-GAN vocoder: the released folder layout, loaded by
SpeechBrain's own loader, with a small random-initialised generator; and the multi-speaker
variant, which decodes with a speaker prompt supplied by the framework."""
from __future__ import annotations

import numpy as np
import pytest
import torch

T = pytest.importorskip("transformers", reason="needs the neural extra (transformers)")
pytest.importorskip("speechbrain", reason="needs the speechbrain extra")
pytest.importorskip("sklearn", reason="needs scikit-learn")

from speechbrain.lobes.models.HifiGAN import UnitHifiganGenerator  # noqa: E402

from dasb.testing import check_tokenizer, speech_like_signal  # noqa: E402
from dasb.tokenizers.ssl_kmeans import SSLKMeansTokenizer, hidden_states  # noqa: E402
from dasb.tokenizers.unit_vocoder import UnitVocoder  # noqa: E402

LAYERS, K, EMB, SPK = [1, 3], 16, 16, 8
GENERATOR = dict(resblock_type="1", resblock_dilation_sizes=[[1, 3, 5]], resblock_kernel_sizes=[3],
                 upsample_kernel_sizes=[11, 8, 8, 4, 4], upsample_initial_channel=32, upsample_factors=[5, 4, 4, 2, 2],
                 vocab_size=len(LAYERS) * K + 1, embedding_dim=EMB, attn_dim=EMB, out_channels=1)
HYPERPARAMS = f"""\
generator: !new:speechbrain.lobes.models.HifiGAN.UnitHifiganGenerator
  in_channels: {EMB}
  out_channels: 1
  resblock_type: "1"
  resblock_dilation_sizes: [[1, 3, 5]]
  resblock_kernel_sizes: [3]
  upsample_kernel_sizes: [11, 8, 8, 4, 4]
  upsample_initial_channel: 32
  upsample_factors: [5, 4, 4, 2, 2]
  vocab_size: {len(LAYERS) * K + 1}
  embedding_dim: {EMB}
  attn_dim: {EMB}
modules:
  generator: !ref <generator>
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
  loadables:
    generator: !ref <generator>
"""


def _ssl_model():
    torch.manual_seed(0)
    return T.AutoModel.from_config(T.HubertConfig(
        hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
        conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4))


def _released_folder(tmp_path, model):
    """A vocoder repository laid out as DASB's: hyperparams, generator weights, pickled k-means per layer."""
    import joblib
    from sklearn.cluster import KMeans

    folder = tmp_path / "hifigan-hubert-k16"
    (folder / "kmeans").mkdir(parents=True)
    (folder / "hyperparams.yaml").write_text(HYPERPARAMS)
    torch.manual_seed(1)
    torch.save(UnitHifiganGenerator(in_channels=EMB, **GENERATOR).state_dict(), folder / "generator.ckpt")
    audio = torch.from_numpy(np.stack([speech_like_signal(1.0, 16000, seed=s) for s in range(3)]))
    with torch.inference_mode():
        feats = hidden_states(model.eval(), audio, LAYERS, normalize=False)
    for layer, h in zip(LAYERS, feats):
        km = KMeans(K, n_init=2, random_state=0).fit(h.reshape(-1, h.shape[-1]).numpy())
        joblib.dump(km, folder / "kmeans" / f"LibriSpeech_hubert_k{K}_L{layer}.pt")
    return folder, km


def test_released_layout_loads_through_speechbrain_and_decodes(tmp_path, monkeypatch):
    monkeypatch.setenv("DASB_CACHE", str(tmp_path / "cache"))
    model = _ssl_model()
    folder, km = _released_folder(tmp_path, model)
    tok = SSLKMeansTokenizer("hubert-k16-voc", vocoder=str(folder), k=K, layers=LAYERS, model=model)
    assert tok.info.decodes and tok.info.decode_inputs == () and tok.info.align == "envelope"
    assert tok.info.extras["vocoder_resolved_revision"] == f"local folder {folder}"
    assert tok.info.codebook_sizes == (K, K) and tok.info.frame_rate == 50
    assert torch.allclose(tok.codebook_embeddings()[1], torch.from_numpy(km.cluster_centers_).float())
    report = check_tokenizer(tok)
    assert report["decoded_samples"] == [f * 320 for f in report["frames"]]


def test_units_follow_speechbrain_offsets():
    voc = UnitVocoder(UnitHifiganGenerator(in_channels=EMB, **GENERATOR), LAYERS, K)
    codes = torch.tensor([[[5, 0]]])  # layer 3 only
    units = voc.units(codes, [3])
    # layer index 1 of [1, 3]: id + 1 * K + 1; the unused layer 1 stays 0 (SpeechBrain's DiscreteSSL.decode).
    assert units.tolist() == [[[0, 5 + K + 1], [0, 0 + K + 1]]]
    with pytest.raises(ValueError, match="not trained on layers \\[7\\]"):
        voc.units(codes, [7])


class TinySpeakerEncoder:
    """Stands in for the mel-spectrogram ECAPA: a fixed projection of frame energies."""

    def __init__(self) -> None:
        self.proj = torch.randn(SPK, 20, generator=torch.Generator().manual_seed(3))

    def encode_waveform(self, wav: torch.Tensor) -> torch.Tensor:
        frames = wav[: len(wav) // 20 * 20].reshape(20, -1)
        return (self.proj @ frames.pow(2).mean(-1).sqrt())[None, None]


def test_multi_speaker_vocoder_decodes_with_the_speaker_prompt(tmp_path):
    model = _ssl_model()
    folder, _ = _released_folder(tmp_path, model)
    torch.manual_seed(2)
    gen = UnitHifiganGenerator(in_channels=EMB + SPK, multi_speaker=True, **GENERATOR)
    with pytest.raises(ValueError, match="multi-speaker"):
        UnitVocoder(gen, LAYERS, K)
    voc = UnitVocoder(gen, LAYERS, K, speaker_encoder=TinySpeakerEncoder())
    tok = SSLKMeansTokenizer("hubert-k16-spk", vocoder=str(folder), k=K, layers=LAYERS, model=model, unit_vocoder=voc)
    assert tok.info.decode_inputs == ("speaker_prompt",)
    check_tokenizer(tok)
    from dasb.tokenizers import runtime

    tokens = runtime.encode(tok, [speech_like_signal(0.6, 16000)], [16000])
    loud, quiet = (speech_like_signal(1.0, 16000, seed=4) * g for g in (1.0, 0.1))
    a = runtime.decode(tok, tokens, 16000, decode_values=[{"speaker_prompt": loud}])[0]
    b = runtime.decode(tok, tokens, 16000, decode_values=[{"speaker_prompt": quiet}])[0]
    assert a.shape == b.shape and not np.allclose(a, b)  # the prompt reaches the generator


def test_dasb_card_without_weights_fails_fast_naming_the_vocoder(monkeypatch):
    import time

    from dasb.tokenizers.cards import get_card
    from dasb.tokenizers.hf_base import WeightsUnavailable

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DASB_WEIGHTS", raising=False)
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailable, match="speechbrain/hifigan-wavlm-k1000-LibriTTS"):
        get_card("dasb-wavlm-large-k1000").build()
    assert time.perf_counter() - start < 5
