"""A stage that fails passes its frame through; one that fails ``DISABLE_AFTER`` frames in a
row is turned off, and the stream goes on without it (e.g. a GPU out of memory at a size)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from livefx.models.errors import one_line

from ..frame import Frame
from .budget import IO_STAGE

log = logging.getLogger("livefx.worker")

#: A stage that fails this many frames in a row is turned off (the stream goes on without it).
DISABLE_AFTER = 20


class StageFailures:
    """The worker's failure counters, as the stats report them, and each stage's streak of
    failed frames. Worker thread only."""

    def __init__(self) -> None:
        #: Frames a stage failed on, all stages together.
        self.count = 0
        #: The latest failure, "stage: reason" (None: none yet).
        self.last: str | None = None
        #: Stages turned off after failing DISABLE_AFTER frames in a row (e.g. out of GPU memory).
        self.disabled: list[str] = []
        self._streaks: dict[str, int] = {}

    def failed(self, name: str, frame: Frame, exc: Exception) -> bool:
        """Count a failure of ``name`` on ``frame`` (logged the first and every 100th time);
        True when it has now failed DISABLE_AFTER frames in a row and is turned off (the
        frame conversion, ``IO_STAGE``, never is)."""
        self.count += 1
        self.last = f"{name}: {one_line(exc)}"
        if self.count == 1 or self.count % 100 == 0:
            log.error("processing frame %d failed in %s (%s); passing it through", frame.seq, name, one_line(exc))
            log.debug("the failure", exc_info=exc)
        self._streaks[name] = self._streaks.get(name, 0) + 1
        if self._streaks[name] < DISABLE_AFTER or name == IO_STAGE:
            return False
        self._streaks.pop(name)
        if name not in self.disabled:
            self.disabled.append(name)
        log.error(
            "%s failed on %d frames in a row (%s): turned off, the stream goes on without it",
            name,
            DISABLE_AFTER,
            one_line(exc),
        )
        return True

    def succeeded(self, names: Iterable[str]) -> None:
        """The stages in ``names`` ran on a frame: their streaks start afresh."""
        for name in names:
            self._streaks.pop(name, None)

    def enable(self, name: str) -> None:
        """``name`` was asked for again (a new model, motion back on): a fresh start."""
        if name in self.disabled:
            self.disabled.remove(name)
