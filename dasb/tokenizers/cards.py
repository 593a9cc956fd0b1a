"""Tokenizer cards: named configurations of an adapter, kept as YAML data.

A card file under ``tokenizers/`` holds one card, or a family::

    defaults: {adapter: pcm, license: n/a}
    cards:
      - name: pcm16
        params: {sample_rate: 16000, bits: 16}

Fields: ``name``, ``adapter`` (a registered adapter name), ``params`` (keyword
arguments of the adapter), ``checkpoint`` and ``revision`` (hub id or local path,
passed to the adapter when set), ``license``, ``paper``, ``description``, and
``status``/``reason`` for tokenizers that cannot be built here, ``published``
(the authors' figures, for listing without weights), ``weights`` (where the
authors publish the weights, or that they do not) and ``evidence`` (the sources,
URL and commit, of what the card states). A registered
adapter with no card is usable under its own name with default parameters.
Extra card folders come from the ``DASB_CARDS`` environment variable
(``os.pathsep``-separated).

A card file that cannot be read (YAML syntax, a missing or unknown field, a
name defined twice) is reported once per process as a :class:`CardFileWarning`
naming the file and line, and its cards are left out; every other card works.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from dasb.hashing import hash_config
from dasb.paths import data_folder
from dasb.provenance import artefacts
from dasb.registry import ADAPTERS, RegistryError, unknown_name_message
from dasb.settings import extra_card_dirs
from dasb.specs import check_keys, settings_schema, unknown_keys
from dasb.tokenizers.base import AudioTokenizer
from dasb.weights import WeightsUnavailable, identity

BUILTIN_CARDS = data_folder("tokenizers")
HALF_SUFFIX = "@fp16"
CARD_FIELDS = ("name", "adapter", "params", "checkpoint", "revision", "license", "paper", "description", "status", "reason", "published",
               "weights", "evidence")


@dataclass(frozen=True)
class Card:
    """One named tokenizer configuration."""

    name: str
    adapter: str
    params: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    revision: str | None = None  # hub branch, tag or commit of checkpoint
    license: str | None = None
    paper: str | None = None
    description: str | None = None
    status: str = "available"
    reason: str | None = None
    # Figures as the authors publish them (sample_rate, frame_rate, codebooks, codebook_size,
    # bitrate_kbps, kind): shown when the model cannot be built here; tests check them against configs.
    published: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None
    evidence: list[str] = field(default_factory=list)
    source: str = ""

    def config(self) -> dict[str, Any]:
        """What determines the tokens (hashed into every record and cache key), besides the weights
        (:attr:`config_hash`): the settings, and the content of learned artefacts its ``params`` name
        (:func:`dasb.provenance.artefacts`; retraining a k-means into the same folder changes it).

        An external system (:mod:`dasb.external`) is its files: their content hash, not their location.
        """
        if self.adapter == "external":
            from dasb.external import outputs_identity

            return {"adapter": self.adapter, "params": outputs_identity(self.params)}
        config = {"adapter": self.adapter, "params": self.params, "checkpoint": self.checkpoint, "revision": self.revision}
        found = artefacts(self.params)
        return {**config, "artefacts": found} if found else config

    @cached_property
    def config_hash(self) -> str:
        """Hash of :meth:`config` and of the weights it loads now (:func:`dasb.weights.identity`), so results of
        different weights never share a key. Computed once per card object: rebuild the card (``replace``) after
        weights were fetched."""
        weights = identity(self)
        return hash_config(self.config() if weights is None else {**self.config(), "weights": weights})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def in_half_precision(self) -> "Card":
        """This card run in float16 when its adapter supports it: ``half: true`` in ``params`` (a config hash
        of its own: fp16 gives other tokens) and a row name of its own (``<name>@fp16``); otherwise the card
        itself, run in float32."""
        if self.status != "available" or not getattr(ADAPTERS.get(self.adapter), "supports_half", False):
            return self
        return replace(self, name=f"{self.name}{HALF_SUFFIX}", params={**self.params, "half": True})

    def check_params(self) -> None:
        """Each of ``params`` is a keyword argument of the adapter (else a SettingsError naming the nearest)."""
        if self.status == "available":
            where = f"{self.source or 'card'}: card {self.name!r} params"
            check_keys(where, self.params, settings_schema(ADAPTERS.get(self.adapter)))

    def build(self, device: str = "cpu") -> AudioTokenizer:
        """Instantiate the adapter with this card's parameters."""
        if self.status != "available":
            raise RuntimeError(f"tokenizer {self.name!r} is unavailable: {self.reason}")
        factory = ADAPTERS.get(self.adapter)
        kwargs = dict(self.params)
        if self.checkpoint is not None:
            kwargs.update(checkpoint=self.checkpoint, revision=self.revision)
        try:
            tok = factory(name=self.name, **kwargs)
        except WeightsUnavailable as err:
            fix = "" if "dasb weights fetch" in str(err) else f" Fetch them with `dasb weights fetch {self.name}`."
            raise WeightsUnavailable(f"tokenizer {self.name!r}: {err}{fix}") from None
        return tok.to(device)


