"""DNSMOS P.835 on overlapping windows, with the costly convolutions computed once per frame.

Microsoft's scoring tiles a clip to at least 9.01 s and runs the whole P.835
network on each 9.01 s window, one every second: a 2.2 s clip gives 7 windows
that share most of their frames. 97% of the network's time is four 3x3
convolutions over the window's log-power spectrogram (900 frames x 161 bins),
and a window's 1 s hop is exactly 100 of its 160-sample frames. So the network is
cut, with its own nodes and weights, into three parts: spectrogram (frames to
log power), front (spectrogram to the first max-pooling) and back (pooled map to
raw SIG/BAK/OVRL). The spectrogram and front run once over the frames of up to
8 consecutive windows; each window's outer 4 frames, where the convolutions see
the window's own zero padding, come from a run of the front on its first and last
8 frames. On one onnxruntime thread the values equal the whole network's, window
by window, bit for bit (the tests compare with ``speechmos``); on two, a
convolution's rounding depends on the tensor's height, so the sessions are built
single-threaded.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

SAMPLE_RATE = 16000
INPUT_SECONDS = 9.01
WINDOW_SAMPLES = int(INPUT_SECONDS * SAMPLE_RATE)  # 144160
FRAME_HOP = 160  # the network frames its input in 320-sample frames every 160 samples
FRAME_LENGTH = 320
WINDOW_FRAMES = 900
# Four 3x3 convolutions: a frame's pooled features read 4 frames either side, so a window's outer 4 frames see its
# zero padding, and an 8-frame edge run holds them with the 4 frames they read. The max-pooling halves the frames.
EDGE_FRAMES = 8
KEEP = EDGE_FRAMES // 2 // 2  # pooled rows taken from each edge run
# Frames one run of the spectrogram and front covers at most (8 consecutive windows): bounds its memory to about
# 0.5 GB of activations, whatever the clip's length.
RUN_FRAMES = WINDOW_FRAMES + 7 * SAMPLE_RATE // FRAME_HOP
FRAMES = "mos_estimator_logpow/concat:0"  # [N, frames, 320], after the network's own framing
SPECTROGRAM = "mos_estimator_logpow/truediv:0"  # [N, frames, 161] log10 power
POOLED = "mos_estimator_logpow/conv2d_3/Relu:0_pooling0"  # [N, 32, frames / 2, 80]
OUTPUT = "Identity:0"  # [N, 3] raw SIG, BAK, OVRL

Session = Any  # an onnxruntime.InferenceSession


def tile(wave: np.ndarray) -> np.ndarray:
    """``wave`` repeated by doubling until it holds one window, as Microsoft's script does."""
    while len(wave) < WINDOW_SAMPLES:
        wave = np.append(wave, wave)
    return wave


def window_starts(length: int) -> list[int]:
    """First samples of the windows Microsoft's script scores in tiled audio of ``length`` samples.

    Its window ends are ``int((i + 9.01) * 16000)``: for some ``i`` (7 to 23, ...) float rounding makes the window
    one sample short and the script skips it. The same windows are kept here, so the scores stay Microsoft's.
    """
    hops = int(np.floor(length / SAMPLE_RATE) - INPUT_SECONDS) + 1
    starts = []
    for i in range(hops):
        start, end = int(i * SAMPLE_RATE), int((i + INPUT_SECONDS) * SAMPLE_RATE)
        if min(end, length) - start >= WINDOW_SAMPLES:
            starts.append(start)
    return starts


