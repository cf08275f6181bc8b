"""The output side: one thread per sink pulling from the shared output ring.

A sink that is slow or fails only affects itself: the worker never waits for sinks
(except in lossless offline mode, where waiting is the point). A sink that holds audio
gets the source's sound on the same thread, from its own consumer of the audio bus,
between frames and while it waits for one: sound never waits on a frame's processing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..audio.bus import AudioConsumer
from ..errors import LivefxError
from ..frame import now_ns
from ..scheduling.ring import ReadPolicy, Ring, RingClosed
from .base import Sink

log = logging.getLogger("livefx.sink")

#: How long a sink that holds audio waits for a frame before it writes the sound that came (s).
AUDIO_POLL_S = 0.05


class SinkRunner(threading.Thread):
    """Drives one sink: opens it on the first frame, writes frames, closes it at the end."""

    def __init__(
        self,
        sink: Sink,
        ring: Ring,
        fps: float,
        on_error: Callable[[SinkRunner], None] | None = None,
        audio: AudioConsumer | None = None,
    ) -> None:
        """``on_error`` is told when the sink fails (``error`` is set); without it the
        failure is logged here. ``audio``: the sink's consumer of the source's sound."""
        super().__init__(name=f"livefx-sink-{sink.spec}", daemon=True)
        self.on_error = on_error
        self.audio = audio
        #: Audio chunks the sink took.
        self.audio_written = 0
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
        wait_s = AUDIO_POLL_S if self.audio is not None else 0.5
        try:
            while True:
                try:
                    frame = self.reader.get(timeout=wait_s)
                except RingClosed:
                    if opened:
                        self._write_audio()  # the rest of the sound (the source ended before the frames did)
                    return
                if frame is None:
                    if opened:
                        self._write_audio()
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
                self._write_audio()
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
            if self.audio is not None:
                self.audio.close()
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

    def _write_audio(self) -> None:
        """The sound that came since the last call, without waiting for more."""
        if self.audio is None:
            return
        for chunk in self.audio.drain():
            self.sink.write_audio(chunk)
            self.audio_written += 1

    def counters(self) -> dict[str, int]:
        return {"written": self.written, "skipped": self.reader.skipped}
