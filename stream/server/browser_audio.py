"""The browser's microphone as a source's sound, timed on the clock of its camera's pictures.

aiortc gives each received track its own timestamp origin, so the microphone's cannot be
compared with the camera's. The sound's clock is tied on once, at its first frame: that frame
ends at its arrival, and the newest picture arrived at a known time with a known picture time.
From there the sound is timed by its own sample count (``AudioConverter``), so it stays
continuous; arrival jitter moves nothing.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

import av

from ..audio.chunk import AUDIO_RATE, AudioChunk
from ..audio.convert import AudioConverter

log = logging.getLogger("livefx.server")

#: Seconds of sound held for the capture thread at most (it takes them after every picture).
HOLD_S = 5.0


class BrowserAudio:
    """``put`` on the event loop for every received frame; ``take`` on the capture thread."""

    def __init__(self) -> None:
        #: aiortc decodes every Opus track to stereo; a microphone is one voice: mono, half the work.
        self.converter = AudioConverter(1)
        self._base_s: float | None = None
        self._pending: deque[AudioChunk] = deque()
        self._held = 0
        self._lock = threading.Lock()
        #: Chunks lost because the capture thread did not take them (no pictures came).
        self.dropped = 0
        #: Frames received before the first picture (nothing to time them against).
        self.before_pictures = 0

    def put(self, frame: av.AudioFrame, arrival: tuple[float, int] | None, now: int) -> None:
        """``arrival``: (picture time, arrival ns) of the newest picture (None: none yet)."""
        if arrival is None:
            self.before_pictures += 1
            return
        if self._base_s is None:
            picture_s, picture_ns = arrival
            start_s = picture_s + (now - picture_ns) / 1e9 - frame.samples / frame.sample_rate
            self._base_s = start_s - (float(frame.time) if frame.time is not None else 0.0)
        chunks = self.converter.convert(frame, self._base_s)
        with self._lock:
            for chunk in chunks:
                self._pending.append(chunk)
                self._held += chunk.frames
            while self._held > HOLD_S * AUDIO_RATE:
                self._held -= self._pending.popleft().frames
                self.dropped += 1

    def take(self) -> list[AudioChunk]:
        with self._lock:
            chunks, self._pending, self._held = list(self._pending), deque(), 0
        return chunks
