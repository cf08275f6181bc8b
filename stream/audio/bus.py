"""The audio side of the outputs: the source pushes chunks, every audio sink reads its own
bounded buffer. The producer never waits: a consumer that falls behind loses its oldest
chunks (counted, and said once), so a slow sink never delays the source or another sink."""

from __future__ import annotations

import logging
import threading
from collections import deque

from .chunk import AudioChunk

log = logging.getLogger("livefx.audio")

#: Seconds of audio a consumer may hold before its oldest chunks go. Enough for an offline
#: recording, whose video the rings hold back by at most a few dozen frames, to lose nothing.
BUFFER_S = 20.0


class AudioClosed(Exception):
    """The bus was closed and this consumer has read everything it held."""


class AudioBus:
    """One source's audio, fanned out to consumers (one per audio sink)."""

    def __init__(self, buffer_s: float = BUFFER_S) -> None:
        if buffer_s <= 0:
            raise ValueError(f"buffer_s must be positive, got {buffer_s}")
        self.buffer_s = buffer_s
        self._consumers: list[AudioConsumer] = []
        self._lock = threading.Lock()
        self._closed = False
        #: Chunks pushed since the start.
        self.pushed = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def consumer(self, name: str) -> AudioConsumer:
        """A new consumer that gets every chunk pushed from now on (``name`` is for the log)."""
        with self._lock:
            consumer = AudioConsumer(name, self.buffer_s)
            consumer._bus = self
            if self._closed:
                consumer._end()
            self._consumers.append(consumer)
            return consumer

    def push(self, chunk: AudioChunk) -> None:
        """Hand ``chunk`` to every consumer; never waits. Ignored after ``close``."""
        with self._lock:
            if self._closed:
                return
            self.pushed += 1
            consumers = list(self._consumers)
        for consumer in consumers:
            consumer._put(chunk)

    def close(self) -> None:
        """End of the source: each consumer reads what it holds, then gets AudioClosed."""
        with self._lock:
            self._closed = True
            consumers = list(self._consumers)
        for consumer in consumers:
            consumer._end()

    def _detach(self, consumer: AudioConsumer) -> None:
        with self._lock:
            if consumer in self._consumers:
                self._consumers.remove(consumer)


class AudioConsumer:
    """One sink's buffer of chunks, oldest first, holding at most ``buffer_s`` seconds."""

    def __init__(self, name: str, buffer_s: float) -> None:
        self.name = name
        self.buffer_s = buffer_s
        self._chunks: deque[AudioChunk] = deque()
        self._held_s = 0.0
        self._ended = False
        self._cond = threading.Condition()
        self._bus: AudioBus | None = None
        #: Chunks handed out, and chunks lost because this consumer fell behind.
        self.taken = 0
        self.dropped = 0

    def get(self, timeout: float | None = None) -> AudioChunk | None:
        """The oldest chunk held; None on timeout. Raises AudioClosed once the bus is
        closed and nothing is left."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._chunks or self._ended, timeout):
                return None
            if not self._chunks:
                raise AudioClosed(self.name)
            return self._take()

    def drain(self) -> list[AudioChunk]:
        """Every chunk held now, oldest first, without waiting (may be empty)."""
        with self._cond:
            return [self._take() for _ in range(len(self._chunks))]

    @property
    def ended(self) -> bool:
        """The bus closed and everything was read."""
        with self._cond:
            return self._ended and not self._chunks

    @property
    def held(self) -> int:
        with self._cond:
            return len(self._chunks)

    def close(self) -> None:
        """Stop receiving (the sink is done); what is held is let go."""
        if self._bus is not None:
            self._bus._detach(self)
        with self._cond:
            self._ended = True
            self._chunks.clear()
            self._held_s = 0.0
            self._cond.notify_all()

    def _take(self) -> AudioChunk:
        chunk = self._chunks.popleft()
        self._held_s -= chunk.duration_s
        self.taken += 1
        return chunk

    def _put(self, chunk: AudioChunk) -> None:
        with self._cond:
            if self._ended:
                return
            self._chunks.append(chunk)
            self._held_s += chunk.duration_s
            lost = 0
            while self._held_s > self.buffer_s and len(self._chunks) > 1:
                self._held_s -= self._chunks.popleft().duration_s
                lost += 1
            self.dropped += lost
            self._cond.notify_all()
        if lost and self.dropped == lost:
            log.warning("%s: falls behind the audio; its oldest audio is dropped (counted in the stats)", self.name)

    def _end(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()
