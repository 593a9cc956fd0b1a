"""What a number means: metric specs and benchmark settings schemas, the one place that decides them.

A benchmark declares, per metric, a :class:`MetricSpec` (direction, unit, range,
how it aggregates over utterances, whether it is the benchmark's headline), and
its settings as the typed keyword arguments of its constructor (plus
``extra_settings`` for keys it passes on). The runner, aggregation, ``dasb list
metrics``, ``dasb info``, the leaderboard and the HTML site all read these::

    MetricSpec("dwer", LOWER, unit="ratio", lower=0.0, aggregation="ratio", headline=True)

A misspelt setting is an error naming the key and its nearest valid name
(:func:`check_keys`), raised when a suite is loaded, before any work.
"""
from __future__ import annotations

import difflib
import inspect
import types
import typing
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

HIGHER, LOWER, NEUTRAL = True, False, None
# The only arrow and direction wording (leaderboard, HTML, CLI).
ARROWS = {HIGHER: "↑", LOWER: "↓", NEUTRAL: ""}
DIRECTIONS = {HIGHER: "higher is better", LOWER: "lower is better", NEUTRAL: "no better direction"}
# How a metric's aggregate row is obtained from the utterances of a selection.
AGGREGATIONS = {
    "mean": "mean over utterances, 95% bootstrap interval",
    "ratio": "corpus ratio of summed counts (edits / reference length), bootstrap over utterances",
    "weighted": "duration-weighted mean over utterances",
    "corpus": "one value computed on the whole selection (no per-utterance rows)",
    "median": "median over timed passes",
    "derived": "computed from other aggregates of the same benchmark (see the description)",
}


class SettingsError(ValueError):
    """An unknown or mistyped setting of a suite, benchmark or card."""


@dataclass(frozen=True)
class MetricSpec:
    """What one metric's number means."""

    name: str
    higher_is_better: bool | None
    unit: str = ""
    lower: float | None = None
    upper: float | None = None
    aggregation: str = "mean"
    headline: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"metric {self.name!r}: aggregation must be one of {sorted(AGGREGATIONS)}, "
                             f"got {self.aggregation!r}")
        if self.headline and self.higher_is_better is None:
            raise ValueError(f"metric {self.name!r}: a headline metric needs a direction")

    @property
    def arrow(self) -> str:
        return ARROWS[self.higher_is_better]

    @property
    def direction(self) -> str:
        return DIRECTIONS[self.higher_is_better]

    @property
    def range(self) -> str:
        if self.lower is None and self.upper is None:
            return ""
        lo = "-inf" if self.lower is None else f"{self.lower:g}"
        hi = "inf" if self.upper is None else f"{self.upper:g}"
        return f"[{lo}, {hi}]"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MetricSpec":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def spec_table(*specs: MetricSpec) -> dict[str, MetricSpec]:
    """Specs by name, in the given order (what ``Benchmark.metrics()`` returns)."""
    return {s.name: s for s in specs}


def headline_of(specs: Mapping[str, MetricSpec]) -> str:
    """The flagged headline metric, else the first with a direction, else the first."""
    flagged = [n for n, s in specs.items() if s.headline]
    if flagged:
        return flagged[0]
    directed = [n for n, s in specs.items() if s.higher_is_better is not None]
    return (directed or list(specs))[0]


def check_specs(owner: str, specs: Any) -> dict[str, MetricSpec]:
    """``specs`` if it is a valid ``metrics()`` result of ``owner``, else a ValueError saying why."""
    if not isinstance(specs, Mapping) or not specs:
        raise ValueError(f"{owner}: metrics() must return a non-empty dict of name -> MetricSpec")
    for name, spec in specs.items():
        if not isinstance(spec, MetricSpec) or spec.name != name:
            raise ValueError(f"{owner}: metrics()[{name!r}] must be a MetricSpec named {name!r}, got {spec!r}")
    if sum(s.headline for s in specs.values()) > 1:
        raise ValueError(f"{owner}: more than one headline metric: {[n for n, s in specs.items() if s.headline]}")
    return dict(specs)


# ---- judge fitness ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Control:
    """A transformation of the original audio under which a fit judge should report (almost) no loss.

    Its rows are recorded as their own subject (``name``), like the ground truth."""

    name: str
    description: str


DITHER = Control("control:dither", "the original plus ±1 LSB rectangular dither at 16 bits (inaudible): "
                                   "what a judge reports here is its own floor")
LOWPASS_4K = Control("control:lowpass4k", "the original low-passed to 4 kHz (resampled to 8 kHz and back): "
                                          "telephone band, still intelligible and recognisable to listeners")
CONTROLS = {c.name: c for c in (DITHER, LOWPASS_4K)}


@dataclass(frozen=True)
class FitnessLimit:
    """A judge is unfit for ``metric`` when its loss on ``control`` exceeds ``limit``.

    The loss is the distance from the metric's perfect value: the value itself for a lower-is-better metric
    bounded below by 0 (dWER), ``upper - value`` for a higher-is-better one bounded above (similarity)."""

    metric: str
    control: str
    limit: float
    what: str  # "floor" (a transparent control) or "blind spot" (a control a listener barely notices)

    def loss(self, value: float, spec: "MetricSpec") -> float:
        if spec.higher_is_better:
            return float(spec.upper if spec.upper is not None else 0.0) - value
        return value - float(spec.lower or 0.0)


