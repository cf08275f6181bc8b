"""Measuring for the bench suite: interleaved timing (CUDA events on a GPU), percentiles,
and the peak memory a scenario reaches."""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from collections.abc import Callable

import numpy as np
import torch


def percentile_summary(samples: list[float], *, digits: int = 2) -> dict[str, float]:
    """Median, p95 and p99 of ``samples`` (ms), rounded."""
    if not samples:
        return {"median_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    p50, p95, p99 = np.percentile(np.asarray(samples, float), [50, 95, 99])
    return {
        "median_ms": round(float(p50), digits),
        "p95_ms": round(float(p95), digits),
        "p99_ms": round(float(p99), digits),
    }


def time_interleaved(
    calls: dict[str, Callable[[], object]], *, runs: int, warmup: int = 1, device: torch.device
) -> dict[str, list[float]]:
    """Per call, ``runs`` timings in ms after ``warmup`` untimed rounds (at least 3 on CUDA:
    torch.compile compiles on the first call and records its CUDA graph on the second).
    Every round runs each call once, so a machine that slows down slows all of them alike.
    On CUDA the time is the GPU timeline between two events around the call (what the
    call occupies the device for, launch gaps included)."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    cuda = device.type == "cuda"
    warmup = max(warmup, 3) if cuda else warmup
    with torch.cuda.device(device) if cuda else contextlib.nullcontext():
        _rounds(calls, samples, runs, warmup, cuda)
    return samples


def _rounds(
    calls: dict[str, Callable[[], object]], samples: dict[str, list[float]], runs: int, warmup: int, cuda: bool
) -> None:
    for round_ in range(warmup + runs):
        for name, call in calls.items():
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                call()
                end.record()
                end.synchronize()
                ms = start.elapsed_time(end)
            else:
                t0 = time.perf_counter()
                call()
                ms = (time.perf_counter() - t0) * 1e3
            if round_ >= warmup:
                samples[name].append(ms)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the process's lifetime peak is the best there is
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakMemory:
    """``with PeakMemory(device) as peak:`` samples the process's resident memory every
    ``every_s`` while the block runs: ``peak.rss_mb`` is the highest seen, ``peak.growth_mb``
    how far that is above the resident memory at the start (the process's other scenarios
    are in both), ``peak.gpu_mb`` the CUDA allocator's peak inside the block (None unless
    ``device`` is a GPU)."""

    def __init__(self, device: torch.device | None = None, every_s: float = 0.02) -> None:
        self.every_s = every_s
        self.device = device if device is not None and device.type == "cuda" else None
        self.rss_mb = 0.0
        self.start_mb = 0.0
        self.gpu_mb: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-rss", daemon=True)

    def _sample(self) -> None:
        peak = _rss_bytes()
        self.start_mb = round(peak / 2**20, 1)
        while not self._stop.wait(self.every_s):
            peak = max(peak, _rss_bytes())
        self.rss_mb = round(max(peak, _rss_bytes()) / 2**20, 1)

    def __enter__(self) -> PeakMemory:
        if self.device is not None:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.device is not None:
            torch.cuda.synchronize(self.device)
            self.gpu_mb = round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)

    @property
    def growth_mb(self) -> float:
        return round(self.rss_mb - self.start_mb, 1)

    def as_dict(self) -> dict[str, float | None]:
        return {"peak_rss_mb": self.rss_mb, "rss_growth_mb": self.growth_mb, "peak_gpu_mb": self.gpu_mb}
