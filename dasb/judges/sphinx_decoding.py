"""PocketSphinx decoding, in this process or spread over worker processes.

Each utterance is decoded from a fresh front end, so a transcript does not depend
on what the decoder heard before; utterances are therefore independent, and a
pool of decoders in other processes gives the same transcripts as one decoder
here. This module imports only the standard library and pocketsphinx, so a
spawned worker starts in about a second.
"""
from __future__ import annotations

import json
import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

_worker_decoder: Any = None  # the decoder of a pool worker process
_pools: dict[str, ProcessPoolExecutor] = {}  # one pool per decoder configuration, kept for the process's life


def new_decoder(sample_rate: int, features: dict[str, str], options: dict[str, Any]) -> Any:
    """A decoder at ``sample_rate`` with the acoustic-model ``features`` (``feat.params`` entries) and
    decoder ``options``."""
    from pocketsphinx import Decoder

    with tempfile.TemporaryDirectory() as tmp:  # the decoder reads the file once, at construction
        params = Path(tmp) / "feat.params"
        params.write_text("".join(f"-{k} {v}\n" for k, v in features.items()))
        return Decoder(samprate=sample_rate, featparams=str(params), loglevel="FATAL", **options)


def decode(decoder: Any, pcm: bytes) -> str:
    """The transcript of one utterance of 16-bit PCM at the decoder's rate."""
    # A fresh front end: its noise estimate (remove_noise) carries over between utterances, so without
    # this a transcript depended on what the decoder heard before.
    decoder.reinit_feat()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


def _start_worker(sample_rate: int, features: dict[str, str], options: dict[str, Any]) -> None:
    global _worker_decoder
    _worker_decoder = new_decoder(sample_rate, features, options)


def _decode_in_worker(pcm: bytes) -> str:
    return decode(_worker_decoder, pcm)


def decode_in_pool(processes: int, sample_rate: int, features: dict[str, str], options: dict[str, Any],
                   pcms: list[bytes]) -> list[str]:
    """Transcripts of ``pcms``, in order, decoded by ``processes`` worker processes (started on first use
    and reused by every later call with the same configuration)."""
    key = json.dumps([processes, sample_rate, features, options], sort_keys=True, default=str)
    if key not in _pools:
        _pools[key] = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                          initializer=_start_worker, initargs=(sample_rate, features, options))
    return list(_pools[key].map(_decode_in_worker, pcms))


def can_start_workers() -> bool:
    """False inside a daemonic worker (a metric pool's process), which may not start processes of its own."""
    return not multiprocessing.current_process().daemon
