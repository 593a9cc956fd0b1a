"""Leaderboard plots (matplotlib, Agg backend) and the Pareto front they draw.

matplotlib is imported only when a plot is drawn: it lives in the ``html``
extra (``pip install 'dasb[html]'``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from dasb.specs import DIRECTIONS


@dataclass(frozen=True)
class Point:
    """One tokenizer on a plot: x is usually kbps, y a metric; optional 95% interval of y."""

    name: str
    x: float
    y: float
    kind: str = ""
    y_low: float | None = None
    y_high: float | None = None


def pareto_front(points: Sequence[Point], higher_is_better: bool, x_lower_is_better: bool = True) -> list[Point]:
    """Points not dominated by any other, sorted by x.

    ``q`` dominates ``p`` when q is at least as good on both axes and strictly
    better on one; "good" is lower x (bitrate) unless ``x_lower_is_better`` is
    False, and higher or lower y as ``higher_is_better`` says. Duplicated points
    are all kept.
    """
    sx = 1.0 if x_lower_is_better else -1.0
    sy = -1.0 if higher_is_better else 1.0  # turn both axes into "smaller is better"

    def dominates(q: Point, p: Point) -> bool:
        qx, qy, px, py = sx * q.x, sy * q.y, sx * p.x, sy * p.y
        return qx <= px and qy <= py and (qx < px or qy < py)

    front = [p for p in points if not any(dominates(q, p) for q in points)]
    return sorted(front, key=lambda p: (p.x, p.name))


def _pyplot():
    try:
        import matplotlib
    except ImportError as err:
        raise ImportError("plots need matplotlib: pip install 'dasb[html]'") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _scatter(ax, points: Sequence[Point]) -> None:
    kinds = sorted({p.kind for p in points})
    colors = {k: f"C{i % 10}" for i, k in enumerate(kinds)}
    for kind in kinds:
        sel = [p for p in points if p.kind == kind]
        ax.scatter([p.x for p in sel], [p.y for p in sel], color=colors[kind], label=kind or "?", zorder=3, s=28)
        for p in sel:
            if p.y_low is not None and p.y_high is not None:
                ax.plot([p.x, p.x], [p.y_low, p.y_high], color=colors[kind], lw=1, alpha=0.6, zorder=2)
    for p in points:
        ax.annotate(p.name, (p.x, p.y), textcoords="offset points", xytext=(4, 3), fontsize=7)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def _minor_label(v: float, _pos: int) -> str:
    """Label only the 2x and 5x minor ticks of a log axis, so labels do not overlap."""
    if v <= 0:
        return ""
    lead = round(v / 10 ** math.floor(math.log10(v)), 6)
    return f"{v:g}" if lead in (2.0, 5.0) else ""


def quality_vs_bitrate(points: Sequence[Point], metric: str, higher_is_better: bool | None, path: Path) -> Path:
    """Metric against bitrate (log axis) with 95% intervals and, for a directional metric, the Pareto front."""
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    _scatter(ax, points)
    if higher_is_better is not None:
        front = pareto_front(points, higher_is_better)
        ax.step([p.x for p in front], [p.y for p in front], where="post", color="k", lw=1, ls="--",
                label="Pareto front", zorder=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 10, not 10^1
    ax.xaxis.set_minor_formatter(FuncFormatter(_minor_label))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("bitrate (kbps, log scale)")
    ax.set_ylabel(metric if higher_is_better is None else f"{metric} ({DIRECTIONS[higher_is_better]})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    out = _save(fig, path)
    plt.close(fig)
    return out


def bars(values: dict[str, float], label: str, path: Path) -> Path:
    """Horizontal bar chart of one value per tokenizer (e.g. codebook utilisation)."""
    plt = _pyplot()
    names = sorted(values, key=lambda n: values[n])
    fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.3 * len(names)))
    ax.barh(names, [values[n] for n in names], color="C0")
    ax.set_xlabel(label)
    ax.grid(True, axis="x", alpha=0.3)
    out = _save(fig, path)
    plt.close(fig)
    return out


def scatter_xy(points: Sequence[Point], x_label: str, y_label: str, path: Path) -> Path:
    """Plain scatter of two metrics (e.g. LM bits per second against reconstruction quality)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    _scatter(ax, points)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    out = _save(fig, path)
    plt.close(fig)
    return out
