"""The leaderboard site, merging, paired comparison, Pareto front and listening examples."""
from __future__ import annotations

import csv
import io
import json
import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from dasb.benchmarks.base import Item
from dasb.cli import main
from dasb.data.corpus import Corpus, Utterance
from dasb.leaderboard import build, record_specs, render
from dasb.leaderboard.compare import compare, sign_flip_p_value
from dasb.leaderboard.html import tok_page, write_site
from dasb.leaderboard.merge import merge_runs
from dasb.leaderboard.plots import Point, pareto_front
from dasb.leaderboard.site import band, site_data
from dasb.leaderboard.table import NOT_MEASURED, headlines
from dasb.specs import MetricSpec, headline_of, spec_table
from dasb.results.listening import example_paths, example_utterances, save_example
from dasb.results.record import Record
from dasb.results.store import TOKENIZERS_FILE, RunStore
from dasb.stats import summarize
from dasb.tokenizers.base import Tokens

EVIL = "<script>alert('x')</script>"
ENV = {"dasb": "0.1.0", "device": "cpu", "python": "3.11.7", "platform": "Linux-test", "packages": {"torch": "2.13.0"}}
UTTS = [f"u{i:02d}" for i in range(12)]
# tokenizer -> (kind, nominal bps, mean pesq_wb, mean mel_distance); pesq_wb of "broken" is an error record.
FIXTURE = {
    "alpha": ("acoustic", 1000, 2.0, 1.5),
    "beta": ("acoustic", 4000, 3.0, 1.0),
    "gamma": ("acoustic", 3000, 2.5, 0.9),
    EVIL: ("semantic", 500, 1.5, 2.0),
    "broken": ("classic", 64000, None, 0.5),
}


def _rec(tok: str, metric: str, value: float | None, utt: str | None = None, **kw) -> Record:
    higher = {"pesq_wb": True, "mel_distance": False, "delay_ms": None}[metric]
    status = "ok" if value is not None else "error"
    return Record(tok, "h-" + tok[:3], "reconstruction", "bh", "mini", "dh", metric, value, status=status,
                  message=kw.pop("message", None if value is not None else "PesqError: <boom> & failed"),
                  utterance=utt, higher_is_better=higher, run_id="run1", created_at="2026-01-01T00:00:00+00:00", **kw)


def _records(seed: int = 0) -> list[Record]:
    rng = np.random.default_rng(seed)
    out = []
    for tok, (_, _, pesq, mel) in FIXTURE.items():
        for metric, mean in (("pesq_wb", pesq), ("mel_distance", mel), ("delay_ms", 0.0)):
            if mean is None:
                out += [_rec(tok, metric, None, u) for u in UTTS] + [_rec(tok, metric, None)]
                continue
            values = mean + 0.05 * rng.standard_normal(len(UTTS)) if metric != "delay_ms" else np.zeros(len(UTTS))
            out += [_rec(tok, metric, float(v), u) for u, v in zip(UTTS, values)]
            s = summarize(list(values))
            out.append(_rec(tok, metric, s.mean, stderr=s.stderr, ci_low=s.ci_low, ci_high=s.ci_high, n=s.n))
    out.append(Record("gamma", "h-gam", "streaming", "sh", "mini", "dh", "agreement", None, status="skipped",
                      message="streaming needs a causal tokenizer", higher_is_better=True, run_id="run1",
                      created_at="2026-01-01T00:00:00+00:00"))
    return out


def _meta() -> dict[str, dict]:
    return {
        tok: {"kind": kind, "nominal_bitrate": bps, "frame_rate": 50.0, "num_codebooks": 2, "config_hash": "h-" + tok[:3],
              "card": {"name": tok, "adapter": "x", "license": "<b>MIT</b>", "paper": "javascript:alert(1)",
                       "checkpoint": "org/model", "revision": "abc123", "params": {}}}
        for tok, (kind, bps, _, _) in FIXTURE.items()
    }


def _run_dir(path: Path, records: list[Record] | None = None) -> Path:
    store = RunStore(path)
    store.append(records if records is not None else _records())
    store.add_invocation("run1", "2026-01-01T00:00:00+00:00", ENV)
    (path / TOKENIZERS_FILE).write_text(json.dumps(_meta()))
    return path


