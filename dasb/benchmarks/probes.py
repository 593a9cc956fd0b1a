"""Probes trained on tokens: how much content and speaker identity a model reads from them.

The DASB discriminative recipe at a configurable scale: a character CTC
recogniser (BiLSTM) and a speaker-ID classifier (attentive statistics pooling),
both on a learned softmax-weighted sum of per-codebook embeddings, optionally
initialised from the tokenizer's codebook vectors. Splits come from the corpus
(speaker ID: within speakers; ASR: by transcript), training stops early on the
validation loss, seeds are fixed. Reported on the test split: ``asr_wer`` and
``asr_cer`` (corpus-level, bootstrap interval over utterances),
``speaker_accuracy`` and ``speaker_chance`` (accuracy of always guessing the
most frequent training speaker). Encode-only tokenizers take part.

Sample-rate tokenizers (PCM: 16 000 frames/s) are stacked to at most
``max_frame_rate`` by a strided convolution; a tokenizer needing more than
``max_stack`` or with a codebook above ``max_vocab`` is skipped with the reason.
"""
from __future__ import annotations

import math
from dataclasses import fields
from typing import Any, get_type_hints

import torch

from dasb.benchmarks.aggregate import aggregate
from dasb.benchmarks.base import CorpusBenchmark, Item, Result
from dasb.specs import HIGHER, LOWER, NEUTRAL, MetricSpec, spec_table
from dasb.data.corpus import Utterance
from dasb.data.subsets import spread_over_speakers
from dasb.probes.model import TokenFrontEnd
from dasb.probes.train import Example, ProbeConfig, speaker_split, text_split, train_asr_probe, train_speaker_probe
from dasb.threads import torch_threads
from dasb.tokenizers.base import AudioTokenizer

TASK_METRICS = {"asr": ("asr_wer", "asr_cer"), "speaker": ("speaker_accuracy", "speaker_chance")}
_CONFIG_FIELDS = {f.name for f in fields(ProbeConfig)}


