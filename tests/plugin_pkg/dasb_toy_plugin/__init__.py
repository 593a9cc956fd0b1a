"""A toy third-party tokenizer: one bit per sample (the sign) at 8 kHz."""
import numpy as np

from dasb.metrics import Metric
from dasb.tokenizers import AudioTokenizer, Tokens, TokenizerInfo


class SignTokenizer(AudioTokenizer):
    def __init__(self, name: str = "toy-sign") -> None:
        self.info = TokenizerInfo(name=name, sample_rate=8000, num_codebooks=1, codebook_size=2,
                                  frame_rate=8000.0, kind="classic", causal=True)

    def encode(self, audio, lengths):
        return Tokens((audio.mean(1, keepdim=True) >= 0).long(), lengths.clone())

    def decode(self, tokens):
        return (tokens.codes.float() * 0.2 - 0.1), tokens.lengths.clone()


PEAK_ERROR = Metric("toy_peak_error", lambda r, e, sr: float(np.max(np.abs(r - e))), False, "Peak sample error")
