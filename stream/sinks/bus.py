"""The output side: one thread per sink pulling from the shared output ring.

A sink that is slow or fails only affects itself: the worker never waits for sinks
(except in lossless offline mode, where waiting is the point).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..errors import LivefxError
from ..frame import now_ns
from ..scheduling.ring import ReadPolicy, Ring, RingClosed
from .base import Sink

log = logging.getLogger("livefx.sink")


class SinkRunner(threading.Thread):
    """Drives one sink: opens it on the first frame, writes frames, closes it at the end."""

    def __init__(
        self, sink: Sink, ring: Ring, fps: float, on_error: Callable[[SinkRunner], None] | None = None
    ) -> None:
        """``on_error`` is told when the sink fails (``error`` is set); without it the
        failure is logged here."""
        super().__init__(name=f"livefx-sink-{sink.spec}", daemon=True)
        self.on_error = on_error
        self.sink = sink
        self.fps = fps
        policy = ReadPolicy.IN_ORDER if sink.in_order or ring.lossless else ReadPolicy.NEWEST
        self.reader = ring.reader(policy)
        #: Live outputs space frames by their ``gap_ns`` (interpolated output); recorders
        #: go by pts instead.
        self.paced = policy is ReadPolicy.NEWEST
        self._last_shown_ns = 0
        self.written = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        opened = False
        try:
            while True:
                try:
                    frame = self.reader.get(timeout=0.5)
                except RingClosed:
                    return
                if frame is None:
                    continue
                if not opened:
                    self.sink.open(frame.width, frame.height, self.fps)
                    opened = True
                if self.paced and frame.gap_ns:
                    wait_ns = min(self._last_shown_ns + frame.gap_ns - now_ns(), 1_000_000_000)
                    if wait_ns > 0:
                        time.sleep(wait_ns / 1e9)
                self.sink.write(frame)
                self._last_shown_ns = now_ns()
                self.written += 1
        except BaseException as exc:  # noqa: BLE001 - one sink failing must not stop the others
            self.error = exc
            if self.on_error is not None:
                self.on_error(self)
            elif isinstance(exc, LivefxError):
                log.error("%s", exc)
            else:
                log.exception("%s: sink failed", self.sink.spec)
        finally:
            self.reader.close()
            try:
                self.sink.close()
            except LivefxError as exc:  # e.g. the disk filled while the file was finished
                if self.error is None:
                    self.error = exc
                    if self.on_error is not None:
                        self.on_error(self)
                    else:
                        log.error("%s", exc)
            except Exception:  # noqa: BLE001
                log.exception("%s: error while closing", self.sink.spec)

    def counters(self) -> dict[str, int]:
        return {"written": self.written, "skipped": self.reader.skipped}
