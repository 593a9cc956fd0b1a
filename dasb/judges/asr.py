"""Speech recognisers used to measure intelligibility: PocketSphinx (offline) and Whisper.

Each backend takes mono float32 audio at 16 kHz and returns one transcript per
input, plus the text normaliser its transcripts are scored with. Audio of any
length is transcribed in full: PocketSphinx decodes the whole utterance, and
Whisper's 30 s input window is tiled with equal windows of at most 30 s.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from dasb.audio import resample
from dasb.env import installed_version
from dasb.judges import sphinx_decoding
from dasb.metrics.text import normalize_text
from dasb.settings import whisper_dir
from dasb.threads import JUDGE_THREADS, torch_threads

SAMPLE_RATE = 16000
WHISPER_WINDOW_SECONDS = 30.0


class ASRBackend(Protocol):
    """What the ASR benchmark needs from a recogniser."""

    def config(self) -> dict[str, Any]:
        """Everything that changes the transcripts."""

    def normalize(self, text: str) -> str:
        """The text normalisation applied to references and hypotheses before scoring."""

    def transcribe(self, waves: list[np.ndarray]) -> list[str]:
        """One transcript per mono float32 waveform at 16 kHz."""


class PocketSphinx:
    """CMU PocketSphinx 5 with the en-us acoustic and language models shipped in its wheel.

    ``sample_rate`` is the rate the decoder's front end runs at (input is resampled
    to it); ``features`` overrides entries of the acoustic model's ``feat.params``
    (e.g. ``{"upperf": 4000}``), which PocketSphinx would otherwise apply over any
    option given; the other keywords are decoder options (``lw``, ``beam``, ...).
    ``processes`` (default: the number of cores) decode several utterances at once;
    the transcripts are the same with any number (:mod:`dasb.judges.sphinx_decoding`).
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, features: dict[str, Any] | None = None,
                 processes: int | None = None, **decoder_options: Any) -> None:
        try:
            import pocketsphinx  # noqa: F401
        except ImportError as err:
            raise ImportError("the pocketsphinx ASR backend needs pocketsphinx: pip install 'dasb[asr]'") from err
        self.identity = pocketsphinx_config(sample_rate, features, **decoder_options)
        self.sample_rate = sample_rate
        self.processes = processes or os.cpu_count() or 1
        self._options = decoder_options
        self._decoder = sphinx_decoding.new_decoder(sample_rate, self.identity["features"], decoder_options)

    def config(self) -> dict[str, Any]:
        return self.identity

    def normalize(self, text: str) -> str:
        return normalize_text(text)

    def transcribe(self, waves: list[np.ndarray]) -> list[str]:
        pcms = [(np.clip(resample(w, SAMPLE_RATE, self.sample_rate), -1.0, 1.0) * 32767).astype(np.int16).tobytes()
                for w in waves]
        if len(pcms) < 2 or self.processes < 2 or not sphinx_decoding.can_start_workers():
            return [sphinx_decoding.decode(self._decoder, pcm) for pcm in pcms]
        features = self.identity["features"]
        return sphinx_decoding.decode_in_pool(self.processes, self.sample_rate, features, self._options, pcms)


def _bundled_features() -> dict[str, str]:
    """The ``feat.params`` of the en-us acoustic model in the pocketsphinx wheel, without leading dashes."""
    import pocketsphinx

    path = Path(pocketsphinx.__file__).parent / "model" / "en-us" / "en-us" / "feat.params"
    pairs = (line.split(None, 1) for line in path.read_text().splitlines() if line.strip())
    return {key.lstrip("-"): value.strip() for key, value in pairs}


def pocketsphinx_config(sample_rate: int = SAMPLE_RATE, features: dict[str, Any] | None = None,
                        **decoder_options: Any) -> dict[str, Any]:
    """Everything that changes PocketSphinx's transcripts, computed without loading it: the package
    version, the front end's sample rate, the acoustic features in effect and the decoder options."""
    effective = _bundled_features()
    unknown = sorted(set(features or {}) - set(effective))
    if unknown:
        raise ValueError(f"unknown PocketSphinx feature parameter(s) {unknown}; known: {sorted(effective)}")
    effective.update({k: str(v) for k, v in (features or {}).items()})
    upperf = float(effective["upperf"])
    if upperf >= sample_rate / 2:
        raise ValueError(f"PocketSphinx upperf {upperf:g} Hz must be below half the sample rate ({sample_rate} Hz)")
    return {"backend": "pocketsphinx", "version": installed_version("pocketsphinx"), "sample_rate": sample_rate,
            "features": effective, "options": dict(sorted(decoder_options.items()))}


