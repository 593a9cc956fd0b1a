"""Helpers for the tests of the tokenizers dasb ports from their authors' code (GLM-4-Voice, BigCodec, Stable Codec)."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch

from dasb.testing import speech_like_signal
from dasb.tokenizers.base import AudioTokenizer, TokenizerInfo
from dasb.tokenizers.cards import get_card
from dasb.tokenizers.hf_base import WeightsUnavailable

MANIFESTS = Path(__file__).parent / "manifests"


def assert_matches_manifest(module: torch.nn.Module, name: str, config: dict | None = None) -> None:
    """The module's state-dict keys and shapes equal ``tests/manifests/<name>.json`` (derived from the authors'
    model definition; its ``how`` field says how). A manifest of several checkpoint entries (``{entry: {key:
    shape}}``) is compared as ``entry.key``. With ``config``: also the manifest's config and parameter count."""
    manifest = json.loads((MANIFESTS / f"{name}.json").read_text(encoding="utf-8"))
    if config is not None:
        assert manifest["config"] == config
        assert sum(p.numel() for p in module.parameters()) == manifest["parameters"]
    want = manifest["state_dict"]
    if all(isinstance(v, dict) for v in want.values()):
        want = {f"{entry}.{k}": shape for entry, part in want.items() for k, shape in part.items()}
    got = {k: list(v.shape) for k, v in module.state_dict().items()}
    assert sorted(set(want) - set(got)) == [], "keys of the authors' model missing here"
    assert sorted(set(got) - set(want)) == [], "keys here that the authors' model does not have"
    assert {k: v for k, v in got.items() if want[k] != v} == {}, "shapes differ from the authors' model"


def assert_published_figures(info: TokenizerInfo, published: dict) -> None:
    """The card's ``published`` figures (the authors') equal what the model reports: rates, codebooks, bitrate, kind."""
    assert info.nominal_bitrate / 1000 == pytest.approx(published["bitrate_kbps"])
    assert (info.sample_rate, info.frame_rate, info.num_codebooks, info.codebook_sizes[0], info.kind) == (
        published["sample_rate"], published["frame_rate"], published["codebooks"], published["codebook_size"],
        published["kind"])


def clip(tok: AudioTokenizer, seconds: float = 1.3) -> tuple[torch.Tensor, torch.Tensor]:
    """A speech-like clip ``[1, 1, N]`` at the tokenizer's rate and its length."""
    x = torch.from_numpy(speech_like_signal(seconds, tok.info.sample_rate))[None]
    return x, torch.tensor([x.shape[-1]])


def card_from_weights_dir(name: str, weights: Path, monkeypatch) -> AudioTokenizer:
    """The card ``name`` built through its real loading path, its files found under ``$DASB_WEIGHTS``."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DASB_WEIGHTS", str(weights))
    return get_card(name).build()


def record_connections(monkeypatch) -> list[object]:
    """The addresses any socket connects to from now on (the connections still happen)."""
    connections: list[object] = []
    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect",
                        lambda sock, address: connections.append(address) or real_connect(sock, address))
    return connections


def assert_missing_weights_fail_fast(name: str, tmp_path: Path, monkeypatch, *expected: str) -> None:
    """Building the card without its weights raises WeightsUnavailable, naming what to provide, without
    opening a connection (offline means no retries against an unreachable hub: the failure is immediate)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("DASB_WEIGHTS", str(tmp_path / "empty"))
    connections = record_connections(monkeypatch)
    with pytest.raises(WeightsUnavailable) as err:
        get_card(name).build()
    assert connections == []
    for text in expected:
        assert text in str(err.value)
