"""A token bucket: how many websocket messages one client may send, on an injected clock."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """Allows ``rate`` events a second on average and bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate {rate} and burst {burst} must be positive")
        self.rate, self.burst, self.clock = rate, burst, clock
        self._tokens = float(burst)
        self._last = clock()

    @property
    def recovered(self) -> bool:
        """At least half the burst is back: a flood, if there was one, is over."""
        return min(self.burst, self._tokens + (self.clock() - self._last) * self.rate) >= self.burst / 2

    def take(self) -> bool:
        """Spend one token if there is one; False means: over the limit, drop the event."""
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
