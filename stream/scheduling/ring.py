"""Fixed-capacity frame ring: the producer never waits, readers take the newest frame.

Every frame pushed gets a position (0, 1, 2, ...) and lives in slot ``position % capacity``
until it is overwritten. Each reader keeps its own cursor, so the worker, the sinks and
the action window read the same ring without copies. A reader that falls behind skips
frames; the skips are counted, never queued.
"""

from __future__ import annotations

import threading
from enum import Enum

from ..frame import Frame


class RingClosed(Exception):
    """The ring was closed and the reader has nothing left to read."""


class ReadPolicy(Enum):
    NEWEST = "newest"  # live consumers: jump to the newest frame, count what was skipped
    IN_ORDER = "in_order"  # recorders: oldest unread frame; skip only what was overwritten


class Ring:
    """A ring of ``capacity`` frame slots shared by one producer and many readers.

    With ``lossless=True`` (offline rendering) ``push`` waits instead of overwriting a
    frame some reader has not read yet, so no frame is ever lost.
    """

    def __init__(self, capacity: int, *, lossless: bool = False) -> None:
        if capacity < 1:
            raise ValueError(f"ring capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.lossless = lossless
        self._slots: list[Frame | None] = [None] * capacity
        self._count = 0
        self._readers: list[RingReader] = []
        self._closed = False
        self._cond = threading.Condition()
        self.overwritten_unread = 0

    @property
    def pushed(self) -> int:
        """How many frames were ever pushed."""
        return self._count

    @property
    def closed(self) -> bool:
        return self._closed

    def reader(self, policy: ReadPolicy = ReadPolicy.NEWEST) -> RingReader:
        """A new reader that sees frames pushed from now on."""
        with self._cond:
            reader = RingReader(self, policy, self._count)
            self._readers.append(reader)
            return reader

    def push(self, frame: Frame) -> None:
        """Store ``frame`` as the newest; overwrite the oldest slot when full.

        Raises RingClosed after ``close()``. Never waits unless the ring is lossless.
        """
        with self._cond:
            if self.lossless:
                self._cond.wait_for(lambda: self._closed or self._has_room())
            if self._closed:
                raise RingClosed("push on a closed ring")
            position = self._count
            if position >= self.capacity:
                evicted = position - self.capacity
                if any(r._next <= evicted for r in self._readers):
                    self.overwritten_unread += 1
            self._slots[position % self.capacity] = frame
            self._count = position + 1
            self._cond.notify_all()

    def window(self, n: int) -> list[Frame]:
        """The last ``min(n, available)`` frames, oldest first (for clip models)."""
        if not 1 <= n <= self.capacity:
            raise ValueError(f"window of {n} frames does not fit a ring of {self.capacity}")
        with self._cond:
            first = max(0, self._count - n)
            return [self._slot(p) for p in range(first, self._count)]

    def close(self) -> None:
        """End of stream: readers drain what is left, then get RingClosed."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _has_room(self) -> bool:
        return all(self._count - r._next < self.capacity for r in self._readers)

    def _slot(self, position: int) -> Frame:
        frame = self._slots[position % self.capacity]
        assert frame is not None
        return frame

    def _detach(self, reader: RingReader) -> None:
        with self._cond:
            if reader in self._readers:
                self._readers.remove(reader)
                self._cond.notify_all()


class RingReader:
    """One consumer's cursor into a Ring. Not thread-safe: one thread per reader."""

    def __init__(self, ring: Ring, policy: ReadPolicy, start: int) -> None:
        self._ring = ring
        self.policy = policy
        self._next = start
        self.read = 0
        self.skipped = 0

    def get(self, timeout: float | None = None) -> Frame | None:
        """The next frame by this reader's policy; None on timeout.

        Raises RingClosed once the ring is closed and nothing unread is left.
        """
        ring = self._ring
        with ring._cond:
            ready = ring._cond.wait_for(lambda: ring._count > self._next or ring._closed, timeout)
            if not ready:
                return None
            if ring._count <= self._next:
                raise RingClosed("ring closed")
            oldest = max(self._next, ring._count - ring.capacity)
            position = ring._count - 1 if self.policy is ReadPolicy.NEWEST else oldest
            self.skipped += position - self._next
            self._next = position + 1
            self.read += 1
            ring._cond.notify_all()  # a lossless producer may be waiting for room
            return ring._slot(position)

    @property
    def unread(self) -> int:
        """Frames pushed that this reader has neither read nor skipped."""
        return self._ring._count - self._next

    def close(self) -> None:
        """Stop reading; a lossless ring no longer waits for this reader."""
        self._ring._detach(self)
