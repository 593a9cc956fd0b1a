"""Speaker-verification scoring: equal error rate of a trial list."""
from __future__ import annotations

import numpy as np


def equal_error_rate(scores: np.ndarray, same: np.ndarray) -> float:
    """EER of trials with ``scores`` (higher = more alike) and boolean ``same`` labels.

    False-acceptance and false-rejection rates are evaluated at every distinct
    score as threshold (accept when score >= threshold); the EER is where the
    two curves cross, linearly interpolated between neighbouring thresholds.
    """
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    if scores.shape != same.shape or scores.ndim != 1:
        raise ValueError("scores and labels must be 1-D arrays of the same length")
    n_target, n_nontarget = int(same.sum()), int((~same).sum())
    if n_target == 0 or n_nontarget == 0:
        raise ValueError(f"EER needs target and non-target trials (got {n_target} and {n_nontarget})")
    thresholds = np.concatenate([np.unique(scores), [np.inf]])
    far = np.array([(scores[~same] >= t).mean() for t in thresholds])  # falls from 1 to 0
    frr = np.array([(scores[same] < t).mean() for t in thresholds])  # rises from 0 to 1
    diff = far - frr
    i = int(np.argmax(diff <= 0))  # first threshold where false rejections catch up
    if i == 0 or diff[i] == 0:
        return float((far[i] + frr[i]) / 2)
    # Crossing of the two straight segments between thresholds i-1 and i.
    w = diff[i - 1] / (diff[i - 1] - diff[i])
    return float(far[i - 1] + w * (far[i] - far[i - 1]))
