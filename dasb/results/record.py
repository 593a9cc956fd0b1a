"""The result record: one JSON object per line, append-only.

A failure is a record with ``status="error"``, ``value=None`` and the message;
it never carries a number that could pass for a score.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# 2: the environment moved from every record to the run directory's invocations file (run_id refers to it).
SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)
STATUSES = ("ok", "error", "skipped")
# The row of measurements on the original audio (ASR WER, speaker similarity): every number's ceiling.
GROUND_TRUTH = "ground-truth"


@dataclass
class Record:
    """One measurement, or one failure to measure.

    ``utterance`` is the utterance id for per-utterance rows and None for
    aggregate rows, which carry ``stderr``, ``ci_low``/``ci_high`` (95%
    bootstrap interval) and ``n``. ``decode_inputs`` says what the decoder was
    given besides the tokens (``{"speaker_prompt": "<utterance id>"}``); empty
    for most tokenizers. ``run_id`` names the invocation that wrote it; its environment is stored once in
    the run directory (:data:`dasb.results.store.INVOCATIONS_FILE`).
    """

    tokenizer: str
    tokenizer_config_hash: str
    benchmark: str
    benchmark_config_hash: str
    dataset: str
    dataset_hash: str
    metric: str
    value: float | None
    status: str = "ok"
    message: str | None = None
    utterance: str | None = None
    stderr: float | None = None  # aggregate rows only, as ci_low, ci_high and n
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    higher_is_better: bool | None = None
    run_id: str = ""
    created_at: str = ""
    decode_inputs: dict[str, str] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if self.status == "ok" and self.value is None:
            raise ValueError(f"record {self.metric!r} has status ok but no value")
        if self.status != "ok" and self.value is not None:
            raise ValueError(f"record {self.metric!r} has status {self.status} but a value")
        if self.status != "ok" and not self.message:
            raise ValueError(f"record {self.metric!r} has status {self.status} but no message")
        for name in ("value", "stderr", "ci_low", "ci_high"):
            x = getattr(self, name)
            if x is not None and (isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x)):
                raise ValueError(f"record {self.metric!r}: {name} must be a finite number, got {x!r}")

    @property
    def key(self) -> "RecordKey":
        return RecordKey(*(getattr(self, f) for f in RecordKey._fields))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Record":
        """A record of any readable schema (version 1 carried ``env``, read by :func:`legacy_environment`)."""
        if data.get("schema_version") not in READABLE_SCHEMAS:
            raise ValueError(f"unsupported record schema_version {data.get('schema_version')!r}")
        names = {f.name for f in dataclasses.fields(cls)} - {"schema_version"}
        return cls(**{k: v for k, v in data.items() if k in names})


# What a record measures; at most one current record per key in a run. Its fields are Record's, declared once there.
KEY_FIELDS = ("tokenizer", "tokenizer_config_hash", "benchmark", "benchmark_config_hash", "dataset", "dataset_hash",
              "utterance", "metric")
RecordKey = NamedTuple("RecordKey", [(name, Record.__annotations__[name]) for name in KEY_FIELDS])  # type: ignore[misc]
