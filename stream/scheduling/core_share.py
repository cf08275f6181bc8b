"""The CPU's cores split between the workers of streams that run side by side.

Each worker runs its models on an OpenMP team (libgomp, PyTorch's CPU threading on Linux)
as wide as the machine. Two such teams oversubscribe the cores, and libgomp then puts its
helpers to sleep between parallel regions (see ``own_thread``). So each worker on a CPU
device takes an equal share of the cores for its own team, re-applied between frames as
streams start and stop. ``torch.set_num_threads`` is process-wide; libgomp's
``omp_set_num_threads`` sets the calling thread's team only. Measured with two overloaded
streams on 2 cores (bench/NOTES.md, section 11): 58 frames/s together against 48.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable

import torch


def _openmp_setter() -> Callable[[int], None] | None:
    """libgomp's ``omp_set_num_threads`` if this process has loaded it (torch does on Linux);
    None elsewhere (another OpenMP runtime, macOS, Windows): shares are then not applied."""
    noload = getattr(os, "RTLD_NOLOAD", None)
    if noload is None:
        return None
    try:
        gomp = ctypes.CDLL("libgomp.so.1", mode=noload)
    except OSError:
        return None
    setter = gomp.omp_set_num_threads
    setter.argtypes, setter.restype = [ctypes.c_int], None
    return setter


class CoreShares:
    """How many OpenMP threads each of the live CPU workers may use: ``cores`` split evenly
    (at least one each). ``cores=None``: torch's thread count when the first worker joins
    (so a ``torch.set_num_threads`` made after import still holds). Thread-safe."""

    def __init__(self, cores: int | None, apply: Callable[[int], None] | None = None) -> None:
        self._cores = None if cores is None else max(1, cores)
        self._apply = apply
        self._workers = 0
        self._lock = threading.Lock()

    @property
    def cores(self) -> int:
        if self._cores is None:
            # Before this thread applied a share of its own: the process's setting.
            self._cores = max(1, torch.get_num_threads())
        return self._cores

    @property
    def workers(self) -> int:
        return self._workers

    def join(self) -> None:
        with self._lock:
            _ = self.cores
            self._workers += 1

    def leave(self) -> None:
        with self._lock:
            self._workers = max(0, self._workers - 1)

    def share(self) -> int:
        """Threads per worker now."""
        return max(1, self.cores // max(1, self._workers))

    def apply(self, current: int | None, cap: int | None = None) -> int | None:
        """Set the calling thread's OpenMP team to ``share()`` (at most ``cap``) if that differs
        from ``current`` (what this thread last applied); returns what the thread now has (None:
        not applied)."""
        if self._apply is None:
            return None
        threads = self.share() if cap is None else max(1, min(cap, self.share()))
        if threads != current:
            self._apply(threads)
        return threads


#: The process's CPU workers.
CPU_SHARES = CoreShares(None, _openmp_setter())
