"""Corpus formats the field already uses: Kaldi/ESPnet data dirs, Hugging Face datasets, lhotse manifests.

Each reader returns a :class:`~dasb.data.corpus.Corpus` whose utterances point at
audio files (the token cache, hashes and error messages all work on files):

- Kaldi / ESPnet data directory: ``wav.scp`` (``<id> <path>``), optional ``text``
  (``<id> <transcript>``) and ``utt2spk`` (``<id> <speaker>``). A ``wav.scp``
  entry that is a command (``<id> sox ... |``) or an archive offset
  (``foo.ark:123``) is refused, naming the line: dasb does not run commands.
- Hugging Face ``datasets``: a dataset saved with ``save_to_disk`` or a folder of
  ``*.parquet`` files, with an audio column (``datasets.Audio``: embedded bytes
  or paths). Embedded audio is written once to ``<cache>/corpora/<hash>/`` as
  the bytes it was stored as. Needs the ``hf-datasets`` extra.
- lhotse: a ``CutSet`` or ``RecordingSet`` manifest (``.jsonl``/``.jsonl.gz``),
  optionally a ``SupervisionSet`` beside it for text and speakers. Needs the
  ``lhotse`` extra; only recordings stored as whole files (one source each) are read.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dasb.data.corpus import Corpus, Utterance, _info


# ---- Kaldi / ESPnet -----------------------------------------------------------------------
def _kaldi_table(path: Path) -> dict[str, str]:
    """``<key> <value...>`` lines of a Kaldi text table (``text``, ``utt2spk``)."""
    table = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            table[key] = value.strip()
    return table


def read_wav_scp(path: str | Path) -> dict[str, Path]:
    """Utterance id -> audio file of a Kaldi ``wav.scp``; commands and archive offsets are refused.

    A relative path is taken from the ``wav.scp`` folder, or else from the recipe
    folder two levels up (``data/<set>/wav.scp`` lists paths relative to the recipe).
    """
    path = Path(path)
    root = path.parent
    out: dict[str, Path] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        uid, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        if not uid:
            continue
        where = f"{path}:{lineno}: utterance {uid!r}"
        if not rest:
            raise ValueError(f"{where}: no audio path")
        if rest.endswith("|") or len(rest.split()) > 1:
            raise ValueError(f"{where}: the entry is a command ({rest!r}), not an audio file; dasb does not run "
                             f"commands: write the audio to files (e.g. run the command once per utterance) and list those")
        if ":" in rest and rest.rsplit(":", 1)[1].isdigit():
            raise ValueError(f"{where}: {rest!r} is an offset into a Kaldi archive, not an audio file; "
                             f"write the audio to files and list those")
        audio = Path(rest)
        if not audio.is_absolute():
            candidates = [root / audio, root.parent.parent / audio]
            audio = next((c for c in candidates if c.exists()), candidates[0])
        if uid in out:
            raise ValueError(f"{where}: utterance listed twice")
        out[uid] = audio.resolve()
    if not out:
        raise ValueError(f"{path}: no entries")
    return out


def is_kaldi_dir(path: Path) -> bool:
    return path.is_dir() and (path / "wav.scp").is_file()


def read_kaldi_dir(root: str | Path, name: str | None = None) -> Corpus:
    """A Kaldi/ESPnet data directory: ``wav.scp`` and, when present, ``text`` and ``utt2spk``."""
    root = Path(root)
    wavs = read_wav_scp(root / "wav.scp")
    text = _kaldi_table(root / "text") if (root / "text").exists() else {}
    spk = _kaldi_table(root / "utt2spk") if (root / "utt2spk").exists() else {}
    utts = []
    for uid in wavs:  # Kaldi keeps its tables sorted; their order is kept
        duration, sr = _info(wavs[uid])
        utts.append(Utterance(uid, str(wavs[uid]), text.get(uid), spk.get(uid), duration, sr))
    return Corpus(name or root.name, utts)


# ---- Hugging Face datasets --------------------------------------------------------------
TEXT_COLUMNS = ("text", "transcript", "transcription", "sentence", "normalized_text")
SPEAKER_COLUMNS = ("speaker", "speaker_id", "client_id")
MAGIC_SUFFIXES = ((b"fLaC", ".flac"), (b"RIFF", ".wav"), (b"OggS", ".ogg"), (b"ID3", ".mp3"), (b"FORM", ".aiff"))


def is_hf_dataset(path: Path) -> bool:
    """A ``save_to_disk`` folder or a folder of parquet files."""
    return path.is_dir() and ((path / "dataset_info.json").is_file() and (path / "state.json").is_file()
                              or any(path.glob("**/*.parquet")))


def _hf_rows(root: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows (audio undecoded: ``{"bytes", "path"}``) and column names of a saved dataset or parquet folder."""
    try:
        import datasets
    except ImportError as err:
        raise ImportError(f"{root}: reading a Hugging Face dataset needs the 'hf-datasets' extra: "
                          "pip install 'dasb[hf-datasets]'") from err
    if (root / "state.json").is_file():
        ds = datasets.load_from_disk(str(root))
    else:
        ds = datasets.Dataset.from_parquet(sorted(str(p) for p in root.glob("**/*.parquet")), keep_in_memory=True)
    audio = [c for c, f in ds.features.items() if isinstance(f, datasets.Audio)] or [c for c in ds.column_names if c == "audio"]
    if not audio:
        raise ValueError(f"{root}: no audio column (a datasets.Audio feature or a column named 'audio'); "
                         f"columns: {ds.column_names}")
    if isinstance(ds.features[audio[0]], datasets.Audio):
        ds = ds.cast_column(audio[0], datasets.Audio(decode=False))  # the stored bytes, as they were written
    return [{**row, "__audio__": row[audio[0]]} for row in ds], ds.column_names


