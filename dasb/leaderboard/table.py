"""Build the leaderboard table from records, and render it.

One row per tokenizer: kind, bitrate, frame rate and codebooks from the
tokenizer metadata stored beside the records, then one column
``benchmark/metric`` per aggregate metric. Directions, units and headlines come
from the metric specs (:mod:`dasb.specs`), never from column names. A cell whose
record is an error or was skipped shows that status, never a number.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd

from dasb.leaderboard.merge import merge_runs
from dasb.results.record import GROUND_TRUTH, Record
from dasb.specs import CONTROLS, MetricSpec, headline_of, registered_spec

# decoder_inputs: what the decoder was given besides the tokens (transcript, speaker prompt); not in kbps.
META_COLUMNS = ["tokenizer", "kind", "kbps", "kbps_from", "decoder_inputs", "frame_hz", "codebooks"]
# An aggregate record of this (benchmark, metric), in bits/s, replaces the nominal bitrate:
# measured beats declared (variable-rate tokenizers, container overhead).
MEASURED_BITRATE = ("tokens", "bitrate_bps")
# A variable-rate tokenizer's nominal bitrate is only its capacity (Opus: the packet cap), so without a
# measurement it has no bitrate (and no band) rather than a misleading one.
NOT_MEASURED = "not measured (variable rate; run the tokens benchmark)"
Specs = dict[str, dict[str, MetricSpec]]
UNFIT_MARK = "⚠"


def natural_key(name: str) -> list:
    """Sort key that orders embedded numbers by value (``pesq_wb_k2`` before ``pesq_wb_k16``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def record_specs(records: list[Record], stored: Specs | None = None) -> Specs:
    """The spec of every (benchmark, metric) with an aggregate record, benchmarks and metrics in display order.

    From the specs the run stored (``config.json``), else the registered benchmark's, else (a plugin not
    installed here) the direction the record carries.
    """
    found: dict[str, dict[str, MetricSpec]] = {}
    for r in records:
        if r.utterance is None and r.metric not in found.get(r.benchmark, {}):
            known = (stored or {}).get(r.benchmark, {}).get(r.metric) or registered_spec(r.benchmark, r.metric)
            found.setdefault(r.benchmark, {})[r.metric] = known or MetricSpec(r.metric, r.higher_is_better)
    # reconstruction first (the quality axis of most plots), then alphabetical
    order = sorted(found, key=lambda b: (b != "reconstruction", b))
    return {b: {m: found[b][m] for m in sorted(found[b], key=natural_key)} for b in order}


def headlines(specs: Specs) -> dict[str, str]:
    """The headline metric of each benchmark among its recorded metrics."""
    return {b: headline_of(ms) for b, ms in specs.items()}


def overview(table: pd.DataFrame, specs: Specs, unfit: dict[str, str] | None = None) -> pd.DataFrame:
    """The tokenizer columns and one headline metric per benchmark (what a terminal can show); columns
    whose judge is ``unfit`` (:func:`dasb.fitness.unfit_columns`) are marked."""
    chosen = [f"{b}/{m}" for b, m in headlines(specs).items()]
    return _labelled(table[_meta(table) + chosen], specs, unfit)


def per_benchmark(table: pd.DataFrame, specs: Specs, unfit: dict[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """One table per benchmark: the tokenizer columns and every metric of it."""
    return {b: _labelled(table[_meta(table) + [f"{b}/{m}" for m in ms]], specs, unfit) for b, ms in specs.items()}


def unfit_notes(columns: list[str], unfit: dict[str, str] | None) -> str:
    """One Markdown line per shown column whose judge is unfit, with the control figures."""
    return "\n".join(f"{UNFIT_MARK} {_md_text(c)}: {_md_text(unfit[c])}  " for c in columns if c in (unfit or {}))


def _meta(table: pd.DataFrame) -> list[str]:
    # Decoder inputs are rare: the column is shown only when some tokenizer had any.
    return [c for c in META_COLUMNS if c != "decoder_inputs" or table[c].notna().any()]


def _labelled(table: pd.DataFrame, specs: Specs, unfit: dict[str, str] | None = None) -> pd.DataFrame:
    """Metric columns renamed to ``benchmark/metric arrow`` for reading (``⚠`` when the judge is unfit)."""
    def label(col: str) -> str:
        bench, _, metric = col.partition("/")
        spec = specs.get(bench, {}).get(metric)
        shown = f"{col} {spec.arrow}".rstrip() if spec else col
        return f"{shown} {UNFIT_MARK}" if col in (unfit or {}) else shown
    return table.rename(columns={c: label(c) for c in table.columns if "/" in c})


def load_runs(run_dirs: list[str | Path]) -> tuple[list[Record], dict[str, dict]]:
    """Current records and tokenizer metadata of one or more run directories.

    Conflicts between run directories are resolved to the newer record; use
    :func:`dasb.leaderboard.merge.merge_runs` to get them reported.
    """
    merged = merge_runs(run_dirs)
    return merged.records, merged.meta


def build(records: list[Record], meta: dict[str, dict]) -> pd.DataFrame:
    """Wide table: one row per tokenizer, one column per (benchmark, metric) aggregate.

    Numeric cells are floats; cells whose record is not ``ok`` hold the string
    ``"error"`` or ``"skipped"``. ``kbps`` is the measured bitrate when a
    ``tokens/bitrate_bps`` aggregate exists, else the nominal one, except for
    variable-rate tokenizers (``kbps_from`` says which, or :data:`NOT_MEASURED`).
    """
    rows: dict[str, dict] = {}
    columns: dict[str, None] = {}
    measured = {
        r.tokenizer: r.value / 1000
        for r in records
        if r.utterance is None and r.status == "ok" and (r.benchmark, r.metric) == MEASURED_BITRATE
    }
    for rec in records:
        if rec.utterance is not None:
            continue
        m = meta.get(rec.tokenizer, {})
        nominal = m["nominal_bitrate"] / 1000 if m.get("nominal_bitrate") is not None else None
        unmeasured = rec.tokenizer not in measured and m.get("variable_rate")
        kbps = None if unmeasured else measured.get(rec.tokenizer, nominal)
        row = rows.setdefault(
            rec.tokenizer,
            {
                "tokenizer": rec.tokenizer,
                "kind": m.get("kind", _subject_kind(rec.tokenizer)),
                "kbps": kbps,
                # External systems say where a bitrate came from ("declared", "coded files", "token files").
                "kbps_from": ("measured" if rec.tokenizer in measured else NOT_MEASURED if unmeasured
                              else (m.get("bitrate_from") or "nominal") if kbps is not None else None),
                "decoder_inputs": ", ".join(m.get("decode_inputs") or {}) or None,
                "frame_hz": m.get("frame_rate"),
                "codebooks": m.get("num_codebooks"),
            },
        )
        col = f"{rec.benchmark}/{rec.metric}"
        columns[col] = None
        row[col] = rec.value if rec.status == "ok" else rec.status
    table = pd.DataFrame(list(rows.values()), columns=META_COLUMNS + sorted(columns, key=natural_key))
    return table.sort_values(["kbps", "tokenizer"], ascending=[False, True], na_position="last").reset_index(drop=True)


def _subject_kind(name: str) -> str:
    """The kind of a row that is not a tokenizer: the original audio, or a judge's fitness control."""
    if name == GROUND_TRUTH:
        return "original audio"
    return "judge control" if name in CONTROLS else "?"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if pd.isna(value):
            return ""
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)


# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: object) -> object:
    """Text that a spreadsheet would run as a formula, quoted as text (``'=...``); numbers stay numbers."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _md_text(text: str) -> str:
    """Names and messages as literal Markdown table text: HTML escaped, pipes kept inside their cell."""
    return html.escape(text, quote=False).replace("|", "\\|")


def render(table: pd.DataFrame, fmt: str, specs: Specs, unfit: dict[str, str] | None = None) -> str:
    """``"csv"``: the whole table; ``"md"``: the headline overview, then one table per benchmark, each
    followed by the fitness figures of its columns whose judge is ``unfit``.

    Text cells and headers (tokenizer, benchmark and metric names come from cards and plugins) are made
    inert: formulas quoted in CSV, HTML escaped in Markdown.
    """
    if fmt == "csv":
        safe = table.map(_csv_text)
        safe.columns = [_csv_text(c) for c in table.columns]
        return safe.to_csv(index=False)
    if fmt == "md":
        head = [f"{b}/{m}" for b, m in headlines(specs).items()]
        parts = ["## Overview: the headline metric of each benchmark", markdown(overview(table, specs, unfit)),
                 unfit_notes(head, unfit)]
        for bench, part in per_benchmark(table, specs, unfit).items():
            parts += [f"## {_md_text(bench)}", markdown(part), unfit_notes([f"{bench}/{m}" for m in specs[bench]], unfit)]
        return "\n\n".join(p for p in parts if p)
    raise ValueError(f"unknown leaderboard format {fmt!r}; use md or csv")


def markdown(table: pd.DataFrame) -> str:
    """One table as Markdown (numbers to four significant digits; text made inert, see :func:`render`)."""
    shown = table.map(lambda v: _md_text(_fmt(v)))
    shown.columns = [_md_text(c) for c in table.columns]
    return shown.to_markdown(index=False, disable_numparse=True) + "\n"
