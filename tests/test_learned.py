"""Learned offline baselines: log-mel residual VQ and MFCC k-means, their training and checkpoints."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

pytest.importorskip("safetensors", reason="learned baselines need the learned extra: pip install 'dasb[learned]'")

from _reference_codecs import items, load, scores  # noqa: E402

from dasb.cli import main  # noqa: E402
from dasb.data.corpus import load_corpus, read_manifest  # noqa: E402
from dasb.learned import checkpoint_revision, kmeans, resolve_checkpoint  # noqa: E402
from dasb.testing import check_tokenizer  # noqa: E402
from dasb.threads import torch_threads  # noqa: E402
from dasb.tokenizers import runtime  # noqa: E402
from dasb.tokenizers.cards import get_card  # noqa: E402
from dasb.tokenizers.melrvq import MelRVQTokenizer  # noqa: E402
from dasb.tokenizers.mfcc_kmeans import MFCCKMeansTokenizer  # noqa: E402
from dasb.train import train_baseline, train_mfcc_kmeans  # noqa: E402

MELRVQ = ("melrvq-1cb", "melrvq-2cb", "melrvq-4cb", "melrvq-8cb")


@pytest.fixture(scope="module")
def mini8():
    return load(load_corpus("mini").utterances[::4])


@pytest.mark.parametrize("name", [*MELRVQ, "mfcc-kmeans100"])
def test_cards_conform_and_load_the_shipped_checkpoint(name):
    tok = get_card(name).build()
    check_tokenizer(tok)
    assert tok.info.revision == checkpoint_revision(resolve_checkpoint(tok.info.checkpoint))


def test_nominal_bitrates():
    assert [get_card(n).build().info.nominal_bitrate for n in MELRVQ] == [400.0, 800.0, 1600.0, 3200.0]
    info = get_card("mfcc-kmeans100").build().info
    assert (info.kind, info.decodes, info.frame_rate, info.codebook_size) == ("semantic", False, 100.0, 100)


def test_fewer_codebooks_are_a_prefix_of_more():
    x = torch.from_numpy(load(load_corpus("mini").utterances[:1])[0][1])[None, None]
    n = torch.tensor([x.shape[-1]])
    codes8 = get_card("melrvq-8cb").build().encode(x, n).codes
    assert torch.equal(get_card("melrvq-2cb").build().encode(x, n).codes, codes8[:, :2])


def test_decoded_audio_does_not_depend_on_the_thread_count():
    # On this utterance 1 and 2 threads differed by 1e-3 before the inverse mel ran on one thread.
    x = torch.from_numpy(load([u for u in load_corpus("mini").utterances if u.id == "awb_own04"])[0][1])[None, None]
    tok = get_card("melrvq-4cb").build()
    tokens = tok.encode(x, torch.tensor([x.shape[-1]]))
    decoded = []
    for threads in (1, 2, 4):
        with torch_threads(threads):
            decoded.append(tok.decode(tokens)[0])
    assert torch.equal(decoded[0], decoded[1]) and torch.equal(decoded[0], decoded[2])


def test_wrong_revision_and_missing_checkpoint_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="revision"):
        MelRVQTokenizer("m", checkpoint="melrvq-mini", revision="000000000000")
    with pytest.raises(FileNotFoundError, match="dasb train baseline"):
        MelRVQTokenizer("m", checkpoint=str(tmp_path / "nothing"))
    with pytest.raises(ValueError, match="'mfcc-kmeans' checkpoint"):
        MelRVQTokenizer("m", checkpoint="mfcc-kmeans-mini")


def test_kmeans_finds_separated_clusters():
    torch.manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([c + 0.1 * torch.randn(50, 2) for c in centres])
    found = kmeans(x, 3, iterations=10, seed=0)
    assert torch.cdist(centres, found).min(dim=1).values.max() < 0.1


def _codes(tok, data):
    return [t.codes for t in runtime.encode(tok, [w[None] for _, w, _ in data], [sr for _, _, sr in data])]


def test_retraining_with_the_same_seed_gives_identical_codes_and_reload(tmp_path, mini8):
    runs = []
    for d in ("a", "b"):
        assert main(["train", "baseline", "--data", "mini", "--out", str(tmp_path / d), "--stages", "3",
                     "--codebook-size", "32", "--iterations", "5", "--seed", "3"]) == 0
        runs.append(tmp_path / d)
    assert checkpoint_revision(runs[0]) == checkpoint_revision(runs[1])
    a = _codes(MelRVQTokenizer("a", checkpoint=str(runs[0])), mini8)
    b = _codes(MelRVQTokenizer("b", checkpoint=str(runs[1])), mini8)
    again = _codes(MelRVQTokenizer("a", checkpoint=str(runs[0])), mini8)
    assert all(torch.equal(x, y) and torch.equal(x, z) for x, y, z in zip(a, b, again))
    other_seed = train_baseline("mini", str(tmp_path / "c"), stages=3, codebook_size=32, iterations=5, seed=4)
    assert other_seed != checkpoint_revision(runs[0])


def test_mfcc_kmeans_retrains_identically_and_uses_its_clusters(tmp_path, mini8):
    revs = [train_mfcc_kmeans("mini", str(tmp_path / d), clusters=20, iterations=5, seed=0) for d in ("a", "b")]
    assert revs[0] == revs[1]
    tok = MFCCKMeansTokenizer("m", checkpoint=str(tmp_path / "a"))
    codes = torch.cat([c.reshape(-1) for c in _codes(tok, mini8)])
    assert codes.unique().numel() >= 15  # a degenerate clustering would use a handful
    with pytest.raises(NotImplementedError):
        tok.decode(items(tok, mini8[:1])[0].tokens)


def test_quality_rises_with_codebooks_on_mini(mini8):
    _assert_ladder(mini8[::2])  # one utterance per voice: the steps are large


@pytest.mark.slow
def test_quality_rises_with_codebooks_on_real_speech(speech_dev):
    _assert_ladder(load(read_manifest(speech_dev).utterances[::4]))


def _assert_ladder(data):
    means = {n: {m: float(np.mean(v)) for m, v in scores(n, data).items()} for n in MELRVQ}
    for metric in ("pesq_wb", "stoi"):
        values = [means[n][metric] for n in MELRVQ]
        assert values == sorted(values) and len(set(values)) == len(values), f"{metric} {dict(zip(MELRVQ, values))}"


@pytest.mark.slow
def test_default_training_is_fast_and_reproduces_the_shipped_checkpoint(tmp_path, mini8):
    start = time.perf_counter()
    assert main(["train", "baseline", "--data", "mini", "--out", str(tmp_path / "ck")]) == 0
    assert time.perf_counter() - start < 300
    shipped = get_card("melrvq-8cb").build()
    assert checkpoint_revision(tmp_path / "ck") == shipped.info.revision
    fresh = MelRVQTokenizer("fresh", checkpoint=str(tmp_path / "ck"))
    assert all(torch.equal(x, y) for x, y in zip(_codes(shipped, mini8), _codes(fresh, mini8)))


@pytest.mark.slow
@pytest.mark.parametrize("recipe, card", [("baseline", "melrvq-1cb"), ("mfcc-kmeans", "mfcc-kmeans100")])
def test_training_on_other_cpu_kernels_reproduces_the_shipped_checkpoint(tmp_path, recipe, card):
    """torch's portable kernels (``ATEN_CPU_CAPABILITY=default``, as on a CPU without AVX2) give float32
    features that differ in the last bit from the vectorised ones; training in float64 absorbs that."""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    cmd = [sys.executable, "-m", "dasb", "train", recipe, "--data", "mini", "--out", str(tmp_path / "ck")]
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    assert checkpoint_revision(tmp_path / "ck") == get_card(card).build().info.revision
