"""Manifests of utterances and the readers that build them.

A manifest is JSONL, one utterance per line::

    {"id": "...", "audio": "rel/or/abs/path.flac", "text": "...", "speaker": "...",
     "duration": 2.1, "sample_rate": 16000}

``audio`` is relative to the manifest's folder unless absolute. Readers exist
for a manifest file, a LibriSpeech-style tree (``*.trans.txt``), and a plain
folder of audio files with optional ``.txt`` transcripts beside them.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import soundfile as sf

from dasb.hashing import hash_parts

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif")
MINI_DIR = Path(__file__).parent / "mini"


@dataclass(frozen=True)
class Utterance:
    """One audio file with its optional transcript and speaker label."""

    id: str
    audio: str
    text: str | None = None
    speaker: str | None = None
    duration: float | None = None
    sample_rate: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, root: Path) -> "Utterance":
        if "id" not in data or "audio" not in data:
            raise ValueError("manifest line needs 'id' and 'audio'")
        path = Path(data["audio"])
        return cls(
            id=str(data["id"]),
            audio=str(path if path.is_absolute() else (root / path).resolve()),
            text=data.get("text"),
            speaker=None if data.get("speaker") is None else str(data["speaker"]),
            duration=data.get("duration"),
            sample_rate=data.get("sample_rate"),
        )


@dataclass
class Corpus:
    """A named list of utterances."""

    name: str
    utterances: list[Utterance]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for u in self.utterances:
            if u.id in seen:
                raise ValueError(f"corpus {self.name!r}: duplicate utterance id {u.id!r}")
            seen.add(u.id)

    @cached_property
    def hash(self) -> str:
        """Hash of ids, labels and the audio files' bytes: same hash, same data."""
        parts: list[bytes | Path] = []
        for u in self.utterances:
            # A missing or non-regular file still gets a stable, distinct hash.
            parts += [json.dumps([u.id, u.text, u.speaker]).encode(), Path(u.audio)]
        return hash_parts(*parts)

    def write_manifest(self, path: str | Path) -> None:
        """Write the corpus as a JSONL manifest with paths relative to ``path``'s folder."""
        path = Path(path)
        lines = []
        for u in self.utterances:
            d = u.to_dict()
            d["audio"] = os.path.relpath(Path(u.audio).resolve(), path.parent.resolve())
            lines.append(json.dumps(d, ensure_ascii=False))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_manifest(path: str | Path, name: str | None = None) -> Corpus:
    """Read a JSONL manifest; a bad line raises an error naming file and line."""
    path = Path(path)
    utts = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            utts.append(Utterance.from_dict(json.loads(line), path.parent))
        except (json.JSONDecodeError, ValueError) as err:
            raise ValueError(f"{path}:{lineno}: {err}") from err
        except (TypeError, AttributeError) as err:  # valid JSON that is not an object of the right types
            raise ValueError(f"{path}:{lineno}: not a manifest entry ({type(err).__name__}: {err})") from err
    return Corpus(name or path.parent.name, utts)


def _info(path: Path) -> tuple[float | None, int | None]:
    if not path.is_file():  # a FIFO would block soundfile; loading it yields an error record
        return None, None
    try:
        i = sf.info(str(path))
        return i.frames / i.samplerate, int(i.samplerate)
    except Exception:  # unreadable files stay in the corpus; loading them yields an error record
        return None, None


def read_librispeech(root: str | Path, name: str | None = None) -> Corpus:
    """Read a LibriSpeech-style tree: ``SPEAKER/CHAPTER/*.trans.txt`` beside ``*.flac``."""
    root = Path(root)
    utts = []
    for trans in sorted(root.rglob("*.trans.txt")):
        for line in trans.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            uid, _, text = line.partition(" ")
            audio = trans.parent / f"{uid}.flac"
            duration, sr = _info(audio)
            utts.append(Utterance(uid, str(audio), text.strip(), uid.split("-")[0], duration, sr))
    if not utts:
        raise ValueError(f"{root}: no *.trans.txt files found")
    return Corpus(name or root.name, utts)


def read_folder(root: str | Path, name: str | None = None) -> Corpus:
    """Every audio file under ``root``; transcript from a same-named ``.txt`` if present."""
    root = Path(root)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise ValueError(f"{root}: no audio files ({', '.join(AUDIO_SUFFIXES)}) found")
    stems: dict[Path, list[Path]] = {}
    for p in files:
        stems.setdefault(p.with_suffix(""), []).append(p)
    clashes = ["; ".join(str(p) for p in same) for same in stems.values() if len(same) > 1]
    if clashes:
        raise ValueError(f"{root}: these files would be the same utterance (keep one of each): {' | '.join(clashes)}")
    utts = []
    for p in files:
        txt = p.with_suffix(".txt")
        text = txt.read_text(encoding="utf-8").strip() if txt.exists() else None
        duration, sr = _info(p)
        uid = str(p.relative_to(root).with_suffix("")).replace("/", "_")
        utts.append(Utterance(uid, str(p), text, p.parent.name if p.parent != root else None, duration, sr))
    return Corpus(name or root.name, utts)


def load_corpus(spec: str | Path) -> Corpus:
    """Load ``"mini"`` (the embedded corpus), a manifest, a LibriSpeech tree, a folder, or a format of
    :mod:`dasb.data.formats` (Kaldi/ESPnet data dir, Hugging Face dataset, lhotse manifest)."""
    if str(spec) == "mini":
        return read_manifest(MINI_DIR / "manifest.jsonl", "mini")
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"dataset {str(spec)!r}: no such file or folder (or use 'mini', the embedded corpus)")
    from dasb.data.formats import read_known_format

    known = read_known_format(path)  # Kaldi/ESPnet dir, Hugging Face dataset, lhotse manifest
    if known is not None:
        corpus = known
    elif path.is_file():
        corpus = read_manifest(path)
    elif path.is_dir() and (path / "manifest.jsonl").exists():
        corpus = read_manifest(path / "manifest.jsonl", path.name)
    elif path.is_dir() and any(path.rglob("*.trans.txt")):
        corpus = read_librispeech(path)
    elif path.is_dir():
        corpus = read_folder(path)
    else:
        raise ValueError(f"dataset {str(spec)!r}: not a manifest file or a folder")
    if not corpus.utterances:
        raise ValueError(f"dataset {str(spec)!r}: no utterances")
    return corpus