class Probes(CorpusBenchmark):
    """Character-CTC and speaker-ID probes on tokens.

    Settings: ``tasks`` (subset of ``asr``, ``speaker``), any :class:`ProbeConfig`
    field, ``max_utterances`` (round-robin over speakers) and ``tokenizers`` (run
    only for these tokenizer names; others get a "skipped" record saying so).
    """

    name = "probes"
    needs_text = True
    needs_speaker = True
    extra_settings = {"tokenizers": list[str] | None, **get_type_hints(ProbeConfig)}

    def __init__(self, tasks: list[str] | tuple[str, ...] = ("asr", "speaker"), **settings: Any) -> None:
        unknown = [t for t in tasks if t not in TASK_METRICS]
        if unknown:
            raise ValueError(f"unknown probe task(s) {unknown}; known: {', '.join(TASK_METRICS)}")
        super().__init__(tasks=list(tasks), **settings)
        self.cfg = ProbeConfig(**{k: v for k, v in settings.items() if k in _CONFIG_FIELDS})

    def metrics(self) -> dict[str, MetricSpec]:
        every = {
            "asr_wer": MetricSpec("asr_wer", LOWER, "ratio", 0.0, None, "ratio", True, "CTC probe word error rate"),
            "asr_cer": MetricSpec("asr_cer", LOWER, "ratio", 0.0, None, "ratio", False, "CTC probe character error rate"),
            "speaker_accuracy": MetricSpec("speaker_accuracy", HIGHER, "fraction", 0.0, 1.0, "mean", "asr" not in self.settings["tasks"],
                                           "speaker-ID probe accuracy on the test split"),
            "speaker_chance": MetricSpec("speaker_chance", NEUTRAL, "fraction", 0.0, 1.0, "mean", False,
                                         "accuracy of always guessing the most frequent training speaker"),
        }
        return spec_table(*(every[m] for t in self.settings["tasks"] for m in TASK_METRICS[t]))

    def select(self, utterances: list[Utterance]) -> list[Utterance]:
        return spread_over_speakers(utterances, self.settings.get("max_utterances"))

    def _stack(self, tokenizer: AudioTokenizer) -> int:
        return max(1, math.ceil(tokenizer.info.frame_rate / self.cfg.max_frame_rate))

    def skip_reason(self, tokenizer: AudioTokenizer) -> str | None:
        info = tokenizer.info
        only = self.settings.get("tokenizers")
        if only is not None and info.name not in only:
            return f"this suite runs the probes only for {', '.join(only)} (time budget)"
        if max(info.codebook_sizes) > self.cfg.max_vocab:
            return f"codebook size {max(info.codebook_sizes)} exceeds max_vocab={self.cfg.max_vocab}"
        if self._stack(tokenizer) > self.cfg.max_stack:
            return (f"{info.frame_rate:g} frames/s would need stacking {self._stack(tokenizer)} frames "
                    f"(max_stack={self.cfg.max_stack}) to reach max_frame_rate={self.cfg.max_frame_rate:g}")
        return super().skip_reason(tokenizer)

    def run(self, items: list[Item], tokenizer: AudioTokenizer) -> list[Result]:
        info = tokenizer.info
        stack = self._stack(tokenizer)
        init = self._codebook_init(tokenizer)
        dim = init[0].shape[1] if init else min(self.cfg.emb_dim, max(2, self.cfg.max_input_width // stack))
        note = (f"tokens stacked x{stack} ({info.frame_rate:g} -> {info.frame_rate / stack:g} frames/s); "
                f"embeddings {'from the codebooks' if init else 'random-init'} (dim {dim})")

        def make_front() -> TokenFrontEnd:
            return TokenFrontEnd(info.codebook_sizes, dim, self.cfg.hidden, stack, init)

        examples = [_example(it) for it in items]
        results: list[Result] = []
        with torch_threads(self.cfg.threads):
            for task in self.settings["tasks"]:
                try:
                    if task == "asr":  # CTC cares about the rate after stacking; speaker crops cut raw codes
                        results += self._asr(examples, make_front, info.frame_rate / stack, note)
                    else:
                        results += self._speaker(examples, make_front, info.frame_rate, note)
                except Exception as err:
                    results += [Result(m, None, None, "error", f"{task} probe: {type(err).__name__}: {err}")
                                for m in TASK_METRICS[task]]
        return results

    def _codebook_init(self, tokenizer: AudioTokenizer) -> list[torch.Tensor] | None:
        if not self.cfg.init_from_codebooks:
            return None
        embs = tokenizer.codebook_embeddings()
        if not embs or len({e.shape[1] for e in embs}) != 1:
            return None  # none, or codebooks of different widths: random init (stated in the message)
        if tuple(e.shape[0] for e in embs) != tokenizer.info.codebook_sizes:
            raise ValueError("codebook_embeddings() sizes disagree with info.codebook_sizes")
        return [e.detach().cpu() for e in embs]

    def _speaker(self, examples: list[Example], make_front, frame_rate: float, note: str) -> list[Result]:
        train, valid, test, dropped = speaker_split(examples, self.cfg)
        if len({ex.speaker for ex in train}) < 2:
            raise ValueError("speaker ID needs at least 2 speakers with 3 or more utterances each")
        correct, chance, epochs = train_speaker_probe(make_front, train, valid, test, frame_rate, self.cfg)
        msg = (f"{note}; train/valid/test {len(train)}/{len(valid)}/{len(test)} utterances, "
               f"{len({ex.speaker for ex in train})} speakers ({dropped} with < 3 utterances left out); "
               f"{epochs} epochs")
        out = []
        for metric, values in (("speaker_accuracy", correct), ("speaker_chance", chance)):
            out.append(aggregate(self.spec(metric), values, msg))
        return out

    def _asr(self, examples: list[Example], make_front, frame_rate: float, note: str) -> list[Result]:
        train, valid, test = text_split(examples, self.cfg)
        words, chars, hyps, epochs = train_asr_probe(make_front, train, valid, test, frame_rate, self.cfg)
        msg = (f"{note}; train/valid/test {len(train)}/{len(valid)}/{len(test)} utterances; {epochs} epochs; "
               f"first test hypothesis: {hyps[0]!r}")
        out = []
        for metric, counts in (("asr_wer", words), ("asr_cer", chars)):
            out.append(aggregate(self.spec(metric), [(c.edits, c.length) for c in counts], msg))
        return out


def _example(item: Item) -> Example:
    tokens = item.tokens
    codes = tokens.codes[0]
    valid = torch.ones_like(codes, dtype=torch.bool) if tokens.mask is None else tokens.mask[0]
    return Example(item.utterance.id, codes, valid, item.utterance.text, item.utterance.speaker)
