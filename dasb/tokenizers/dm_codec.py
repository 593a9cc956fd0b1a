"""DM-Codec (Ahasan et al., 2024, arXiv:2410.15017): SpeechTokenizer's network trained with LM- and SM-guided
distillation. Its ``codec.model.Model`` (github.com/mubtasimahasan/DM-Codec @ 25c742a) has the same modules,
parameter names and shapes as ``speechtokenizer.SpeechTokenizer`` built from DM-Codec's ``config.json``
(checked in scratch with the authors' code: identical state-dict keys and shapes, identical codes and audio
with shared weights), so the SpeechTokenizer package runs it.

The weights are Google Drive files with no hub copy and no published checksum: put the downloaded file in
the card's ``checkpoint`` folder; the run records its SHA-256 as the loaded revision.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dasb.tokenizers.hf_base import WeightsUnavailable
from dasb.tokenizers.pypi_codecs import SpeechTokenizerTokenizer
from dasb.weights.base import file_sha256
from dasb.weights.catalog import LocalFiles, Source

# The architecture entries of DM-Codec's config.json (the rest of that file is training settings).
ARCHITECTURE = {
    "n_filters": 64, "strides": [8, 5, 4, 2], "dimension": 1024, "semantic_dimension": 768, "bidirectional": True,
    "dilation_base": 2, "residual_kernel_size": 3, "n_residual_layers": 1, "lstm_layers": 2, "activation": "ELU",
    "codebook_size": 1024, "n_q": 8, "sample_rate": 16000,
}
DRIVE = {"DM-Codec_checkpoint_LM_SM.pt": "https://drive.google.com/file/d/1pvrPcbUTUAlo2_iGLIIf7IFNJPfzmHbh",
         "DM-Codec_checkpoint_LM.pt": "https://drive.google.com/file/d/14DMrDzIssP-8qzXBG8v65ctF4WPA_Uyv"}


class DMCodecTokenizer(SpeechTokenizerTokenizer):
    """DM-Codec through the SpeechTokenizer package; ``checkpoint`` is a folder holding ``filename``."""

    def __init__(self, name: str, filename: str = "DM-Codec_checkpoint_LM_SM.pt", n_q: int | None = None,
                 **kwargs: Any) -> None:
        self.filename = filename
        super().__init__(name, n_q=n_q, **kwargs)

    @classmethod
    def weight_sources(cls, checkpoint: str | None, revision: str | None, params: dict[str, Any]) -> list[Source]:
        filename = params.get("filename", "DM-Codec_checkpoint_LM_SM.pt")
        return [] if checkpoint is None else [LocalFiles(checkpoint, (filename,), _how_to_get(filename, Path(checkpoint).expanduser()))]

    @classmethod
    def missing_weights(cls, checkpoint: str | None, revision: str | None, params: dict[str, Any]) -> str | None:
        filename = params.get("filename", "DM-Codec_checkpoint_LM_SM.pt")
        if checkpoint is None or (Path(checkpoint).expanduser() / filename).is_file():
            return None
        return f"weights missing: {_how_to_get(filename, Path(checkpoint).expanduser())}"

    def _load(self, checkpoint: str, revision: str | None) -> torch.nn.Module:
        path = Path(checkpoint).expanduser() / self.filename
        if not path.is_file():
            raise WeightsUnavailable(f"DM-Codec weights {path} not found: {_how_to_get(self.filename, path.parent)}")
        model = self._from_config(ARCHITECTURE)
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state.get("generator", state), strict=True)  # a training checkpoint keeps it there
        self.resolved_revision = f"sha256:{file_sha256(path)}"
        return model


def _how_to_get(filename: str, folder: Path) -> str:
    url = DRIVE.get(filename, "the DM-Codec README's Google Drive links")
    return f"download {url} and save it as {folder / filename} (or set the card's checkpoint to the folder holding it)"
