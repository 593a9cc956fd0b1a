"""Judge models for tests: random-initialised Whisper and ECAPA-TDNN of the real architectures, in memory or
saved where a user puts downloaded weights."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
import torch

# speechbrain/spkrec-ecapa-voxceleb's hyperparams.yaml, narrowed (channels, classes) so that a test saves it fast.
ECAPA_HPARAMS = """pretrained_path: speechbrain/spkrec-ecapa-voxceleb
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: 80
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False
embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: 80
    channels: [64, 64, 64, 64, 192]
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 16
    lin_neurons: 32
classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: 32
    out_neurons: 4
modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        classifier: !ref <classifier>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        classifier: !ref <pretrained_path>/classifier.ckpt
"""


def tiny_whisper():
    """(the whisper package, a random-initialised model with Whisper tiny's dimensions)."""
    whisper = pytest.importorskip("whisper", reason="needs openai-whisper: pip install 'dasb[whisper]'")
    from whisper.model import ModelDimensions, Whisper as WhisperModel

    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=384, n_audio_head=6, n_audio_layer=4,
                           n_vocab=51865, n_text_ctx=448, n_text_state=384, n_text_head=6, n_text_layer=4)
    torch.manual_seed(0)
    return whisper, WhisperModel(dims).eval()


def save_whisper_checkpoint(path: Path) -> Path:
    """A random-initialised Whisper saved as OpenAI's ``<model>.pt`` files are (dims and state dict)."""
    _, model = tiny_whisper()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"dims": asdict(model.dims), "model_state_dict": model.state_dict()}, path)
    return path


def save_ecapa_folder(folder: Path) -> Path:
    """A random-initialised ECAPA-TDNN saved as the hub repository's files (hyperparams.yaml, checkpoints)."""
    pytest.importorskip("speechbrain", reason="needs speechbrain: pip install 'dasb[speechbrain]'")
    from hyperpyyaml import load_hyperpyyaml

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hyperparams.yaml").write_text(ECAPA_HPARAMS, encoding="utf-8")
    torch.manual_seed(0)
    built = load_hyperpyyaml(ECAPA_HPARAMS)
    for name in ("embedding_model", "classifier"):
        torch.save(built[name].state_dict(), folder / f"{name}.ckpt")
    return folder
