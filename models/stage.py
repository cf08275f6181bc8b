"""The stage contract shared by every model the worker runs."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch

if TYPE_CHECKING:
    from .accel import AccelReport

#: The planner's and the stats' names of the model stages (one place for each name).
STYLE_STAGE = "stylize"
MOTION_STAGE = "interpolate"


@runtime_checkable
class LiveModel(Protocol):
    """What the engine needs of every model it runs live (``Stage``, ``FlowStage``):
    a warm-up that returns its steady cost, and what ``models.accel`` made of it."""

    name: str
    #: None where the model was not built through ``models.accel.accelerate`` (test stages).
    accel: AccelReport | None

    def warmup(self, height: int, width: int, runs: int = 3) -> float:
        """Run on blank frames of this size; the cheapest run's cost in ms."""
        ...


class Stage(ABC):
    """A callable on device tensors: NCHW float RGB in [0, 1] in, same shape out.

    The worker times stages; a stage never times itself. Satisfies ``LiveModel``.
    """

    name: str = "stage"
    accel: AccelReport | None = None
    #: A stage that runs in denoising steps (diffusion): the counts it can run, best first;
    #: the planner picks one per frame and the worker calls ``run_steps``. Empty: no steps.
    step_choices: tuple[int, ...] = ()
    #: Names of ``step_choices`` where they are forms of the model rather than step counts
    #: (a style's full and light students): the planner's rungs are named after them.
    step_names: tuple[str, ...] = ()
    #: False when the last call's time says nothing about the stage's steady cost (it repeated
    #: an output, or a stream batch was still filling): the worker then learns no cost from it.
    last_call_representative: bool = True

    def __init__(self, device: torch.device, dtype: torch.dtype) -> None:
        self.device = device
        self.dtype = dtype

    @abstractmethod
    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def run_steps(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """Run with ``steps`` of ``step_choices`` (stages without steps ignore it)."""
        return self(x)

    def set_threads(self, count: int) -> None:
        """Use ``count`` CPU threads from the next call (runtimes that fix their threads when
        compiled switch between compiled forms; others ignore it: the worker sets OpenMP's)."""
        set_runtime_threads(getattr(self, "run", None), count)

    def configure(self, change: object) -> None:
        """Apply a live change of the stage's own settings (e.g. a prompt), between frames."""
        raise TypeError(f"the {self.name} stage takes no live settings ({type(change).__name__})")

    @torch.inference_mode()
    def warmup(self, height: int, width: int, runs: int = 3) -> float:
        """Run on a blank frame of this shape; returns the cheapest run's cost in ms.

        The first run pays one-off costs (allocation, compilation) and any run may be hit by
        other load; the minimum is the steady-state estimate the planner starts from.
        """
        x = torch.full((1, 3, height, width), 0.5, device=self.device, dtype=self.dtype)
        return cheapest_run_ms(lambda: self(x), self.device, runs)


def set_runtime_threads(run: object, count: int) -> None:
    """Pass ``count`` to an accelerated callable that takes a thread count (``models.accel``)."""
    setter = getattr(run, "set_threads", None)
    if setter is not None:
        setter(count)


def run_times_ms(run: Callable[[], object], device: torch.device | None, runs: int) -> list[float]:
    """Wall time of each of ``runs`` calls of ``run`` in ms, waiting for ``device``'s queued
    kernels before and after each (the one timing loop the engine and the benches share)."""
    costs = []
    for _ in range(runs):
        if device is not None:
            synchronize(device)
        t0 = time.perf_counter()
        run()
        if device is not None:
            synchronize(device)
        costs.append((time.perf_counter() - t0) * 1e3)
    return costs


def cheapest_run_ms(run: Callable[[], object], device: torch.device, runs: int = 3) -> float:
    """Call ``run`` ``runs`` times; the cheapest call after the first, in ms (the first pays
    one-off costs; any call may be hit by other load)."""
    costs = run_times_ms(run, device, runs)
    return min(costs[1:] or costs)


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels so wall-clock timings mean something."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
