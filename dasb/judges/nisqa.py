"""NISQA: non-intrusive speech quality and its dimensions (Mittag, Chehadi and Möller, Interspeech 2021).

dasb's own implementation of the authors' network and front end (github.com/gabrielmittag/NISQA at
commit fe84f0f), loading their released checkpoints:

- ``nisqa.tar`` (NISQA v2): overall MOS and the four perceptual dimensions noisiness, discontinuity,
  coloration and loudness, each on the 1-5 opinion scale (higher is better; predictions may leave it).
- ``nisqa_tts.tar`` (NISQA-TTS): naturalness of synthetic speech, 1-5.

The pipeline, with every setting read from the checkpoint's ``args``: a librosa mel spectrogram of the
audio at its own sample rate (20 ms Hann window, 10 ms hop, 48 Slaney mel bands up to ``ms_fmax``, dB
of magnitudes floored 80 dB below the peak); overlapping segments of 15 frames taken every
``ms_seg_hop_length`` frames; a six-layer CNN maps each 48x15 segment to a vector; self-attention
(NISQA v2) or a BiLSTM (NISQA-TTS) relates the segments; attention pooling (one head per output) or
the BiLSTM's end states give the scores. Utterances are rated one at a time, as the authors' batch-size-1
prediction does, so no padding or masking is involved.

The weights are CC BY-NC-SA 4.0 (non-commercial); the code here is dasb's.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dasb.judges.mos import installed, playable
from dasb.threads import JUDGE_THREADS, torch_threads
from dasb.weights import NISQA as NISQA_FILES
from dasb.weights import file_sha256, weights_file

# File name -> sha256 of the authors' release (the pinned file set ``dasb.weights.NISQA``).
WEIGHTS = {f.name: f.sha256 for f in NISQA_FILES.files}
# Output names, in the order of each checkpoint's output units.
OUTPUTS = {
    "nisqa.tar": ("mos", "noisiness", "discontinuity", "coloration", "loudness"),
    "nisqa_tts.tar": ("naturalness",),
}


def weights_path(filename: str, fetch: bool = True) -> Path:
    """Verified local path of ``filename`` (:func:`dasb.weights.weights_file`): ``$DASB_WEIGHTS/nisqa/``, the dasb
    weights folder, or (``fetch``, with a network) downloaded at the pinned commit after showing the licence.
    Raises ``WeightsUnavailable`` saying how to provide it, ``WeightsCorrupt`` on a sha256 mismatch."""
    return weights_file("nisqa", filename, auto_fetch=fetch)


def load_checkpoint(filename: str) -> dict[str, Any]:
    """The checkpoint dict (``args``, ``model_state_dict``) of ``filename``, checked by sha256 before loading."""
    return torch.load(weights_path(filename), map_location="cpu", weights_only=True)


# ---- front end ---------------------------------------------------------------------------------
def stft_settings(sr: int, args: dict[str, Any]) -> tuple[int, int, int]:
    """``(n_fft, hop, window)`` in samples at ``sr`` (the checkpoints give hop and window in seconds)."""
    return args["ms_n_fft"], int(sr * args["ms_hop_length"]), int(sr * args["ms_win_length"])


def magnitude(wave: np.ndarray, settings: tuple[int, int, int]) -> np.ndarray:
    """|STFT| of mono float32 ``wave`` (Hann window, centred with reflection padding)."""
    import librosa

    n_fft, hop, win = settings
    return np.abs(librosa.stft(wave, n_fft=n_fft, hop_length=hop, win_length=win, window="hann",
                               center=True, pad_mode="reflect"))


def mel_db(mag: np.ndarray, sr: int, args: dict[str, Any]) -> np.ndarray:
    """The checkpoint's dB mel spectrogram ``[n_mels, frames]`` of a :func:`magnitude` spectrogram."""
    import librosa

    with warnings.catch_warnings():
        # NISQA v2 asks for bands up to 20 kHz: at lower sample rates the bands above Nyquist are empty
        # (their dB is the floor), exactly as in the authors' model; librosa warns about it.
        warnings.filterwarnings("ignore", message="Empty filters detected")
        mel = librosa.feature.melspectrogram(S=mag, sr=sr, n_fft=args["ms_n_fft"], power=1.0, n_mels=args["ms_n_mels"],
                                             fmin=0.0, fmax=args["ms_fmax"], htk=False, norm="slaney")
    return librosa.amplitude_to_db(mel, ref=1.0, amin=1e-4, top_db=80.0)


