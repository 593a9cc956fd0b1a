"""The leaderboard as a static site: ``dasb leaderboard RUN_DIR... --format html --out DIR``.

Pages: ``index.html`` (overview: headline metric per benchmark, filters, plots),
``bench-<name>.html`` (all metrics of one benchmark), ``tok-<name>.html`` (card,
results with intervals, paired comparison, environment) and ``listen.html``.
CSS and JavaScript are copied once from ``static/`` next to the pages and linked
relatively: the site works from file:// and requests nothing from any host. Every user-controlled string (names, messages,
card fields, paths) goes through :func:`html.escape`; no data is embedded in
``<script>`` (the script reads ``data-*`` attributes of the escaped table).
"""
from __future__ import annotations

import shutil

import html
import json
from pathlib import Path
from urllib.parse import quote

from dasb.leaderboard.compare import Comparison
from dasb.leaderboard.figures import Figure, Figures, Listening, copy_listening, draw_plots
from dasb.leaderboard.merge import Merged
from dasb.leaderboard.site import BANDS, SiteData, band, site_data
from dasb.leaderboard.table import UNFIT_MARK, _fmt, render
from dasb.specs import AGGREGATIONS
from dasb.results.listening import safe_name

STATIC = Path(__file__).with_name("static")


def esc(value: object) -> str:
    """Escape any value for HTML text and attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


def tok_page(name: str) -> str:
    return f"tok-{safe_name(name)}.html"


def bench_page(name: str) -> str:
    return f"bench-{safe_name(name)}.html"


def _href(path: str) -> str:
    return esc(quote(path))


def _page(data: SiteData, title: str, body: str) -> str:
    nav = ['<a class="brand" href="index.html">dasb leaderboard</a>']
    nav += [f'<a href="{_href(bench_page(b))}">{esc(b)}</a>' for b in data.metrics]
    nav += ['<a href="listen.html">listen</a>', '<a href="leaderboard.csv">csv</a>', '<a href="leaderboard.md">md</a>']
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{esc(title)}</title><link rel="stylesheet" href="site.css"></head>\n'
        f"<body><header>{' '.join(nav)}</header>\n"
        f'<main>\n{body}\n</main>\n<script src="site.js"></script></body></html>\n'
    )


# ---- tables ---------------------------------------------------------------------------------------
def _metric_cell(data: SiteData, tok: str, bench: str, metric: str, show_ci: bool) -> str:
    rec = data.cells.get((tok, bench, metric))
    if rec is None:
        return '<td class="missing" data-v="" title="not measured">–</td>'
    if rec.status != "ok":
        return f'<td class="{esc(rec.status)}" data-v="" title="{esc(rec.message)}">{esc(rec.status)}</td>'
    classes = ["best"] if (tok, bench, metric) in data.best else []
    if rec.ci_low is not None and rec.ci_high is not None:
        ci = f"[{_fmt(rec.ci_low)}, {_fmt(rec.ci_high)}]"
        title = f"mean {_fmt(rec.value)}, 95% CI {ci}, n = {rec.n}"
    else:
        ci, title = "", f"mean {_fmt(rec.value)}, n = {rec.n} (no interval)"
    if rec.message:
        classes.append("note")
        title += f". Note: {rec.message}"
    small = f"<small>{esc(ci)}</small>" if show_ci and ci else ""
    return f'<td class="{" ".join(classes)}" data-v="{rec.value!r}" title="{esc(title)}">{esc(_fmt(rec.value))}{small}</td>'


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _num_cell(value: object, extra: str = "") -> str:
    missing = _missing(value)
    return f'<td data-v="{"" if missing else esc(value)}">{"–" if missing else esc(_fmt(value))}{extra}</td>'


def _band_title(kbps: float | None, row: dict) -> str:
    """The band's name, and why there is none when the bitrate was not measured."""
    return f"{band(kbps)} bitrate band" + (f": {row['kbps_from']}" if _missing(kbps) and row["kbps_from"] else "")


