"""Build the leaderboard table from records, and render it.

One row per tokenizer: kind, bitrate, frame rate and codebooks from the
tokenizer metadata stored beside the records, then one column per
benchmark metric (aggregate rows only) with its direction. A cell whose
record is an error or was skipped shows that status, never a number.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd

from dasb.leaderboard.merge import merge_runs
from dasb.results.record import GROUND_TRUTH, Record

ARROWS = {True: " ↑", False: " ↓", None: ""}
# decoder_inputs: what the decoder was given besides the tokens (transcript, speaker prompt); not in kbps.
META_COLUMNS = ["tokenizer", "kind", "kbps", "kbps_from", "decoder_inputs", "frame_hz", "codebooks"]
# An aggregate record of this (benchmark, metric), in bits/s, replaces the nominal bitrate:
# measured beats declared (variable-rate tokenizers, container overhead).
MEASURED_BITRATE = ("tokens", "bitrate_bps")
# A variable-rate tokenizer's nominal bitrate is only its capacity (Opus: the packet cap), so without a
# measurement it has no bitrate (and no band) rather than a misleading one.
NOT_MEASURED = "not measured (variable rate; run the tokens benchmark)"


# Why these: the metric most papers quote (pesq_wb, dWER), the one comparable across frame
# rates (LM bits per second of audio), or the summary the benchmark itself computes.
HEADLINES = {
    "reconstruction": "pesq_wb",
    "tokens": "utilisation",
    "lm": "ngram_bps",
    "asr": "dwer",
    "speaker": "similarity",
    "mos": "dnsmos_ovrl",
    "levels": "mel_distance_k1",
    "probes": "asr_wer",
    "robustness": "ued_mean",
    "efficiency": "encode_rtf",
}


def natural_key(name: str) -> list:
    """Sort key that orders embedded numbers by value (``pesq_wb_k2`` before ``pesq_wb_k16``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def headline(benchmark: str, metrics: dict[str, bool | None]) -> str:
    """The headline metric of ``benchmark`` among its recorded ``metrics`` (see module doc)."""
    if HEADLINES.get(benchmark) in metrics:
        return HEADLINES[benchmark]
    directed = [m for m in sorted(metrics) if metrics[m] is not None]
    return (directed or sorted(metrics))[0]


def overview(table: pd.DataFrame) -> pd.DataFrame:
    """The tokenizer columns and one headline metric per benchmark (what a terminal can show)."""
    by_bench: dict[str, dict[str, str]] = {}
    for col in table.columns[len(META_COLUMNS):]:
        bench, _, rest = col.partition("/")
        by_bench.setdefault(bench, {})[rest.split(" ")[0]] = col
    chosen = []
    for bench, cols in by_bench.items():
        # Column names end in the metric (no direction) or in its arrow (see column_name).
        directions = {m: (None if c.endswith(m) else c.endswith("↑")) for m, c in cols.items()}
        chosen.append(cols[headline(bench, directions)])
    # Decoder inputs are rare: the column is shown only when some tokenizer had any.
    meta = [c for c in META_COLUMNS if c != "decoder_inputs" or table[c].notna().any()]
    return table[meta + chosen]


def load_runs(run_dirs: list[str | Path]) -> tuple[list[Record], dict[str, dict]]:
    """Current records and tokenizer metadata of one or more run directories.

    Conflicts between run directories are resolved to the newer record; use
    :func:`dasb.leaderboard.merge.merge_runs` to get them reported.
    """
    merged = merge_runs(run_dirs)
    return merged.records, merged.meta


def column_name(benchmark: str, metric: str, higher_is_better: bool | None) -> str:
    return f"{benchmark}/{metric}{ARROWS[higher_is_better]}"


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
                "kind": m.get("kind", "original audio" if rec.tokenizer == GROUND_TRUTH else "?"),
                "kbps": kbps,
                # External systems say where a bitrate came from ("declared", "coded files", "token files").
                "kbps_from": ("measured" if rec.tokenizer in measured else NOT_MEASURED if unmeasured
                              else (m.get("bitrate_from") or "nominal") if kbps is not None else None),
                "decoder_inputs": ", ".join(m.get("decode_inputs") or {}) or None,
                "frame_hz": m.get("frame_rate"),
                "codebooks": m.get("num_codebooks"),
            },
        )
        col = column_name(rec.benchmark, rec.metric, rec.higher_is_better)
        columns[col] = None
        row[col] = rec.value if rec.status == "ok" else rec.status
    table = pd.DataFrame(list(rows.values()), columns=META_COLUMNS + sorted(columns, key=natural_key))
    return table.sort_values(["kbps", "tokenizer"], ascending=[False, True], na_position="last").reset_index(drop=True)


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


def render(table: pd.DataFrame, fmt: str) -> str:
    """Render as ``"md"`` (Markdown) or ``"csv"``.

    Text cells and headers (tokenizer, benchmark and metric names come from cards and plugins) are made
    inert: formulas quoted in CSV, HTML escaped in Markdown.
    """
    if fmt == "csv":
        safe = table.map(_csv_text)
        safe.columns = [_csv_text(c) for c in table.columns]
        return safe.to_csv(index=False)
    if fmt == "md":
        shown = table.map(lambda v: _md_text(_fmt(v)))
        shown.columns = [_md_text(c) for c in table.columns]
        return shown.to_markdown(index=False, disable_numparse=True) + "\n"
    raise ValueError(f"unknown leaderboard format {fmt!r}; use md or csv")
