"""Torch and BLAS thread counts, set only where and while they matter.

Small recurrent models (Resemblyzer's LSTM, the probes) run faster on one
thread; with more, torch's worker threads spin and, on a CPU shared with other
processes, a 3 s utterance can take a second instead of 40 ms.

A model's float results can depend on its thread count (a reduction split
differently): a torch codec's decoded audio moves by about 1e-7 between one
and two threads, and mel RVQ's least-squares inverse mel by up to 1e-3 after
Griffin-Lim. So a count is fixed for a whole computation, never chosen from
how busy the machine is at that moment.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from threadpoolctl import threadpool_limits

# Threads of the judges that run on CPU in the main process (NISQA, Whisper, ECAPA; DNSMOS keeps one,
# dasb/judges/mos.py): fixed, so that their scores do not depend on the machine's core count (NISQA moves by
# 2.4e-7 between 2 and 4 threads, DNSMOS by 2.3e-7 between 2 and 3).
JUDGE_THREADS = 2


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


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch and BLAS on one thread, as in a metric worker process: a score computed here equals the one a
    worker computes (SI-SDR's dot products moved by ~1e-13 with BLAS's thread count)."""
    with threadpool_limits(1), torch_threads(1):
        yield
