"""A run directory: resolved configuration, an append-only JSONL of records, and one line per invocation.

``INVOCATIONS_FILE`` holds, per ``dasb run`` invocation, its run id, start time and environment (package
versions that can change a number, device, platform); each record names its invocation by ``run_id``.

Each append is flushed and fsync'ed, so a killed run loses at most the line it
was writing; that torn line is cut off when the store is next locked and its
work is redone. Later records for a key supersede earlier ones when read.
One process writes a run directory at a time: writers hold ``LOCK_FILE``
(an ``flock``, released by the kernel when the holder dies, even by SIGKILL).
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from dasb.results.record import Record, RecordKey

RECORDS_FILE = "records.jsonl"
REJECTED_FILE = "records.rejected.jsonl"  # lines `dasb run --repair` moved out of RECORDS_FILE
CONFIG_FILE = "config.json"
TOKENIZERS_FILE = "tokenizers.json"  # metadata of each tokenizer the run built
INVOCATIONS_FILE = "invocations.jsonl"  # run id, start time and environment of each invocation
LOCK_FILE = ".lock"
NUMBER_FIELDS = ("value", "stderr", "ci_low", "ci_high")


class RunDirInUse(RuntimeError):
    """Another process holds the run directory's lock."""


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


def parse_record(line: str, where: str) -> Record:
    """One records line as a Record; raises ValueError naming ``where`` (file:line).

    A line whose numbers are not finite (a hand edit, an old writer) is read as
    an error record saying so, never as an ok measurement.
    """
    try:
        data = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: invalid record (not JSON: {err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{where}: invalid record (a JSON {type(data).__name__}, not an object)")
    bad = [f for f in NUMBER_FIELDS if isinstance(data.get(f), float) and not math.isfinite(data[f])]
    if bad:
        shown = ", ".join(f"{f}={data[f]}" for f in bad)
        data = {**data, **{f: None for f in NUMBER_FIELDS}, "status": "error",
                "message": f"{where}: non-finite number in the records file ({shown})"}
    try:
        return Record.from_dict(data)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: invalid record ({err})") from err


def iter_records(path: Path) -> Iterator[Record]:
    """Records of one JSONL file in order; a torn last line is skipped, other bad lines raise."""
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield parse_record(line, f"{path}:{lineno}")
        except ValueError as err:
            if lineno == len(lines):  # unterminated last line: a write that was cut short
                continue
            raise ValueError(f"{err}; `dasb run --repair` moves bad lines aside to {REJECTED_FILE}") from err


def repair_records(path: Path) -> int:
    """Move the lines of ``path`` that are not valid records to ``REJECTED_FILE`` beside it; returns how many."""
    if not path.exists():
        return 0
    keep, rejected = [], []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            parse_record(line, f"{path}:{lineno}")
            keep.append(line)
        except ValueError:
            rejected.append(line)
    if rejected:
        with open(path.parent / REJECTED_FILE, "a", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in rejected))
            fh.flush()
            os.fsync(fh.fileno())
        write_atomic(path, "".join(line + "\n" for line in keep))
    return len(rejected)


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


def read_invocations(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Invocations of a run directory by run id (``{"run_id", "started_at", "environment"}``).

    Directories written before the invocations file (record schema 1) carried the environment on every
    record; those environments are read from the records.
    """
    path = Path(run_dir)
    out: dict[str, dict[str, Any]] = {}
    records = path / RECORDS_FILE
    if records.exists():
        for line in records.read_text(encoding="utf-8").splitlines():
            if '"env"' in line:  # schema 1
                try:
                    data = json.loads(line)
                except json.JSONDecodeError:
                    continue  # reported by the records reader
                if isinstance(data, dict) and isinstance(data.get("env"), dict):
                    out.setdefault(str(data.get("run_id", "")), {"run_id": data.get("run_id", ""),
                                                                 "started_at": None, "environment": data["env"]})
    if (path / INVOCATIONS_FILE).exists():
        lines = (path / INVOCATIONS_FILE).read_text(encoding="utf-8").split("\n")
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as err:
                if lineno == len(lines):  # unterminated last line: a write that was cut short, as for records
                    continue
                raise ValueError(f"{path / INVOCATIONS_FILE}:{lineno}: not JSON ({err})") from err
            out[data["run_id"]] = data
    return out


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (a unique temporary file, fsync, rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    """A JSON file of a run directory; a torn or edited file raises an error naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err}); delete it and rerun `dasb run` to rebuild it") from err


class RunStore:
    """Append-only record store of one run directory.

    Writing (``append``, ``write_config``) happens under :meth:`locked`, which
    a runner holds for its whole run; ``repair=True`` moves bad lines aside to
    ``REJECTED_FILE`` when the lock is taken instead of refusing them.
    """

    def __init__(self, run_dir: str | Path, repair: bool = False) -> None:
        self.dir = Path(run_dir)
        if self.dir.exists() and not self.dir.is_dir():
            raise ValueError(f"{self.dir}: is a file, not a run directory")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / RECORDS_FILE
        self.repair = repair
        self._lock_fd: int | None = None
        self._lock_depth = 0
        self._current: dict[RecordKey, Record] = {}
        if not repair:
            self._load()

    def _load(self) -> None:
        self._current = latest(iter_records(self.path)) if self.path.exists() else {}

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run directory for writing; raises :class:`RunDirInUse` naming the holder's pid."""
        if self._lock_fd is None:
            fd = os.open(self.dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise RunDirInUse(
                    f"{self.dir}: another dasb run (pid {holder}) is writing this run directory; "
                    "wait for it to finish or choose another --out"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            self._lock_fd = fd
            try:
                if self.repair:
                    moved = repair_records(self.path)
                    if moved:
                        warnings.warn(f"{self.path}: moved {moved} bad line(s) to {self.dir / REJECTED_FILE}")
                _repair_torn_tail(self.path)
                self._load()  # what earlier writers appended
            except BaseException:
                self._unlock()
                raise
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0:
                self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

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
        with self.locked(), open(self.path, "a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        for r in records:
            self._current[r.key] = r

    def add_invocation(self, run_id: str, started_at: str, environment: dict[str, Any]) -> None:
        """Note one invocation's environment (once; the records of ``run_id`` refer to it)."""
        line = json.dumps({"run_id": run_id, "started_at": started_at, "environment": environment},
                          sort_keys=True, default=str)
        with self.locked(), open(self.dir / INVOCATIONS_FILE, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def write_config(self, config: dict[str, Any]) -> None:
        """Save the resolved configuration of the run (one file per run directory)."""
        with self.locked():
            write_atomic(self.dir / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")

    def update_tokenizers(self, name: str, meta: dict[str, Any]) -> None:
        """Set ``name``'s entry in ``TOKENIZERS_FILE`` (what the leaderboard shows about each tokenizer)."""
        path = self.dir / TOKENIZERS_FILE
        with self.locked():
            data = read_json(path) if path.exists() else {}
            data[name] = meta
            write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
