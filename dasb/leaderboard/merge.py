"""Merge the records of several run directories (runs, machines) and report conflicts.

Within one run directory, a later record for a key supersedes an earlier one
(that is how resumption and ``--overwrite`` work). Across run directories, two
current records for the same key with a different status or value are a
*conflict*: both cannot be right, so it is reported, never silently resolved.
Values equal to a relative 1e-9 are the same measurement (floating-point
summation order differs between thread counts and machines).
The newer record (by ``created_at``) is shown. A leaderboard cell measured under
several configurations (tokenizer, benchmark or dataset hash) is reported too,
because the table has one cell per tokenizer x benchmark x metric.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from dasb.results.record import Record, RecordKey
from dasb.results.store import CONFIG_FILE, RECORDS_FILE, TOKENIZERS_FILE, iter_records, latest, read_invocations, read_json
from dasb.specs import MetricSpec

SAME_RTOL = 1e-9


@dataclass
class Merged:
    """Current records of several run directories, newest last, with warnings."""

    records: list[Record]
    meta: dict[str, dict]
    warnings: list[str] = field(default_factory=list)
    run_dirs: list[Path] = field(default_factory=list)
    stored_specs: dict[str, dict[str, MetricSpec]] = field(default_factory=dict)
    invocations: dict[str, dict] = field(default_factory=dict)  # by run id: started_at, environment

    @property
    def specs(self) -> dict[str, dict[str, MetricSpec]]:
        """Spec of each recorded (benchmark, metric), in display order (:func:`dasb.leaderboard.table.record_specs`)."""
        from dasb.leaderboard.table import record_specs

        return record_specs(self.records, self.stored_specs)


def _shown(rec: Record) -> str:
    return repr(rec.value) if rec.status == "ok" else f"{rec.status} ({rec.message})"


def _same(a: Record, b: Record) -> bool:
    if a.status != b.status:
        return False
    if a.value is None or b.value is None:
        return a.value == b.value
    return math.isclose(a.value, b.value, rel_tol=SAME_RTOL, abs_tol=1e-12)


def _key_text(key: RecordKey) -> str:
    where = f"utterance {key.utterance}" if key.utterance is not None else "aggregate"
    return f"{key.tokenizer} / {key.benchmark} / {key.dataset} / {where} / {key.metric}"


def merge_runs(run_dirs: list[str | Path]) -> Merged:
    """Load and merge run directories; conflicting records become warnings."""
    dirs = [Path(d) for d in run_dirs]
    chosen: dict[RecordKey, tuple[Record, Path]] = {}
    meta: dict[str, dict] = {}
    stored: dict[str, dict[str, MetricSpec]] = {}
    warnings: list[str] = []
    invocations: dict[str, dict] = {}
    conflicts = 0
    for d in dirs:
        invocations.update(read_invocations(d))
        path = d / RECORDS_FILE
        if not path.exists():
            raise FileNotFoundError(f"{d}: no {RECORDS_FILE} (is this a dasb run directory?)")
        for key, rec in latest(iter_records(path)).items():
            if key not in chosen:
                chosen[key] = (rec, d)
                continue
            old, old_dir = chosen[key]
            if _same(old, rec):
                continue
            conflicts += 1
            if conflicts <= 50:  # the count below says how many there are in all
                warnings.append(
                    f"conflict: {_key_text(key)}: {old_dir} has {_shown(old)} ({old.created_at}), "
                    f"{d} has {_shown(rec)} ({rec.created_at}); showing the newer"
                )
            if rec.created_at >= old.created_at:
                chosen[key] = (rec, d)
        config = d / CONFIG_FILE
        if config.exists():
            for bench, specs in read_json(config).get("metrics", {}).items():
                stored.setdefault(bench, {}).update({m: MetricSpec.from_dict(s) for m, s in specs.items()})
        tok_file = d / TOKENIZERS_FILE
        if tok_file.exists():
            for name, info in read_json(tok_file).items():
                known = meta.get(name)
                if known is not None and known.get("config_hash") != info.get("config_hash"):
                    warnings.append(f"tokenizer {name!r} has different configurations in different runs ({d})")
                meta[name] = info
    if conflicts > 50:
        warnings.append(f"{conflicts} conflicting records in all (first 50 listed)")
    records = sorted((rec for rec, _ in chosen.values()), key=lambda r: r.created_at)
    warnings.extend(_config_clashes(records))
    return Merged(records, meta, warnings, dirs, stored, invocations)


def environment_differences(records: list[Record], invocations: dict[str, dict]) -> list[str]:
    """One warning per package (of those that can change a number) whose version differs between the
    invocations that wrote the ok ``records``; a package one environment does not list is not compared."""
    versions: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for run in sorted({r.run_id for r in records if r.status == "ok"}):
        env = invocations.get(run, {}).get("environment")
        if env:
            for name, version in {"dasb": env.get("dasb"), **(env.get("packages") or {})}.items():
                versions[name][str(version or "not installed")].append(run)
    return [
        f"runs differ in {name}: " + "; ".join(f"{v} (run {', '.join(runs)})" for v, runs in by.items())
        + "; their numbers may differ for that reason alone"
        for name, by in sorted(versions.items())
        if len(by) > 1
    ]


def _config_clashes(records: list[Record]) -> list[str]:
    """Leaderboard cells backed by aggregates of more than one configuration."""
    configs: dict[tuple[str, str], set[tuple]] = defaultdict(set)
    for r in records:
        if r.utterance is None and r.status != "skipped":  # a skip (e.g. weights then missing) backs no value
            configs[(r.tokenizer, r.benchmark)].add(
                (r.tokenizer_config_hash, r.benchmark_config_hash, r.dataset, r.dataset_hash)
            )
    return [
        f"{tok} / {bench}: measured under {len(c)} configurations "
        "(tokenizer, benchmark settings or dataset differ); each cell shows its newest"
        for (tok, bench), c in sorted(configs.items())
        if len(c) > 1
    ]
