"""A run directory: resolved configuration plus an append-only JSONL of records.

Each append is flushed and fsync'ed, so a killed run loses at most the line it
was writing; that torn line is cut off when the store is next opened and its
work is redone. Later records for a key supersede earlier ones when read.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator

from dasb.results.record import Record, RecordKey

RECORDS_FILE = "records.jsonl"
CONFIG_FILE = "config.json"
TOKENIZERS_FILE = "tokenizers.json"  # metadata of each tokenizer the run built


def _repair_torn_tail(path: Path) -> None:
    """Cut a last line that was not completely written (no trailing newline)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        data = fh.read()
        if data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1
        warnings.warn(f"{path}: dropping a torn last line ({len(data) - keep} bytes); its work is redone")
        fh.truncate(keep)


def iter_records(path: Path) -> Iterator[Record]:
    """Records of one JSONL file in order; a torn last line is skipped, other bad lines raise."""
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield Record.from_dict(json.loads(line))
        except (json.JSONDecodeError, TypeError, ValueError) as err:
            if lineno == len(lines):  # unterminated last line: a write that was cut short
                continue
            raise ValueError(f"{path}:{lineno}: invalid record ({err})") from err


def latest(records: Iterable[Record]) -> dict[RecordKey, Record]:
    """The last record of each key."""
    out: dict[RecordKey, Record] = {}
    for rec in records:
        out[rec.key] = rec
    return out


def read_records(run_dir: str | Path) -> list[Record]:
    """Current records of a run directory (or of a records.jsonl file), latest per key."""
    path = Path(run_dir)
    if path.is_dir():
        path = path / RECORDS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no records file (is this a dasb run directory?)")
    return list(latest(iter_records(path)).values())


class RunStore:
    """Append-only record store of one run directory."""

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / RECORDS_FILE
        _repair_torn_tail(self.path)
        self._current = latest(iter_records(self.path)) if self.path.exists() else {}

    def get(self, key: RecordKey) -> Record | None:
        """The current record for ``key``, if any."""
        return self._current.get(key)

    def records(self) -> list[Record]:
        """All current records."""
        return list(self._current.values())

    def append(self, records: Iterable[Record]) -> None:
        """Write ``records`` durably (flush + fsync) and make them current."""
        records = list(records)
        if not records:
            return
        text = "".join(json.dumps(r.to_dict(), allow_nan=False) + "\n" for r in records)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        for r in records:
            self._current[r.key] = r

    def write_config(self, config: dict[str, Any]) -> None:
        """Save the resolved configuration of the run (one file per run directory)."""
        path = self.dir / CONFIG_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")
        os.replace(tmp, path)