class SharedFrameP835:
    """Raw P.835 outputs of many windows of one clip, sharing the spectrogram and convolutions of their frames."""

    def __init__(self, model_path: Path, session: Callable[[bytes], Session]) -> None:
        import onnx

        model = onnx.load(str(model_path))
        self._spectrogram = session(_part(model, FRAMES, SPECTROGRAM, [None, None, FRAME_LENGTH]))
        self._front = session(_part(model, SPECTROGRAM, POOLED, [None, None, 161]))
        self._back = session(_part(model, POOLED, OUTPUT, [None, 32, WINDOW_FRAMES // 2, 80]))

    def raw(self, audio: np.ndarray, starts: list[int]) -> np.ndarray:
        """``[len(starts), 3]`` raw SIG/BAK/OVRL of the 9.01 s windows of ``audio`` at samples ``starts`` (whole
        seconds, as from :func:`window_starts`)."""
        if any(start % SAMPLE_RATE for start in starts):
            raise ValueError(f"DNSMOS windows start on whole seconds, got samples {starts}")
        frames = _frames(audio)
        pooled = np.empty((len(starts), 32, WINDOW_FRAMES // 2, 80), np.float32)
        inner = slice(KEEP, WINDOW_FRAMES // 2 - KEEP)
        done = 0
        for firsts in _runs([start // FRAME_HOP for start in starts]):
            lo = firsts[0]
            spectrogram = self._run(self._spectrogram, frames[None, lo : firsts[-1] + WINDOW_FRAMES])
            shared = self._run(self._front, spectrogram)[0]
            offsets = [first - lo for first in firsts]
            heads = self._run(self._front, np.concatenate([spectrogram[:, o : o + EDGE_FRAMES] for o in offsets]))
            tails = self._run(self._front, np.concatenate(
                [spectrogram[:, o + WINDOW_FRAMES - EDGE_FRAMES : o + WINDOW_FRAMES] for o in offsets]))
            for k, offset in enumerate(offsets):
                window = pooled[done + k]
                window[:, :KEEP] = heads[k, :, :KEEP]
                window[:, inner] = shared[:, offset // 2 + inner.start : offset // 2 + inner.stop]
                window[:, inner.stop :] = tails[k, :, -KEEP:]
            done += len(firsts)
        return self._run(self._back, pooled)

    @staticmethod
    def _run(session: Session, x: np.ndarray) -> np.ndarray:
        return session.run(None, {session.get_inputs()[0].name: np.ascontiguousarray(x)})[0]


def _runs(firsts: list[int]) -> list[list[int]]:
    """Window first frames grouped into runs that span at most :data:`RUN_FRAMES` frames."""
    runs: list[list[int]] = []
    for first in firsts:
        if runs and first + WINDOW_FRAMES - runs[-1][0] <= RUN_FRAMES:
            runs[-1].append(first)
        else:
            runs.append([first])
    return runs


def _frames(audio: np.ndarray) -> np.ndarray:
    """``[frames, 320]``: the network's framing (a 320-sample frame every 160 samples) of all of ``audio``."""
    count = (len(audio) - FRAME_LENGTH) // FRAME_HOP + 1
    halves = np.asarray(audio[: (count + 1) * FRAME_HOP], np.float32).reshape(count + 1, FRAME_HOP)
    return np.concatenate([halves[:-1], halves[1:]], axis=1)


def _part(model: Any, start: str, end: str, input_shape: list[int | None]) -> bytes:
    """The nodes (with their weights) of ``model`` that compute tensor ``end`` from tensor ``start``, as a
    serialised model whose input is ``start`` (unknown sizes left symbolic)."""
    import onnx
    from onnx import helper

    producers = {out: node for node in model.graph.node for out in node.output}
    weights = {init.name: init for init in model.graph.initializer}
    needed, pending = set(), [end]
    while pending:
        name = pending.pop()
        if name == start or name in weights or name in needed:
            continue
        needed.add(name)
        pending.extend(producers[name].input)
    nodes = [node for node in model.graph.node if any(out in needed for out in node.output)]
    inputs = {name for node in nodes for name in node.input}
    dims = [f"d{i}" if size is None else size for i, size in enumerate(input_shape)]
    graph = helper.make_graph(
        nodes, f"dnsmos_p835_{end}",
        [helper.make_tensor_value_info(start, onnx.TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info(end, onnx.TensorProto.FLOAT, None)],
        [init for name, init in weights.items() if name in inputs],
    )
    part = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    return part.SerializeToString()
