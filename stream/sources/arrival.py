"""The rate frames from a self-paced source reach the engine, measured from the frames themselves.

A browser or a webcam says nothing reliable about its rate (a camera in low light drops
to 15 fps while still reporting 30). The planner prefers rungs that keep up with the
source, so a rate assumed too high makes it scale a slow camera down for nothing, and one
assumed too low (a 60 fps camera) makes it fall behind. What is measured is the rate the
capture thread takes frames in: frames a browser or a camera driver replaced before that
are not seen, and need not be kept up with.
"""

from __future__ import annotations

import statistics
from collections import deque

#: Frames whose gaps make up the estimate (about a second at 30 fps).
ARRIVAL_WINDOW = 30
#: Gaps needed before the measurement replaces the declared rate.
ARRIVAL_MIN_SAMPLES = 8
#: The shortest interval believed (240 fps): a burst of frames delivered at once is not a rate.
MIN_INTERVAL_MS = 1000 / 240


class ArrivalInterval:
    """The median interval between captured frames over the last ``window`` frames read.

    Fed with each frame's capture sequence number and time. A gap that spans frames dropped
    in the ring is divided by the number of frames it spans, so a worker that reads only
    every third frame still measures the source, not itself. The median ignores a pause
    (a hidden tab, a camera stall) and network jitter.
    """

    def __init__(self, window: int = ARRIVAL_WINDOW, min_samples: int = ARRIVAL_MIN_SAMPLES) -> None:
        if not 1 <= min_samples <= window:
            raise ValueError(f"min_samples {min_samples} must be between 1 and window {window}")
        self.min_samples = min_samples
        self._gaps_ms: deque[float] = deque(maxlen=window)
        self._last: tuple[int, int] | None = None

    def observe(self, seq: int, t_capture_ns: int) -> float | None:
        """Take one frame; the interval in ms once ``min_samples`` gaps are known, else None."""
        last, self._last = self._last, (seq, t_capture_ns)
        if last is not None and seq > last[0]:  # seq only grows within a run; this guards the division
            self._gaps_ms.append((t_capture_ns - last[1]) / 1e6 / (seq - last[0]))
        return self.interval_ms

    @property
    def interval_ms(self) -> float | None:
        """The current estimate (None until ``min_samples`` gaps were seen)."""
        if len(self._gaps_ms) < self.min_samples:
            return None
        return max(MIN_INTERVAL_MS, statistics.median(self._gaps_ms))
