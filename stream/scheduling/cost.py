"""What each stage costs, learned online per (stage, pixel count): the planner's cost model."""

from __future__ import annotations

import math
from collections import Counter, deque

import numpy as np

#: A size not measured while its stage ran this many times at other sizes has a stale cost:
#: its next sample replaces it instead of nudging it (see ``CostModel.observe``).
STALE_AFTER = 30


class CostModel:
    """Online cost per (stage, pixel count): EWMA for planning, a window for p95."""

    def __init__(self, alpha: float = 0.2, window: int = 64) -> None:
        self.alpha = alpha
        self.window = window
        self._ewma: dict[tuple[str, int], float] = {}
        self._recent: dict[tuple[str, int], deque[float]] = {}
        #: Samples per stage so far, and that count when each (stage, size) was last sampled.
        self._samples: Counter[str] = Counter()
        self._sampled_at: dict[tuple[str, int], int] = {}

    def observe(self, stage: str, pixels: int, ms: float) -> None:
        """One measured run. A size measured last long ago (a rung the planner left during a
        surge of load and now probes again) takes the new sample as it is: nudging a cost
        learned under that load would keep the planner down long after the load went."""
        key = (stage, pixels)
        old = self._ewma.get(key)
        self._ewma[key] = ms if old is None or self._stale(stage, pixels) else old + self.alpha * (ms - old)
        self._recent.setdefault(key, deque(maxlen=self.window)).append(ms)
        self._samples[stage] += 1
        self._sampled_at[key] = self._samples[stage]

    def forget(self, stage: str) -> None:
        """Drop what was learned about ``stage`` at any step count (it was replaced by another model)."""
        for key in [k for k in self._ewma if k[0] == stage or k[0].startswith(stage + "@")]:
            del self._ewma[key]
            self._recent.pop(key, None)
            self._sampled_at.pop(key, None)

    def knows(self, stage: str, pixels: int) -> bool:
        """Whether ``stage`` was measured at exactly ``pixels``."""
        return (stage, pixels) in self._ewma

    def predict(self, stage: str, pixels: int) -> float | None:
        """Expected ms; from the nearest measured size, scaled by pixel count, if needed. A
        stale size's cost (``STALE_AFTER``) is capped by the freshest size's, scaled: load
        that went away there went away everywhere."""
        exact = self._ewma.get((stage, pixels))
        if exact is not None and not self._stale(stage, pixels):
            return exact
        known = [(p, ms) for (s, p), ms in self._ewma.items() if s == stage]
        if not known:
            return None
        if exact is not None:
            fresh = max(known, key=lambda item: self._sampled_at.get((stage, item[0]), 0))[0]
            return min(exact, self._ewma[(stage, fresh)] * pixels / fresh)
        p, ms = min(known, key=lambda item: abs(math.log(item[0] / pixels)))
        return ms * pixels / p

    def _stale(self, stage: str, pixels: int) -> bool:
        return self._samples[stage] - self._sampled_at.get((stage, pixels), 0) > STALE_AFTER

    def p95(self, stage: str, pixels: int) -> float | None:
        recent = self._recent.get((stage, pixels))
        return float(np.percentile(recent, 95)) if recent else None
