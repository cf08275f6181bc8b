"""The capture thread: reads a blocking source, stamps frames, pushes them to the ring."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..audio.bus import AudioBus
from ..frame import DEFAULT_TIME_BASE, Frame, now_ns
from ..scheduling.ring import Ring, RingClosed
from .base import Source
from .fit import fit_image

log = logging.getLogger("livefx.capture")


class CaptureThread(threading.Thread):
    """Feeds ``ring`` from ``source`` until the source ends, ``max_frames`` or ``stop()``.

    In real time a source that is not self-paced (synthetic, file) is read at ``fps``;
    offline it is read as fast as the ring accepts. ``size`` rescales frames on the way in,
    keeping their shape as ``fit`` says (``stream.fit``).

    A source's sound goes to ``audio`` after each frame, each chunk stamped from the media
    time -> capture clock mapping of the latest frame: a chunk at media time 3.000 s gets
    the ``t_capture`` a frame at 3.000 s had or would have had. Offline nothing is dropped.
    The source must be open (it says then whether it has sound); an explicit ``fps`` that
    re-times the pictures leaves the sound out, which cannot follow them.
    """

    def __init__(
        self,
        source: Source,
        ring: Ring,
        *,
        realtime: bool = True,
        fps: float | None = None,
        max_frames: int | None = None,
        size: tuple[int, int] | None = None,
        fit: str = "pad",
        clock: Callable[[], int] = now_ns,
        audio: AudioBus | None = None,
    ) -> None:
        super().__init__(name="livefx-capture", daemon=True)
        self.clock = clock
        self.source = source
        self.ring = ring
        self.pace_fps = (fps or source.fps) if realtime and not source.self_paced else None
        # An explicit rate that differs from the source's re-times its frames.
        self.retime_fps = fps if fps and fps != source.fps else None
        self.max_frames = max_frames
        self.size = size
        self.fit = fit
        self.frames = 0
        if audio is not None and self.retime_fps and source.has_audio:
            log.warning("%s: --fps re-times the pictures; the sound cannot follow them and is left out", source.spec)
            audio = None
        #: Where the source's sound goes (None: nowhere, or the source has none).
        self.audio = audio if source.has_audio else None
        self._audio_channels = source.audio_channels if self.audio is not None else 0
        #: Audio chunks passed on, and those the source lost before they were taken.
        self.audio_chunks = 0
        self.audio_dropped = 0
        # (media time s, t_capture ns) of the latest frame: where the sound is stamped from.
        self._anchor: tuple[float, int] | None = None
        self.error: BaseException | None = None
        self._stop_event = threading.Event()

    @property
    def audio_channels(self) -> int:
        """Channels of the sound this thread passes on (0: none)."""
        return self._audio_channels

    def stop(self) -> None:
        self._stop_event.set()
        self.source.interrupt()

    @property
    def stopping(self) -> bool:
        """``stop()`` was asked for."""
        return self._stop_event.is_set()

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - reported by the pipeline
            self.error = exc
        finally:
            self.ring.close()
            if self.audio is not None:
                self.audio.close()
            self.source.close()

    def _loop(self) -> None:
        period = 1.0 / self.pace_fps if self.pace_fps else 0.0
        next_t = time.monotonic()
        while not self._stop_event.is_set() and (self.max_frames is None or self.frames < self.max_frames):
            item = self.source.read()
            if item is None:
                self._pass_audio()
                return
            image, time_s = item
            if self.size:
                image = fit_image(image, self.size, self.fit)
            if period:
                # Sleep to the next tick; after a stall, start afresh rather than burst.
                delay = next_t - time.monotonic()
                if delay > 0 and self._stop_event.wait(delay):
                    return
                next_t = max(next_t + period, time.monotonic() - period)
            if self.retime_fps:
                time_s = self.frames / self.retime_fps
            frame = Frame(
                seq=self.frames,
                t_capture=self.clock(),
                pts=round(time_s / DEFAULT_TIME_BASE),
                image=image,
            )
            self._anchor = (time_s, frame.t_capture)
            try:
                self.ring.push(frame)
            except RingClosed:
                return
            self.frames += 1
            self._pass_audio()

    def _pass_audio(self) -> None:
        """The sound the source decoded while reading, stamped on the capture clock."""
        if self.audio is None or self._anchor is None:
            return
        time_s, t_ns = self._anchor
        for chunk in self.source.take_audio():
            self.audio.push(chunk.stamped(t_ns + round((chunk.time_s - time_s) * 1e9)))
            self.audio_chunks += 1
        self.audio_dropped = self.source.audio_dropped
