"""External systems: outputs made elsewhere score exactly as the built-in tokenizer that made them."""
import math
import shutil

import numpy as np
import pytest
import soundfile as sf

from dasb.cli import main
from dasb.data.corpus import Corpus, Utterance, load_corpus
from dasb.external import ExternalItems, ExternalSystem, OutputsError, export_outputs, load_codes
from dasb.items import ItemMaker
from dasb.results import read_records
from dasb.runner import Runner
from dasb.score import external_card
from dasb.suites import Suite, load_suite
from dasb.tokenizers.cards import get_card

# Every benchmark that needs only decoded audio, on a few utterances (the default suite's settings otherwise).
DECODE_SIDE = {"reconstruction": {}, "asr": {"backend": "pocketsphinx", "max_utterances": 2},
               "speaker": {"encoder": "resemblyzer"}, "mos": {"max_utterances": 2}}
MODEL_SIDE = ("robustness", "streaming", "efficiency", "levels", "abx")


def _subset(tmp_path, source, n, speakers=1):
    """The first ``n`` utterances of each of the first ``speakers`` speakers of ``source``, as a manifest."""
    corpus = load_corpus(source)
    names = list(dict.fromkeys(u.speaker for u in corpus.utterances))[:speakers]
    sub = Corpus(corpus.name, [u for s in names for u in [v for v in corpus.utterances if v.speaker == s][:n]])
    sub.write_manifest(tmp_path / "manifest.jsonl")
    return str(tmp_path / "manifest.jsonl"), sub


def _export(name, corpus, tmp_path, tokens=False):
    card = get_card(name)
    tok = card.build()
    export_outputs(tok, card.config_hash, corpus.utterances, tmp_path / f"{name}-dec",
                   tmp_path / f"{name}-tok" if tokens else None)
    return tok


def _tokenizer_rows(run_dir, tokenizer):
    return {(r.benchmark, r.utterance, r.metric): r for r in read_records(run_dir) if r.tokenizer == tokenizer}


def _assert_same(builtin, external):
    assert builtin.keys() == external.keys()
    for key, a in builtin.items():
        b = external[key]
        assert (a.status, a.n) == (b.status, b.n), key
        if a.value is not None:
            # Equal arrays give equal numbers up to summation order inside pystoi's SIMD code, which depends
            # on memory alignment (seen: 2e-16 in ESTOI); records agree when within merge's 1e-9 (dasb.leaderboard.merge).
            assert math.isclose(a.value, b.value, rel_tol=1e-9, abs_tol=1e-12), (key, a.value, b.value)


def _builtin_vs_external(tmp_path, data, name, benchmarks, tokens=False):
    tok = _export(name, load_corpus(data), tmp_path, tokens)
    Runner(Suite("b", data, [name], benchmarks), tmp_path / "builtin", progress=False).run()
    params = {"decoded": str(tmp_path / f"{name}-dec")}
    if tokens:
        params.update(tokens=str(tmp_path / f"{name}-tok"), frame_rate=tok.info.frame_rate,
                      codebook_size=list(tok.info.codebook_sizes))
    card = external_card("ext", **params)
    summary = Runner(Suite("e", data, ["ext"], benchmarks), tmp_path / "external", progress=False,
                     cards={"ext": card}).run()
    assert summary.errors == [], summary.errors[0].message if summary.errors else None
    _assert_same(_tokenizer_rows(tmp_path / "builtin", name), _tokenizer_rows(tmp_path / "external", "ext"))


@pytest.mark.parametrize("name", ["pcm8", pytest.param("opus-12k", marks=pytest.mark.slow)])
def test_decoded_folder_scores_as_the_builtin_run(tmp_path, name):
    data, corpus = _subset(tmp_path, "mini", 2, speakers=2)  # two speakers: the speaker EER needs both kinds of trial
    _builtin_vs_external(tmp_path, data, name, DECODE_SIDE)
    # The audio the metrics see is the same array (files hold the native-rate decoder output; dasb.audio.conform maps both).
    card = get_card(name)
    ext = ExternalSystem("ext", decoded=str(tmp_path / f"{name}-dec"))
    for (_, a), (_, b) in zip(ItemMaker(card.build(), card.config_hash, 8).make(corpus.utterances, True),
                              ExternalItems(ext).make(corpus.utterances, True)):
        assert np.array_equal(a.decoded, b.decoded)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pcm8", "opus-12k"])
def test_decoded_folder_scores_as_the_builtin_run_on_real_speech(tmp_path, speech_dev, name):
    _builtin_vs_external(tmp_path, str(speech_dev), name, {b: {**s, "max_utterances": None} for b, s in DECODE_SIDE.items()})


@pytest.mark.parametrize("name", ["melrvq-4cb", "opus-6k"])  # fixed-rate codes; variable-rate codes with a mask
def test_token_folder_gives_the_builtin_tokens_and_lm_values(tmp_path, name):
    default = load_suite("default").benchmarks
    _builtin_vs_external(tmp_path, "mini", name, {"tokens": default["tokens"], "lm": default["lm"]}, tokens=True)


