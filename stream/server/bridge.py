"""Between aiortc's asyncio world and the engine's threads, without queues that grow.

- ``TrackSource``: a Source fed by a task that drains the browser's incoming track as fast
  as aiortc delivers (so nothing piles up inside aiortc); only the newest frame is kept.
  Pixel conversion happens on the capture thread, not on the event loop, and bounds what a
  client can make the engine do: frames over ``MAX_INPUT_PIXELS`` are scaled down, frames
  under ``MIN_INPUT_SIDE`` are refused (both counted). A page's timing band is cut off here
  (``stream.server.band``): the engine sees the picture only.
- ``TrackSink`` + ``ProcessedTrack``: the sink thread converts processed frames to
  ``av.VideoFrame`` (with the page's timing band put back on top, for the page that sent
  it) and hands the newest to the loop (for one session's track, or for every
  viewer's in broadcast mode); the outgoing track sends it with a
  pts taken from the frame's capture time, so the browser plays at the real rate.
"""

from __future__ import annotations

import asyncio
import fractions
import threading

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..audio.chunk import AudioChunk
from ..frame import Frame, now_ns
from ..recent import RecentSamples
from ..sinks.base import Sink
from ..sources.base import Source
from .band import TimingBand
from .browser_audio import BrowserAudio

VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
#: Largest camera frame processed as sent (1080p); larger ones are scaled down to fit.
MAX_INPUT_PIXELS = 1920 * 1080
#: Smallest frame side the stages can work on (their coarsest level is 1/8 of the frame).
MIN_INPUT_SIDE = 16


