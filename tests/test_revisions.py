"""Hub revisions: pinned commits load from their own snapshot, ``main`` warns, the loaded commit is recorded.

A fake Hugging Face cache in ``tmp_path`` (``models--org--name/snapshots/<commit>/``
plus ``refs/main``) holds tiny random-init DAC models, so nothing touches the network.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

T = pytest.importorskip("transformers", reason="the neural adapters need transformers: pip install 'dasb[neural]'")

from dasb.tokenizers import hf_base  # noqa: E402
from dasb.tokenizers.cards import load_cards  # noqa: E402
from dasb.tokenizers.hf_base import WeightsUnavailable, fetch_files, is_commit, locate  # noqa: E402
from dasb.weights import hub  # noqa: E402
from dasb.tokenizers.hf_codecs import DacTokenizer  # noqa: E402

HUB_ID = "dasb-test/tiny-dac"
PINNED = "a" * 40
OTHER = "b" * 40
_TINY_DAC = dict(encoder_hidden_size=8, decoder_hidden_size=32, codebook_dim=4, downsampling_ratios=[2, 4, 5, 8],
                 upsampling_ratios=[8, 5, 4, 2], n_codebooks=2)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    """An empty HF cache that huggingface_hub and transformers both use (they read the constant, set at import)."""
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv(hf_base.WEIGHTS_ENV, raising=False)
    return cache


def _snapshot(cache: Path, commit: str, seed: int, main: bool = False) -> torch.nn.Module:
    """Save a tiny DAC as snapshot ``commit`` of :data:`HUB_ID` (and point ``refs/main`` at it)."""
    repo = cache / ("models--" + HUB_ID.replace("/", "--"))
    torch.manual_seed(seed)
    model = T.DacModel(T.DacConfig(**_TINY_DAC))
    model.save_pretrained(repo / "snapshots" / commit)
    if main:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(commit)
    return model


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_pinned_revision_loads_its_own_snapshot(hub_cache):
    pinned = _snapshot(hub_cache, PINNED, seed=1)
    _snapshot(hub_cache, OTHER, seed=2, main=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a pinned commit must not warn
        tok = DacTokenizer("d", checkpoint=HUB_ID, revision=PINNED)
    assert tok.info.extras["resolved_revision"] == PINNED
    assert _same_weights(tok.model, pinned)


def test_pinned_revision_absent_fails_even_with_another_commit_cached(hub_cache):
    _snapshot(hub_cache, OTHER, seed=2, main=True)
    with pytest.raises(WeightsUnavailable) as err:
        DacTokenizer("d", checkpoint=HUB_ID, revision=PINNED)
    assert HUB_ID in str(err.value) and PINNED in str(err.value)


def test_main_resolves_to_the_cached_commit_and_warns(hub_cache):
    main = _snapshot(hub_cache, OTHER, seed=2, main=True)
    _snapshot(hub_cache, PINNED, seed=1)
    with pytest.warns(UserWarning, match=f"'main' is not pinned.*{OTHER}"):
        tok = DacTokenizer("d", checkpoint=HUB_ID, revision="main")
    assert tok.info.extras["resolved_revision"] == OTHER and tok.info.revision == "main"
    assert _same_weights(tok.model, main)


def test_local_folder_records_the_folder(tmp_path, hub_cache):
    _snapshot(hub_cache, PINNED, seed=1).save_pretrained(tmp_path / "dac")
    tok = DacTokenizer("d", checkpoint=str(tmp_path / "dac"))
    assert tok.info.extras["resolved_revision"] == f"local folder {tmp_path / 'dac'}"
    injected = DacTokenizer("d", model=tok.model)
    assert "resolved_revision" not in injected.info.extras


def test_fetch_files_reports_the_snapshot_commit(hub_cache):
    _snapshot(hub_cache, OTHER, seed=2, main=True)
    paths, commit = fetch_files(HUB_ID, OTHER, ["config.json", "model.safetensors"])
    assert commit == OTHER and all(Path(p).parent.name == OTHER and Path(p).is_file() for p in paths)
    with pytest.warns(UserWarning, match="not pinned"):
        assert fetch_files(HUB_ID, None, ["config.json"])[1] == OTHER


def test_hub_download_resolves_a_branch_to_one_commit(monkeypatch, tmp_path):
    """From the hub, the branch is resolved once (by downloading the probe) and every file uses that commit."""
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.delenv(hf_base.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(hub, "find_local", lambda *a, **k: None)
    monkeypatch.setattr(hub, "_hub_reachable", lambda timeout=3.0: True)
    calls = []

    def fake_download(repo_id, filename, revision=None, **kw):
        calls.append((filename, revision))
        return str(tmp_path / f"models--x--y/snapshots/{OTHER}/{filename}")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    assert locate(HUB_ID, "main") == (HUB_ID, {"revision": OTHER})
    assert locate(HUB_ID, PINNED) == (HUB_ID, {"revision": PINNED}) and len(calls) == 1


def test_runner_writes_resolved_revision(tmp_path, hub_cache):
    from dasb.runner import Runner
    from dasb.suites import Suite
    from dasb.tokenizers.cards import Card

    _snapshot(hub_cache, PINNED, seed=1)
    card = Card("tiny-dac", "dac", checkpoint=HUB_ID, revision=PINNED)
    runner = Runner(Suite("t", "mini", []), tmp_path / "run", progress=False)  # tiny-dac has no card file
    runner._recorder().save_tokenizer_info(card, card.build())
    saved = json.loads((runner.store.dir / "tokenizers.json").read_text())["tiny-dac"]
    assert saved["resolved_revision"] == PINNED and saved["card"]["revision"] == PINNED
    assert saved["weights"] == f"commit:{PINNED}"


# Cards whose hub revision is still a branch, each with its reason in the card file's comment.
UNPINNED = {
    "wavtokenizer-large-40",  # no pinned commit found in public code
    "xcodec-hubert-ls-0.5kbps", "xcodec-hubert-ls-2kbps", "xcodec-hubert-ls-4kbps",  # none found
    "neucodec",  # the commits found predate the transformers-format files
    "dasb-hubert-large-k1000", "dasb-wav2vec2-large-k1000",  # ssl_kmeans.yaml: none found
    "glm-4-voice-tokenizer",  # none found
    "bigcodec",  # none found; the file is pinned by its sha256 instead
    "xy-tokenizer", "xy-tokenizer-ttsd-v0.7",  # xy_tokenizer.yaml: none found
    "dualcodec-12hz", "dualcodec-25hz", "lm-spt",  # dualcodec.yaml, lmspt.yaml: none found
    "tadicodec",  # tadicodec.yaml: none found; the run records the commit it resolved to
}


def test_cards_on_a_branch_are_the_known_ones():
    """A new hub card must pin a 40-hex commit, or be added here with its reason."""
    hub = [c for c in load_cards().values()
           if c.status == "available" and "/" in (c.checkpoint or "") and not c.checkpoint.startswith(("~", "/", "."))]
    assert {c.name for c in hub if not is_commit(c.revision)} == UNPINNED