def _table(data: SiteData, columns: list[tuple[str, str]], show_ci: bool, group_header: bool) -> str:
    head = [
        '<th class="text" data-type="text">tokenizer</th>', '<th class="text" data-type="text">kind</th>',
        '<th data-type="num" title="measured bitrate when recorded (marked m), else nominal">kbps</th>',
        '<th data-type="num">frame Hz</th>', '<th data-type="num">codebooks</th>',
    ]
    for bench, metric in columns:
        spec = data.metrics[bench][metric]
        label = f"{esc(bench)}<br>{esc(metric)}" if group_header else esc(metric)
        what = "; ".join(x for x in (spec.direction, spec.unit, spec.range, AGGREGATIONS[spec.aggregation], spec.description) if x)
        why = data.unfit.get(f"{bench}/{metric}")
        mark = f' <span class="unfit" title="{esc(why)}">{UNFIT_MARK}</span>' if why else ""
        head.append(f'<th data-type="num" title="{esc(f"{bench}/{metric}: {what}")}">{label} {spec.arrow}{mark}</th>')
    rows = []
    for tok in data.tokenizers:
        row = data.row(tok)
        kbps = data.kbps(tok)
        # Measured by the tokens benchmark (m); an external system's declared (d) or coded-file (f) bitrate.
        source = {"measured": ("m", "measured (tokens/bitrate_bps)"), "declared": ("d", "declared by the system's authors"),
                  "coded files": ("f", "from the sizes of the coded files")}.get(row["kbps_from"])
        mark = f' <span class="measured" title="{esc(source[1])}">{source[0]}</span>' if source else ""
        if row["decoder_inputs"]:
            given = f"the decoder is also given: {row['decoder_inputs']} (not counted in the bitrate)"
            mark += f' <span class="measured" title="{esc(given)}">+</span>'

        cells = [
            f'<td class="text band-{band(kbps)}" title="{esc(_band_title(kbps, row))}">'
            f'<a href="{_href(tok_page(tok))}">{esc(tok)}</a></td>',
            f'<td class="text">{esc(row["kind"])}</td>',
            _num_cell(kbps, mark), _num_cell(row["frame_hz"]), _num_cell(row["codebooks"]),
        ]
        cells += [_metric_cell(data, tok, b, m, show_ci) for b, m in columns]
        rows.append(f'<tr data-kind="{esc(row["kind"])}" data-kbps="{"" if kbps is None else kbps!r}">{"".join(cells)}</tr>')
    return (
        '<div class="scroll"><table class="lb"><thead><tr>' + "".join(head) + "</tr></thead>\n<tbody>\n"
        + "\n".join(rows) + "\n</tbody></table></div>"
    )


def _filters(data: SiteData) -> str:
    kinds = sorted({str(k) for k in data.table["kind"]})
    options = "".join(f'<option value="{esc(k)}">{esc(k)}</option>' for k in kinds)
    return (
        '<div class="filters"><label>kind <select id="f-kind"><option value="">all</option>' + options + "</select></label>"
        '<label>kbps from <input id="f-min" type="number" min="0" step="any"></label>'
        '<label>to <input id="f-max" type="number" min="0" step="any"></label>'
        '<span id="f-count" class="muted"></span></div>'
    )


def _legend() -> str:
    def limits(lo: float, hi: float) -> str:
        if lo == 0:
            return f"&lt; {hi:g}"
        return f"&gt; {lo:g}" if hi == float("inf") else f"{lo:g}–{hi:g}"

    bands = "".join(f'<span class="band-{n}">&nbsp;{n} {limits(lo, hi)} kbps</span>' for n, lo, hi in BANDS)
    return (
        f'<p class="legend muted">Bitrate bands: {bands}<span class="best">&nbsp;best in band&nbsp;</span>'
        '<span class="measured">m</span> measured bitrate. '
        "Hover a cell for its 95% interval and n († = a note, e.g. some utterances failed); "
        "<b>error</b> and <b>skipped</b> cells show their message on hover. Click a column header to sort.</p>"
    )


def _figures(figs: list[Figure]) -> str:
    if not figs:
        return ""
    items = "".join(
        f'<figure><img src="{_href(f.src)}" alt="{esc(f.caption)}"><figcaption>{esc(f.caption)}</figcaption></figure>'
        for f in figs
    )
    return f'<div class="plots">{items}</div>'


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _unfit(data: SiteData, columns: list[tuple[str, str]]) -> str:
    """A warning per shown column whose judge failed its fitness controls, with the figures."""
    found = [(c, data.unfit[c]) for b, m in columns if (c := f"{b}/{m}") in data.unfit]
    items = "".join(f"<li><b>{esc(c)}</b>: {esc(why)}</li>" for c, why in found)
    return f'<div class="warnings"><b>{UNFIT_MARK} judges that failed their controls</b><ul>{items}</ul></div>' if found else ""