def input_size(width: int, height: int, max_pixels: int = MAX_INPUT_PIXELS) -> tuple[int, int] | None:
    """The size a ``width`` x ``height`` camera frame is processed at: itself, or scaled down
    (aspect kept, even sides) to at most ``max_pixels``; None if a side is under MIN_INPUT_SIDE."""
    if min(width, height) < MIN_INPUT_SIDE:
        return None
    if width * height <= max_pixels:
        return width, height
    scale = (max_pixels / (width * height)) ** 0.5
    return max(MIN_INPUT_SIDE, int(width * scale) // 2 * 2), max(MIN_INPUT_SIDE, int(height * scale) // 2 * 2)


class TrackSource(Source):
    """The newest frame received from a remote track; older unread ones are counted as dropped."""

    self_paced = True

    def __init__(
        self,
        spec: str = "browser",
        fps: float = 30.0,
        max_pixels: int = MAX_INPUT_PIXELS,
        band: TimingBand | None = None,
        audio: bool = False,
    ) -> None:
        """``audio``: the browser sends its microphone too (``put_audio``)."""
        self.spec = spec
        self.fps = fps
        self.max_pixels = max_pixels
        #: The page's timing band, cut off each frame that has it (None: frames are all picture).
        self.band = band
        #: Frames handed to the engine: the capture thread numbers them the same (``Frame.seq``),
        #: which is how a band finds its processed frame again.
        self._reads = 0
        #: Frames scaled down to ``max_pixels`` / refused as too small, and the last sent
        #: picture size (the band not counted).
        self.scaled_down = 0
        self.refused_small = 0
        self.sent_size = (0, 0)
        self._cond = threading.Condition()
        self._latest: av.VideoFrame | None = None
        self._ended = False
        self._size = (0, 0)
        self.replaced_unread = 0
        self._t0: float | None = None
        #: The browser's sound, timed on the pictures' clock (``BrowserAudio``).
        self.audio = BrowserAudio() if audio else None
        #: (picture time, arrival ns) of the newest frame: where the sound's clock is tied on.
        self._arrival: tuple[float, int] | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def audio_channels(self) -> int:
        return self.audio.converter.channels if self.audio is not None else 0

    @property
    def audio_dropped(self) -> int:
        return self.audio.dropped if self.audio is not None else 0

    def put_audio(self, frame: av.AudioFrame) -> None:
        """Called on the event loop for every received audio frame."""
        if self.audio is not None:
            with self._cond:
                arrival = self._arrival
            self.audio.put(frame, arrival, now_ns())

    def take_audio(self) -> list[AudioChunk]:
        return self.audio.take() if self.audio is not None else []

    def open(self) -> None:
        pass

    def put(self, frame: av.VideoFrame) -> None:
        """Called on the event loop for every received frame; never blocks for long."""
        with self._cond:
            if self._latest is not None:
                self.replaced_unread += 1
            self._latest = frame
            t = float(frame.time) if frame.time is not None else 0.0
            if self._t0 is None:
                self._t0 = t
            self._arrival = (t - self._t0, now_ns())
            self._cond.notify()

    def end(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify()

    def read(self) -> tuple[np.ndarray, float] | None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._latest is not None or self._ended)
                frame, self._latest = self._latest, None
            if frame is None:
                return None
            cut = self.band.rows_in(frame.width, frame.height) if self.band is not None else 0
            self.sent_size = (frame.width, frame.height - cut)
            size = input_size(*self.sent_size, self.max_pixels)
            if size is not None:
                break
            self.refused_small += 1
        if size != self.sent_size:
            self.scaled_down += 1
        if cut:
            image = self.band.split(self._reads, frame.to_ndarray(format="rgb24"), cut, size)
        else:
            image = frame.to_ndarray(width=size[0], height=size[1], format="rgb24")
            if self.band is not None:
                self.band.no_band(self._reads)
        self._reads += 1
        self._size = (image.shape[1], image.shape[0])
        t = float(frame.time) if frame.time is not None else 0.0
        return image, t - (self._t0 or 0.0)

    def interrupt(self) -> None:
        self.end()


async def drain(track: MediaStreamTrack, source: TrackSource) -> None:
    """Receive every frame aiortc decodes and hand it on at once (aiortc's own queue stays empty)."""
    try:
        while True:
            source.put(await track.recv())
    except MediaStreamError:
        pass
    finally:
        source.end()


async def drain_audio(track: MediaStreamTrack, source: TrackSource) -> None:
    """Receive the browser's microphone and hand each frame on at once (aiortc's queue stays empty)."""
    try:
        while True:
            source.put_audio(await track.recv())
    except MediaStreamError:
        pass


async def discard(track: MediaStreamTrack) -> None:
    """Receive and drop every frame of a track nothing uses (the browser's audio, until audio is
    supported), so aiortc's unbounded receive queue does not grow for the whole session."""
    try:
        while True:
            await track.recv()
    except MediaStreamError:
        pass


class ProcessedTrack(MediaStreamTrack):
    """The outgoing video: the newest processed frame, stamped with its media time (so
    in-between frames from interpolation sit between their neighbours)."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._latest: tuple[av.VideoFrame, float, int] | None = None
        self._ready = asyncio.Event()
        self._t0: float | None = None
        self._last_pts = -1
        self.replaced_unsent = 0
        #: Capture (the frame reaching livefx) -> handed to the encoder, in ms, recent only.
        self.capture_to_send = RecentSamples()

    def offer(self, frame: av.VideoFrame, time_s: float, t_capture: int) -> None:
        """On the loop (via call_soon_threadsafe): keep only the newest frame."""
        if self._latest is not None:
            self.replaced_unsent += 1
        self._latest = (frame, time_s, t_capture)
        self._ready.set()

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._ready.wait()
        self._ready.clear()
        assert self._latest is not None
        frame, time_s, t_capture = self._latest
        self._latest = None
        now = now_ns()
        self.capture_to_send.add(now, (now - t_capture) / 1e6)
        if self._t0 is None:
            self._t0 = time_s
        pts = max(self._last_pts + 1, round((time_s - self._t0) * VIDEO_CLOCK))
        frame.pts, frame.time_base = pts, VIDEO_TIME_BASE
        self._last_pts = pts
        return frame


class TrackSink(Sink):
    """Offers each processed frame to every registered outgoing track: one track per session
    in send-receive mode, every viewer's track in broadcast mode; and the source's sound to
    their audio tracks (``ProcessedAudioTrack``, which delay it to match the picture).

    Each track gets its own ``av.VideoFrame`` (it stamps its own pts on it). ``band``: the
    sending page's timing band, put back on top of each frame (a session's own sink only).
    """

    spec = "webrtc"
    holds_audio = True

    def __init__(self, loop: asyncio.AbstractEventLoop, band: TimingBand | None = None) -> None:
        self.loop = loop
        self.band = band
        self._tracks: set[ProcessedTrack] = set()
        self._audio_tracks: set[MediaStreamTrack] = set()
        self._lock = threading.Lock()

    def add(self, track: MediaStreamTrack) -> None:
        """An outgoing video or audio track (by its kind)."""
        with self._lock:
            (self._audio_tracks if track.kind == "audio" else self._tracks).add(track)

    def remove(self, track: MediaStreamTrack) -> None:
        with self._lock:
            self._tracks.discard(track)
            self._audio_tracks.discard(track)

    def write_audio(self, chunk: AudioChunk) -> None:
        with self._lock:
            tracks = list(self._audio_tracks)
        if tracks and not self.loop.is_closed():
            for track in tracks:
                self.loop.call_soon_threadsafe(track.offer, chunk)

    @property
    def viewers(self) -> int:
        return len(self._tracks)

    def open(self, width: int, height: int, fps: float) -> None:
        pass

    def write(self, frame: Frame) -> None:
        with self._lock:
            tracks = list(self._tracks)
        if not tracks or self.loop.is_closed():
            return
        image = self.band.attach(frame) if self.band is not None else frame.image
        for track in tracks:
            video = av.VideoFrame.from_ndarray(image, format="rgb24")
            self.loop.call_soon_threadsafe(track.offer, video, frame.time_s, frame.t_capture)
