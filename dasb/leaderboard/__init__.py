"""Leaderboard: a pure function of result records, rendered as Markdown or CSV."""
from dasb.leaderboard.table import build, load_runs, markdown, overview, per_benchmark, record_specs, render

__all__ = ["build", "load_runs", "markdown", "overview", "per_benchmark", "record_specs", "render"]