# ---- pages ----------------------------------------------------------------------------------------
def _index(data: SiteData, figs: Figures) -> str:
    merged = data.merged
    datasets = sorted({r.dataset for r in merged.records})
    parts = [
        "<h1>Discrete audio tokenizer leaderboard</h1>",
        f'<p class="muted">{_count(len(data.tokenizers), "tokenizer")}, {_count(len(data.metrics), "benchmark")}, '
        f"dataset(s): {esc(', '.join(datasets))}; from {len(merged.run_dirs)} run "
        f"{'directory' if len(merged.run_dirs) == 1 else 'directories'}: {esc(', '.join(str(d) for d in merged.run_dirs))}.</p>",
    ]
    if merged.warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in merged.warnings)
        parts.append(f'<div class="warnings"><b>{len(merged.warnings)} warning(s) while merging runs</b><ul>{items}</ul></div>')
    columns = [(b, data.headlines[b]) for b in data.metrics]
    parts += [
        "<h2>Overview: the headline metric of each benchmark</h2>", _filters(data), _legend(),
        _table(data, columns, show_ci=False, group_header=True), _unfit(data, columns),
        "<h2>Quality against bitrate</h2>",
        _figures([figs.by_metric[c] for c in columns if c in figs.by_metric] + figs.extra),
    ]
    parts += [f'<p class="muted">{esc(n)}</p>' for n in figs.notes]
    parts.append(
        "<h2>How to read this</h2><ul>"
        "<li><b>Headline metric</b> of a benchmark: "
        + esc(", ".join(f"{b} → {m}" for b, m in data.headlines.items()))
        + ". All metrics are on the benchmark pages.</li>"
        "<li><b>Values</b> aggregate utterances as each column's title says (most are means over utterances); "
        "the 95% interval is a percentile bootstrap over utterances.</li>"
        "<li><b>Best in band</b> marks the best mean among tokenizers of the same bitrate band; overlapping intervals "
        "mean the ranking may not be significant — each tokenizer page has a paired test against its neighbour.</li>"
        "<li><b>Bitrate</b> is measured from the tokens (tokens/bitrate_bps) when that benchmark ran, else nominal "
        "(frame rate × Σ log2 codebook size); a variable-rate tokenizer's nominal rate is only a capacity, so "
        "without the measurement it has no bitrate and no band.</li></ul>"
    )
    return _page(data, "dasb leaderboard", "\n".join(parts))


def _bench(data: SiteData, bench: str, figs: Figures) -> str:
    columns = [(bench, m) for m in data.metrics[bench]]
    return _page(data, f"dasb: {bench}", "\n".join([
        f"<h1>{esc(bench)}</h1>",
        f'<p class="muted">Headline metric: {esc(data.headlines[bench])}. Small text: 95% bootstrap interval.</p>',
        _filters(data), _legend(), _table(data, columns, show_ci=True, group_header=False), _unfit(data, columns),
        _figures([figs.by_metric[c] for c in columns if c in figs.by_metric]),
    ]))


def _card(data: SiteData, tok: str) -> str:
    meta = data.merged.meta.get(tok, {})
    card = meta.get("card", {})
    fields: list[tuple[str, object]] = [(k, card.get(k)) for k in ("description", "adapter", "checkpoint", "revision", "license")]
    paper = card.get("paper")
    if isinstance(paper, str) and paper.startswith(("https://", "http://")):
        paper_html = f'<a href="{esc(paper)}">{esc(paper)}</a>'
    else:
        paper_html = esc(paper if paper is not None else "–")
    fields += [("params", json.dumps(card.get("params", {}), sort_keys=True))]
    fields += [(k, meta.get(k)) for k in ("kind", "sample_rate", "num_codebooks", "codebook_sizes", "frame_rate",
                                           "nominal_bitrate", "variable_rate", "causal", "decodes", "decode_inputs",
                                           "config_hash")]
    row = data.row(tok)
    if row["kbps_from"] and not _missing(row["kbps"]):
        fields.append(("bitrate shown", f"{_fmt(row['kbps'])} kbps ({row['kbps_from']})"))
    else:
        fields.append(("bitrate shown", row["kbps_from"]))
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc('–' if v is None else v)}</dd>" for k, v in fields)
    return f'<dl class="card"><dt>paper</dt><dd>{paper_html}</dd>{items}</dl>'


def _comparison(c: Comparison | str) -> str:
    if isinstance(c, str):
        return f'<span class="muted">{esc(c)}</span>'
    cls = ' class="sig"' if c.significant else ""
    return f'<span{cls}>{esc(c.summary())}</span>'


