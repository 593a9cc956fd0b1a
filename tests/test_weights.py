"""dasb.weights and `dasb weights`: finding, downloading, verifying and identifying weights, offline."""
from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
from dataclasses import replace

import pytest

from dasb.cli import main
from dasb.tokenizers.cards import load_cards
from dasb.weights import FILESETS, FileSet, WeightFile, WeightsCorrupt, WeightsUnavailable, files, hub, identity


@pytest.fixture
def clean(tmp_path, monkeypatch):
    """No weights anywhere, offline."""
    monkeypatch.setenv("DASB_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("DASB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DASB_OFFLINE", "1")
    return tmp_path


def _toy_set(tmp_path, content=b"weights v1\n" * 100) -> FileSet:
    return FileSet("toy", "dasb-test/toy", "c" * 40, "w", (WeightFile("m.bin", hashlib.sha256(content).hexdigest(), len(content)),),
                   license="test licence", notice="TOY NOTICE")


def test_list_reports_every_card_offline(clean, capsys):
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(load_cards()) <= set(rows) and "nisqa" in rows
    assert "missing" in rows["lyra-v2-6k"] and "dasb weights fetch lyra-v2" in rows["lyra-v2-6k"]
    assert str(clean / "weights" / "lyra-v2") in rows["lyra-v2-6k"]  # where to put the files
    assert "pcm16" in rows and "needs no downloaded weights" in rows["pcm16"]


def test_list_and_verify_see_copied_files(clean, monkeypatch, capsys):
    toy = _toy_set(clean)
    monkeypatch.setitem(FILESETS, "toy", toy)
    folder = clean / "weights" / "toy"
    folder.mkdir(parents=True)
    (folder / "m.bin").write_bytes(b"weights v1\n" * 100)
    assert main(["weights", "list", "toy"]) == 0
    assert "present" in capsys.readouterr().out
    assert main(["weights", "verify", "toy"]) == 0
    data = bytearray((folder / "m.bin").read_bytes())
    data[7] ^= 0x01
    (folder / "m.bin").write_bytes(bytes(data))
    assert main(["weights", "verify", "toy"]) == 1
    err = capsys.readouterr().err
    assert "m.bin" in err and toy.files[0].sha256 in err
    with pytest.raises(WeightsCorrupt):
        toy.path()


def test_fetch_offline_says_what_is_missing_and_where(clean, capsys):
    assert main(["weights", "fetch", "nisqa"]) == 1
    err = capsys.readouterr().err
    assert "offline" in err and "nisqa.tar" in err and str(clean / "weights" / "nisqa") in err


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A local HTTP server standing in for raw.githubusercontent.com."""
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setattr(files, "RAW", f"http://127.0.0.1:{httpd.server_address[1]}")
    monkeypatch.setattr(files, "reachable", lambda url, timeout=3.0: True)
    yield root
    httpd.shutdown()


def test_fetch_downloads_verifies_and_shows_the_licence(clean, server, monkeypatch, capsys):
    for var in ("DASB_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    toy = _toy_set(clean)
    (server / toy.repo / toy.commit / "w").mkdir(parents=True)
    (server / toy.repo / toy.commit / "w" / "m.bin").write_bytes(b"weights v1\n" * 100)
    where = toy.path()
    assert where == clean / "weights" / "toy" and (where / "m.bin").read_bytes() == b"weights v1\n" * 100
    assert "test licence" in capsys.readouterr().err and toy.identity() == toy.pinned_identity
    tampered = replace(toy, name="toy2")
    (server / toy.repo / toy.commit / "w" / "m.bin").write_bytes(b"weights v2\n" * 100)
    with pytest.raises(WeightsCorrupt, match="expected"):
        tampered.path()
    assert not any((clean / "weights" / "toy2").glob("*")), "a download that fails verification is not kept"


def test_url_file_downloads_and_is_identified_by_its_digest_when_no_checksum_is_known(clean, server, monkeypatch, capsys):
    for var in ("DASB_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    (server / "m.pt").write_bytes(b"blob v1\n" * 50)
    unpinned = files.UrlFile("toy-url", "m.pt", f"{files.RAW}/m.pt", None, "test licence", also="a share page")
    assert "No SHA-256 is published" in unpinned.missing() and "a share page" in unpinned.missing()
    path = unpinned.path()
    digest = hashlib.sha256(b"blob v1\n" * 50).hexdigest()
    assert path == clean / "weights" / "toy-url" / "m.pt" and unpinned.identity() == f"sha256:{digest}"
    assert f"unverified (no published SHA-256); its SHA-256 is {digest}" in capsys.readouterr().err
    pinned = replace(unpinned, name="toy-url2", sha256="0" * 64)
    with pytest.raises(WeightsCorrupt, match="expected"):
        pinned.path()
    assert not any((clean / "weights" / "toy-url2").glob("*")), "a download that fails verification is not kept"


def test_hub_cache_blobs_are_verified(tmp_path, monkeypatch):
    """A Hugging Face cache snapshot: each file is checked against the hash its blob is named after."""
    pytest.importorskip("huggingface_hub", reason="hub sources need huggingface_hub (pip install 'dasb[neural]')")
    import huggingface_hub.constants

    repo = tmp_path / "hub" / "models--org--tiny"
    commit = "d" * 40
    big, small = b"\x00\x01" * 1000, b'{"a": 1}\n'
    blobs = {hashlib.sha256(big).hexdigest(): big, hashlib.sha1(b"blob %d\0" % len(small) + small).hexdigest(): small}
    (repo / "blobs").mkdir(parents=True)
    for name, data in blobs.items():
        (repo / "blobs" / name).write_bytes(data)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    for link, name in zip(("model.safetensors", "config.json"), blobs):
        (snap / link).symlink_to(repo / "blobs" / name)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("DASB_WEIGHTS", raising=False)
    src = hub.HubSource("org/tiny", commit)
    assert src.find() == snap and src.identity() == f"commit:{commit}" and src.verify(snap) == []
    blob = repo / "blobs" / next(iter(blobs))
    blob.write_bytes(b"\x00\x02" + big[2:])
    assert any("model.safetensors" in p for p in src.verify(snap))


def test_runner_skips_optional_tokenizers_without_weights_and_errors_named_ones(clean, capsys):
    pytest.importorskip("ai_edge_litert", reason="Lyra needs ai-edge-litert: pip install 'dasb[lyra]'")
    from dasb.runner import Runner
    from dasb.suites import Suite

    bench = {"reconstruction": {"max_utterances": 1}}
    optional = Runner(Suite("d", "mini", ["lyra-v2-6k", "pcm8"], bench, optional=["lyra-v2-6k"]), clean / "a", progress=False).run()
    assert optional.exit_code == 0
    recs = [r for r in Runner(Suite("d", "mini", []), clean / "a", progress=False).store.records() if r.tokenizer == "lyra-v2-6k"]
    assert recs and all(r.status == "skipped" and "dasb weights fetch lyra-v2" in r.message for r in recs)
    named = Runner(Suite("d", "mini", ["lyra-v2-6k"], bench), clean / "b", progress=False).run()
    assert named.exit_code == 1 and all("dasb weights fetch lyra-v2" in r.message for r in named.errors)


def test_weights_identity_keys_results(clean, monkeypatch):
    """Results of different weights never share a card hash; absent weights have a hash of their own."""
    toy = _toy_set(clean)
    card = load_cards()["lyra-v2-6k"]
    absent = replace(card).config_hash
    assert identity(card) == "absent"
    folder = clean / "weights" / "lyra-v2"
    folder.mkdir(parents=True)
    for f in FILESETS["lyra-v2"].files:
        (folder / f.name).write_bytes(b"x")  # present (verified only when loaded)
    assert identity(card) == FILESETS["lyra-v2"].pinned_identity and replace(card).config_hash != absent
    assert toy.pinned_identity != FILESETS["lyra-v2"].pinned_identity
    assert identity(load_cards()["pcm8"]) is None


def test_absent_hub_weights_fail_fast_with_the_fetch_command(clean, monkeypatch):
    pytest.importorskip("transformers", reason="hub cards need transformers: pip install 'dasb[neural]'")
    from _ports import record_connections

    connections = record_connections(monkeypatch)
    with pytest.raises(WeightsUnavailable) as err:
        load_cards()["mimi-8q"].build()
    assert connections == []
    assert "dasb weights fetch mimi-8q" in str(err.value) and "kyutai/mimi" in str(err.value)


def test_online_with_an_unreachable_hub_the_fetch_says_so(clean, monkeypatch):
    """Not offline, the hub's address checked and found unreachable: a clear WeightsUnavailable (the path a user
    without HF_HUB_OFFLINE takes; it once recursed forever in the endpoint lookup)."""
    for var in ("DASB_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    with socket.socket() as s:  # a local port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(WeightsUnavailable, match="the hub is unreachable"):
        hub.HubSource("org/absent", "a" * 40).fetch()
