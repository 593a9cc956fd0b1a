"""What a benchmark is: it declares its needs and metrics, and scores items.

The runner encodes and decodes each utterance once per tokenizer and hands the
resulting :class:`Item` objects to every benchmark. A benchmark never calls
another benchmark; it calls the tokenizer (through :mod:`dasb.tokenizers.runtime`)
only for inputs of its own making, such as augmented or chunked audio.

Two shapes exist. An :class:`UtteranceBenchmark` scores one item at a time;
the runner records each utterance as it goes (so a killed run resumes where it
stopped) and aggregates. A :class:`CorpusBenchmark` needs all items at once
(training a probe or a language model) and returns its own aggregate results.
"""
from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from dasb.audio import content_hash
from dasb.data.corpus import Utterance
from dasb.decode_inputs import DecodeInputs
from dasb.judges.choice import AUTO, Judge
from dasb.specs import MetricSpec, check_settings, check_specs
from dasb.tokenizers.base import AudioTokenizer, Tokens


@dataclass
class Item:
    """One utterance after one tokenizer: reference, tokens and decoded audio.

    ``reference`` is mono float32 ``[N]`` at ``sample_rate`` (the file's rate);
    ``decoded`` is mono ``[N']`` at the same rate, or None when the tokenizer
    does not decode or decoding was not needed. ``decode_inputs`` is what the decoder
    was given besides the tokens; a benchmark that decodes tokens of its own
    making passes ``decode_inputs.values`` on to :func:`dasb.tokenizers.runtime.decode`.
    """

    utterance: Utterance
    reference: np.ndarray
    sample_rate: int
    tokens: Tokens | None  # None for an external system given without token files
    decoded: np.ndarray | None = None
    encode_seconds: float = 0.0
    decode_seconds: float = 0.0
    decode_inputs: DecodeInputs = field(default_factory=DecodeInputs)
    hashes: dict[str, str] = field(default_factory=dict, repr=False, compare=False)  # see dasb.result_cache


@dataclass(frozen=True)
class Result:
    """A benchmark's output before the runner adds identity and environment."""

    metric: str
    value: float | None
    utterance: str | None = None
    status: str = "ok"
    message: str | None = None
    stderr: float | None = None  # aggregate rows: standard error, 95% interval, count
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    subject: str | None = None  # None: the tokenizer's row; GROUND_TRUTH: a measurement of the original audio


class Benchmark(ABC):
    """Base of all benchmarks. Settings come from the suite file as keyword arguments.

    The settings schema is the constructor's typed keyword arguments plus ``extra_settings``
    (:func:`dasb.specs.settings_schema`); an unknown key is an error naming the nearest valid one.
    ``version`` is part of every record key: bump it when the numbers change for the same settings.
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    needs_decoded: ClassVar[bool] = False
    needs_text: ClassVar[bool] = False
    needs_speaker: ClassVar[bool] = False
    # Reads the items' tokens (False: only decoded audio, so systems without token files can run it).
    needs_tokens: ClassVar[bool] = True
    # Runs the tokenizer on audio of its own making (augmented, chunked, timed, ...): impossible for a
    # system known only by its outputs.
    needs_model: ClassVar[bool] = False
    extra_settings: ClassVar[dict[str, Any]] = {"max_utterances": int | None}
    # True when run() also reports rows about the original audio (``Result.subject = GROUND_TRUTH``): the runner
    # then runs it once on the original audio of the whole selection (decoded = reference, no tokens, no
    # tokenizer) and keeps only those rows; tokenizer runs keep only their own rows.
    ground_truth: ClassVar[bool] = False
    # True when score() uses nothing of the tokenizer but ``tokenizer.info`` and needs
    # no models of its own: the runner may then score items in worker processes.
    parallel_safe: ClassVar[bool] = False
    # True when the numbers measure the machine (wall time, memory): cached scores are then keyed by it too.
    measures_machine: ClassVar[bool] = False

    def __init__(self, **settings: Any) -> None:
        check_settings(f"benchmark {self.name!r}", type(self), settings)
        self.settings = settings

    @classmethod
    def needs(cls) -> list[str]:
        """What this benchmark reads: tokens, decoded audio, text, speaker labels, the tokenizer itself."""
        flags = {"tokens": cls.needs_tokens, "decoded audio": cls.needs_decoded, "text": cls.needs_text,
                 "speaker": cls.needs_speaker, "the tokenizer itself": cls.needs_model}
        return [n for n, on in flags.items() if on]

    def config(self) -> dict[str, Any]:
        """Everything that changes this benchmark's numbers (hashed into records)."""
        return {"name": self.name, "version": self.version, **self.settings}

    @abstractmethod
    def metrics(self) -> dict[str, MetricSpec]:
        """The metrics this benchmark reports with these settings, by name (see :mod:`dasb.specs`)."""

    def spec(self, metric: str) -> MetricSpec:
        """The spec of ``metric``; benchmarks emitting names beyond ``metrics()`` (per codebook) override it."""
        specs = self.metrics()
        if metric not in specs:
            raise KeyError(f"benchmark {self.name!r} reported {metric!r}, which its metrics() does not declare")
        return specs[metric]

    def reported_metrics(self, subject: str | None) -> list[str]:
        """The metrics with an aggregate row about ``subject`` (None: the tokenizer; else the original audio or a
        judge control, see ``ground_truth``): all of them, unless a benchmark reports some about some subjects only."""
        return list(self.metrics())

    def select(self, utterances: list[Utterance]) -> list[Utterance]:
        """The utterances this benchmark scores: all, or the first ``max_utterances`` setting."""
        limit = self.settings.get("max_utterances")
        return utterances if limit is None else utterances[: int(limit)]

    def skip_reason(self, tokenizer: AudioTokenizer) -> str | None:
        """Why this benchmark cannot run for ``tokenizer``, or None if it can."""
        info = tokenizer.info
        if self.needs_model and not info.encodes:
            return f"{self.name} runs the tokenizer on audio of its own making; {info.name} is known only by its outputs"
        if self.needs_tokens and info.num_codebooks == 0:
            return f"{self.name} needs tokens and {info.name} has none (no token files given)"
        if self.needs_decoded and not tokenizer.info.decodes:
            return f"{self.name} needs decoded audio and {tokenizer.info.name} is encode-only"
        return None

    def setup(self) -> None:
        """Load models the benchmark needs; called once before the first item."""