def _tokenizer(data: SiteData, tok: str) -> str:
    results = []
    for bench, metrics in data.metrics.items():
        for metric, spec in metrics.items():
            rec = data.cells.get((tok, bench, metric))
            if rec is None:
                continue
            ci = f"[{_fmt(rec.ci_low)}, {_fmt(rec.ci_high)}]" if rec.ci_low is not None else "–"
            shown = _fmt(rec.value) if rec.status == "ok" else rec.status
            cls = "" if rec.status == "ok" else f' class="{esc(rec.status)}"'
            results.append(
                f'<tr><td class="text">{esc(bench)}</td><td class="text">{esc(metric)} {spec.arrow}</td>'
                f"<td{cls}>{esc(shown)}</td><td>{esc(ci)}</td><td>{esc(rec.n)}</td>"
                f'<td class="text">{esc(rec.message or "")}</td></tr>'
            )
    comps = "".join(
        f"<li>{_comparison(data.neighbour_comparison(tok, b))}</li>" for b in data.metrics
    )
    envs = []
    for env, runs in data.environments(tok):
        rows = {k: v for k, v in env.items() if k != "packages"}
        rows.update({f"package {k}": v for k, v in (env.get("packages") or {}).items()})
        rows["run ids"] = ", ".join(runs)
        envs.append('<dl class="card">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows.items()) + "</dl>")
    body = [
        f"<h1>{esc(tok)}</h1>", "<h2>Card</h2>", _card(data, tok),
        "<h2>Results</h2>",
        '<table><thead><tr><th class="text">benchmark</th><th class="text">metric</th><th>mean</th>'
        '<th>95% CI</th><th>n</th><th class="text">message</th></tr></thead><tbody>' + "".join(results) + "</tbody></table>",
        "<h2>Paired comparison with the next-better tokenizer</h2>",
        '<p class="muted">On each benchmark\'s headline metric, against the tokenizer ranked just above this one '
        "(the runner-up, for the best): per-utterance differences on the same utterances, bootstrap 95% interval of "
        "the mean difference, two-sided sign-flip permutation test; bold = p &lt; 0.05.</p>",
        f"<ul>{comps}</ul>",
        f"<h2>Environment{'s' if len(envs) > 1 else ''} the numbers came from</h2>", "".join(envs),
    ]
    return _page(data, f"dasb: {tok}", "\n".join(body))


def _listen(data: SiteData, ex: Listening) -> str:
    if not ex.utterances:
        body = '<h1>Listening examples</h1><p class="muted">No listening examples in these run directories.</p>'
        return _page(data, "dasb: listen", body)

    def audio(src: str | None) -> str:
        return f'<td><audio controls preload="none" src="{_href(src)}"></audio></td>' if src else "<td>–</td>"

    head = "".join(f'<th class="text">{esc(u)}</th>' for u in ex.utterances)
    rows = ['<tr><td class="text"><b>original</b></td>' + "".join(audio(ex.reference.get(u)) for u in ex.utterances) + "</tr>"]
    for tok in data.tokenizers:
        files = ex.decoded.get(tok, {})
        if files:
            rows.append(f'<tr><td class="text"><a href="{_href(tok_page(tok))}">{esc(tok)}</a></td>'
                        + "".join(audio(files.get(u)) for u in ex.utterances) + "</tr>")
    body = (
        '<h1>Listening examples</h1><p class="muted">Original and decoded audio (mono, at most 16 kHz, 16-bit FLAC, '
        'clipped to [-1, 1] for the file; never used for scoring).</p><div class="scroll"><table>'
        f'<thead><tr><th class="text">tokenizer</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
    )
    return _page(data, "dasb: listen", body)


def write_site(merged: Merged, out: str | Path) -> Path:
    """Write the site into ``out`` (created if needed); returns the path of ``index.html``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = site_data(merged)
    figs = draw_plots(data, out)
    pages = {"index.html": _index(data, figs), "listen.html": _listen(data, copy_listening(data, out))}
    pages.update({bench_page(b): _bench(data, b, figs) for b in data.metrics})
    pages.update({tok_page(t): _tokenizer(data, t) for t in data.tokenizers})
    for name, text in pages.items():
        (out / name).write_text(text, encoding="utf-8")
    for asset in ("site.css", "site.js"):
        shutil.copyfile(STATIC / asset, out / asset)
    (out / "leaderboard.md").write_text(render(data.table, "md", data.metrics, data.unfit), encoding="utf-8")
    (out / "leaderboard.csv").write_text(render(data.table, "csv", data.metrics), encoding="utf-8")
    return out / "index.html"
