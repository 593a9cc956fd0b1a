"""``dasb weights list|fetch|verify [NAMES | --suite S]``: what is here, get what is missing, check it.

NAMES are tokenizer cards, pinned file sets (``lyra-v2``, ``nisqa``) or judge models (``whisper-base``,
``ecapa``); without NAMES or ``--suite``, ``list`` and ``verify`` cover all of them. ``list`` and ``verify``
never touch the network.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dasb.weights.base import WeightsCorrupt, WeightsUnavailable
from dasb.weights.catalog import Source, card_sources
from dasb.weights.files import FILESETS, FileSet, UrlFile
from dasb.weights.hub import HubSource, snapshot_commit
from dasb.weights.judges import JUDGE_WEIGHTS


@dataclass(frozen=True)
class Entry:
    """One weights source wanted by ``owner`` (a card or a file set name)."""

    owner: str
    source: Source | None  # None: a card that needs no downloaded weights, or cannot run (``note`` says which)
    note: str = ""


def entries(names: list[str] | None = None, suite: str | None = None) -> list[Entry]:
    """The sources of the named cards / file sets, of a suite's tokenizers, or (neither) of everything."""
    from dasb.registry import RegistryError, unknown_name_message
    from dasb.tokenizers.cards import load_cards

    cards = load_cards()
    if suite is not None:
        from dasb.suites import load_suite

        names = list(load_suite(suite).tokenizers)
    wanted = names if names else list(cards)
    out = []
    for name in wanted:
        if name in FILESETS and name not in cards:
            out.append(Entry(name, FILESETS[name]))
        elif name in JUDGE_WEIGHTS and name not in cards:
            out.append(Entry(name, JUDGE_WEIGHTS[name]))
        elif name in cards:
            if cards[name].status != "available":
                out.append(Entry(name, None, f"unavailable: {cards[name].reason}"))
                continue
            sources = card_sources(cards[name])
            out.extend([Entry(name, s) for s in sources] or [Entry(name, None, "needs no downloaded weights")])
        else:
            raise RegistryError(unknown_name_message("tokenizer or weights set", name, [*cards, *FILESETS, *JUDGE_WEIGHTS]))
    if not names:  # file sets no card uses (metric models such as NISQA)
        used = {e.source.name for e in out if isinstance(e.source, FileSet)}
        out += [Entry(n, s) for n, s in FILESETS.items() if n not in used]
        out += [Entry(n, s) for n, s in JUDGE_WEIGHTS.items()]  # ASR and speaker judges
    return out


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.1f} MB"


def list_rows(items: list[Entry]) -> list[str]:
    """One line per (owner, source): present or missing, size, where it is or how to supply it."""
    rows = [f"{'name':<26} {'weights':<44} {'status':<8} {'size':>9}  where / how to get it"]
    for e in items:
        if e.source is None:
            rows.append(f"{e.owner:<26} {'-':<44} {'-':<8} {'-':>9}  {e.note}")
            continue
        where = e.source.find()
        status = "present" if where is not None else "missing"
        detail = str(where) if where is not None else e.source.missing()
        if where is None and isinstance(e.source, HubSource):
            detail = f"run `dasb weights fetch {e.owner}`, or {detail}"
        rows.append(f"{e.owner:<26} {e.source.name:<44} {status:<8} {_mb(e.source.size()):>9}  {detail}")
    return rows


def fetch(items: list[Entry]) -> list[str]:
    """Fetch every missing source (each once); returns the problems (empty: all present now)."""
    problems, done = [], set()
    for e in items:
        if e.source is None or e.source in done:
            continue
        done.add(e.source)
        try:
            where = e.source.fetch(progress=True)
            print(f"{e.owner}: {e.source.name} in {where}")
        except (WeightsUnavailable, WeightsCorrupt, OSError) as err:
            problems.append(f"{e.owner}: {err}")
    return problems


def verify(items: list[Entry], missing_is_error: bool) -> list[str]:
    """Check the content of every present source against its pinned hashes; returns the problems."""
    problems, done = [], set()
    for e in items:
        if e.source is None or e.source in done:
            continue
        done.add(e.source)
        where = e.source.find()
        if where is None:
            line = f"{e.owner}: {e.source.missing()}"
            print(f"MISSING {line}")
            if missing_is_error:
                problems.append(line)
            continue
        found = e.source.verify(where)
        note = "" if found else " (hashes match)" if _pinned(e.source, where) else " (present; no pinned hashes to check)"
        print(f"{'FAILED ' if found else 'ok     '} {e.owner}: {e.source.name} in {where}{note}")
        problems.extend(f"{e.owner}: {p}" for p in found)
    return problems


def _pinned(src: Source, where: Path) -> bool:
    """Whether ``verify`` had reference hashes: a pinned file set or URL file (Whisper's checkpoints among them),
    or a Hugging Face cache snapshot."""
    if isinstance(src, FileSet):
        return True
    if isinstance(src, UrlFile):
        return src.sha256 is not None
    return isinstance(src, HubSource) and snapshot_commit(str(where / src.probe)) is not None
