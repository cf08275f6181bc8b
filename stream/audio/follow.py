"""The audio delay's target from the video's measured latency: steady while the latency only
jitters, following it when it really moves."""

from __future__ import annotations

import math
from collections import deque
from statistics import median


class LatencyFollower:
    """Feed it each capture-to-output latency of the video (ms); ``target_ms`` is the median
    of the last ``window`` samples, moved only when that median leaves ``+-hysteresis_ms``
    around the current target (frame-to-frame jitter does not make the sound glide)."""

    def __init__(self, window: int = 31, hysteresis_ms: float = 8.0) -> None:
        if window < 1 or hysteresis_ms < 0:
            raise ValueError(f"latency follower: window >= 1 and hysteresis >= 0, got {window}, {hysteresis_ms}")
        self._recent: deque[float] = deque(maxlen=window)
        self.hysteresis_ms = hysteresis_ms
        self.target_ms: float | None = None
        #: How often the target moved.
        self.moves = 0

    def add(self, latency_ms: float) -> float | None:
        """Take one latency sample (non-finite or negative ones are ignored); return the target."""
        if not math.isfinite(latency_ms) or latency_ms < 0:
            return self.target_ms
        self._recent.append(latency_ms)
        middle = median(self._recent)
        if self.target_ms is None:
            self.target_ms = middle
        elif abs(middle - self.target_ms) > self.hysteresis_ms:
            self.target_ms = middle
            self.moves += 1
        return self.target_ms
