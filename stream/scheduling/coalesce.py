"""Live edits that wait for a helper thread merge, so the latest wins and a burst costs one job.

A user typing a prompt sends an edit per keystroke pause; each one costs a text encode on
the single helper thread. Edits that are still waiting when a newer one arrives are only
work for the past: they are merged field by field (the newest value of each field wins,
a field left out keeps the older value) and applied once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field


@dataclass
class _Batch:
    """The merged fields of one job and a future per call merged into it."""

    fields: dict
    waiting: list[Future] = field(default_factory=list)


class Coalescer:
    """Submits ``apply(fields)`` to ``executor``; calls made before that job starts merge into it.

    Every call gets its own future (cancelling one leaves the others and the job alone),
    resolved once its fields are applied, or with the job's error. ``seal()`` closes the
    waiting batch to later calls, so work queued after it (a style switch) runs between.
    """

    def __init__(self, executor: Executor, apply: Callable[[dict], None]) -> None:
        self._executor = executor
        self._apply = apply
        self._lock = threading.Lock()
        #: The batch whose job has not started yet (None: the next call starts a job).
        self._open: _Batch | None = None

    def submit(self, **fields: object) -> Future:
        """Queue these fields (None values are left out); a future resolved once applied."""
        given = {name: value for name, value in fields.items() if value is not None}
        mine: Future = Future()
        with self._lock:
            if self._open is not None:
                self._open.fields.update(given)
                self._open.waiting.append(mine)
                return mine
            batch = _Batch(given, [mine])
            job = self._executor.submit(self._run, batch)  # may raise (shut down): nothing kept
            self._open = batch
        job.add_done_callback(lambda done: self._abandon(batch) if done.cancelled() else None)
        return mine

    def seal(self) -> None:
        """Later calls start a new job instead of merging into the one waiting."""
        with self._lock:
            self._open = None

    def _run(self, batch: _Batch) -> None:
        with self._lock:  # from here on, a new call starts a new job
            if self._open is batch:
                self._open = None
        error: BaseException | None = None
        try:
            self._apply(batch.fields)
        except BaseException as exc:  # noqa: BLE001 - handed to every caller
            error = exc
        for future in batch.waiting:
            if not future.set_running_or_notify_cancel():
                continue  # that caller gave up
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    def _abandon(self, batch: _Batch) -> None:
        """The job was cancelled before it ran (the helper shut down): so are its calls."""
        with self._lock:
            if self._open is batch:
                self._open = None
        for future in batch.waiting:
            future.cancel()
