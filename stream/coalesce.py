"""Live edits that wait for a helper thread merge, so the latest wins and a burst costs one job.

A user typing a prompt sends an edit per keystroke pause; each one costs a text encode on
the single helper thread. Edits that are still waiting when a newer one arrives are only
work for the past: they are merged field by field (the newest value of each field wins,
a field left out keeps the older value) and run once, sharing one future.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future


class Coalescer:
    """Submits ``apply(fields)`` to ``executor``; calls made before that job starts merge into it."""

    def __init__(self, executor: Executor, apply: Callable[[dict], None]) -> None:
        self._executor = executor
        self._apply = apply
        self._lock = threading.Lock()
        self._pending: dict | None = None
        self._future: Future | None = None
        #: Calls merged into one that was already waiting (their work was never done alone).
        self.merged = 0

    def submit(self, **fields: object) -> Future:
        """Queue these fields (None values are left out); returns the future of the job that
        will apply them, resolved once it has, or with the job's error."""
        given = {name: value for name, value in fields.items() if value is not None}
        with self._lock:
            if self._pending is not None and self._future is not None:
                self._pending.update(given)
                self.merged += 1
                return self._future
            self._pending = given
            self._future = self._executor.submit(self._run)
            return self._future

    def _run(self) -> None:
        with self._lock:  # from here on, a new call starts a new job
            fields, self._pending = self._pending or {}, None
        self._apply(fields)
