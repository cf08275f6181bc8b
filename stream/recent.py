"""Samples of a recent time window (times passed in, so tests need no clock): the median of the
video's capture-to-send latency, the worst arrival lag of the sound."""

from __future__ import annotations

from collections import deque


class RecentSamples:
    """The samples of the last ``window_s`` seconds (at most ``limit`` of them)."""

    def __init__(self, window_s: float = 2.0, limit: int = 1024) -> None:
        self.window_ns = int(window_s * 1e9)
        self._samples: deque[tuple[int, float]] = deque(maxlen=limit)

    def add(self, t_ns: int, value: float) -> None:
        self._samples.append((t_ns, value))

    def median(self, now: int) -> float | None:
        """The median of the samples newer than ``now - window_s`` (None when there are none)."""
        values = sorted(self._recent(now))
        return values[len(values) // 2] if values else None

    def maximum(self, now: int) -> float | None:
        """The largest sample newer than ``now - window_s`` (None when there are none)."""
        values = self._recent(now)
        return max(values) if values else None

    def _recent(self, now: int) -> list[float]:
        while self._samples and self._samples[0][0] < now - self.window_ns:
            self._samples.popleft()
        return [v for _, v in self._samples]