def test_mismatched_files_are_one_error_each_and_the_rest_is_scored(tmp_path):
    data, corpus = _subset(tmp_path, "mini", 6)
    _export("pcm8", corpus, tmp_path)
    dec = tmp_path / "pcm8-dec"
    ids = [u.id for u in corpus.utterances]
    (dec / f"{ids[0]}.wav").unlink()                                        # missing
    shutil.copy(dec / f"{ids[1]}.wav", dec / "not_in_corpus.wav")          # extra
    wav, sr = sf.read(dec / f"{ids[2]}.wav", dtype="float32")
    sf.write(dec / f"{ids[2]}.wav", wav[: len(wav) // 2], sr)               # truncated
    wav, sr = sf.read(dec / f"{ids[3]}.wav", dtype="float32")
    sf.write(dec / f"{ids[3]}.wav", np.stack([wav, wav], axis=1), sr)       # stereo
    card = external_card("ext", decoded=str(dec))
    summary = Runner(Suite("e", data, ["ext"], {"reconstruction": {}}), tmp_path / "run", progress=False,
                     cards={"ext": card}).run()
    rows = _tokenizer_rows(tmp_path / "run", "ext")
    errors = {k[1]: r.message for k, r in rows.items() if r.status == "error" and k[2] == "pesq_wb"}
    assert errors.keys() == {ids[0], "not_in_corpus", ids[2], ids[3]}
    assert "no decoded file" in errors[ids[0]]
    assert "extra decoded file" in errors["not_in_corpus"]
    assert "lasts" in errors[ids[2]] and "the reference" in errors[ids[2]]
    assert "2 channel(s), the reference 1" in errors[ids[3]]
    for uid, message in errors.items():
        assert uid in message
    ok = [k for k, r in rows.items() if r.status == "ok" and k[1] is not None and k[2] == "pesq_wb"]
    assert sorted(k[1] for k in ok) == sorted(ids[4:] + [ids[1]])
    agg = rows[("reconstruction", None, "pesq_wb")]
    assert agg.status == "ok" and agg.n == 3 and "3 of 6 utterances failed" in agg.message
    assert summary.exit_code == 1


def test_token_files_of_the_wrong_shape_or_range_are_errors(tmp_path):
    data, corpus = _subset(tmp_path, "mini", 4)
    _export("melrvq-4cb", corpus, tmp_path, tokens=True)
    tok_dir = tmp_path / "melrvq-4cb-tok"
    ids = [u.id for u in corpus.utterances]
    codes = np.load(tok_dir / f"{ids[0]}.npy")
    np.save(tok_dir / f"{ids[0]}.npy", codes[:3])                          # a codebook missing
    np.save(tok_dir / f"{ids[1]}.npy", codes[:, :5])                       # far too few frames
    np.save(tok_dir / f"{ids[2]}.npy", np.load(tok_dir / f"{ids[2]}.npy") + 1000)  # outside the codebooks
    card = external_card("ext", tokens=str(tok_dir), frame_rate=get_card("melrvq-4cb").build().info.frame_rate,
                         codebook_size=256, num_codebooks=4)
    Runner(Suite("e", data, ["ext"], {"tokens": {}}), tmp_path / "run", progress=False, cards={"ext": card}).run()
    rows = _tokenizer_rows(tmp_path / "run", "ext")
    messages = {k[1]: r.message for k, r in rows.items() if r.status == "error" and k[2] == "utilisation"}
    assert messages.keys() == set(ids[:3])
    agg = rows[("tokens", None, "utilisation")]
    assert agg.status == "ok" and agg.n == 1 and "3 utterance(s) could not be processed" in agg.message
    assert "shape (3," in messages[ids[0]] and "[4 codebooks, frames]" in messages[ids[0]]
    assert "has 5 frames" in messages[ids[1]]
    assert "outside [0, 256)" in messages[ids[2]]


def test_benchmarks_that_need_the_model_or_tokens_are_skipped_saying_why(tmp_path):
    data, corpus = _subset(tmp_path, "mini", 2)
    _export("pcm8", corpus, tmp_path)
    card = external_card("ext", decoded=str(tmp_path / "pcm8-dec"), kbps=64)
    benches = {b: {} for b in (*MODEL_SIDE, "tokens", "lm", "invariance")}
    Runner(Suite("e", data, ["ext"], benches), tmp_path / "run", progress=False, cards={"ext": card}).run()
    rows = _tokenizer_rows(tmp_path / "run", "ext")
    assert {k[0] for k in rows} == set(benches)
    for (bench, _, _), rec in rows.items():
        assert rec.status == "skipped"
        why = "known only by its outputs" if bench in MODEL_SIDE else "no token files"
        assert why in rec.message, (bench, rec.message)


def test_identity_is_the_files_content_not_their_place(tmp_path):
    _, corpus = _subset(tmp_path, "mini", 2)
    _export("pcm8", corpus, tmp_path)
    first = external_card("ext", decoded=str(tmp_path / "pcm8-dec")).config_hash
    moved = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "pcm8-dec", moved)
    assert external_card("ext", decoded=str(moved)).config_hash == first
    path = moved / f"{corpus.utterances[0].id}.wav"
    wav, sr = sf.read(path, dtype="float32")
    sf.write(path, 0.5 * wav, sr, subtype="FLOAT")
    assert external_card("ext", decoded=str(moved)).config_hash != first


def test_bitrate_is_declared_or_from_coded_files_or_tokens(tmp_path):
    _, corpus = _subset(tmp_path, "mini", 3)
    _export("pcm8", corpus, tmp_path)
    dec = tmp_path / "pcm8-dec"
    assert ExternalSystem("x", decoded=str(dec), kbps=1.5).info.extras["bitrate"] == 1500.0
    coded = tmp_path / "coded"
    coded.mkdir()
    for u in corpus.utterances:
        (coded / f"{u.id}.bin").write_bytes(b"\0" * 1000)
    seconds = sum(sf.info(str(dec / f"{u.id}.wav")).duration for u in corpus.utterances)
    info = ExternalSystem("x", decoded=str(dec), coded=str(coded)).info
    assert info.extras["bitrate_from"] == "coded files"
    assert info.extras["bitrate"] == pytest.approx(8 * 3000 / seconds)
    info = ExternalSystem("x", tokens=str(dec), frame_rate=50, codebook_size=[1024, 256]).info
    assert (info.extras["bitrate"], info.extras["bitrate_from"]) == (50 * 18, "token files")


def test_wav_scp_and_jsonl_name_the_decoded_files(tmp_path):
    data, corpus = _subset(tmp_path, "mini", 3)
    _export("pcm8", corpus, tmp_path)
    dec = tmp_path / "pcm8-dec"
    (tmp_path / "wav.scp").write_text("".join(f"{u.id} pcm8-dec/{u.id}.wav\n" for u in corpus.utterances))
    (tmp_path / "dec.jsonl").write_text("".join(f'{{"id": "{u.id}", "audio": "pcm8-dec/{u.id}.wav"}}\n' for u in corpus.utterances))
    folder = ExternalSystem("x", decoded=str(dec)).decoded
    assert ExternalSystem("x", decoded=str(tmp_path / "wav.scp")).decoded == folder
    assert ExternalSystem("x", decoded=str(tmp_path / "dec.jsonl")).decoded == folder


def test_dasb_score_command_prints_the_leaderboard_beside_compared_runs(tmp_path, capsys):
    data, corpus = _subset(tmp_path, "mini", 3)
    _export("pcm8", corpus, tmp_path)
    Runner(Suite("b", data, ["pcm8"], {"reconstruction": {}}), tmp_path / "builtin", progress=False).run()
    code = main(["score", "--ref", data, "--decoded", str(tmp_path / "pcm8-dec"), "--name", "mycodec", "--kbps", "1.5",
                 "--benchmarks", "reconstruction,streaming", "--out", str(tmp_path / "mine"),
                 "--compare", str(tmp_path / "builtin"), "--workers", "1"])
    out = capsys.readouterr().out
    assert code == 0
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    assert "external" in rows["mycodec"] and "declared" in rows["mycodec"] and "1.5" in rows["mycodec"]
    assert "skipped" in rows["mycodec"]  # streaming
    pesq = {r.tokenizer: r.value for r in read_records(tmp_path / "mine") + read_records(tmp_path / "builtin")
            if r.metric == "pesq_wb" and r.utterance is None}
    assert pesq["mycodec"] == pytest.approx(pesq["pcm8"], rel=1e-9)
    assert main(["score", "--ref", data, "--decoded", str(tmp_path / "pcm8-dec"), "--name", "pcm8"]) == 2  # a card's name


def test_token_files_in_each_format_read_the_same(tmp_path):
    torch = pytest.importorskip("torch")
    codes = np.arange(12, dtype=np.int32).reshape(2, 6)
    mask = codes % 5 != 0
    np.save(tmp_path / "a.npy", codes)
    np.savez(tmp_path / "b.npz", codes=codes, mask=mask)
    torch.save(torch.from_numpy(codes), tmp_path / "c.pt")
    torch.save({"codes": torch.from_numpy(codes), "mask": torch.from_numpy(mask)}, tmp_path / "d.pt")
    for name, has_mask in (("a.npy", False), ("b.npz", True), ("c.pt", False), ("d.pt", True)):
        got, got_mask = load_codes(tmp_path / name)
        assert np.array_equal(got, codes) and (got_mask is not None) == has_mask, name
        if has_mask:
            assert np.array_equal(got_mask, mask)
    np.save(tmp_path / "e.npy", codes.astype(np.float32))
    with pytest.raises(OutputsError, match="must be integers"):
        ExternalSystem("x", tokens=str(tmp_path), frame_rate=50, codebook_size=16, num_codebooks=2).read_tokens(
            Utterance("e", "e.wav"), 6 / 50)
