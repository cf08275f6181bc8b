"""The settings of one run (``Pipeline``): budget, pacing, sizes, ring slots, backend, threads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .frame import now_ns
from .scheduling.budget import OnLate


@dataclass
class PipelineConfig:
    budget_ms: float = 100.0
    #: What a frame gets when even the cheapest plan misses the budget (see stream.budget).
    on_late: OnLate = OnLate.BEST_EFFORT
    realtime: bool = True
    #: Prefer plans that keep up with the source's frame rate (see BudgetPlanner.plan);
    #: False: the best plan the latency budget allows, dropping frames when it is slow.
    keep_up: bool = True
    fps: float | None = None
    max_frames: int | None = None
    size: tuple[int, int] | None = None
    #: How frames meet ``size``: pad (letterbox), crop or stretch (see stream.fit).
    fit: str = "pad"
    #: Input ring slots: enough for a 16-frame action window plus slack.
    ring_capacity: int = 32
    #: Output ring slots: how far a recorder may fall behind before it skips.
    out_capacity: int = 8
    #: Model backend for stages built during the run (see models.accel).
    backend: str = "auto"
    #: CPU threads for the models, fixed (None: tuned between frames from the worker's timings,
    #: see stream.thread_tuner).
    threads: int | None = None
    #: On a CPU with no interpolation or stabilization, when no form of the effect keeps up at
    #: 0.75 scale it may run there on one frame in ``carry``, the frames between showing it
    #: carried along the motion (stream.stages.carry), before 0.5 scale is taken. 1: never.
    carry: int = 2
    #: The effect mixed with the input (0: the input, 1: the full effect) and the output
    #: mirrored, at start (see stages.post.OutputLook; both change live).
    mix: float = 1.0
    mirror: bool = False
    #: Monotonic ns read for capture stamps, planning and latency; tests inject a fake one.
    clock: Callable[[], int] = now_ns
