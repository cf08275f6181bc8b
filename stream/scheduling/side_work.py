"""The contract of a stage that runs beside the frame path (``StageKind.DEFERRABLE``).

Stages declare their kind in their ``StageSpec``: per-frame stages (the effect: REQUIRED) and
optional ones (motion: OPTIONAL, skipped or reduced per frame) run in the worker's chain;
side work (action labels: DEFERRABLE, with a minimum rate of its own) runs on its own thread,
and the worker gives each one a turn after every frame through this contract, without
knowing what it computes.
"""

from __future__ import annotations

from typing import Protocol

from .budget import StageSpec


class SideWork(Protocol):
    """What the worker needs of a stage beside the frame path."""

    @property
    def spec(self) -> StageSpec:
        """The planner's view: a DEFERRABLE spec with the share of frames it runs on."""
        ...

    def new_cost_ms(self) -> float | None:
        """The cost of a run finished since the last call (None: none), for the planner."""
        ...

    def on_frame(self, scheduled: bool, now_ns: int) -> None:
        """One frame went out; ``scheduled``: the plan made room for a run now. The stage may
        also run unscheduled to keep its own minimum rate."""
        ...