def split_windows(wave: np.ndarray, seconds: float = WHISPER_WINDOW_SECONDS) -> list[np.ndarray]:
    """Cut ``wave`` (16 kHz) into the fewest equal windows of at most ``seconds``.

    Equal windows avoid a short trailing scrap, on which Whisper tends to
    hallucinate; an empty input gives one empty window.
    """
    limit = int(seconds * SAMPLE_RATE)
    count = max(1, math.ceil(wave.shape[-1] / limit))
    return list(np.array_split(wave, count))


class Whisper:
    """OpenAI Whisper (openai-whisper), greedy or beam decoding of batched 30 s windows.

    ``model`` is a model name (``tiny``, ``base``, ``small``, ``medium``, ``large-v3``,
    ``turbo``, ...) looked up in ``download_root``, or a path to a ``.pt`` checkpoint;
    ``checkpoint``, when given, is the ``.pt`` file of ``model`` to load (found by :mod:`dasb.weights`).
    Tests pass ``module``, an already built :class:`whisper.model.Whisper`.
    """

    def __init__(
        self,
        model: str = "small",
        download_root: str | None = None,
        language: str = "en",
        batch_size: int = 8,
        beam_size: int | None = None,
        sample_len: int | None = None,
        device: str = "cpu",
        checkpoint: str | None = None,
        module: Any = None,
    ) -> None:
        self.whisper = _require_whisper()
        self.checkpoint = checkpoint
        self.name, self.language, self.batch_size = model, language, batch_size
        self.beam_size, self.sample_len, self.device = beam_size, sample_len, device
        self.download_root = download_root or str(whisper_dir())
        self.model = module if module is not None else self._load()
        from whisper.normalizers import BasicTextNormalizer, EnglishTextNormalizer

        self._normalizer: Callable[[str], str] = (
            EnglishTextNormalizer() if language == "en" else BasicTextNormalizer()
        )

    def _load(self) -> Any:
        try:
            return self.whisper.load_model(self.checkpoint or self.name, device=self.device,
                                           download_root=self.download_root)
        except Exception as err:
            raise RuntimeError(
                f"cannot load Whisper model {self.name!r} ({type(err).__name__}: {err}); provide the checkpoint "
                f"as {self.download_root}/{self.name}.pt (set DASB_WHISPER_DIR or download_root), or pass a .pt path "
                "as `model`"
            ) from err

    def config(self) -> dict[str, Any]:
        return {
            "backend": "whisper", "model": self.name, "language": self.language,
            "beam_size": self.beam_size, "sample_len": self.sample_len, "window_seconds": WHISPER_WINDOW_SECONDS,
            "threads": JUDGE_THREADS,
        }

    def normalize(self, text: str) -> str:
        return self._normalizer(text)

    def transcribe(self, waves: list[np.ndarray]) -> list[str]:
        import torch

        wh = self.whisper
        windows = [(i, w) for i, wave in enumerate(waves) for w in split_windows(wave)]
        options = wh.DecodingOptions(
            task="transcribe", language=self.language, fp16=False, without_timestamps=True,
            beam_size=self.beam_size, sample_len=self.sample_len,
        )
        n_mels = self.model.dims.n_mels
        texts: list[list[str]] = [[] for _ in waves]
        for start in range(0, len(windows), self.batch_size):
            batch = windows[start : start + self.batch_size]
            mel = torch.stack([
                wh.log_mel_spectrogram(wh.pad_or_trim(torch.from_numpy(np.ascontiguousarray(w, np.float32))), n_mels)
                for _, w in batch
            ]).to(self.device)
            with torch.inference_mode(), torch_threads(JUDGE_THREADS):
                results = wh.decode(self.model, mel, options)
            for (i, _), res in zip(batch, results):
                texts[i].append(res.text.strip())
        return [" ".join(t for t in parts if t) for parts in texts]


def _require_whisper() -> Any:
    try:
        import whisper
    except ImportError as err:
        raise ImportError("the whisper ASR backend needs openai-whisper: pip install 'dasb[whisper]'") from err
    return whisper


BACKENDS: dict[str, Callable[..., ASRBackend]] = {"pocketsphinx": PocketSphinx, "whisper": Whisper}


def make_asr(backend: str, **options: Any) -> ASRBackend:
    """Build the ASR backend named ``backend`` with its options."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown ASR backend {backend!r}; known: {', '.join(BACKENDS)}")
    return BACKENDS[backend](**options)


def asr_config(backend: str, options: dict[str, Any]) -> dict[str, Any]:
    """The configuration in effect for ``backend`` with ``options``, defaults included, without loading
    the model: what record keys must hold beyond the options a suite states."""
    if backend == "pocketsphinx":
        return pocketsphinx_config(**options)
    return dict(options)