@pytest.fixture
def site(tmp_path: Path) -> Path:
    run = _run_dir(tmp_path / "run")
    for tok in ("alpha", "beta"):  # listening examples as the runner writes them
        ref, dec = example_paths(run, tok, "u00")
        for p in (ref, dec):
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(p), np.zeros(1600, dtype=np.float32), 16000, format="FLAC")
    return write_site(merge_runs([run]), tmp_path / "site").parent


def test_site_pages_show_values_intervals_errors_and_cards(site: Path) -> None:
    index = (site / "index.html").read_text()
    assert "pesq_wb ↑" in index and "gamma" in index and "beta" in index
    # headline only on the overview; every metric (with direction) on the benchmark page
    overview = index.split('<table class="lb">')[1].split("</table>")[0]
    assert "pesq_wb" in overview and "mel_distance" not in overview
    bench = (site / "bench-reconstruction.html").read_text()
    assert "mel_distance ↓" in bench and "delay_ms" in bench
    # error cell: status text, message escaped in the title attribute, never a number
    assert 'class="error" data-v="" title="PesqError: &lt;boom&gt; &amp; failed">error</td>' in index
    assert "nan" not in overview.lower()
    assert 'class="skipped" data-v="" title="streaming needs a causal tokenizer">skipped</td>' in overview
    # 95% interval on hover (overview) and as small text (benchmark page)
    assert re.search(r'title="mean \d\.\d+, 95% CI \[\d\.\d+, \d\.\d+\], n = 12"', index)
    assert re.search(r"<small>\[\d\.\d+, \d\.\d+\]</small>", bench)
    # best in band on pesq_wb: low band (alpha 1 kbps ~2.0 vs EVIL 0.5 kbps ~1.5) -> alpha;
    # medium band (gamma 3 kbps ~2.5 vs beta 4 kbps ~3.0) -> beta; high band: broken is an error
    best = sorted(float(v) for v in re.findall(r'<td class="best" data-v="([^"]+)"', overview))
    assert best == [pytest.approx(2.0, abs=0.1), pytest.approx(3.0, abs=0.1)]
    # per-tokenizer page: card, environment, paired comparison with the next-better tokenizer
    tok = (site / "tok-gamma.html").read_text()
    assert "org/model" in tok and "abc123" in tok and "&lt;b&gt;MIT&lt;/b&gt;" in tok
    assert "Linux-test" in tok and "run1" in tok
    assert "gamma" in tok and "beta is significantly better" in tok
    assert 'href="javascript' not in tok  # a non-http paper field is not made a link
    listen = (site / "listen.html").read_text()
    assert listen.count("<audio") == 3 and (site / "audio/decoded/alpha/u00.flac").exists()
    assert (site / "plots/reconstruction__pesq_wb.png").stat().st_size > 1000
    assert (site / "leaderboard.csv").exists() and (site / "leaderboard.md").exists()


def test_script_in_a_name_is_text(site: Path) -> None:
    for page in site.glob("*.html"):
        text = page.read_text()
        assert EVIL not in text, page.name
        assert text.count("<script") == 1 and text.count("</script>") == 1, page.name
    index = (site / "index.html").read_text()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in index
    page = site / tok_page(EVIL)
    assert page.exists() and re.fullmatch(r"tok-[A-Za-z0-9._-]+\.html", page.name)


def test_exports_are_inert_in_spreadsheets_and_markdown(tmp_path: Path) -> None:
    formula = "=HYPERLINK(\"http://x\",\"y\")"
    recs = [r for r in _records() if r.tokenizer in ("alpha", EVIL)]
    for r in recs:
        if r.tokenizer == "alpha":
            r.tokenizer = formula
        if r.metric == "delay_ms" and r.value is not None:
            r.value = -0.25  # a real negative number stays a number
    meta = _meta()
    meta[formula] = meta.pop("alpha")
    table = build(recs, meta)
    specs = record_specs(recs)
    rows = list(csv.DictReader(io.StringIO(render(table, "csv", specs))))
    names = {row["tokenizer"] for row in rows}
    assert names == {"'" + formula, EVIL}
    assert all(not v.startswith(("=", "+", "@")) for row in rows for v in row.values())
    assert {row["reconstruction/delay_ms"] for row in rows} == {"-0.25"}
    md = render(table, "md", specs)
    assert "<script>" not in md and "&lt;script&gt;" in md