class CardFileWarning(UserWarning):
    """A card file was left out because it cannot be read; the message names the file and line."""


class CardFileError(ValueError):
    """A card file cannot be read: ``path:line: problem``."""

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        super().__init__(f"{path}{'' if line is None else f':{line}'}: {problem}")


_reported: set[str] = set()  # broken card files already reported in this process


def _report(message: str) -> None:
    if message not in _reported:
        _reported.add(message)
        warnings.warn(f"tokenizer card file left out: {message}", CardFileWarning, stacklevel=3)


# libyaml's loader when PyYAML was built with it: card files are read on every run and in every worker.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _entry_lines(root: yaml.Node | None) -> list[int]:
    """1-based line of each card in a composed card file (the file itself when it holds one card)."""
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "cards" and isinstance(value, yaml.SequenceNode):
                return [item.start_mark.line + 1 for item in value.value]
    return [1]


def _cards_in_file(path: Path) -> list[Card]:
    """The cards of one file; :class:`CardFileError` naming the file and line when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=_YAML_LOADER)
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise CardFileError(path, mark.line + 1 if mark else None, f"invalid YAML: {err.problem or err.context}") from err
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as err:
        raise CardFileError(path, None, f"cannot read it: {err}") from err
    if not isinstance(data, dict):
        raise CardFileError(path, 1, "a card file must be a mapping")
    entries = data["cards"] if "cards" in data else [data]
    defaults = data.get("defaults", {})
    if not isinstance(entries, list) or not isinstance(defaults, dict):
        raise CardFileError(path, 1, "'cards' must be a list and 'defaults' a mapping")
    cards = []
    for entry, line in zip(entries, _entry_lines(root)):
        if not isinstance(entry, dict):
            raise CardFileError(path, line, "a card must be a mapping")
        merged = {**defaults, **entry}
        unknown = unknown_keys(merged, CARD_FIELDS)
        if unknown:
            raise CardFileError(path, line, f"card {merged.get('name')!r}: {'; '.join(unknown)}")
        if "name" not in merged or "adapter" not in merged:
            raise CardFileError(path, line, "every card needs 'name' and 'adapter'")
        if not isinstance(merged.get("params", {}), dict):
            raise CardFileError(path, line, f"card {merged['name']!r}: 'params' must be a mapping")
        if isinstance(merged.get("evidence"), str):
            merged["evidence"] = [merged["evidence"]]
        if merged["adapter"] == "external":  # its files are named relative to the card file
            from dasb.external import SOURCES

            merged["params"] = {k: str((path.parent / v).resolve()) if k in SOURCES and v is not None else v
                                for k, v in merged.get("params", {}).items()}
        cards.append(Card(**merged, source=f"{path}:{line}"))
    return cards


def card_dirs() -> list[Path]:
    """Folders searched for cards: the built-in one, then ``DASB_CARDS``."""
    return [BUILTIN_CARDS, *extra_card_dirs()]


def load_cards() -> dict[str, Card]:
    """All cards by name, plus a default card for each adapter that has none of its name.

    A card file that cannot be read, or a second card of one name, is reported
    (:class:`CardFileWarning`, once) and left out.
    """
    cards: dict[str, Card] = {}
    for folder in card_dirs():
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            try:
                found = _cards_in_file(path)
            except CardFileError as err:
                _report(str(err))
                continue
            for card in found:
                if card.name in cards:
                    _report(f"{card.source}: card {card.name!r} is already defined at {cards[card.name].source}")
                    continue
                cards[card.name] = card
    for adapter in ADAPTERS.names():
        if adapter not in cards and ADAPTERS.source(adapter) != "dasb":
            cards[adapter] = Card(adapter, adapter, source=ADAPTERS.source(adapter))
    return cards


def get_card(name: str) -> Card:
    """The card called ``name``; an unknown name suggests the nearest ones."""
    cards = load_cards()
    if name not in cards:
        raise RegistryError(unknown_name_message("tokenizer", name, cards))
    return cards[name]
