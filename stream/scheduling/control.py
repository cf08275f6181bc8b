"""Live changes into a running worker: one bounded queue, applied between two frames.

Every change to what the worker does (a style swap, the budget, interpolation on/off, a
diffusion prompt, the output's mix and mirror) is a message here. Other threads only ``send``; the
worker thread alone ``drain``s, so the planner and the worker's settings have one writer
and a frame never sees half a change. Each message's future resolves once it is applied.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from ..errors import LivefxError, UsageError

if TYPE_CHECKING:
    from livefx.models.stage import Stage

    from .budget import StageSpec


@dataclass(frozen=True)
class StageSwap:
    """A stage prepared off the hot path, to replace (or with ``stage=None`` remove) the
    stage of the same name. ``warm_costs`` ((cost key, pixels) -> ms; see ``budget.cost_key``)
    seed the planner's cost model."""

    spec: StageSpec
    stage: Stage | None
    warm_costs: dict[tuple[str, int], float]
    position: int = 0


@dataclass(frozen=True)
class SetBudget:
    """The per-frame latency budget, in ms (> 0)."""

    ms: float


@dataclass(frozen=True)
class SetMotion:
    """Interpolation/stabilization on or off; ``None`` toggles."""

    on: bool | None


@dataclass(frozen=True)
class ConfigureStage:
    """A change to a running stage's own settings (``Stage.configure``), e.g. a diffusion prompt
    whose embeddings were computed off the hot path."""

    stage: str
    change: object


#: How a ``SetLook`` switch changes a setting.
SWITCHES = ("on", "off", "toggle")


@dataclass(frozen=True)
class SetLook:
    """The output's look (``stages.post.OutputLook``): ``mix`` sets the effect mix (0: the
    input, 1: the full effect), ``mix_by`` moves it (the result clamped to 0..1); ``effect``
    and ``mirror`` are switched "on", "off" or "toggle". None (0 for ``mix_by``) leaves a
    setting as it is. Bad values fail here, in the sender's thread."""

    mix: float | None = None
    mix_by: float = 0.0
    effect: str | None = None
    mirror: str | None = None

    def __post_init__(self) -> None:
        if self.mix is not None and not (math.isfinite(self.mix) and 0.0 <= self.mix <= 1.0):
            raise UsageError(f"mix {self.mix:g}: must be between 0 and 1")
        if not (math.isfinite(self.mix_by) and -1.0 <= self.mix_by <= 1.0):
            raise UsageError(f"mix step {self.mix_by:+g}: must be between -1 and +1")
        for name in ("effect", "mirror"):
            value = getattr(self, name)
            if value is not None and value not in SWITCHES:
                raise UsageError(f"{name} {value}: expected on, off or toggle")


Control = Union[StageSwap, SetBudget, SetMotion, ConfigureStage, SetLook]  # noqa: UP007 - a runtime alias


class ControlQueue:
    """At most ``capacity`` changes waiting; a sender past that gets an error, never a wait."""

    def __init__(self, capacity: int = 32) -> None:
        self._queue: queue.Queue[tuple[Control, Future]] = queue.Queue(capacity)
        self._lock = threading.Lock()
        self._closed: LivefxError | None = None

    def send(self, message: Control) -> Future:
        """Queue ``message``; the future resolves when the worker has applied it (or fails
        with the reason it never will be)."""
        future: Future = Future()
        with self._lock:
            if self._closed is not None:
                future.set_exception(self._closed)
                return future
            try:
                self._queue.put_nowait((message, future))
            except queue.Full:
                future.set_exception(LivefxError("too many live changes waiting; try again in a moment"))
        return future

    def drain(self, apply: Callable[[Control], None]) -> int:
        """Apply every waiting message in order (worker thread only); returns how many."""
        applied = 0
        while True:
            try:
                message, future = self._queue.get_nowait()
            except queue.Empty:
                return applied
            try:
                apply(message)
            except Exception as exc:  # noqa: BLE001 - the sender gets the error, the stream goes on
                future.set_exception(exc)
            else:
                future.set_result(None)
            applied += 1

    def close(self, reason: str = "the stream has ended") -> None:
        """Refuse new messages and fail those still waiting, so no sender waits forever."""
        with self._lock:
            self._closed = LivefxError(reason)
        while True:
            try:
                _, future = self._queue.get_nowait()
            except queue.Empty:
                return
            future.set_exception(self._closed)
