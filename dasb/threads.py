"""Torch and BLAS thread counts, set only where and while they matter.

Small recurrent models (Resemblyzer's LSTM, the probes) run faster on one
thread; with more, torch's worker threads spin and, on a CPU shared with other
processes, a 3 s utterance can take a second instead of 40 ms.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import torch
from threadpoolctl import threadpool_limits


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


class CoreShare:
    """This process's torch and BLAS threads, set to the cores the metric workers leave free.

    A neural codec encoding or decoding in the main process uses every core while the
    worker pool is idle, and one thread while workers score (OpenMP threads spinning
    against busy workers made decoding many times slower). :meth:`close` restores the
    settings found at construction.
    """

    def __init__(self, cores: int | None = None) -> None:
        self.cores = cores or os.cpu_count() or 1
        self._torch_before = torch.get_num_threads()
        self._blas: threadpool_limits | None = None
        self._current: int | None = None

    def set(self, busy_workers: int) -> None:
        """Use ``cores - busy_workers`` threads (at least one)."""
        count = max(1, self.cores - busy_workers)
        if count == self._current:
            return
        # BLAS/OpenMP limits first: threadpoolctl records the settings it finds, torch's included, to restore them.
        if self._blas is not None:
            self._blas.restore_original_limits()
        self._blas = threadpool_limits(count)
        torch.set_num_threads(count)
        self._current = count

    def close(self) -> None:
        if self._blas is not None:
            self._blas.restore_original_limits()
        if self._current is not None:
            torch.set_num_threads(self._torch_before)
        self._current, self._blas = None, None
