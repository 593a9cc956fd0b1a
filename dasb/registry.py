"""One registry type for tokenizer adapters, benchmarks and metrics.

Entries are registered as ``"module:attribute"`` strings and imported only on
first use, so listing names costs no imports::

    ADAPTERS.register("pcm", "dasb.tokenizers.pcm:PCMTokenizer")
    BENCHMARKS.get("reconstruction")        # imports the module now

Third-party packages add entries through the entry-point groups
``dasb.tokenizers``, ``dasb.benchmarks`` and ``dasb.metrics``::

    [project.entry-points."dasb.tokenizers"]
    mycodec = "mycodec.dasb_adapter:MyCodec"

A name registered twice with different targets is an error naming both
sources; an unknown name suggests the nearest known names.
"""
from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """Unknown or conflicting registry name."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class Registry(Generic[T]):
    """Named, lazily imported entries of one kind."""

    def __init__(self, kind: str, group: str, check: str | None = None) -> None:
        self.kind = kind
        self.group = group
        # "module:function" called on each entry when first loaded: plugins are held to the built-ins' rules.
        self.check = check
        self._targets: dict[str, str] = {}
        self._sources: dict[str, str] = {}
        self._loaded: dict[str, T] = {}
        self._plugins_scanned = False

    def register(self, name: str, target: str, source: str = "dasb") -> None:
        """Register ``name`` for ``"module:attr"`` ``target``; ``source`` names who registered it."""
        known = self._targets.get(name)
        if known is not None and known != target:
            raise RegistryError(
                f"{self.kind} {name!r} is registered twice: {known} (from {self._sources[name]}) "
                f"and {target} (from {source})"
            )
        self._targets[name] = target
        self._sources[name] = source

    def _scan_plugins(self) -> None:
        if self._plugins_scanned:
            return
        self._plugins_scanned = True
        for ep in entry_points(group=self.group):
            dist = ep.dist.name if ep.dist is not None else "unknown distribution"
            self.register(ep.name, ep.value, source=f"entry point of {dist}")

    def names(self) -> list[str]:
        """All registered names, built-ins and plugins, sorted."""
        self._scan_plugins()
        return sorted(self._targets)

    def source(self, name: str) -> str:
        """Who registered ``name`` (``"dasb"`` or the plugin distribution)."""
        self._require(name)
        return self._sources[name]

    def _require(self, name: str) -> None:
        self._scan_plugins()
        if name not in self._targets:
            raise RegistryError(unknown_name_message(self.kind, name, self._targets))

    def get(self, name: str) -> T:
        """The object registered as ``name``, importing it on first use."""
        self._require(name)
        if name not in self._loaded:
            module, _, attr = self._targets[name].partition(":")
            obj: Any = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            if self.check is not None:
                try:
                    _resolve(self.check)(name, obj)
                except (TypeError, ValueError) as err:
                    raise RegistryError(f"{self.kind} {name!r} (from {self._sources[name]}) is invalid: {err}") from err
            self._loaded[name] = obj
        return self._loaded[name]


def _resolve(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def unknown_name_message(kind: str, name: str, known: Any) -> str:
    """'unknown X' message with the closest known names."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(known)) or 'none'}"
    return f"unknown {kind} {name!r}{hint}"


ADAPTERS: Registry[Any] = Registry("tokenizer adapter", "dasb.tokenizers")
BENCHMARKS: Registry[Any] = Registry("benchmark", "dasb.benchmarks", check="dasb.benchmarks.base:check_benchmark")
METRICS: Registry[Any] = Registry("metric", "dasb.metrics", check="dasb.metrics.base:check_metric")

# Built-in entries, as "module:attribute" below ``dasb.``, grouped by module. Adding an adapter or a
# benchmark means adding one entry here.
_BUILTINS: dict[Registry[Any], dict[str, str]] = {
    ADAPTERS: {
        "pcm": "tokenizers.pcm:PCMTokenizer", "codec2": "tokenizers.codec2:Codec2Tokenizer",
        "opus": "tokenizers.opus:OpusTokenizer", "lyra": "tokenizers.lyra:LyraTokenizer",
        "melrvq": "tokenizers.melrvq:MelRVQTokenizer", "mfcc-kmeans": "tokenizers.mfcc_kmeans:MFCCKMeansTokenizer",
        "ssl-kmeans": "tokenizers.ssl_kmeans:SSLKMeansTokenizer", "external": "external:ExternalSystem",
        **{name: f"tokenizers.hf_codecs:{cls}" for name, cls in (
            ("encodec", "EncodecTokenizer"), ("dac", "DacTokenizer"), ("mimi", "MimiTokenizer"),
            ("wavtokenizer", "WavTokenizerTokenizer"), ("xcodec", "XcodecTokenizer"),
            ("higgs-audio-v2", "HiggsAudioV2Tokenizer"), ("xcodec2", "Xcodec2Tokenizer"), ("neucodec", "NeuCodecTokenizer"))},
        **{name: f"tokenizers.pypi_codecs:{cls}" for name, cls in (
            ("snac", "SnacTokenizer"), ("speechtokenizer", "SpeechTokenizerTokenizer"), ("s3tokenizer", "S3Tokenizer"))},
        "bigcodec": "tokenizers.bigcodec:BigCodecTokenizer", "glm4voice": "tokenizers.glm4voice:GLM4VoiceTokenizer",
        "xy-tokenizer": "tokenizers.xy_tokenizer:XYTokenizer", "dm-codec": "tokenizers.dm_codec:DMCodecTokenizer",
        "dualcodec": "tokenizers.dualcodec:DualCodecTokenizer", "lm-spt": "tokenizers.lmspt:LMSPTTokenizer",
        "beats": "tokenizers.beats:BEATsTokenizer", "tadicodec": "tokenizers.tadicodec:TaDiCodecTokenizer",
    },
    BENCHMARKS: {
        "reconstruction": "benchmarks.reconstruction:Reconstruction", "asr": "benchmarks.asr:ASR",
        "speaker": "benchmarks.speaker:Speaker", "mos": "benchmarks.mos:MOS", "levels": "benchmarks.levels:Levels",
        "probes": "benchmarks.probes:Probes", "tokens": "benchmarks.tokens:TokenStatistics",
        "lm": "benchmarks.lm:TokenLM", "robustness": "benchmarks.robustness:Robustness",
        "streaming": "benchmarks.streaming:Streaming", "efficiency": "benchmarks.efficiency:Efficiency",
        "abx": "benchmarks.abx:ABX", "invariance": "benchmarks.invariance:SpeakerInvariance",
    },
    METRICS: {name: f"metrics.signal:{name.upper()}"
              for name in ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "mel_distance")},
}
for _registry, _targets in _BUILTINS.items():
    for _name, _target in _targets.items():
        _registry.register(_name, f"dasb.{_target}")
