"""Listening examples: the runner keeps the original and decoded audio of a few utterances.

Layout inside a run directory (the leaderboard site copies what exists)::

    audio/reference/<utterance>.flac
    audio/decoded/<tokenizer>/<utterance>.flac

Files are small on purpose: mono, at most 16 kHz, 16-bit FLAC, at most
``MAX_SECONDS`` long. They are for listening only, never scored: samples
outside [-1, 1] are clipped for the 16-bit file.
"""
from __future__ import annotations

import hashlib
import re
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from dasb.audio import resample
from dasb.benchmarks.base import Item
from dasb.data.corpus import Corpus

EXAMPLE_UTTERANCES = 3
MAX_RATE = 16000
MAX_SECONDS = 8.0
AUDIO_DIR = "audio"


def safe_name(name: str) -> str:
    """A file-system- and URL-safe stand-in for a tokenizer or utterance name (unique per name)."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,80}", name):
        return name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:40] or "x"
    return f"{stem}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def example_paths(run_dir: Path, tokenizer: str, utterance: str) -> tuple[Path, Path]:
    """(reference file, decoded file) of one listening example."""
    base = Path(run_dir) / AUDIO_DIR
    return base / "reference" / f"{safe_name(utterance)}.flac", base / "decoded" / safe_name(tokenizer) / f"{safe_name(utterance)}.flac"


def example_utterances(corpus: Corpus, count: int = EXAMPLE_UTTERANCES) -> list[str]:
    """Ids of the listening examples: the first utterance of each of the first speakers, in corpus order.

    Different voices say more about a tokenizer than one voice three times;
    without speaker labels this is simply the first ``count`` utterances.
    """
    chosen: list[str] = []
    speakers: set[str | None] = set()
    for utt in corpus.utterances:
        if utt.speaker is None or utt.speaker not in speakers:
            chosen.append(utt.id)
            speakers.add(utt.speaker)
        if len(chosen) == count:
            return chosen
    rest = [u.id for u in corpus.utterances if u.id not in chosen]
    return chosen + rest[: count - len(chosen)]


def _write(path: Path, wav: np.ndarray, sr: int) -> None:
    rate = min(sr, MAX_RATE)
    clip = np.asarray(wav[: int(MAX_SECONDS * sr)], dtype=np.float32)  # cut before resampling: files may be hours long
    x = resample(clip[None], sr, rate)[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(x, -1.0, 1.0), rate, subtype="PCM_16", format="FLAC")


def save_example(run_dir: Path, tokenizer: str, item: Item, corpus: Corpus, count: int = EXAMPLE_UTTERANCES) -> None:
    """Save ``item``'s reference and decoded audio if it is one of :func:`example_utterances`.

    A failure to write is a warning: listening examples are never worth losing a run for.
    """
    if item.decoded is None or item.utterance.id not in example_utterances(corpus, count):
        return
    ref_path, dec_path = example_paths(run_dir, tokenizer, item.utterance.id)
    try:
        if not ref_path.exists():
            _write(ref_path, item.reference, item.sample_rate)
        _write(dec_path, item.decoded, item.sample_rate)
    except (OSError, RuntimeError, ValueError) as err:
        warnings.warn(f"could not save listening example {dec_path}: {err}")