def check_length(samples: int, sr: int, args: dict[str, Any]) -> None:
    """Raise ValueError, before any work, for audio shorter than one segment or longer than the model takes."""
    length, hop = args["ms_seg_length"], args["ms_seg_hop_length"]
    frames = 1 + samples // stft_settings(sr, args)[1]  # centred frames
    if frames < length:
        raise ValueError(f"audio too short for NISQA: {frames} spectrogram frames, the model needs at least {length} "
                         f"({length * args['ms_hop_length']:.2f} s)")
    count = math.ceil((frames - length + 1) / hop)
    if count > args["ms_max_segments"]:
        longest = args["ms_max_segments"] * hop * args["ms_hop_length"]
        raise ValueError(f"audio too long for NISQA: {count} segments, the model takes at most "
                         f"{args['ms_max_segments']} (about {longest:.0f} s)")


def segments(spec: np.ndarray, args: dict[str, Any]) -> torch.Tensor:
    """Overlapping ``ms_seg_length``-frame windows of ``spec`` every ``ms_seg_hop_length`` frames:
    ``[n, 1, n_mels, ms_seg_length]``, the CNN's input."""
    windows = torch.from_numpy(np.ascontiguousarray(spec)).unfold(1, args["ms_seg_length"], 1).permute(1, 0, 2)
    return windows[:: args["ms_seg_hop_length"]].unsqueeze(1)


