"""The server's own outputs (``serve --sink file:...|virtualcam|virtualmic`` with the browser
source) fed by one page at a time: a phone or a browser-only camera drives the virtual camera
and recordings.

The first send-receive session to stream feeds them; when it ends, the next one that sends a
frame does.
The outputs stay open from the first frame to the server's end: each session's pictures and
sound are re-timed to continue where the previous session stopped, so one recording holds
them all.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence

from ..audio.chunk import AudioChunk
from ..frame import Frame
from ..sinks.base import Sink

log = logging.getLogger("livefx.server")


class SessionRelay:
    """The server's outputs and which session feeds them (``feed`` makes each session's sink)."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)
        self._lock = threading.Lock()
        self._owner: object | None = None
        self._opened = False
        self._audio_expected = False
        #: Media time to add to the live session's frames and sound, and where the last ended (s).
        self._offset_s: float | None = None
        self._end_s = 0.0
        self._frame_s = 1 / 30

    @property
    def specs(self) -> list[str]:
        return [s.spec for s in self.sinks]

    def claim(self, owner: object) -> bool:
        """``owner`` feeds the outputs from now on when nobody does; True when it does."""
        with self._lock:
            if self._owner is None:
                self._owner, self._offset_s = owner, None
                log.info("%s: fed by a page's camera now", ", ".join(self.specs))
            return self._owner is owner

    def feeds(self, owner: object) -> bool:
        with self._lock:
            return self._owner is owner

    def release(self, owner: object) -> None:
        """``owner``'s stream ended: the next session to start feeds the outputs."""
        with self._lock:
            if self._owner is owner:
                self._owner = None

    def feed(self, owner: object) -> RelayFeed:
        """The sink ``owner``'s pipeline writes to (it passes on only while ``owner`` feeds)."""
        return RelayFeed(self, owner)

    def close(self) -> None:
        """The server's end: close every output."""
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:  # noqa: BLE001 - close the others all the same
                log.exception("%s: closing failed", sink.spec)

    def open(self, width: int, height: int, fps: float) -> None:
        """Open the outputs at the first session's size (later ones are fitted); once."""
        with self._lock:
            if not self._opened:
                self._frame_s = 1 / fps if fps > 0 else self._frame_s
                for sink in self.sinks:
                    sink.open(width, height, fps)
                self._opened = True

    def expect_audio(self, rate: int, channels: int) -> None:
        """The first session to bring sound before the outputs open decides their sound."""
        with self._lock:
            if not self._opened and not self._audio_expected:
                self._audio_expected = True
                for sink in self.sinks:
                    if sink.holds_audio:
                        sink.expect_audio(rate, channels)

    def write(self, owner: object, frame: Frame) -> None:
        """``owner``'s processed frame: written when it feeds the outputs (it starts feeding
        them when nobody does)."""
        if not self.claim(owner):
            return
        with self._lock:
            if not self._opened:
                return
            if self._offset_s is None:  # a new session: go on a frame after the last one
                self._offset_s = self._end_s + self._frame_s - frame.time_s if self._end_s else -frame.time_s
            time_s = frame.time_s + self._offset_s
            self._end_s = max(self._end_s, time_s)
            shifted = dataclasses.replace(frame, pts=round(time_s / frame.time_base))
            for sink in self.sinks:
                sink.write(shifted)

    def write_audio(self, owner: object, chunk: AudioChunk) -> None:
        with self._lock:
            if self._owner is not owner or self._offset_s is None or not self._audio_expected:
                return
            shifted = dataclasses.replace(chunk, time_s=chunk.time_s + self._offset_s)
            for sink in self.sinks:
                if sink.holds_audio:
                    sink.write_audio(shifted)


class RelayFeed(Sink):
    """One session's way into the server's outputs. Closing it ends the session's turn, never
    the outputs."""

    def __init__(self, relay: SessionRelay, owner: object) -> None:
        self.relay = relay
        self.owner = owner
        self.spec = "+".join(relay.specs)
        self.in_order = any(s.in_order for s in relay.sinks)
        self.holds_audio = any(s.holds_audio for s in relay.sinks)

    def expect_audio(self, rate: int, channels: int) -> None:
        self.relay.expect_audio(rate, channels)

    def open(self, width: int, height: int, fps: float) -> None:
        self.relay.open(width, height, fps)

    def write(self, frame: Frame) -> None:
        self.relay.write(self.owner, frame)

    def write_audio(self, chunk: AudioChunk) -> None:
        self.relay.write_audio(self.owner, chunk)

    def close(self) -> None:
        self.relay.release(self.owner)
