"""Visible degradation: when the budget quietly costs the effect, say so once, with the fix.

The planner keeps latency bounded by doing less (scaling down, holding in-between frames,
deferring labels, passing raw frames through). That is the product working, but a user
must not have to read the stats file to learn it. ``DegradeWatch`` looks at the recent
frames; when one kind of degradation covers most of them it logs one warning naming the
fix, and lists the kinds active right now for the stats, the page and the overlay.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

log = logging.getLogger("livefx.degrade")

#: What each kind means for the viewer, and what to change.
MESSAGES = {
    "passthrough": "frames pass through unprocessed: even the cheapest plan misses the budget"
    " (--on-late passthrough); raise --budget-ms, lower --size, or run on a GPU",
    "over_budget": "even the cheapest plan misses the budget, so frames are processed late at the"
    " lowest scale (--on-late best-effort): latency is the compute time and frames are dropped;"
    " raise --budget-ms, lower --size, or run on a GPU",
    "repeated": "even the cheapest plan misses the budget, so the last processed frame is shown"
    " again (--on-late hold); raise --budget-ms, lower --size, or run on a GPU",
    "scaled": "the effect runs at reduced resolution to hold the budget;"
    " raise --budget-ms or lower --size for full detail",
    "held": "in-between frames are held copies, not interpolated (no time left in the budget);"
    " raise --budget-ms, lower --size, or turn --interpolate off",
    "deferred": "optional work (action labels) is being deferred to hold the budget;"
    " raise --budget-ms or --actions-every",
    "unstabilized": "stabilization is skipped on most frames (no time left in the budget after the"
    " effect); raise --budget-ms or lower --size",
}


class DegradeWatch:
    """Per kind, a window of the last ``window`` frames; a kind is active when at least
    ``share`` of a full window shows it. Each kind warns once per run."""

    def __init__(self, window: int = 60, share: float = 0.5, warn: Callable[[str], None] | None = None) -> None:
        self.window, self.share = window, share
        self._seen: dict[str, deque[bool]] = {kind: deque(maxlen=window) for kind in MESSAGES}
        self._warned: set[str] = set()
        self._warn = warn or (lambda message: log.warning("%s", message))

    def observe(self, **kinds: bool) -> None:
        """One frame: for each kind named, whether this frame showed it."""
        for kind, shown in kinds.items():
            seen = self._seen[kind]
            seen.append(shown)
            if kind not in self._warned and self._is_active(seen):
                self._warned.add(kind)
                self._warn(MESSAGES[kind])

    def observe_decision(self, decision: str, scale: float = 1.0) -> None:
        """The planner's rung for one frame (``full``, ``defer``, ``skip``, ``scale_*``, and
        the on-late rung: ``best_effort``, ``hold`` or ``passthrough``) and the scale it ran
        the effect at (the ``skip`` and on-late rungs run it reduced too)."""
        self.observe(
            passthrough=decision == "passthrough",
            over_budget=decision == "best_effort",
            repeated=decision == "hold",
            scaled=scale < 1.0 and decision not in ("best_effort", "hold"),
            deferred=decision == "defer",
        )

    def active(self) -> list[str]:
        """The kinds degrading the output right now."""
        return [kind for kind, seen in self._seen.items() if self._is_active(seen)]

    def _is_active(self, seen: deque[bool]) -> bool:
        return len(seen) == self.window and sum(seen) >= self.share * self.window