def _materialise(audio: dict[str, Any], root: Path, where: str) -> str:
    """A file holding ``audio`` (``{"bytes", "path"}``): its path, or the bytes written once to the cache."""
    from dasb.settings import cache_dir
    from dasb.hashing import hash_bytes

    data, name = audio.get("bytes"), audio.get("path")
    if not data:
        if not name:
            raise ValueError(f"{where}: audio has neither bytes nor a path")
        path = Path(name)
        return str(path if path.is_absolute() else (root / path).resolve())
    suffix = Path(name or "").suffix.lower() or next((s for magic, s in MAGIC_SUFFIXES if data.startswith(magic)), ".audio")
    target = cache_dir("corpora") / f"{hash_bytes(data)}{suffix}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return str(target)


def read_hf_dataset(root: str | Path, name: str | None = None) -> Corpus:
    """A dataset saved with ``save_to_disk`` or a folder of parquet files; ids from an ``id`` column
    (else the audio file's stem), text and speaker from the usual column names."""
    root = Path(root)
    rows, columns = _hf_rows(root)
    text_col = next((c for c in TEXT_COLUMNS if c in columns), None)
    spk_col = next((c for c in SPEAKER_COLUMNS if c in columns), None)
    utts = []
    for i, row in enumerate(rows):
        audio = row["__audio__"] or {}
        uid = str(row["id"]) if row.get("id") is not None else Path(audio.get("path") or f"row{i}").stem
        path = _materialise(audio, root, f"{root}: row {i} ({uid})")
        duration, sr = _info(Path(path))
        speaker = row.get(spk_col) if spk_col else None
        utts.append(Utterance(uid, path, row.get(text_col) if text_col else None,
                              None if speaker is None else str(speaker), duration, sr))
    return Corpus(name or root.name, utts)


# ---- lhotse -------------------------------------------------------------------------------
def is_lhotse_manifest(path: Path) -> bool:
    """A JSONL(.gz) manifest of lhotse cuts or recordings (judged by its first line)."""
    if not path.is_file() or not (path.name.endswith(".jsonl") or path.name.endswith(".jsonl.gz")):
        return False
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        first = f.readline()
    try:
        entry = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(entry, dict) and ("sources" in entry or entry.get("type") in ("MonoCut", "MultiCut", "MixedCut"))


def read_lhotse(path: str | Path, name: str | None = None, supervisions: str | Path | None = None) -> Corpus:
    """Cuts or recordings of a lhotse manifest (each a whole audio file), with text and speaker from their
    supervisions (a cut's own, or a ``SupervisionSet`` given or found beside a recording manifest)."""
    try:
        from lhotse import CutSet, RecordingSet, SupervisionSet, load_manifest
    except ImportError as err:
        raise ImportError(f"{path}: reading a lhotse manifest needs the 'lhotse' extra: pip install 'dasb[lhotse]'") from err
    path = Path(path)
    manifest = load_manifest(path)
    if isinstance(manifest, RecordingSet):
        sup_path = Path(supervisions) if supervisions else path.with_name(path.name.replace("recordings", "supervisions"))
        sups = load_manifest(sup_path) if sup_path != path and sup_path.exists() else SupervisionSet.from_segments([])
        pairs = [(r.id, r, list(sups.find(recording_id=r.id))) for r in manifest]
    elif isinstance(manifest, CutSet):
        pairs = []
        for cut in manifest:
            rec = getattr(cut, "recording", None)
            if rec is None or cut.start > 1e-6 or abs(cut.duration - rec.duration) > 1e-3:
                raise ValueError(f"{path}: cut {cut.id!r} is not a whole recording (start {cut.start}, duration "
                                 f"{cut.duration}); dasb scores whole audio files: trim the audio to files first")
            pairs.append((cut.id, rec, list(cut.supervisions)))
    else:
        raise ValueError(f"{path}: a {type(manifest).__name__}; expected lhotse cuts or recordings")
    utts = []
    for uid, rec, sups in pairs:
        if len(rec.sources) != 1 or rec.sources[0].type != "file":
            raise ValueError(f"{path}: recording {rec.id!r} is not one audio file (sources: "
                             f"{[s.type for s in rec.sources]}); dasb reads audio files only")
        audio = Path(rec.sources[0].source)
        audio = audio if audio.is_absolute() else (path.parent / audio).resolve()
        text = " ".join(s.text for s in sups if s.text) or None
        speaker = next((s.speaker for s in sups if s.speaker), None)
        utts.append(Utterance(uid, str(audio), text, speaker, rec.duration, rec.sampling_rate))
    return Corpus(name or path.name.split(".")[0], utts)


def read_known_format(path: Path) -> Corpus | None:
    """The corpus at ``path`` if it is a Kaldi dir, a Hugging Face dataset or a lhotse manifest; else None."""
    if is_kaldi_dir(path):
        return read_kaldi_dir(path)
    if is_hf_dataset(path):
        return read_hf_dataset(path)
    if is_lhotse_manifest(path):
        return read_lhotse(path)
    return None
