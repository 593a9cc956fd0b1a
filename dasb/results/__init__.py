"""Result records and the append-only, resumable run store."""
from dasb.results.record import SCHEMA_VERSION, Record, RecordKey
from dasb.results.store import RunStore, read_records

__all__ = ["SCHEMA_VERSION", "Record", "RecordKey", "RunStore", "read_records"]
