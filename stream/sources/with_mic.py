"""A live source with a microphone as its sound (``--mic``): the source's pictures and the
microphone's sound on one clock, the monotonic clock at which each arrived."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from ..audio.chunk import AudioChunk
from ..errors import UsageError
from ..frame import now_ns
from .base import Source
from .file import FileSource
from .microphone import Microphone


class WithMicrophone(Source):
    """Delegates the pictures to ``source``, each timed when ``read`` returns it (as a camera's
    are); the sound is ``mic``'s, timed from the same clock and origin. A source that the
    capture thread would pace (synthetic) is paced here instead, in real time, so that its
    pictures too are timed when they are made."""

    self_paced = True

    def __init__(self, source: Source, mic: Microphone, clock: Callable[[], int] = now_ns) -> None:
        self.source = source
        self.mic = mic
        self.spec = source.spec
        self.clock = clock
        self._origin = 0  # ns: media time 0
        self._next = 0.0  # time.monotonic() of the next picture of a paced source
        self._started = False
        self._stop = threading.Event()

    @property
    def fps(self) -> float:  # type: ignore[override]
        return self.source.fps

    @property
    def size(self) -> tuple[int, int]:
        return self.source.size

    @property
    def origin_ns(self) -> int:
        """The monotonic time (ns) of media time 0, set by ``open``."""
        return self._origin

    def open(self) -> None:
        self.mic.open()
        try:
            self.source.open()
        except BaseException:
            self.mic.close()
            raise
        self._origin = self.clock()
        self._next = time.monotonic()

    def read(self) -> tuple[np.ndarray, float] | None:
        if not self.source.self_paced:
            wait = self._next - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return None
            # After a stall, start afresh rather than burst (as the capture thread does).
            self._next = max(self._next + 1.0 / self.fps, time.monotonic() - 1.0 / self.fps)
        item = self.source.read()
        if item is None:
            return None
        now = self.clock()
        if not self._started:
            self.mic.discard(now)  # sound from before the first picture: nothing to sync it with
            self._started = True
        return item[0], (now - self._origin) / 1e9

    @property
    def has_audio(self) -> bool:
        return True

    @property
    def audio_channels(self) -> int:
        return self.mic.channels

    @property
    def audio_dropped(self) -> int:
        return self.mic.dropped

    def take_audio(self) -> list[AudioChunk]:
        return self.mic.take(self._origin)

    def interrupt(self) -> None:
        self._stop.set()
        self.source.interrupt()

    def close(self) -> None:
        self.source.close()
        self.mic.close()


def with_microphone(source: Source, spec: str) -> WithMicrophone:
    """``source`` with the microphone ``spec`` names (``--mic``); a file has its own sound."""
    mic = Microphone(spec)
    if isinstance(source, FileSource):
        raise UsageError(f"--mic {spec}: {source.spec} has its own sound; --mic goes with a live --source (webcam:N)")
    return WithMicrophone(source, mic)
