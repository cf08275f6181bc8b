"""A live capture's sound on the monotonic clock: each block's start from a running sample count.

A block read at ``now`` holding n samples started at ``now - n/rate`` at the latest: a reader
that woke late (or a sound server that delivered late) only makes that time later. So the
count's origin is the earliest such time seen: a prompter block pulls it earlier, a later one
moves nothing, and consecutive blocks get consecutive times (no jitter, no clicks where the
sinks place them). A block later than the count by more than ``REANCHOR_S`` means samples were
lost (the reader stalled, the server dropped sound): a new run starts at its own time. A device
whose clock runs slower than the monotonic one makes every block a little later than the count;
once a whole ``WINDOW_S`` of blocks came later by more than ``FOLLOW_S``, the count follows.
"""

from __future__ import annotations

#: Largest lateness (s) of a block against the count that is still a late read, not lost sound.
REANCHOR_S = 0.1
#: Stretch of sound (s) over which the earliest block's lateness is watched.
WINDOW_S = 2.0
#: Lateness (s) that every block of a window must exceed before the count moves later.
FOLLOW_S = 0.001


class LiveClock:
    """``place`` each block as it is read; ``latency_ns`` is subtracted from every reading
    (what the path to the reader is known to add)."""

    def __init__(self, rate: int, latency_ns: int = 0) -> None:
        self.rate = rate
        self.latency_ns = latency_ns
        self._origin: float | None = None  # ns: where the current run's first sample started
        self._count = 0  # samples placed in the current run
        self._window_left = 0  # samples left in the lateness window
        self._window_min = float("inf")  # the earliest block's lateness in it (ns)
        #: Runs started after the first (sound lost on the way).
        self.reanchors = 0

    def place(self, frames: int, now_ns: int) -> int:
        """The start (monotonic ns) of a block of ``frames`` samples read at ``now_ns``."""
        measured = now_ns - self.latency_ns - frames * 1e9 / self.rate
        if self._origin is None or measured - self._counted() > REANCHOR_S * 1e9:
            if self._origin is not None:
                self.reanchors += 1
            self._origin, self._count = measured, 0
            self._window_left, self._window_min = round(WINDOW_S * self.rate), float("inf")
        late = measured - self._counted()
        if late < 0:  # an earlier origin proves the one held was read late
            self._origin += late
            late = 0.0
        self._window_min = min(self._window_min, late)
        self._window_left -= frames
        if self._window_left <= 0:
            if self._window_min > FOLLOW_S * 1e9:
                self._origin += self._window_min
            self._window_left, self._window_min = round(WINDOW_S * self.rate), float("inf")
        start = self._counted()
        self._count += frames
        return round(start)

    def _counted(self) -> float:
        assert self._origin is not None
        return self._origin + self._count * 1e9 / self.rate