def test_site_never_copies_what_a_symlink_leads_to_outside_the_run(tmp_path: Path) -> None:
    run = _run_dir(tmp_path / "run")
    secret = tmp_path / "secret.flac"
    secret.write_bytes(b"not for publishing")
    ref, dec = example_paths(run, "alpha", "u00")
    dec.parent.mkdir(parents=True)
    ref.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(ref), np.zeros(1600, dtype=np.float32), 16000, format="FLAC")
    dec.symlink_to(secret)
    (ref.parent / "u01.flac").symlink_to("/etc/hostname")
    with pytest.warns(UserWarning, match="outside its run directory"):
        write_site(merge_runs([run]), tmp_path / "site")
    copied = sorted(p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site" / "audio").rglob("*"))
    assert copied == ["audio/reference", "audio/reference/u00.flac"]


def test_pareto_front_hand_checked() -> None:
    pts = [Point("a", 1.0, 2.0), Point("b", 2.0, 3.0), Point("c", 2.0, 2.5), Point("d", 4.0, 2.9),
           Point("e", 8.0, 4.0), Point("f", 0.5, 1.0), Point("g", 8.0, 4.0)]
    # higher is better: c is dominated by b (same rate, worse), d by b (more rate, worse)
    assert [p.name for p in pareto_front(pts, True)] == ["f", "a", "b", "e", "g"]
    # lower is better: only the cheapest-and-lowest point survives
    assert [p.name for p in pareto_front(pts, False)] == ["f"]
    pts2 = [Point("x", 1.0, 0.8), Point("y", 2.0, 0.5), Point("z", 3.0, 0.6), Point("w", 0.5, 0.9)]
    assert [p.name for p in pareto_front(pts2, False)] == ["w", "x", "y"]
    assert pareto_front([], True) == []


def test_bands_and_headlines() -> None:
    assert [band(x) for x in (0.5, 1.5, 6.0, 6.01, None)] == ["low", "medium", "medium", "high", "unknown"]
    flagged = spec_table(MetricSpec("delay_ms", None), MetricSpec("stoi", True), MetricSpec("pesq_wb", True, headline=True))
    assert headline_of(flagged) == "pesq_wb"
    assert headline_of(spec_table(MetricSpec("delay_ms", None), MetricSpec("zeta", False), MetricSpec("beta", True))) == "zeta"
    assert headline_of(spec_table(MetricSpec("delay_ms", None))) == "delay_ms"
    # The leaderboard takes directions and headlines from the registered specs, not from record fields.
    specs = record_specs([Record("a", "h", "reconstruction", "b", "mini", "d", m, 1.0) for m in ("stoi", "pesq_wb")])
    assert headlines(specs) == {"reconstruction": "pesq_wb"} and specs["reconstruction"]["stoi"].arrow == "↑"


def test_measured_bitrate_replaces_nominal() -> None:
    recs = _records() + [Record("alpha", "h-alp", "tokens", "t", "mini", "dh", "bitrate_bps", 850.0, run_id="r")]
    table = build(recs, _meta()).set_index("tokenizer")
    assert table.loc["alpha", "kbps"] == pytest.approx(0.85) and table.loc["alpha", "kbps_from"] == "measured"
    assert table.loc["beta", "kbps"] == pytest.approx(4.0) and table.loc["beta", "kbps_from"] == "nominal"
    md = render(build(recs, _meta()), "md", record_specs(recs))
    assert "measured" in md and "## Overview" in md


def test_variable_rate_tokenizers_are_banded_by_measured_bitrate_only(tmp_path: Path) -> None:
    """A variable-rate nominal bitrate is a capacity (opus-6k: 18 kbps of packet cap for ~6 kbps of packets)."""
    meta = _meta()
    meta["broken"]["variable_rate"] = True  # nominal 64 kbps: "high" if the capacity were taken as its rate
    table = build(_records(), meta).set_index("tokenizer")
    assert pd.isna(table.loc["broken", "kbps"]) and table.loc["broken", "kbps_from"] == NOT_MEASURED
    assert band(site_data(merge_runs([_run_dir(tmp_path / "r")])).kbps("broken")) == "high"  # fixture meta: fixed rate
    (tmp_path / "r" / TOKENIZERS_FILE).write_text(json.dumps(meta))
    assert band(site_data(merge_runs([tmp_path / "r"])).kbps("broken")) == "unknown"
    write_site(merge_runs([tmp_path / "r"]), tmp_path / "site")
    assert NOT_MEASURED in (tmp_path / "site" / tok_page("broken")).read_text()
    measured = Record("broken", "h-bro", "tokens", "t", "mini", "dh", "bitrate_bps", 5800.0, run_id="r")
    table = build(_records() + [measured], meta).set_index("tokenizer")
    assert table.loc["broken", "kbps"] == pytest.approx(5.8) and table.loc["broken", "kbps_from"] == "measured"
    assert band(5.8) == "medium"


def test_conflicting_runs_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = _run_dir(tmp_path / "a")
    noise = _records()
    for r in noise:  # floating-point noise from another machine is not a conflict
        r.value = None if r.value is None else r.value * (1 + 1e-14)
    same = _run_dir(tmp_path / "same", noise)
    assert merge_runs([a, same]).warnings == []
    changed = _records(seed=1)
    for r in changed:
        r.created_at = "2026-02-01T00:00:00+00:00"
    b = _run_dir(tmp_path / "b", changed)
    merged = merge_runs([a, b])
    assert any("conflict: alpha / reconstruction / mini / utterance u00 / pesq_wb" in w for w in merged.warnings)
    newest = {r.key: r for r in changed}
    assert all(r.value == newest[r.key].value for r in merged.records)  # the newer run is shown
    assert main(["leaderboard", str(a), str(b), "--format", "html", "--out", str(tmp_path / "site")]) == 0
    assert "conflict:" in capsys.readouterr().err
    assert "conflict: alpha" in (tmp_path / "site/index.html").read_text()


def test_sign_flip_exact_and_paired_compare(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # all 8 sign vectors of (1, 2, 3): only (+,+,+) and (-,-,-) reach |mean| >= 2
    assert sign_flip_p_value(np.array([1.0, 2.0, 3.0])) == pytest.approx(2 / 8)
    assert sign_flip_p_value(np.zeros(5)) == 1.0
    big = np.random.default_rng(0).standard_normal(40)
    assert 0.05 < sign_flip_p_value(big) <= 1.0  # no true difference
    assert sign_flip_p_value(big + 1.0) < 0.001
    recs = _records()
    c = compare(recs, "gamma", "beta", "reconstruction", "pesq_wb")
    assert c.n == 12 and c.diff == pytest.approx(c.mean_a - c.mean_b) and c.better == "beta"
    assert c.ci_low < c.diff < c.ci_high < 0
    c = compare(recs, "gamma", "beta", "reconstruction", "mel_distance")
    assert c.better == "gamma"  # lower is better
    with pytest.raises(ValueError, match="no utterance"):
        compare(recs, "gamma", "broken", "reconstruction", "pesq_wb")
    run = _run_dir(tmp_path / "run")
    assert main(["compare", str(run), "gamma", "beta", "--metric", "pesq_wb"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "beta is significantly better" in out and "n = 12" in out


def test_paired_compare_of_a_corpus_ratio_weighs_utterances_by_length() -> None:
    def wer(tok: str, utt: str, rate: float, words: int | None) -> Record:
        return Record(tok, "h", "asr", "bh", "mini", "dh", "wer", rate, utterance=utt, n=words, higher_is_better=False)
    # a: 1/10 and 4/2 edits/words -> corpus 5/12; b: 2/10 and 0/2 -> 2/12 (per-utterance means: 1.05 vs 0.1)
    recs = [wer("a", "u1", 0.1, 10), wer("a", "u2", 2.0, 2), wer("b", "u1", 0.2, 10), wer("b", "u2", 0.0, 2)]
    c = compare(recs, "a", "b", "asr", "wer")
    assert (c.mean_a, c.mean_b, c.diff) == (pytest.approx(5 / 12), pytest.approx(2 / 12), pytest.approx(3 / 12))
    assert c.p_value == pytest.approx(sign_flip_p_value(np.array([-1.0, 4.0])))  # on the edit differences
    old = [Record(**{**r.__dict__, "n": None}) for r in recs]
    with pytest.raises(ValueError, match="no equal reference lengths"):
        compare(old, "a", "b", "asr", "wer")


def test_listening_examples_are_small_flac(tmp_path: Path) -> None:
    utts = [Utterance(f"{s}{i}", "x.flac", speaker=s) for s in ("a", "b") for i in range(3)]
    corpus = Corpus("c", utts)
    assert example_utterances(corpus, 3) == ["a0", "b0", "a1"]
    ref = np.sin(np.linspace(0, 900, 48000)).astype(np.float32) * 0.5
    tokens = Tokens(torch.zeros(1, 1, 10, dtype=torch.int64), torch.tensor([10]))
    item = Item(utts[2], ref, 48000, tokens, ref * 1.5)  # decoded overshoots [-1, 1]
    save_example(tmp_path, "tok/1", item, corpus)
    assert not (tmp_path / "audio").exists()  # a2 is not an example
    item = Item(utts[3], ref, 48000, tokens, ref * 1.5)
    save_example(tmp_path, "tok/1", item, corpus)
    ref_path, dec_path = example_paths(tmp_path, "tok/1", "b0")
    info = sf.info(str(dec_path))
    assert (info.samplerate, info.channels, info.format, info.frames) == (16000, 1, "FLAC", 16000)
    assert dec_path.parent.name.startswith("tok_1-") and ref_path.exists()


def test_runner_saves_listening_examples(tmp_path: Path) -> None:
    from dasb.data.corpus import load_corpus
    from dasb.runner import Runner
    from dasb.suites import Suite

    suite = Suite("t", "mini", ["pcm4"], {"reconstruction": {"max_utterances": 1, "metrics": ["si_sdr"]}})
    assert Runner(suite, tmp_path, progress=False).run().exit_code == 0
    first = load_corpus("mini").utterances[0]
    ref_path, dec_path = example_paths(tmp_path, "pcm4", first.id)
    ref, sr = sf.read(str(ref_path))
    dec, _ = sf.read(str(dec_path))
    assert sr == 16000 and len(ref) == len(dec) and 0 < np.abs(dec - ref).max() < 0.2  # 4-bit PCM, audibly coarse


# ---- end to end in headless Chromium ---------------------------------------------------------------
def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_site_in_headless_chromium(site: Path, tmp_path: Path) -> None:
    from chromium_pipe import Browser, find_chromium

    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (bash scripts/setup.sh test installs it when run as root)")
    with Browser(binary) as b:
        b.send("Network.enable", session=True)
        b.navigate((site / "index.html").as_uri())
        assert b.evaluate("document.body.dataset.ready") == "1"
        names = "Array.from(document.querySelectorAll('table.lb tbody tr:not([hidden]) td:first-child')).map(t => t.textContent)"
        assert len(b.evaluate(names)) == len(FIXTURE)
        b.click("table.lb th:nth-child(6)")  # pesq_wb: ascending, the error cell last
        assert b.evaluate(names) == [EVIL, "alpha", "gamma", "beta", "broken"]
        b.click("table.lb th:nth-child(6)")
        assert b.evaluate(names) == ["beta", "gamma", "alpha", EVIL, "broken"]
        b.evaluate("(() => { const s = document.getElementById('f-kind'); s.value = 'acoustic';"
                   " s.dispatchEvent(new Event('input')); })()")
        assert b.evaluate(names) == ["beta", "gamma", "alpha"]
        shot = b.screenshot(tmp_path / "site.png")
        assert _png_size(shot) == (1280, 900)
        for page in ("bench-reconstruction.html", "tok-gamma.html", "listen.html"):
            b.navigate((site / page).as_uri())
            assert b.evaluate("document.body.dataset.ready") == "1", page
        # the copied FLAC example plays: its metadata loads and says 0.1 s
        duration = b.evaluate(
            "new Promise((ok, fail) => { const a = document.querySelector('audio');"
            " a.onloadedmetadata = () => ok(a.duration); a.onerror = () => fail(String(a.error && a.error.code));"
            " a.preload = 'metadata'; a.load(); })", await_promise=True)
        assert duration == pytest.approx(0.1, abs=0.01)
        assert b.script_errors() == []
        # no request to any host (data: URLs are the media controls' own icons)
        assert [u for u in b.requests() if not u.startswith(("file://", "data:"))] == []


def test_ground_truth_row_is_no_contender_for_best_in_band(tmp_path: Path) -> None:
    from dasb.leaderboard.site import site_data
    from dasb.results.record import GROUND_TRUTH

    best_ever = _rec(GROUND_TRUTH, "pesq_wb", 4.9, n=12)  # original audio: no bitrate, no band
    data = site_data(merge_runs([_run_dir(tmp_path / "run", _records() + [best_ever])]))
    assert (GROUND_TRUTH, "reconstruction", "pesq_wb") not in data.best
    assert ("beta", "reconstruction", "pesq_wb") in data.best
