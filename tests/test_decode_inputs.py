"""Decoders that need a transcript or a speaker prompt: declared, supplied from the corpus, recorded."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dasb.data.corpus import Corpus, Utterance, load_corpus
from dasb.decode_inputs import DecodeInputError, DecodeInputProvider
from dasb.registry import ADAPTERS
from dasb.results.store import read_records
from dasb.runner import Runner
from dasb.suites import Suite
from dasb.testing import check_tokenizer
from dasb.tokenizers.base import Tokens
from dasb.tokenizers.pcm import PCMTokenizer


class PromptedMuLaw(PCMTokenizer):
    """Mu-law whose decoder insists on a transcript and a speaker prompt per item, and uses the prompt."""

    def __init__(self, name: str = "prompted") -> None:
        super().__init__(name, sample_rate=16000, bits=8, companding="mulaw")
        self.info = type(self.info)(**{**self.info.__dict__, "decode_inputs": ("transcript", "speaker_prompt")})

    def decode(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        b = tokens.codes.shape[0]
        texts, prompts = tokens.side["transcript"], tokens.side["speaker_prompt"]
        assert len(texts) == b and len(prompts) == b and all(isinstance(t, str) and t for t in texts)
        assert all(p.ndim == 2 and p.shape[0] == 1 and p.shape[1] > 0 for p in prompts)
        audio, lengths = super().decode(tokens)
        # The prompt's loudness sets the output gain: a different prompt gives different audio.
        gains = torch.tensor([float(np.sqrt(np.mean(p**2))) for p in prompts]).view(b, 1, 1)
        return audio * (0.5 + gains), lengths


def test_provider_prompts_with_another_utterance_of_the_same_speaker():
    corpus = load_corpus("mini")
    provider = DecodeInputProvider(corpus, ("speaker_prompt", "transcript"), 16000)
    for utt in corpus.utterances:
        prompt = provider.prompt_for(utt)
        assert prompt.id != utt.id and prompt.speaker == utt.speaker
        inputs = provider.for_utterance(utt)
        assert inputs.sources == {"transcript": "own", "speaker_prompt": prompt.id}
        assert inputs.values["transcript"] == utt.text
        assert inputs.values["speaker_prompt"].shape[0] == 1
    # Same inputs, same key; another prompt, another key (the token cache keys on it).
    a, b = corpus.utterances[:2]
    assert provider.for_utterance(a).key == provider.for_utterance(a).key != provider.for_utterance(b).key


def test_provider_errors_name_the_utterance_and_what_is_missing(tmp_path):
    utts = [Utterance("u1", str(tmp_path / "a.wav"), text=None, speaker="alone"), Utterance("u2", "b.wav", text="hi")]
    provider = DecodeInputProvider(Corpus("c", utts), ("speaker_prompt",), 16000)
    with pytest.raises(DecodeInputError, match="u1.*no other utterance by that speaker"):
        provider.sources(utts[0])
    with pytest.raises(DecodeInputError, match="u2.*no speaker label"):
        provider.sources(utts[1])
    with pytest.raises(DecodeInputError, match="u1.*needs a transcript"):
        DecodeInputProvider(Corpus("c", utts), ("transcript",), 16000).sources(utts[0])


def test_conformance_kit_supplies_stand_in_decode_values():
    check_tokenizer(PromptedMuLaw())


def test_decoding_without_the_declared_inputs_is_a_clear_error():
    from dasb.tokenizers import runtime

    tok = PromptedMuLaw()
    tokens = runtime.encode(tok, [np.zeros((1, 1600), np.float32)], [16000])
    with pytest.raises(ValueError, match="missing: transcript, speaker_prompt"):
        runtime.decode(tok, tokens, 16000)


@pytest.fixture
def prompted_card(tmp_path, monkeypatch):
    ADAPTERS.register("prompted-test", f"{__name__}:PromptedMuLaw", source="tests")
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "prompted.yaml").write_text("cards:\n  - {name: prompted-mulaw, adapter: prompted-test}\n")
    monkeypatch.setenv("DASB_CARDS", str(cards))
    return "prompted-mulaw"


def _corpus_with_a_lonely_speaker(tmp_path):
    mini = load_corpus("mini")
    rows = [dict(u.to_dict(), id=u.id) for u in mini.utterances[:3] + mini.utterances[8:9]]
    rows[-1]["speaker"] = "lonely"  # no other utterance: no prompt can be found for it
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, [r["id"] for r in rows]


def test_runner_supplies_records_and_caches_decode_inputs(tmp_path, prompted_card):
    manifest, ids = _corpus_with_a_lonely_speaker(tmp_path)
    suite = Suite("t", str(manifest), [prompted_card], {"reconstruction": {}, "tokens": {}})
    summary = Runner(suite, tmp_path / "run", progress=False, cache_dir=tmp_path / "cache").run()
    recs = {(r.benchmark, r.utterance, r.metric): r for r in read_records(tmp_path / "run")}
    corpus = load_corpus(str(manifest))
    provider = DecodeInputProvider(corpus, ("speaker_prompt",), 16000)
    for utt in corpus.utterances[:3]:
        rec = recs[("reconstruction", utt.id, "pesq_wb")]
        prompt = provider.prompt_for(utt)
        assert rec.status == "ok" and prompt.id != utt.id
        assert rec.decode_inputs == {"transcript": "own", "speaker_prompt": prompt.id}
    lonely = recs[("reconstruction", ids[3], "pesq_wb")]
    assert lonely.status == "error" and ids[3] in lonely.message and "no other utterance" in lonely.message
    agg = recs[("reconstruction", None, "pesq_wb")]
    assert agg.status == "ok" and agg.n == 3 and "decoded with transcript" in agg.message and "speaker_prompt" in agg.message
    # Token statistics do not decode: nothing to record, and the lonely speaker's tokens count.
    assert recs[("tokens", None, "utilisation")].status == "ok"
    assert summary.exit_code == 1  # the lonely utterance's errors
    info = json.loads((tmp_path / "run" / "tokenizers.json").read_text())[prompted_card]
    assert set(info["decode_inputs"]) == {"transcript", "speaker_prompt"}
    # The leaderboard says what the decoder was given.
    from dasb.leaderboard.table import build, load_runs

    table = build(*load_runs([tmp_path / "run"]))
    assert set(table.set_index("tokenizer").loc[prompted_card, "decoder_inputs"].split(", ")) == {"transcript", "speaker_prompt"}
    # A rerun into a new folder is served from the cache with the same decoded audio.
    Runner(suite, tmp_path / "run2", progress=False, cache_dir=tmp_path / "cache").run()
    again = {(r.benchmark, r.utterance, r.metric): r for r in read_records(tmp_path / "run2")}
    for uid in ids[:3]:
        assert again[("reconstruction", uid, "pesq_wb")].value == recs[("reconstruction", uid, "pesq_wb")].value

