"""``dasb doctor``: what can run on this machine now, and the one step that fixes the rest.

A tokenizer card can run when its adapter imports (its extra is installed),
its Python requirements are present, and its weights are on this machine (a
local folder, ``$DASB_WEIGHTS`` or the Hugging Face cache). Checks never touch
the network and never load a model.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from dasb.registry import ADAPTERS, BENCHMARKS
from dasb.tokenizers.cards import Card, load_cards


@dataclass(frozen=True)
class Readiness:
    """Whether one tokenizer card can run here, its headline figures, and how to fix it if not."""

    name: str
    ok: bool
    fix: str | None
    kind: str | None = None
    frame_rate: float | None = None
    codebooks: int | None = None
    bitrate_kbps: float | None = None
    published: bool = False  # figures from the card's published values, not a built model


def _fix_for(card: Card) -> str | None:
    if card.status != "available":
        return f"unavailable: {card.reason}"
    try:
        cls = ADAPTERS.get(card.adapter)
    except ImportError as err:
        return f"install the adapter's extra ({err})"
    needed, extra = getattr(cls, "requires", None), getattr(cls, "extra", None)
    if needed and importlib.util.find_spec(needed) is None:
        return f"pip install 'dasb[{extra}]'"
    missing = getattr(cls, "missing_weights", None)
    return missing(card.checkpoint, card.revision, card.params) if missing else None


def check_card(card: Card) -> Readiness:
    """Readiness of one card; figures from ``published``, else from building it (cheap adapters only)."""
    fix = _fix_for(card)
    pub = card.published
    if pub:
        return Readiness(card.name, fix is None, fix, pub.get("kind"), pub.get("frame_rate"), pub.get("codebooks"),
                         pub.get("bitrate_kbps"), published=True)
    if fix is not None:
        return Readiness(card.name, False, fix)
    try:
        info = card.build("cpu").info
    except Exception as err:  # a card that cannot be built is reported, not raised
        return Readiness(card.name, False, f"cannot build: {type(err).__name__}: {err}")
    # A variable-rate tokenizer's nominal bitrate is only a capacity; its real rate needs a measurement.
    kbps = None if info.variable_rate else info.nominal_bitrate / 1000
    return Readiness(card.name, True, None, info.kind, info.frame_rate, info.num_codebooks, kbps)


def check_benchmarks() -> dict[str, str | None]:
    """Benchmark name -> None when it can run here with its default settings, else why not.

    Each benchmark is built and set up (its models loaded), so a missing optional package
    shows up with the extra that installs it, not only a module that fails to import.
    """
    out: dict[str, str | None] = {}
    for name in BENCHMARKS.names():
        try:
            BENCHMARKS.get(name)().setup()
            out[name] = None
        except Exception as err:  # reported, not raised: the doctor lists every problem
            out[name] = f"{type(err).__name__}: {err}"
    return out


def report(include_unavailable: bool = True) -> str:
    """The doctor's text report: one line per tokenizer card and per benchmark."""
    lines = ["tokenizers:"]
    for card in load_cards().values():
        if card.status != "available" and not include_unavailable:
            continue
        r = check_card(card)
        lines.append(f"  {'ok ' if r.ok else 'NO '} {r.name:<26} {'' if r.ok else r.fix}")
    lines.append("benchmarks:")
    for name, err in check_benchmarks().items():
        lines.append(f"  {'ok ' if err is None else 'NO '} {name:<26} {err or ''}")
    return "\n".join(lines)
