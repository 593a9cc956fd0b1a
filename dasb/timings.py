"""Where a run's time went: per tokenizer and benchmark, encode, decode, scoring and cache hits.

`dasb run` prints the breakdown at the end and stores it in the run directory as
``timings.json``. Seconds are wall time in this process, except per-utterance scoring
in metric workers, which is the workers' own time (it overlaps the main process).
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from dasb.results.store import write_atomic

TIMINGS_FILE = "timings.json"
ITEMS = "(items)"  # the row of a tokenizer's own work: building it, encoding, decoding
# Columns, in the printed order: seconds, then counts.
SECONDS = ("build_s", "encode_s", "decode_s", "setup_s", "scoring_s")
COUNTS = ("token_hits", "token_misses", "result_hits", "result_misses")


@dataclass
class Breakdown:
    """Seconds and cache counts by (tokenizer, benchmark); the benchmark is :data:`ITEMS` for item making."""

    cells: defaultdict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    wall_s: float = 0.0

    def add(self, tokenizer: str, benchmark: str, **amounts: float) -> None:
        unknown = set(amounts) - set(SECONDS) - set(COUNTS)
        if unknown:
            raise KeyError(f"no timing column {sorted(unknown)}")
        self.cells[(tokenizer, benchmark)].update(amounts)

    def to_dict(self) -> dict:
        rows = [{"tokenizer": t, "benchmark": b, **{k: round(c[k], 4) if k in SECONDS else int(c[k])
                                                      for k in SECONDS + COUNTS}}
                for (t, b), c in self.cells.items()]
        totals = self._totals()
        return {"wall_s": round(self.wall_s, 3), "rows": rows,
                "by_benchmark": {b: {k: round(v, 4) for k, v in c.items()} for b, c in totals.items()}}

    def _totals(self) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = defaultdict(Counter)
        for (_, b), c in self.cells.items():
            out[b].update(c)
        return out

    def save(self, run_dir: str | Path) -> Path:
        path = Path(run_dir) / TIMINGS_FILE
        write_atomic(path, json.dumps(self.to_dict(), indent=1) + "\n")  # a killed run leaves the previous file whole
        return path

    def table(self) -> str:
        """A plain-text table: one line per tokenizer x benchmark, then totals per benchmark."""
        cols = SECONDS + COUNTS
        head = f"{'tokenizer':<22} {'benchmark':<16} " + " ".join(f"{c:>13}" for c in cols)
        lines = [head]

        def line(t: str, b: str, c: Counter[str]) -> str:
            cells = [f"{c[k]:>13.2f}" if k in SECONDS else f"{int(c[k]):>13d}" for k in cols]
            return f"{t:<22} {b:<16} " + " ".join(cells)

        for (t, b), c in sorted(self.cells.items()):
            lines.append(line(t, b, c))
        for b, c in sorted(self._totals().items()):
            lines.append(line("(all)", b, c))
        lines.append(f"wall time: {self.wall_s:.1f} s (scoring in metric workers overlaps the rest)")
        return "\n".join(lines)
