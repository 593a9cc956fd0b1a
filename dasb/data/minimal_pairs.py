"""ABX item sets: a generated minimal-pair word set, and ZeroSpeech-style ``.item`` files.

An item is a stretch of a file with a label (word or phone), a context (items
are only contrasted within one context) and a speaker. The generated set
synthesises single words with espeak-ng (``espeakng-loader`` package, no system
install) in several voices; groups of words that differ in one phoneme
(``bat pat cat ...``) are the contexts. Audio is resampled to 16 kHz and cached
as FLAC (about 1 MB, not part of the repository) under
``$DASB_CACHE_DIR/abx`` (default ``~/.cache/dasb/abx``), keyed by the word
list, voices and espeak-ng version.

Generation is deterministic: espeak-ng adds random noise (breath, in voice
variants such as ``+f3``) from a generator it seeds with the time, so the
generator is reseeded with :data:`SEED` before every word; and a synthesis
leaves state behind (the next word's audio depends on the previous ones), so
the whole set is synthesised in a fresh process in a fixed order.
:func:`item_set_hash` is the content hash of a set's audio, part of the ABX
record keys.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from dasb.audio import content_hash, load_audio, resample
from dasb.hashing import hash_config
from dasb.settings import cache_dir

# Each group: words differing from each other in one phoneme (onset, vowel or coda).
MINIMAL_PAIR_GROUPS: dict[str, tuple[str, ...]] = {
    "onset-at": ("bat", "pat", "cat", "mat", "sat", "fat", "hat", "rat"),
    "onset-it": ("bit", "pit", "kit", "sit", "fit", "hit"),
    "onset-in": ("pin", "bin", "tin", "din", "kin", "fin"),
    "vowel-b_d": ("bad", "bed", "bid", "bud", "bead"),
    "coda-ca_": ("cap", "cab", "cat", "can", "cash"),
}
DEFAULT_VOICES = ("en-us", "en-us+f3", "en+m3", "en-gb-x-rp")
RATE = 16000
SEED = 0  # espeak-ng's noise generator, reseeded before every word
GENERATOR = 2  # part of the cache key; 2: seeded synthesis (1 drew noise seeded by the time)


@dataclass(frozen=True)
class ABXItem:
    """``file`` from ``onset`` to ``offset`` seconds (None: to the end) with its labels."""

    file: str
    onset: float
    offset: float | None
    label: str
    context: str
    speaker: str


def read_item_file(path: str | Path, audio_dir: str | Path, suffix: str = ".wav") -> list[ABXItem]:
    """Read a ZeroSpeech ``.item`` file (``#file onset offset #phone prev-phone next-phone speaker``).

    The context of an item is its (previous, next) phone pair; ``file`` names
    ``audio_dir/<file><suffix>``.
    """
    items = []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 7:
            raise ValueError(f"{path}:{n}: expected 7 columns (file onset offset phone prev next speaker), got {len(parts)}")
        f, on, off, phone, prev, nxt, spk = parts
        items.append(ABXItem(str(Path(audio_dir) / f"{f}{suffix}"), float(on), float(off), phone, f"{prev}_{nxt}", spk))
    if not items:
        raise ValueError(f"{path}: no items")
    return items


class _ESpeak:
    """Minimal ctypes binding to the espeak-ng library bundled by ``espeakng-loader``."""

    _lock = threading.Lock()

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as err:
            raise ImportError("the generated ABX set needs espeak-ng: pip install 'dasb[tokens]'") from err
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._chunks: list[np.ndarray] = []
        callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        self._callback = callback_type(self._collect)  # keep a reference: the library holds the pointer
        lib = self.lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        synchronous = 2
        self.rate = lib.espeak_Initialize(synchronous, 0, espeakng_loader.get_data_path().encode(), 0)
        if self.rate <= 0:
            raise RuntimeError("espeak-ng failed to initialise")
        lib.espeak_SetSynthCallback(self._callback)
        lib.espeak_Info.restype = ctypes.c_char_p
        self.version = lib.espeak_Info(None).decode()
        if not hasattr(lib, "espeak_ng_SetRandSeed"):
            raise RuntimeError(f"espeak-ng {self.version} cannot seed its noise generator (needs 1.52 or later), "
                               "so the ABX set would differ between caches")
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]

    def _collect(self, wav: ctypes.POINTER(ctypes.c_short), n: int, events: ctypes.c_void_p) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def synth(self, text: str, voice: str) -> np.ndarray:
        """Float32 mono audio of ``text`` at ``self.rate``."""
        with self._lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            self._chunks = []
            self.lib.espeak_ng_SetRandSeed(SEED)  # the same audio whatever was synthesised before
            data = text.encode("utf-8") + b"\0"
            position_character, chars_utf8 = 1, 1
            err = self.lib.espeak_Synth(data, len(data), 0, position_character, 0, chars_utf8, None, None)
            if err != 0:
                raise RuntimeError(f"espeak-ng synthesis failed with code {err}")
            self.lib.espeak_Synchronize()
            return np.concatenate(self._chunks).astype(np.float32) / 32768.0 if self._chunks else np.zeros(0, np.float32)


def trim_silence(x: np.ndarray, sr: int, threshold: float = 0.02, margin_s: float = 0.02) -> np.ndarray:
    """Drop leading and trailing samples below ``threshold`` times the peak, keeping a margin."""
    loud = np.flatnonzero(np.abs(x) > threshold * np.max(np.abs(x)))
    if loud.size == 0:
        raise ValueError("synthesised audio is silent")
    m = int(margin_s * sr)
    return x[max(0, loud[0] - m) : loud[-1] + m]


def _synthesise(words: list[tuple[str, str]]) -> list[np.ndarray]:
    """Trimmed audio of each (word, voice) at the engine's rate, in order (run in a fresh process)."""
    engine = _ESpeak()
    return [trim_silence(engine.synth(word, voice), engine.rate) for word, voice in words]


def generate_minimal_pairs(voices: tuple[str, ...] = DEFAULT_VOICES,
                           groups: dict[str, tuple[str, ...]] | None = None,
                           root: Path | None = None) -> list[ABXItem]:
    """The generated minimal-pair items (one 16 kHz FLAC per word and voice), cached on disk."""
    groups = MINIMAL_PAIR_GROUPS if groups is None else groups
    engine = _ESpeak()
    key = hashlib.sha256(json.dumps([sorted(groups.items()), list(voices), engine.version, GENERATOR]).encode()).hexdigest()[:12]
    folder = (cache_dir("abx") if root is None else Path(root)) / key
    index = folder / "items.jsonl"
    if index.exists():
        return [ABXItem(**json.loads(line)) for line in index.read_text().splitlines()]
    folder.mkdir(parents=True, exist_ok=True)
    items = [ABXItem(str(folder / f"{context}_{word}_{voice.replace('+', '-')}.flac"), 0.0, None, word, context, voice)
             for context, words in groups.items() for word in words for voice in voices]
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as fresh:
        clips = fresh.submit(_synthesise, [(it.label, it.speaker) for it in items]).result()
    # One resampling call for all clips: building the filter dominates the cost.
    padded = np.zeros((len(clips), max(len(c) for c in clips)), dtype=np.float32)
    for i, c in enumerate(clips):
        padded[i, : len(c)] = c
    resampled = resample(padded, engine.rate, RATE)
    for it, c, y in zip(items, clips, resampled):
        sf.write(it.file, y[: int(np.ceil(len(c) * RATE / engine.rate))], RATE)
    tmp = index.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(it.__dict__) + "\n" for it in items))
    os.replace(tmp, index)
    return items


def item_set_hash(items: list[ABXItem]) -> str:
    """Content hash of an item set: every item's labels and span, and the samples of every file it names
    (not the files' paths or encoding)."""
    labels = [[it.label, it.context, it.speaker, it.onset, it.offset] for it in items]
    return hash_config([labels, [content_hash(*load_audio(f)) for f in sorted({it.file for it in items})]])
