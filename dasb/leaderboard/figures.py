"""Files the site puts next to its pages: plots and listening examples."""
from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from dasb.leaderboard.plots import Point, bars, quality_vs_bitrate, scatter_xy
from dasb.leaderboard.site import SiteData
from dasb.results.listening import AUDIO_DIR, safe_name

PLOTS_DIR = "plots"
UTILISATION = "utilisation"  # metric of the tokens benchmark


@dataclass
class Figure:
    """A plot file (relative to the site root) and its caption."""

    src: str
    caption: str


@dataclass
class Figures:
    """Plots per benchmark, extra plots for the overview, and notes on plots that could not be drawn."""

    by_metric: dict[tuple[str, str], Figure] = field(default_factory=dict)
    extra: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _points(data: SiteData, benchmark: str, metric: str) -> list[Point]:
    points = []
    for t in data.tokenizers:
        rec = data.cells.get((t, benchmark, metric))
        kbps = data.kbps(t)
        if rec is not None and rec.status == "ok" and kbps is not None and kbps > 0:
            points.append(Point(t, kbps, rec.value, str(data.row(t)["kind"]), rec.ci_low, rec.ci_high))
    return points


def draw_plots(data: SiteData, out: Path) -> Figures:
    """Quality against bitrate for every directional metric; utilisation and LM plots when recorded."""
    figs = Figures()
    for bench, metrics in data.metrics.items():
        for metric, spec in metrics.items():
            higher = spec.higher_is_better
            points = _points(data, bench, metric)
            if higher is None or not points:
                continue
            rel = f"{PLOTS_DIR}/{safe_name(bench)}__{safe_name(metric)}.png"
            quality_vs_bitrate(points, f"{bench}/{metric}", higher, out / rel)
            caption = f"{bench}/{metric} against bitrate (log scale); dashed: Pareto front; bars: 95% intervals"
            figs.by_metric[(bench, metric)] = Figure(rel, caption)
    if UTILISATION in data.metrics.get("tokens", {}):
        values = {t: v for t in data.tokenizers if (v := data.value(t, "tokens", UTILISATION)) is not None}
        if values:
            rel = f"{PLOTS_DIR}/bars__tokens__{UTILISATION}.png"  # not the file of the bitrate plot
            bars(values, f"tokens/{UTILISATION} (fraction of codebook entries used)", out / rel)
            figs.extra.append(Figure(rel, f"Codebook utilisation (tokens/{UTILISATION})"))
    else:
        figs.notes.append(f"No codebook utilisation plot: no tokens/{UTILISATION} results in these runs.")
    lm, recon = data.headlines.get("lm"), data.headlines.get("reconstruction")
    if lm and recon:
        points = []
        for t in data.tokenizers:
            x, y = data.value(t, "lm", lm), data.value(t, "reconstruction", recon)
            if x is not None and y is not None:
                points.append(Point(t, x, y, str(data.row(t)["kind"])))
        if points:
            rel = f"{PLOTS_DIR}/scatter__lm__{safe_name(lm)}__vs__{safe_name(recon)}.png"
            scatter_xy(points, f"lm/{lm} (lower: more predictable tokens)", f"reconstruction/{recon}", out / rel)
            figs.extra.append(Figure(rel, f"Token LM lm/{lm} against reconstruction/{recon}"))
    else:
        figs.notes.append("No LM plot: needs lm and reconstruction results in these runs.")
    return figs


@dataclass
class Listening:
    """Copied listening examples: utterance names, and file paths relative to the site root."""

    utterances: list[str] = field(default_factory=list)
    reference: dict[str, str] = field(default_factory=dict)
    decoded: dict[str, dict[str, str]] = field(default_factory=dict)  # tokenizer -> utterance -> path


def copy_listening(data: SiteData, out: Path) -> Listening:
    """Copy the run directories' listening examples next to the site (the first run dir holding a file wins).

    Only regular files inside their run directory are copied: a symlink leading out of it (to a system
    file, say) is skipped with a warning, so a site never publishes what the run did not write.
    """
    found = Listening()
    by_safe = {safe_name(t): t for t in data.tokenizers}
    for run_dir in data.merged.run_dirs:
        base = run_dir / AUDIO_DIR
        for path in sorted((base / "reference").glob("*.flac")):
            if path.stem not in found.reference and _inside(path, run_dir):
                found.reference[path.stem] = _copy(path, base, out)
        for path in sorted((base / "decoded").glob("*/*.flac")):
            tok = by_safe.get(path.parent.name)
            if tok is not None and path.stem not in found.decoded.setdefault(tok, {}) and _inside(path, run_dir):
                found.decoded[tok][path.stem] = _copy(path, base, out)
    found.utterances = sorted(found.reference)
    return found


def _inside(path: Path, run_dir: Path) -> bool:
    """``path`` resolves (symlinks followed) to a regular file inside ``run_dir``; warns when it does not."""
    real = path.resolve()
    if real.is_relative_to(run_dir.resolve()) and real.is_file():
        return True
    warnings.warn(f"listening example {path} leads to {real}, outside its run directory or not a file: not copied")
    return False


def _copy(path: Path, base: Path, out: Path) -> str:
    rel = Path(AUDIO_DIR) / path.relative_to(base)
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path.resolve(), out / rel)
    return rel.as_posix()
