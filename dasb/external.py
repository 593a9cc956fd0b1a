"""Systems known only by their outputs: decoded audio and token files made elsewhere.

A card with ``adapter: external`` (or ``dasb score``) declares a system by what it produced
for a corpus, so a model that cannot be wrapped here (unreleased, another environment,
outputs already on disk) is scored like any tokenizer::

    name: mycodec
    adapter: external
    params:
      decoded: out/mycodec/          # folder of <utterance id>.<any soundfile format>, a Kaldi
                                     # wav.scp, or a JSONL of {"id", "audio"} (paths relative to it)
      tokens: out/mycodec-codes/     # optional: <id>.npy / .pt / .npz, integer codes [codebooks, frames]
      frame_rate: 75                 # with tokens: frames per second, and
      codebook_size: 1024            # one size, or a list with one per codebook
      num_codebooks: 8               # with one size (default: the first token file's count)
      kbps: 1.5                      # optional declared bitrate; or coded: DIR (coded files' sizes)
      align: waveform                # or envelope, for decoders that make their own phase

Decoded audio takes the path built-in decoded audio takes to the metrics
(:func:`dasb.audio.conform`: resampled to the reference's rate, then mono), so
the same audio scores the same either way. Per utterance, these are errors
naming the utterance and file, and the rest is scored: a missing decoded or
token file, a file whose channel count differs from the reference's, a
duration more than ``max(0.25 s, 10 %)`` off the reference's (or the
``duration_tolerance`` in seconds), token files of the wrong shape, dtype or
range. Files for ids the corpus does not have are error records too.

Benchmarks that must run the model on new audio (``needs_model``) are skipped
saying why; those that read tokens are skipped without token files. The card's
identity (:meth:`dasb.tokenizers.cards.Card.config`) is the content hash of the
files, not their location: changed files give new records.
"""
from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from dasb.audio import AudioError, conform, load_audio, to_channels
from dasb.benchmarks.base import Item
from dasb.data.corpus import AUDIO_SUFFIXES, Utterance
from dasb.data.formats import read_wav_scp
from dasb.hashing import hash_parts
from dasb.tokenizers.base import AudioTokenizer, TokenizerInfo, Tokens

TOKEN_SUFFIXES = (".npy", ".pt", ".npz")
DECODED_SUFFIXES = tuple(sorted({*AUDIO_SUFFIXES, *(f".{f.lower()}" for f in sf.available_formats())}))
SOURCES = ("decoded", "tokens", "coded")  # params naming files: identity is their content, not their location


class OutputsError(ValueError):
    """A problem with an external system's files; the message names the utterance and file."""


def read_index(spec: str | Path, suffixes: tuple[str, ...] | None) -> dict[str, Path]:
    """Utterance id -> file: a folder (files named ``<id>.<suffix>``), a ``wav.scp`` or a JSONL of ``{"id", "audio"}``.

    ``suffixes`` limits which files of a folder count (None: every file).
    """
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                       and (suffixes is None or p.suffix.lower() in suffixes))
        index: dict[str, Path] = {}
        for p in files:
            uid = p.name[: -len(p.suffix)] if p.suffix else p.name
            if uid in index:
                raise OutputsError(f"{path}: two files for utterance {uid!r}: {index[uid]} and {p}")
            index[uid] = p
        return index
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.name.endswith(".scp"):
        return read_wav_scp(path)
    index = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            uid, audio = str(entry["id"]), Path(entry["audio"])
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise OutputsError(f"{path}:{lineno}: expected {{\"id\": ..., \"audio\": ...}} ({type(err).__name__}: {err})") from err
        if uid in index:
            raise OutputsError(f"{path}:{lineno}: utterance {uid!r} listed twice")
        index[uid] = audio if audio.is_absolute() else (path.parent / audio).resolve()
    return index


def outputs_identity(params: dict[str, Any]) -> dict[str, Any]:
    """What identifies an external system: its settings, with each file source replaced by its content hash."""
    out = {k: v for k, v in params.items() if k not in SOURCES}
    for key in SOURCES:
        if params.get(key) is not None:
            index = read_index(params[key], None if key == "coded" else _suffixes(key))
            listing = [Path(params[key])] if Path(params[key]).is_file() else []  # a wav.scp or JSONL itself
            out[key] = hash_parts(*(x for uid, p in sorted(index.items()) for x in (uid.encode(), p)), *listing)
    return out


