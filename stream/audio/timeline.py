"""Where each stored sample sits on the capture clock (``now_ns()``), from the chunks' capture
stamps: the delay line reads by time through it, never by counting samples."""

from __future__ import annotations

from bisect import bisect_right
from collections import deque

import numpy as np

#: A chunk stamped further than this from where the previous one ended starts a new timeline (s);
#: closer, it joins the timeline fitted through the recent stamps (jittery stamps do not wobble
#: the pitch).
STAMP_TOLERANCE_S = 0.05
#: The timeline follows the line through this many recent stamps ...
STAMP_WINDOW = 128
#: ... taking this much of the line's distance each chunk (the line's end moves with each stamp).
STAMP_SMOOTHING = 1 / 8
#: Its slope stays within this much of the nominal rate (real sound cards drift by < 1e-4).
MAX_CLOCK_SKEW = 1e-3


class Timeline:
    """Anchors: (capture time ns, sample index, continues the previous anchor's timeline, ns per
    sample). Between two anchors of one timeline, time maps linearly onto samples; after the
    last anchor of a timeline (the newest, or one before a break) it runs at the fitted rate."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._anchors: list[tuple[float, int, bool, float]] = []
        self._times: list[float] = []  # the anchors' times, for bisect
        self._stamps: deque[tuple[int, float]] = deque(maxlen=STAMP_WINDOW)  # (index, stamp) since a reset
        #: Chunks whose stamp broke the timeline (a pause of the source, a clock that jumped).
        self.resets = 0

    def __bool__(self) -> bool:
        return bool(self._anchors)

    @property
    def origin(self) -> float:
        """The oldest anchor's time: callers count times from here (float64 keeps sub-ns)."""
        return self._times[0] if self._times else 0.0

    def place(self, stamp_ns: float, index: int) -> None:
        """Sample ``index`` (the first of a chunk) was captured at ``stamp_ns``."""
        if self._anchors:
            t_last, i_last, _, step = self._anchors[-1]
            expected = t_last + (index - i_last) * step
            if abs(stamp_ns - expected) <= STAMP_TOLERANCE_S * 1e9:
                self._stamps.append((index, stamp_ns))
                t_fit, step = self._fit(index)
                self._add(max(expected + STAMP_SMOOTHING * (t_fit - expected), t_last + 1), index, True, step)
                return
            self.resets += 1
            while self._times and self._times[-1] >= stamp_ns:  # stamps went back: the newer sound wins
                self._anchors.pop()
                self._times.pop()
        self._stamps.clear()
        self._stamps.append((index, stamp_ns))
        self._add(stamp_ns, index, False, 1e9 / self.rate)

    def _add(self, t_ns: float, index: int, continues: bool, step: float) -> None:
        self._anchors.append((t_ns, index, continues, step))
        self._times.append(t_ns)

    def _fit(self, index: int) -> tuple[float, float]:
        """When sample ``index`` was captured by the line through the recent stamps (their jitter
        averages out; a drifting source clock is followed), its slope held within
        ``MAX_CLOCK_SKEW`` of the nominal rate: (that time, the slope in ns per sample)."""
        newest = self._stamps[-1][1]
        idx = np.array([s[0] for s in self._stamps], np.float64) - index
        t = np.array([s[1] for s in self._stamps]) - newest
        nominal = 1e9 / self.rate
        slope = nominal
        if len(idx) > 1:
            dx = idx - idx.mean()
            fitted = (dx * (t - t.mean())).sum() / (dx * dx).sum()
            slope = min(max(fitted, nominal * (1 - MAX_CLOCK_SKEW)), nominal * (1 + MAX_CLOCK_SKEW))
        return newest + float((t - slope * idx).mean()), float(slope)

    def forget_before(self, index: int) -> None:
        """Samples before ``index`` are gone: drop the anchors only they needed."""
        dead = 0
        while dead + 1 < len(self._anchors) and self._anchors[dead + 1][1] <= index:
            dead += 1
        del self._anchors[:dead], self._times[:dead]

    def positions(self, times: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray]:
        """For capture times (ns after ``origin``; ``end``: the index of the next sample to
        come): the sample positions (fractional) and, per time, the index that reading must stay
        below (the end of the samples that run on without a break; -1 before the first)."""
        if not self._anchors:
            return np.zeros(len(times)), np.full(len(times), -1, np.int64)
        origin = self._times[0]
        # only the anchors around these times: a bounded amount of work per read
        lo = max(0, bisect_right(self._times, origin + float(times.min())) - 1)
        after = bisect_right(self._times, origin + float(times.max()))
        if after == 0:  # all before the first capture
            return np.zeros(len(times)), np.full(len(times), -1, np.int64)
        near = np.array(self._anchors[lo : after + 1], np.float64)  # indices stay exact to 2**53
        t_a, i_a = near[:, 0] - origin, near[:, 1].astype(np.int64)
        if after < len(self._anchors):  # the last one only closes the segment before it
            t_next, i_next, cont_next = t_a[1:], i_a[1:], near[1:, 2] > 0
            t_a, i_a, near = t_a[:-1], i_a[:-1], near[:-1]
        else:
            t_next, i_next = np.append(t_a[1:], np.inf), np.append(i_a[1:], end)
            cont_next = np.append(near[1:, 2] > 0, False)
        rate = np.where(cont_next, (i_next - i_a) / (t_next - t_a), 1 / near[:, 3])
        seg = np.searchsorted(t_a, times, side="right") - 1
        k = np.maximum(seg, 0)
        pos = i_a[k] + (times - t_a[k]) * rate[k]
        # a read may reach the first sample of a segment that continues this one
        bound = np.where(seg >= 0, i_next[k] + cont_next[k], -1)
        return pos, bound