# ---- network -----------------------------------------------------------------------------------
class Stage(nn.Module):
    """One stage holding its chosen module as ``.model``: the checkpoints' parameter names nest it so."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class FramewiseCNN(nn.Module):
    """Six 3x3 conv + batch-norm + ReLU layers mapping each mel segment to one vector.

    ``adapt`` (NISQA v2) max-pools adaptively to fixed sizes after layers 1, 2 and 4 and ends in a
    conv as wide as the last pooled width; ``standard`` (NISQA-TTS) halves with 2x2 max-pools (the
    first padded in time, 15 -> 8 frames) and ends in a linear layer ``fc_out``.
    """

    def __init__(self, args: dict[str, Any]) -> None:
        super().__init__()
        c1, c2, c3 = args["cnn_c_out_1"], args["cnn_c_out_2"], args["cnn_c_out_3"]
        kernel = tuple(args["cnn_kernel_size"]) if not isinstance(args["cnn_kernel_size"], int) else (args["cnn_kernel_size"],) * 2
        channels = [1, c1, c2, c3, c3, c3, c3]
        if args["cnn_model"] == "adapt":
            pad = (1, 0) if kernel[1] == 1 else (1, 1)
            kernels, pads = [kernel] * 5 + [(kernel[0], args["cnn_pool_3"][1])], [pad] * 5 + [(1, 0)]
            sizes = {1: args["cnn_pool_1"], 2: args["cnn_pool_2"], 4: args["cnn_pool_3"]}
            self.pools = {i: (lambda x, s=tuple(s): F.adaptive_max_pool2d(x, s)) for i, s in sizes.items()}
            flat, fc_name = c3 * args["cnn_pool_3"][0], "fc"
        elif args["cnn_model"] == "standard":
            if args["ms_n_mels"] != 48 or args["ms_seg_length"] != 15 or kernel != (3, 3):
                raise ValueError("NISQA's standard CNN needs 48 mel bands, 15-frame segments and 3x3 kernels")
            kernels, pads = [kernel] * 6, [(1, 1)] * 6
            self.pools = {1: nn.MaxPool2d(2, 2, padding=(0, 1)), 2: nn.MaxPool2d(2, 2), 4: nn.MaxPool2d(2, 2)}
            flat, fc_name = c3 * 6 * 2, "fc_out"  # 48x15 pooled three times -> 6x2
        else:
            raise ValueError(f"unsupported NISQA framewise model {args['cnn_model']!r} (supported: adapt, standard)")
        for i in range(1, 7):
            self.add_module(f"conv{i}", nn.Conv2d(channels[i - 1], channels[i], kernels[i - 1], padding=pads[i - 1]))
            self.add_module(f"bn{i}", nn.BatchNorm2d(channels[i]))
        self.fc_name = fc_name if args["cnn_fc_out_h"] else None
        if self.fc_name:
            self.add_module(fc_name, nn.Linear(flat, args["cnn_fc_out_h"]))
        self.fan_out = args["cnn_fc_out_h"] or flat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, 7):
            x = F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
            if i in self.pools:
                x = self.pools[i](x)
        x = x.flatten(1)
        return getattr(self, self.fc_name)(x) if self.fc_name else x


class SelfAttention(nn.Module):
    """Linear projection, layer norm, then post-norm transformer encoder layers (no positional encoding)."""

    def __init__(self, fan_in: int, args: dict[str, Any]) -> None:
        super().__init__()
        if args["td_sa_pos_enc"]:
            raise ValueError("NISQA self-attention with positional encoding is not supported")
        d_model = args["td_sa_d_model"]
        self.linear = nn.Linear(fan_in, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d_model, args["td_sa_nhead"], dim_feedforward=args["td_sa_h"],
                                       dropout=args["td_sa_dropout"], batch_first=True)
            for _ in range(args["td_sa_num_layers"])
        )
        self.fan_out = d_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(self.linear(x))
        for layer in self.layers:
            x = layer(x)
        return x


class BiLSTM(nn.Module):
    """A (bidirectional) LSTM over the segment vectors."""

    def __init__(self, fan_in: int, args: dict[str, Any]) -> None:
        super().__init__()
        self.lstm = nn.LSTM(fan_in, args["td_lstm_h"], num_layers=args["td_lstm_num_layers"], batch_first=True,
                            dropout=args["td_lstm_dropout"], bidirectional=args["td_lstm_bidirectional"])
        self.fan_out = args["td_lstm_h"] * (2 if args["td_lstm_bidirectional"] else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


class AttentionPool(nn.Module):
    """Softmax attention over time from a small ReLU network, then a linear read-out of the weighted mean."""

    def __init__(self, fan_in: int, hidden: int) -> None:
        super().__init__()
        self.linear1 = nn.Linear(fan_in, hidden)
        self.linear2 = nn.Linear(hidden, 1)
        self.linear3 = nn.Linear(fan_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.linear2(F.relu(self.linear1(x))), dim=1)  # [B, T, 1]
        return self.linear3((weights * x).sum(dim=1))


class LastStepBiPool(nn.Module):
    """Linear read-out of a BiLSTM's forward state at the last step and backward state at the first."""

    def __init__(self, fan_in: int) -> None:
        super().__init__()
        self.linear = nn.Linear(fan_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        return self.linear(torch.cat((x[:, -1, :half], x[:, 0, half:]), dim=1))


class NISQANet(nn.Module):
    """The network a checkpoint's ``args`` describe: ``[n, 1, mels, frames]`` segments -> ``[1, outputs]``."""

    def __init__(self, args: dict[str, Any], outputs: int) -> None:
        super().__init__()
        if args.get("td_2", "skip") not in (None, "skip") or args.get("double_ended"):
            raise ValueError("NISQA models with a second time-dependency stage or a reference input are not supported")
        self.cnn = Stage(FramewiseCNN(args))
        fan_in = self.cnn.model.fan_out
        if args["td"] == "self_att":
            self.time_dependency = Stage(SelfAttention(fan_in, args))
        elif args["td"] == "lstm":
            self.time_dependency = Stage(BiLSTM(fan_in, args))
        else:
            raise ValueError(f"unsupported NISQA time-dependency model {args['td']!r} (supported: self_att, lstm)")
        fan = self.time_dependency.model.fan_out
        if args["pool"] == "att" and args["pool_att_h"]:
            heads = [Stage(AttentionPool(fan, args["pool_att_h"])) for _ in range(outputs)]
        elif args["pool"] == "last_step_bi" and args["td"] == "lstm" and args["td_lstm_bidirectional"]:
            heads = [Stage(LastStepBiPool(fan)) for _ in range(outputs)]
        else:
            raise ValueError(f"unsupported NISQA pooling {args['pool']!r} (supported: att with a hidden layer, "
                             "last_step_bi after a BiLSTM)")
        # The multi-output model keeps one pooling head per output in a list, the MOS-only model one head.
        if outputs > 1:
            self.pool_layers = nn.ModuleList(heads)
        else:
            self.pool = heads[0]

    def forward(self, segs: torch.Tensor) -> torch.Tensor:
        x = self.time_dependency(self.cnn(segs).unsqueeze(0))
        heads = self.pool_layers if hasattr(self, "pool_layers") else [self.pool]
        return torch.cat([head(x) for head in heads], dim=1)


class NISQAModel:
    """One released NISQA checkpoint (a file name of :data:`WEIGHTS`), loaded and checked."""

    def __init__(self, filename: str) -> None:
        checkpoint = load_checkpoint(filename)
        self.filename = filename
        self.args: dict[str, Any] = checkpoint["args"]
        self.outputs = OUTPUTS[filename]
        self.net = NISQANet(self.args, len(self.outputs))
        self.net.load_state_dict(checkpoint["model_state_dict"], strict=True)
        self.net.eval()

    def score(self, mag: np.ndarray, sr: int) -> dict[str, float]:
        """Scores by output name from the :func:`magnitude` spectrogram (at this model's
        :func:`stft_settings`) of audio at ``sr`` Hz."""
        with torch.inference_mode(), torch_threads(JUDGE_THREADS):
            raw = self.net(segments(mel_db(mag, sr, self.args), self.args))[0].tolist()
        return dict(zip(self.outputs, raw))


class NISQA:
    """NISQA v2 (MOS, noisiness, discontinuity, coloration, loudness) and NISQA-TTS (naturalness)."""

    outputs = tuple(name for names in OUTPUTS.values() for name in names)

    def __init__(self) -> None:
        self.models = [NISQAModel(filename) for filename in WEIGHTS]

    @staticmethod
    def identity() -> dict[str, Any]:
        """What identifies the predictions: the weights files' sha256 (or why they are missing) and librosa."""
        where = NISQA_FILES.find()  # unverified here: loading verifies
        weights = {f: "missing" if where is None else file_sha256(where / f) for f in WEIGHTS}
        return {"predictor": "nisqa", "weights_sha256": weights, "librosa": installed("librosa"), "threads": JUDGE_THREADS}

    def predict(self, wave: np.ndarray, sr: int) -> tuple[dict[str, float], str | None]:
        """Scores of mono ``wave`` at ``sr`` Hz (its own rate, as the authors' models take it) and a note
        when samples beyond full scale were clipped. Raises ValueError for silent or non-finite audio,
        audio shorter than one segment or longer than a model takes, and non-finite predictions."""
        wave, note = playable(wave, "NISQA")
        spectra: dict[tuple[int, int, int], np.ndarray] = {}  # the checkpoints share STFT settings, not mel bands
        scores: dict[str, float] = {}
        for model in self.models:
            check_length(len(wave), sr, model.args)
        for model in self.models:
            settings = stft_settings(sr, model.args)
            if settings not in spectra:
                spectra[settings] = magnitude(wave, settings)
            scores.update(model.score(spectra[settings], sr))
        if not all(math.isfinite(v) for v in scores.values()):
            raise ValueError(f"NISQA returned non-finite values {scores}")
        return scores, note