# Per benchmark: the controls its judge is measured with on every run, and the losses that make it unfit.
# ASR (dWER, 0 = the transcript of the original): a floor above 0.05 is larger than the differences between
# good codecs, and 4 kHz band-limiting (telephone speech, which people and telephone-trained recognisers
# understand) costing more than 0.1 means the column ranks bandwidth, not intelligibility.
# Speaker (cosine similarity, 1 = the original): Resemblyzer puts same-speaker pairs of different utterances
# 0.32 (mini) to 0.37 (speech_dev) above different-speaker pairs, so a dither floor of 0.01 and a telephone-band
# loss of 0.05 are about 3 % and 15 % of that margin; telephone speech is the classic speaker verification
# condition (NIST SRE), so a fit encoder keeps it close to the original, well above other recordings of the
# same speaker.
JUDGE_FITNESS: dict[str, tuple[FitnessLimit, ...]] = {
    "asr": (FitnessLimit("dwer", DITHER.name, 0.05, "floor"),
            FitnessLimit("dwer", LOWPASS_4K.name, 0.1, "blind spot")),
    "speaker": (FitnessLimit("similarity", DITHER.name, 0.01, "floor"),
                FitnessLimit("similarity", LOWPASS_4K.name, 0.05, "blind spot")),
}


def judge_controls(benchmark: str) -> list[Control]:
    """The controls ``benchmark`` measures its judge with (empty for benchmarks without a judge)."""
    names = dict.fromkeys(f.control for f in JUDGE_FITNESS.get(benchmark, ()))
    return [CONTROLS[n] for n in names]


# ---- settings -----------------------------------------------------------------------------------
def unknown_keys(given: Iterable[str], valid: Iterable[str]) -> list[str]:
    """One message per key of ``given`` that is not ``valid``, naming the nearest valid one."""
    valid = list(valid)
    problems = []
    for key in given:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"valid: {', '.join(sorted(valid))}"
            problems.append(f"unknown setting {key!r} ({hint})")
    return problems


def check_keys(where: str, given: Iterable[str], valid: Iterable[str]) -> None:
    """A :class:`SettingsError` naming each unknown key of ``given`` and its nearest valid name."""
    problems = unknown_keys(given, valid)
    if problems:
        raise SettingsError(f"{where}: {'; '.join(problems)}")


def settings_schema(cls: type) -> dict[str, Any]:
    """Setting name -> type of a benchmark class: its constructor's keyword arguments (over the MRO)
    and the ``extra_settings`` it declares."""
    schema: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if "__init__" in vars(klass) and klass is not object:
            hints = typing.get_type_hints(klass.__init__)
            for name, p in inspect.signature(klass.__init__).parameters.items():
                if name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                    schema[name] = hints.get(name, Any)
        schema.update(vars(klass).get("extra_settings", {}))
    return schema


def check_settings(where: str, cls: type, settings: Mapping[str, Any]) -> None:
    """Unknown keys (with the nearest valid name) and values of the wrong type are a SettingsError."""
    schema = settings_schema(cls)
    check_keys(where, settings, schema)
    for key, value in settings.items():
        if not _fits(value, schema[key]):
            raise SettingsError(f"{where}: setting {key!r} must be {_type_name(schema[key])}, got {value!r}")


def _fits(value: Any, tp: Any) -> bool:
    """A shallow type check of a YAML value against an annotation (int accepted for float)."""
    if tp is Any:
        return True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if tp is type(None):
        return value is None
    if origin in (list, tuple, Iterable, typing.Sequence) or tp in (list, tuple):
        return isinstance(value, (list, tuple)) and (not args or all(_fits(v, args[0]) for v in value))
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp) if isinstance(tp, type) else True


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def catalogue() -> list[tuple[str, MetricSpec]]:
    """(benchmark, spec) of every metric every registered benchmark reports with its default settings."""
    from dasb.registry import BENCHMARKS

    return [(name, spec) for name in BENCHMARKS.names() for spec in BENCHMARKS.get(name)().metrics().values()]


def registered_spec(benchmark: str, metric: str) -> MetricSpec | None:
    """The spec of ``metric`` of the registered ``benchmark`` with default settings, if it declares one."""
    from dasb.registry import BENCHMARKS, RegistryError

    try:
        return BENCHMARKS.get(benchmark)().spec(metric)
    except (KeyError, TypeError, ValueError, RegistryError):
        return None


def describe_benchmark(cls: type) -> str:
    """Version, data needs, settings schema and metric specs of a benchmark class (``dasb info``)."""
    lines = [f"version {cls.version}; reads {', '.join(cls.needs())}", "", "settings:"]
    lines += [f"  {k}: {_type_name(t)}" for k, t in settings_schema(cls).items()]
    lines += ["", "metrics with default settings (direction, unit, range, aggregation):"]
    specs = cls().metrics()
    head = headline_of(specs)
    for s in specs.values():
        star = "  [headline]" if s.name == head else ""
        lines.append(f"  {s.name} {s.arrow}  {s.direction}; {s.unit or '-'}; {s.range or '-'}; {s.aggregation}{star}"
                     + (f"\n      {s.description}" if s.description else ""))
    return "\n".join(lines)
