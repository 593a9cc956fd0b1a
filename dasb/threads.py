"""Temporarily limit torch's intra-op threads.

Small recurrent models (Resemblyzer's LSTM, the probes) run faster on one
thread; with more, torch's worker threads spin and, on a CPU shared with other
processes, a 3 s utterance can take a second instead of 40 ms.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch threads (None: leave the setting alone)."""
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