def _suffixes(key: str) -> tuple[str, ...]:
    return TOKEN_SUFFIXES if key == "tokens" else DECODED_SUFFIXES


def load_codes(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Codes ``[K, T]`` and optional validity mask from ``.npy``, ``.pt`` or ``.npz`` (keys ``codes``, ``mask``)."""
    if path.suffix == ".npy":
        codes, mask = np.load(path, allow_pickle=False), None
    elif path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "codes" not in z and len(z.files) != 1:
                raise OutputsError(f"{path}: an .npz needs a 'codes' array (found {z.files})")
            codes = z["codes"] if "codes" in z else z[z.files[0]]
            mask = z["mask"] if "mask" in z else None
    else:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(obj, dict):
            obj, mask = obj.get("codes"), obj.get("mask")
            mask = None if mask is None else mask.numpy()
        else:
            mask = None
        if not torch.is_tensor(obj):
            raise OutputsError(f"{path}: expected a tensor (or a dict with 'codes'), got {type(obj).__name__}")
        codes = obj.numpy()
    return codes, mask


@dataclass(frozen=True)
class Bitrate:
    """A bitrate in bits/s and where it comes from (shown by the leaderboard)."""

    bps: float | None
    source: str | None


def _sf_info(path: Path) -> Any:
    """soundfile's header of ``path``, or None if it cannot be read (reading it later gives its error record)."""
    try:
        return sf.info(str(path))
    except Exception:  # soundfile raises several types for unreadable files
        return None


class ExternalSystem(AudioTokenizer):
    """A system declared by its outputs; building it indexes the files, items read them (:class:`ExternalItems`)."""

    def __init__(self, name: str, decoded: str | None = None, tokens: str | None = None,
                 frame_rate: float | None = None, codebook_size: int | list[int] | None = None,
                 num_codebooks: int | None = None,
                 kbps: float | None = None, coded: str | None = None, align: str = "waveform",
                 duration_tolerance: float | None = None, sample_rate: int | None = None) -> None:
        if decoded is None and tokens is None:
            raise ValueError(f"external system {name!r}: give decoded audio (decoded:) and/or token files (tokens:)")
        self.decoded = {} if decoded is None else read_index(decoded, DECODED_SUFFIXES)
        self.tokens = {} if tokens is None else read_index(tokens, TOKEN_SUFFIXES)
        self.sources = {"decoded": decoded, "tokens": tokens}
        self.duration_tolerance = duration_tolerance
        sizes: tuple[int, ...] = ()
        if tokens is not None:
            if frame_rate is None or codebook_size is None:
                raise ValueError(f"external system {name!r}: token files need frame_rate and codebook_size")
            if isinstance(codebook_size, (int, float)):
                if num_codebooks is None and self.tokens:
                    num_codebooks = len(load_codes(next(iter(self.tokens.values())))[0])
                sizes = (int(codebook_size),) * int(num_codebooks or 1)
            else:
                sizes = tuple(int(s) for s in codebook_size)
        rates = Counter(i.samplerate for i in map(_sf_info, list(self.decoded.values())[:50]) if i is not None)
        rate = sample_rate or (rates.most_common(1)[0][0] if rates else 0)
        self.bitrate = self._bitrate(name, kbps, coded, float(frame_rate or 0.0), sizes)
        self.info = TokenizerInfo(
            name=name, sample_rate=int(rate), num_codebooks=len(sizes), codebook_size=sizes,
            frame_rate=float(frame_rate or 0.0), kind="external", decodes=decoded is not None, encodes=False,
            align=align, extras={"bitrate": self.bitrate.bps, "bitrate_from": self.bitrate.source,
                                 "outputs": {k: str(v) for k, v in self.sources.items() if v is not None}},
        )

    def _bitrate(self, name: str, kbps: float | None, coded: str | None, frame_rate: float,
                 sizes: tuple[int, ...]) -> Bitrate:
        if kbps is not None:
            return Bitrate(1000.0 * float(kbps), "declared")
        if coded is not None:
            files = read_index(coded, None)
            infos = {u: _sf_info(self.decoded[u]) for u in files if u in self.decoded}
            ids = [u for u, i in infos.items() if i is not None]  # unreadable files are error records of their own
            if not ids:
                raise ValueError(f"external system {name!r}: no coded file in {coded} matches a readable decoded file")
            seconds = sum(infos[u].duration for u in ids)
            return Bitrate(8.0 * sum(files[u].stat().st_size for u in ids) / seconds, "coded files")
        if sizes:
            return Bitrate(frame_rate * sum(math.log2(s) for s in sizes), "token files")
        return Bitrate(None, None)

    def encode(self, audio: torch.Tensor, lengths: torch.Tensor) -> Tokens:
        raise NotImplementedError(f"{self.info.name} is known only by its outputs: nothing can be encoded anew")

    def decode(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError(f"{self.info.name} is known only by its outputs: nothing can be decoded anew")

    def extra_files(self, ids: set[str]) -> list[tuple[str, str]]:
        """``(id, message)`` for each decoded or token file whose id is not in the corpus."""
        out = []
        for kind, index in (("decoded", self.decoded), ("token", self.tokens)):
            for uid in sorted(set(index) - ids):
                out.append((uid, f"utterance {uid}: extra {kind} file {index[uid]}: the corpus has no utterance {uid!r}"))
        return out

    def duration_ok(self, ref_seconds: float, seconds: float) -> bool:
        tolerance = self.duration_tolerance if self.duration_tolerance is not None else max(0.25, 0.1 * ref_seconds)
        return abs(seconds - ref_seconds) <= tolerance

    def read_decoded(self, utt: Utterance, reference: np.ndarray, sr: int) -> np.ndarray:
        """The decoded file of ``utt`` as the metrics see it: mono at ``sr``; raises :class:`OutputsError`."""
        path = self.decoded.get(utt.id)
        if path is None:
            raise OutputsError(f"utterance {utt.id}: no decoded file in {self.sources['decoded']}")
        wav, rate = load_audio(path)
        if wav.shape[0] != reference.shape[0]:
            raise OutputsError(f"utterance {utt.id}: decoded file {path} has {wav.shape[0]} channel(s), "
                               f"the reference {reference.shape[0]}")
        ref_s, dec_s = reference.shape[-1] / sr, wav.shape[-1] / rate
        if not self.duration_ok(ref_s, dec_s):
            raise OutputsError(f"utterance {utt.id}: decoded file {path} lasts {dec_s:.3f} s, the reference {ref_s:.3f} s")
        return conform(wav, rate, sr, 1)[0]

    def read_tokens(self, utt: Utterance, ref_seconds: float) -> Tokens:
        """The token file of ``utt`` as :class:`Tokens`, checked against the declared shape; raises :class:`OutputsError`."""
        path = self.tokens.get(utt.id)
        if path is None:
            raise OutputsError(f"utterance {utt.id}: no token file in {self.sources['tokens']}")
        try:
            codes, mask = load_codes(path)
        except OutputsError:
            raise
        except Exception as err:  # numpy and torch raise several types for damaged files
            raise OutputsError(f"utterance {utt.id}: cannot read token file {path} ({type(err).__name__}: {err})") from err
        where = f"utterance {utt.id}: token file {path}"
        info = self.info
        if codes.ndim != 2 or codes.shape[0] != info.num_codebooks:
            raise OutputsError(f"{where} has shape {tuple(codes.shape)}; expected [{info.num_codebooks} codebooks, frames]")
        if not np.issubdtype(codes.dtype, np.integer):
            raise OutputsError(f"{where} holds {codes.dtype} values; codes must be integers")
        if mask is not None and (mask.shape != codes.shape or mask.dtype != np.bool_):
            raise OutputsError(f"{where}: mask must be boolean of the codes' shape {tuple(codes.shape)}, got {mask.dtype} {tuple(mask.shape)}")
        expected = ref_seconds * info.frame_rate
        if abs(codes.shape[1] - expected) > max(2.0, 0.1 * expected):
            raise OutputsError(f"{where} has {codes.shape[1]} frames; {ref_seconds:.3f} s at {info.frame_rate:g} Hz "
                               f"is about {expected:.0f}")
        valid = codes if mask is None else np.where(mask, codes, 0)
        for k, size in enumerate(info.codebook_sizes):
            if valid[k].size and (valid[k].min() < 0 or valid[k].max() >= size):
                raise OutputsError(f"{where}: codebook {k} has codes outside [0, {size}) "
                                   f"(min {valid[k].min()}, max {valid[k].max()})")
        t = torch.from_numpy(codes.astype(np.int64))[None]
        return Tokens(t, torch.tensor([t.shape[-1]]), None if mask is None else torch.from_numpy(mask)[None])


class ExternalItems:
    """Items of an external system: the reference, its decoded file and token file (the runner's ItemMaker for outputs)."""

    def __init__(self, system: ExternalSystem) -> None:
        self.system = system
        # The ItemMaker's counters: reading and checking outputs counts as encoding; nothing is decoded or cached.
        self.encode_seconds = 0.0
        self.decode_seconds = 0.0
        self.cache_hits = self.cache_misses = 0
        self.fallbacks: list[str] = []

    @property
    def seconds(self) -> float:
        return self.encode_seconds

    def make(self, group: list[Utterance], decode: bool) -> list[tuple[Utterance, Item | str]]:
        """Items for ``group`` in order; a problem becomes a message naming the utterance and file."""
        start = time.perf_counter()
        out: list[tuple[Utterance, Item | str]] = []
        for utt in group:
            try:
                wav, sr = load_audio(utt.audio)
                seconds = wav.shape[-1] / sr
                tokens = self.system.read_tokens(utt, seconds) if self.system.info.num_codebooks else None
                decoded = self.system.read_decoded(utt, wav, sr) if decode else None
                out.append((utt, Item(utt, to_channels(wav, 1)[0], sr, tokens, decoded)))
            except (AudioError, OSError) as err:
                out.append((utt, f"utterance {utt.id}: {err}"))
            except OutputsError as err:
                out.append((utt, str(err)))
        self.encode_seconds += time.perf_counter() - start
        return out


def export_outputs(tok: AudioTokenizer, tokenizer_hash: str, utterances: list[Utterance], decoded_dir: str | Path | None,
                   tokens_dir: str | Path | None = None, batch_size: int = 8) -> None:
    """Write what a built-in tokenizer produces, as an external system would hand it in.

    Decoded audio goes to ``<id>.wav`` (float32, at the tokenizer's native rate and
    channels, as its decoder returns it); codes to ``<id>.npy`` (``[K, T]`` int64), or
    ``<id>.npz`` with ``codes`` and ``mask`` for variable-rate tokens.
    """
    from dasb.items import ItemMaker
    from dasb.tokenizers import runtime

    info = tok.info
    for folder in (decoded_dir, tokens_dir):
        if folder is not None:
            Path(folder).mkdir(parents=True, exist_ok=True)
    maker = ItemMaker(tok, tokenizer_hash, batch_size)
    for start in range(0, len(utterances), batch_size):
        made = maker.make(utterances[start : start + batch_size], decode=False)
        bad = [x for _, x in made if isinstance(x, str)]
        if bad:
            raise OutputsError(bad[0])
        items = [x for _, x in made if isinstance(x, Item)]
        if decoded_dir is not None:
            audio = runtime.decode(tok, [it.tokens for it in items], info.sample_rate, info.channels, batch_size)
            for it, wav in zip(items, audio):
                sf.write(str(Path(decoded_dir) / f"{it.utterance.id}.wav"), wav.T, info.sample_rate, subtype="FLOAT")
        if tokens_dir is not None:
            for it in items:
                codes = it.tokens.codes[0].numpy()
                if it.tokens.mask is None:
                    np.save(Path(tokens_dir) / f"{it.utterance.id}.npy", codes)
                else:
                    np.savez(Path(tokens_dir) / f"{it.utterance.id}.npz", codes=codes, mask=it.tokens.mask[0].numpy())
