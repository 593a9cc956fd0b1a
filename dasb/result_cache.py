"""Scores reused across runs and run directories, keyed by everything that can change them.

A per-utterance score is keyed by the item (utterance id, text and speaker label, the
reference audio's hash, and the hash of the tokens and/or decoded audio the benchmark
reads, plus what the decoder was given) and by the scoring identity
(:func:`scoring_identity`): the benchmark's configuration (spec version, settings, judge
models' identity), the source of the code that computes numbers, the versions of the
packages that can change a number, the device, the tokenizer's description, and for
benchmarks that run the tokenizer themselves, the tokenizer's identity (weights, learned
artefacts, adapter code). A corpus-level benchmark is keyed by the same identity and
every item it receives, in order. Benchmarks that measure the machine (efficiency) are
also keyed by the machine. Results with an error are not stored (the cause may be
transient), so only numbers that were obtained are ever reused.

Entries are checked files (:class:`dasb.cache.EntryStore`): a damaged entry is
deleted and recomputed, never read. Values go through JSON, which keeps floats exactly.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import platform
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from dasb.audio import content_hash
from dasb.benchmarks.base import Benchmark, Item, Result
from dasb.cache import EntryStore, TokenCache
from dasb.hashing import hash_bytes, hash_config
from dasb.settings import cache_max_bytes
from dasb.tokenizers.base import TokenizerInfo, Tokens

# Parts of the dasb package that orchestrate, store or present numbers without computing them:
# editing them keeps cached scores valid. Every other source file is part of the scoring identity.
_NOT_SCORING = ("__init__.py", "leaderboard", "results", "cli.py", "doctor.py", "speed.py", "speed_references.py", "executors.py", "runner.py",
                "planning.py", "recording.py", "execution.py", "result_cache.py", "cache.py", "timings.py")


@dataclass
class Caches:
    """The token cache and the result cache under one cache root (``$DASB_CACHE_DIR``)."""

    tokens: TokenCache
    results: "ResultCache"

    @classmethod
    def at(cls, root: str | Path, max_bytes: int | None = None) -> "Caches":
        """``<root>/tokens`` and ``<root>/results``, each kept under ``max_bytes`` (default: the setting)."""
        limit = cache_max_bytes() if max_bytes is None else max_bytes
        return cls(TokenCache(Path(root) / "tokens", limit), ResultCache(Path(root) / "results", limit))

    def info(self) -> dict[str, dict]:
        return {"tokens": self.tokens.info(), "results": self.results.store.info()}

    def prune(self, older_than_days: float | None = None) -> int:
        return self.tokens.prune(older_than_days) + self.results.store.prune(older_than_days)


class ResultCache:
    """Lists of :class:`Result` by key; see the module docstring for what a key covers."""

    def __init__(self, root: str | Path, max_bytes: int | None = None) -> None:
        self.store = EntryStore(root, max_bytes)

    def get(self, identity: dict[str, Any]) -> list[Result] | None:
        """The results stored for ``identity``, or None (absent, damaged or foreign)."""
        return self.store.load(hash_config(identity), _canonical(identity),
                               lambda payload: [Result(**r) for r in json.loads(payload)])

    def put(self, identity: dict[str, Any], results: list[Result]) -> bool:
        """Store ``results`` unless one is an error; whether they were stored."""
        if any(r.status == "error" for r in results):
            return False
        payload = json.dumps([asdict(r) for r in results]).encode()
        self.store.write(hash_config(identity), _canonical(identity), payload)
        return True


def _canonical(identity: dict[str, Any]) -> str:
    return json.dumps(identity, sort_keys=True, default=str)


@lru_cache(maxsize=1)
def framework_code() -> str:
    """sha256 of every source file of the dasb package that can change a number."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in _NOT_SCORING:
            continue
        h.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _outside_code(bench: Benchmark) -> dict[str, str]:
    """sha256 of the benchmark's own source file when it is a plugin (outside the dasb package)."""
    source = inspect.getsourcefile(type(bench))
    dasb_root = str(Path(__file__).resolve().parent)
    if source is None or os.path.realpath(source).startswith(dasb_root):
        return {}
    return {source: hashlib.sha256(Path(source).read_bytes()).hexdigest()}


def machine() -> dict[str, Any]:
    """What a wall-clock measurement depends on besides the code: host, processor, cores."""
    return {"host": platform.node(), "processor": platform.processor() or platform.machine(), "cores": os.cpu_count()}


def scoring_identity(bench: Benchmark, info: TokenizerInfo | None, tokenizer: str | None,
                     env: dict[str, Any]) -> dict[str, Any]:
    """What a benchmark's numbers depend on besides its items.

    ``info`` is the tokenizer's description (None for the original audio), ``tokenizer`` its
    identity (configuration hash and adapter code), used when the benchmark runs the tokenizer
    itself; ``env`` is :func:`dasb.env.environment`.
    """
    out: dict[str, Any] = {
        "benchmark": bench.config(), "code": framework_code(), "plugin_code": _outside_code(bench),
        "packages": env.get("packages"), "python": env.get("python"), "device": env.get("device"),
        "info": None if info is None else hash_config(asdict(info)),
    }
    if bench.needs_model:
        out["tokenizer"] = tokenizer
    if bench.measures_machine:
        out["machine"] = machine()
    return out


def item_identity(item: Item, bench: Benchmark) -> dict[str, Any]:
    """What one item contributes to a score of ``bench``: the utterance and the audio and tokens it reads."""
    u = item.utterance
    out: dict[str, Any] = {"utterance": u.id, "text": u.text, "speaker": u.speaker, "inputs": item.decode_inputs.key,
                           "reference": _memo(item, "reference", lambda: content_hash(item.reference, item.sample_rate))}
    if bench.needs_tokens and item.tokens is not None:
        out["tokens"] = _memo(item, "tokens", lambda: tokens_hash(item.tokens))
    if bench.needs_decoded and item.decoded is not None:
        out["decoded"] = _memo(item, "decoded", lambda: content_hash(item.decoded, item.sample_rate))
    return out


def _memo(item: Item, what: str, compute: Any) -> str:
    """A hash of part of ``item``, computed once per item whatever the number of benchmarks."""
    if what not in item.hashes:
        item.hashes[what] = compute()
    return item.hashes[what]


def tokens_hash(tokens: Tokens) -> str:
    """Hash of token codes, lengths, mask and side information."""
    parts = [tokens.codes, tokens.lengths] + ([tokens.mask] if tokens.mask is not None else [])
    parts += [tokens.side[k] for k in sorted(tokens.side)]
    return hash_bytes(*(_tensor_bytes(p) for p in parts), ",".join(sorted(tokens.side)).encode())


def _tensor_bytes(value: Any) -> bytes:
    """A tensor's dtype, shape and bytes; other side information by its text."""
    if not isinstance(value, torch.Tensor):
        return repr(value).encode()
    a = value.detach().cpu().contiguous().numpy()
    return a.dtype.str.encode() + str(a.shape).encode() + a.tobytes()
