"""Token sequences as the token-level benchmarks see them.

One place for: the valid codes of each codebook (honouring ``Tokens.mask``),
frame symbols for sequence comparisons, run-length de-duplication and the
normalised unit edit distance.
"""
from __future__ import annotations

import numpy as np

from dasb.tokenizers.base import Tokens

CODEBOOK_MODES = ("auto", "first", "all")


def codebook_streams(tokens: Tokens) -> list[np.ndarray]:
    """Valid codes of each codebook of a one-item :class:`Tokens`, in time order.

    Entries outside ``lengths`` or masked out by ``mask`` are dropped.
    """
    if tokens.codes.shape[0] != 1:
        raise ValueError(f"expected one item, got a batch of {tokens.codes.shape[0]}")
    n = int(tokens.lengths[0])
    codes = tokens.codes[0, :, :n].cpu().numpy()
    if tokens.mask is None:
        return [codes[k] for k in range(codes.shape[0])]
    mask = tokens.mask[0, :, :n].cpu().numpy()
    return [codes[k][mask[k]] for k in range(codes.shape[0])]


def frame_symbols(tokens: Tokens, codebooks: str = "auto") -> np.ndarray:
    """One integer symbol per frame (frames where the symbol has no valid code are dropped).

    ``"first"``: codebook 0's code (the coarse level of RVQ codecs). ``"all"``:
    a 64-bit hash of the frame's whole code tuple (masked entries excluded), the
    same for equal tuples in any utterance, so a change in any codebook counts.
    ``"auto"``: ``"all"`` for masked tokens (their codebooks are positions in a
    variable-size frame, such as an Opus packet's bytes, whose first byte is a
    constant header), else ``"first"``.
    """
    if codebooks not in CODEBOOK_MODES:
        raise ValueError(f"codebooks must be one of {CODEBOOK_MODES}, got {codebooks!r}")
    if codebooks == "auto":
        codebooks = "first" if tokens.mask is None else "all"
    n = int(tokens.lengths[0])
    codes = tokens.codes[0, :, :n].cpu().numpy().astype(np.int64)
    valid = np.ones(codes.shape, dtype=bool) if tokens.mask is None else tokens.mask[0, :, :n].cpu().numpy()
    if codebooks == "first":
        return codes[0][valid[0]]
    symbols = np.zeros(n, dtype=np.int64)
    with np.errstate(over="ignore"):  # wrap-around arithmetic is the hash
        for k in range(codes.shape[0]):
            symbols = symbols * np.int64(1_000_003) + np.where(valid[k], codes[k] + 1, 0)
    return symbols[valid.any(axis=0)]


def deduplicate(seq: np.ndarray) -> np.ndarray:
    """Collapse runs of repeated symbols (``1 1 2 2 1`` -> ``1 2 1``)."""
    seq = np.asarray(seq)
    if seq.size == 0:
        return seq
    keep = np.ones(seq.size, dtype=bool)
    keep[1:] = seq[1:] != seq[:-1]
    return seq[keep]


def unit_edit_distance(ref: np.ndarray, hyp: np.ndarray) -> float:
    """Levenshtein distance between de-duplicated sequences over the reference's length.

    As in Gat et al. (2023), "Augmentation Invariant Discrete Representation for
    Generative Spoken Language Modeling": 0 for identical unit sequences; can
    exceed 1 when ``hyp`` is much longer. Uses rapidfuzz's bit-parallel
    Levenshtein so that per-sample tokenizers (tens of thousands of units) stay cheap.
    """
    try:
        from rapidfuzz.distance import Levenshtein
    except ImportError as err:
        raise ImportError("unit edit distance needs rapidfuzz: pip install 'dasb[tokens]'") from err
    r, h = deduplicate(ref), deduplicate(hyp)
    if r.size == 0:
        raise ValueError("reference token sequence is empty")
    return Levenshtein.distance(r.tolist(), h.tolist()) / r.size


def normalised_edit_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric Levenshtein distance of de-duplicated sequences over the longer one's length, in [0, 1]."""
    from rapidfuzz.distance import Levenshtein

    x, y = deduplicate(a), deduplicate(b)
    longest = max(x.size, y.size)
    if longest == 0:
        raise ValueError("both token sequences are empty")
    return Levenshtein.distance(x.tolist(), y.tolist()) / longest
