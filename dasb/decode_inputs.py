"""Inputs some decoders take besides the tokens: a transcript, a speaker prompt.

A tokenizer declares them in ``TokenizerInfo.decode_inputs``; the framework
supplies them from the corpus, hands them to the decoder through
``Tokens.side`` (one list entry per batch item) and records where each came
from. They are not counted in any bitrate; the leaderboard says which
tokenizers were decoded with them.

- ``transcript``: the utterance's own transcript. A decoder given the text is
  not comparable with the others on dWER; its records say so.
- ``speaker_prompt``: mono audio ``[1, N]`` at the tokenizer's native rate of a
  *different* utterance by the same speaker (the next one in id order). Never
  the utterance itself: prompting with the reference leaks its voice into the
  speaker-similarity scores.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from dasb.audio import AudioError, load_audio, resample, to_channels
from dasb.data.corpus import Corpus, Utterance
from dasb.hashing import hash_bytes, hash_config
from dasb.tokenizers.base import DECODE_INPUTS

POLICY = {
    "transcript": "the utterance's own transcript",
    "speaker_prompt": "another utterance by the same speaker (next in id order), never the utterance itself",
}


class DecodeInputError(ValueError):
    """The corpus cannot supply an input a decoder needs for an utterance."""


@dataclass(frozen=True)
class DecodeInputs:
    """What one utterance's decoder is given: ``values`` (for ``Tokens.side``) and ``sources``.

    ``sources`` says where each value came from (``"transcript"`` -> ``"own"``,
    ``"speaker_prompt"`` -> the prompt's utterance id) and goes into the records;
    ``key`` identifies the values for the token cache.
    """

    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    key: str = ""


class DecodeInputProvider:
    """Supplies the inputs ``needs`` for utterances of ``corpus`` at ``sample_rate``."""

    def __init__(self, corpus: Corpus, needs: tuple[str, ...], sample_rate: int) -> None:
        unknown = [n for n in needs if n not in DECODE_INPUTS]
        if unknown:
            raise ValueError(f"unknown decode inputs {unknown}; known: {DECODE_INPUTS}")
        self.corpus_name = corpus.name
        self.needs = needs
        self.sample_rate = sample_rate
        self.by_speaker: dict[str, list[Utterance]] = {}
        for u in sorted(corpus.utterances, key=lambda u: u.id):
            if u.speaker is not None:
                self.by_speaker.setdefault(u.speaker, []).append(u)
        # Prompts are read once and kept a while: the prompt of one utterance is usually its neighbour's.
        self._load_prompt = lru_cache(maxsize=32)(self._read_prompt)

    def prompt_for(self, utt: Utterance) -> Utterance:
        """The utterance whose audio prompts ``utt``'s decoder."""
        if utt.speaker is None:
            raise DecodeInputError(f"utterance {utt.id}: the decoder needs a speaker prompt, but it has no speaker label")
        same = self.by_speaker.get(utt.speaker, [])
        others = [u for u in same if u.id != utt.id]
        if not others:
            raise DecodeInputError(
                f"utterance {utt.id}: the decoder needs a speaker prompt (another utterance by speaker "
                f"{utt.speaker!r}), but corpus {self.corpus_name!r} has no other utterance by that speaker"
            )
        later = [u for u in others if u.id > utt.id]
        return (later or others)[0]

    def _read_prompt(self, prompt: Utterance) -> tuple[str, np.ndarray]:
        """Hash of the prompt file's bytes and its mono audio ``[1, N]`` at the native rate."""
        data = Path(prompt.audio).read_bytes()
        wav, sr = load_audio(prompt.audio)
        return hash_bytes(data), to_channels(resample(wav, sr, self.sample_rate), 1)

    def _prompt(self, utt: Utterance) -> tuple[Utterance, str, np.ndarray]:
        prompt = self.prompt_for(utt)
        try:
            return (prompt, *self._load_prompt(prompt))
        except (AudioError, OSError) as err:
            raise DecodeInputError(f"utterance {utt.id}: speaker prompt {prompt.id} ({prompt.audio}) cannot be read: {err}") from err

    def sources(self, utt: Utterance) -> tuple[dict[str, str], str]:
        """Where each input of ``utt`` comes from, and a key that changes when any input changes."""
        sources: dict[str, str] = {}
        ident: dict[str, Any] = {}
        if "transcript" in self.needs:
            if not utt.text:
                raise DecodeInputError(f"utterance {utt.id}: the decoder needs a transcript, but the corpus has none for it")
            sources["transcript"] = "own"
            ident["transcript"] = utt.text
        if "speaker_prompt" in self.needs:
            prompt, file_hash, _ = self._prompt(utt)
            sources["speaker_prompt"] = prompt.id
            ident["speaker_prompt"] = [prompt.id, file_hash]
        return sources, hash_config(ident) if ident else ""

    def for_utterance(self, utt: Utterance) -> DecodeInputs:
        """The inputs of ``utt``'s decoder; raises :class:`DecodeInputError` naming what is missing."""
        sources, key = self.sources(utt)
        values: dict[str, Any] = {}
        if "transcript" in self.needs:
            values["transcript"] = utt.text
        if "speaker_prompt" in self.needs:
            values["speaker_prompt"] = self._prompt(utt)[2]
        return DecodeInputs(values, sources, key)

