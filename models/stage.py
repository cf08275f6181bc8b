"""The stage contract shared by every model the worker runs."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable

import torch


class Stage(ABC):
    """A callable on device tensors: NCHW float RGB in [0, 1] in, same shape out.

    The worker times stages; a stage never times itself.
    """

    name: str = "stage"

    def __init__(self, device: torch.device, dtype: torch.dtype) -> None:
        self.device = device
        self.dtype = dtype

    @abstractmethod
    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    @torch.inference_mode()
    def warmup(self, height: int, width: int, runs: int = 3) -> float:
        """Run on a blank frame of this shape; returns the cheapest run's cost in ms.

        The first run pays one-off costs (allocation, compilation) and any run may be hit by
        other load; the minimum is the steady-state estimate the planner starts from.
        """
        x = torch.full((1, 3, height, width), 0.5, device=self.device, dtype=self.dtype)
        return cheapest_run_ms(lambda: self(x), self.device, runs)


def cheapest_run_ms(run: Callable[[], object], device: torch.device, runs: int = 3) -> float:
    """Call ``run`` ``runs`` times; the cheapest call after the first, in ms (the first pays
    one-off costs; any call may be hit by other load)."""
    costs = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        synchronize(device)
        costs.append((time.perf_counter() - t0) * 1e3)
    return min(costs[1:] or costs)


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels so wall-clock timings mean something."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
