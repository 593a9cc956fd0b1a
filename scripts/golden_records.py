"""Golden records: a small fixed run whose numbers may change only together with their keys.

    PYTHONPATH=. python scripts/golden_records.py          # rewrite tests/golden_records.json
    PYTHONPATH=. python scripts/golden_records.py --print  # print the records as JSON instead

Always computed in a fresh process with empty caches: libcodec2's decoder draws from a process-global
random generator (``codec2_rand``, seeded once per process), so Codec2's decoded audio depends on what the
process decoded before; a fresh process running the same suite reproduces it.

``tests/test_identity.py`` recomputes them: a value that changes while its record
key stays the same (no benchmark version bump, same tokenizer identity) fails.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

from dasb.results import read_records
from dasb.runner import Runner
from dasb.settings import CACHE_DIR_ENV
from dasb.suites import Suite

OUT = Path(__file__).resolve().parents[1] / "tests" / "golden_records.json"
SUITE = Suite(
    "golden", "mini", ["pcm8", "mulaw8-8k", "codec2-3200", "opus-6k", "melrvq-1cb"],
    {"reconstruction": {"max_utterances": 2}, "tokens": {"max_utterances": 4},
     "robustness": {"max_utterances": 2, "augmentations": ["noise_10db", "speed_1.1"]}},
    batch_size=4,
)


def compute() -> dict[str, float | None]:
    """Value of every ok record of the golden suite, by its full key."""
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[CACHE_DIR_ENV] = str(Path(tmp) / "cache")
        Runner(SUITE, Path(tmp) / "run", progress=False, workers=1).run()
        records = read_records(Path(tmp) / "run")
    bad = [r for r in records if r.status == "error"]
    if bad:
        raise RuntimeError(f"golden run has errors, e.g. {bad[0].message}")
    return {"|".join(str(v) for v in r.key): r.value for r in records if r.status == "ok"}


def main() -> int:
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the JSON
        records = compute()
    text = json.dumps({"suite": SUITE.to_dict(), "records": records}, indent=1, sort_keys=True) + "\n"
    if "--print" in sys.argv[1:]:
        print(text, end="")
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