class UtteranceBenchmark(Benchmark):
    """A benchmark scored per utterance and aggregated by the runner."""

    @abstractmethod
    def score(self, item: Item, tokenizer: AudioTokenizer) -> dict[str, float | Exception]:
        """Metric values for one item; a metric that failed maps to its exception."""


class CorpusBenchmark(Benchmark):
    """A benchmark that needs every item at once."""

    @abstractmethod
    def run(self, items: list[Item], tokenizer: AudioTokenizer | None) -> list[Result]:
        """Aggregate (and optionally per-utterance) results for the whole corpus (``tokenizer`` is None
        in the ground-truth pass, see ``ground_truth``)."""


def check_benchmark(name: str, cls: Any) -> None:
    """A registered benchmark must be a Benchmark subclass of that name whose default settings
    give valid metric specs (:func:`dasb.specs.check_specs`)."""
    if not (isinstance(cls, type) and issubclass(cls, (UtteranceBenchmark, CorpusBenchmark))):
        raise TypeError(f"{cls!r} is not an UtteranceBenchmark or CorpusBenchmark subclass")
    if getattr(cls, "name", None) != name:
        raise ValueError(f"its class {cls.__name__} has name {getattr(cls, 'name', None)!r}, registered as {name!r}")
    if not isinstance(cls.version, int):
        raise TypeError(f"version must be an int, got {cls.version!r}")
    specs = check_specs(name, cls().metrics())
    if issubclass(cls, UtteranceBenchmark):
        odd = [m for m, s in specs.items() if s.aggregation != "mean"]
        if odd:
            raise ValueError(f"per-utterance benchmarks are aggregated as means; {odd} declare otherwise")


class JudgedBenchmark(CorpusBenchmark):
    """A corpus benchmark whose numbers come from a judge model (an ASR backend, a speaker encoder) named by
    a setting (``judge_setting``; "auto", the default, takes the best judge available, see
    :mod:`dasb.judges.choice`) with keyword ``options``; it also scores the original audio (ground truth).

    The judge's outputs are memoised by audio content, so the originals are judged once per process
    however many tokenizers run.
    """

    needs_decoded = True
    needs_tokens = False
    ground_truth = True
    judge_setting: ClassVar[str]  # the setting that names the judge

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.extra_settings = {cls.judge_setting: str}  # the judge's setting joins the settings schema

    def __init__(self, options: dict[str, Any] | None = None, **settings: Any) -> None:
        setting = self.judge_setting
        super().__init__(**{setting: settings.pop(setting, AUTO)}, options=dict(options or {}), **settings)
        self._chosen: Judge | None = None
        self._model: Any = None
        self._judged: dict[str, Any] = {}

    @staticmethod
    @abstractmethod
    def choose_judge(name: str, options: dict[str, Any]) -> Judge:
        """The judge a setting names ("auto": the best available), with why it was chosen."""

    @staticmethod
    @abstractmethod
    def make_judge(name: str, **options: Any) -> Any:
        """The judge model named ``name``, built with ``options``."""

    @property
    def judge(self) -> Judge:
        """The judge this run uses (resolved once: ``auto`` looks for the best judge's weights)."""
        if self._chosen is None:
            self._chosen = self.choose_judge(self.settings[self.judge_setting], self.settings["options"])
        return self._chosen

    def judge_identity(self) -> dict[str, Any]:
        """What of the judge goes into record keys."""
        return self.judge.identity()

    def config(self) -> dict[str, Any]:
        j = self.judge
        # The resolved judge, not "auto", so that the same judge gives the same keys however it was named.
        return {**super().config(), self.judge_setting: j.backend, "options": j.identity_options(),
                "judge": self.judge_identity()}

    def setup(self) -> None:
        if self._model is None:
            print(self.judge.describe(self.name), file=sys.stderr)
            self._model = self.make_judge(self.judge.backend, **self.judge.options)

    def judge_once(self, waves: list[np.ndarray], rate: int, judge: Any) -> list[Any]:
        """``judge(waves)`` computed only for audio not judged before (by content at ``rate``)."""
        keys = [content_hash(w, rate) for w in waves]
        todo = {k: w for k, w in zip(keys, waves) if k not in self._judged}
        if todo:
            self._judged.update(zip(todo, judge(list(todo.values()))))
        return [self._judged[k] for k in keys]
