"""Suites: which tokenizers run which benchmarks on which dataset (``benchmarks/*.yaml``).

::

    name: default
    dataset: mini
    tokenizers: [pcm16, mulaw8-8k]
    benchmarks:
      reconstruction: {}
    half: false        # optional: float16 inference for neural adapters (for CUDA)
    optional: [lyra-v2-6k]   # recorded as skipped, with the fix, when their weights cannot be had
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from dasb.paths import data_folder
from dasb.registry import BENCHMARKS, RegistryError, unknown_name_message
from dasb.specs import SettingsError, check_keys, check_settings

BUILTIN_SUITES = data_folder("benchmarks")


@dataclass
class Suite:
    """A resolved suite definition."""

    name: str
    dataset: str
    tokenizers: list[str]
    benchmarks: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch_size: int = 8
    max_batch_seconds: float | None = None  # padded audio per batch; bounds memory on long files
    half: bool = False  # float16 inference for adapters that support it (results keyed apart from float32)
    # Tokenizers whose missing weights are a skip (with the fix), not an error; asked for by name they are errors.
    optional: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dataset": self.dataset,
            "tokenizers": self.tokenizers,
            "benchmarks": self.benchmarks,
            "batch_size": self.batch_size,
            "max_batch_seconds": self.max_batch_seconds,
            "half": self.half,
            "optional": self.optional,
        }


def list_suites() -> list[str]:
    """Names of the built-in suites."""
    return sorted(p.stem for p in BUILTIN_SUITES.glob("*.yaml"))


def load_suite(spec: str) -> Suite:
    """A built-in suite by name, or a suite YAML file by path."""
    path = Path(spec)
    if not path.is_file():
        path = BUILTIN_SUITES / f"{spec}.yaml"
        if not path.is_file():
            raise RegistryError(unknown_name_message("suite", spec, list_suites()))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:  # includes tags such as !!python/object, which safe_load refuses
        raise ValueError(f"{path}: invalid suite YAML: {' '.join(str(err).split())}") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a suite file must be a mapping")
    check_keys(f"{path}", data, [f.name for f in fields(Suite)])
    try:
        benchmarks = data.get("benchmarks") or {}
        if isinstance(benchmarks, list):
            benchmarks = {b: {} for b in benchmarks}
        suite = Suite(
            name=data.get("name", path.stem),
            dataset=str(data["dataset"]),
            tokenizers=list(data["tokenizers"]),
            benchmarks={k: dict(v or {}) for k, v in benchmarks.items()},
            batch_size=int(data.get("batch_size", 8)),
            max_batch_seconds=data.get("max_batch_seconds"),
            half=bool(data.get("half", False)),
            optional=list(data.get("optional") or []),
        )
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"{path}: invalid suite ({type(err).__name__}: {err})") from err
    check_benchmarks(suite, str(path))
    return suite


def check_benchmarks(suite: Suite, where: str) -> None:
    """Every benchmark of ``suite`` exists and its settings fit its schema (before any work is done)."""
    for name, settings in suite.benchmarks.items():
        try:
            cls = BENCHMARKS.get(name)
        except RegistryError as err:
            raise SettingsError(f"{where}: {err}") from err
        check_settings(f"{where}: benchmark {name!r}", cls, settings)
