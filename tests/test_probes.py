"""Token probes: splits, front-end, skip rules, and the speaker-ID probe against chance."""
from __future__ import annotations

import torch

from dasb.audio import load_audio
from dasb.benchmarks.base import Item
from dasb.benchmarks.probes import Probes
from dasb.data.corpus import load_corpus
from dasb.probes.model import TokenFrontEnd, ctc_greedy
from dasb.probes.train import Example, ProbeConfig, speaker_split, text_split
from dasb.tokenizers import runtime
from dasb.tokenizers.base import AudioTokenizer, Tokens, TokenizerInfo
from dasb.tokenizers.cards import get_card


def _examples(n_spk: int, per_spk: int, texts: list[str]) -> list[Example]:
    codes = torch.zeros(1, 5, dtype=torch.int64)
    return [Example(f"s{s}_{i}", codes, codes >= 0, texts[i % len(texts)], f"s{s}")
            for s in range(n_spk) for i in range(per_spk)]


def test_speaker_split_is_within_speakers_and_drops_small_ones():
    lone = Example("lone", torch.zeros(1, 3, dtype=torch.int64), torch.ones(1, 3, dtype=torch.bool), "a", "lone")
    exs = _examples(3, 8, ["a"]) + [lone]
    train, valid, test, dropped = speaker_split(exs, ProbeConfig())
    assert dropped == 1
    for part in (train, valid, test):
        assert {e.speaker for e in part} == {"s0", "s1", "s2"}
    assert not {e.id for e in train} & {e.id for e in test}


def test_text_split_keeps_parallel_prompts_together():
    exs = _examples(4, 6, ["one", "two", "three", "four", "five", "six"])
    train, valid, test = text_split(exs, ProbeConfig())
    seen = [{e.text for e in part} for part in (train, valid, test)]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert len(train) + len(valid) + len(test) == len(exs)


def test_front_end_offsets_codebooks_and_uses_their_embeddings():
    init = [torch.full((4, 2), 1.0), torch.full((3, 2), 5.0)]
    front = TokenFrontEnd((4, 3), dim=2, hidden=3, stack=2, init=init)
    assert torch.equal(front.table.weight[4:7], init[1])
    codes = torch.tensor([[[0, 1, 2], [2, 2, 0]]])
    x, n = front(codes, torch.ones_like(codes, dtype=torch.bool), torch.tensor([3]))
    assert x.shape == (1, 2, 3) and n.tolist() == [2]


def test_ctc_greedy_merges_repeats_and_drops_blanks():
    frames = torch.tensor([[1, 1, 0, 1, 2, 2, 0]])
    log_probs = torch.nn.functional.one_hot(frames, 3).float().log()
    assert ctc_greedy(log_probs, torch.tensor([7])) == [[1, 1, 2]]


class _Fake(AudioTokenizer):
    def __init__(self, frame_rate: float, size: int, decodes: bool = True) -> None:
        self.info = TokenizerInfo("fake", 16000, 1, size, frame_rate, "classic", decodes=decodes)

    def encode(self, audio: torch.Tensor, lengths: torch.Tensor) -> Tokens:
        raise NotImplementedError


def test_explicit_skips_and_encode_only_tokenizers_take_part():
    bench = Probes(max_stack=100, max_vocab=4096)
    assert "max_stack=100" in bench.skip_reason(_Fake(48000.0, 256))
    assert "max_vocab=4096" in bench.skip_reason(_Fake(50.0, 65536))
    assert bench.skip_reason(_Fake(50.0, 256, decodes=False)) is None
    assert "only for" in Probes(tokenizers=["pcm16"]).skip_reason(_Fake(50.0, 256))


def _items(name: str) -> tuple[list[Item], AudioTokenizer]:
    corpus = load_corpus("mini")
    tok = get_card(name).build()
    waves = [load_audio(u.audio) for u in corpus.utterances]
    tokens = runtime.encode(tok, [w[:1] for w, _ in waves], [sr for _, sr in waves])
    return [Item(u, w[0], sr, t) for u, (w, sr), t in zip(corpus.utterances, waves, tokens)], tok


def test_speaker_probe_beats_majority_class_on_mulaw_tokens():
    # mulaw8-8k (G.711): sample-rate tokens, 256 codes; pcm16's 65 536 codes at 16 kHz make a poorer probe input.
    items, tok = _items("mulaw8-8k")
    results = {r.metric: r for r in Probes(tasks=["speaker"]).run(items, tok)}
    acc, chance = results["speaker_accuracy"], results["speaker_chance"]
    assert acc.status == chance.status == "ok" and acc.n == chance.n == 8
    assert chance.value == 0.25  # four voices, two test utterances each
    assert acc.value >= chance.value + 0.4
    assert "stacked x160" in acc.message


def test_asr_probe_trains_and_reports_corpus_rates():
    items, tok = _items("mulaw8-8k")
    results = {r.metric: r for r in Probes(tasks=["asr"], epochs=2).run(items, tok)}
    for metric in ("asr_wer", "asr_cer"):
        assert results[metric].status == "ok", results[metric].message
        assert results[metric].value >= 0 and results[metric].n >= 1
