"""Video files through PyAV (mp4, mkv, webm, y4m, anything FFmpeg reads)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

try:
    import av
except ImportError:  # a machine without PyAV (the GPU bench machines): file sources refuse, saying why
    av = None

from livefx.models.errors import one_line

from ..audio.chunk import AudioChunk
from ..errors import SourceError, UsageError
from .base import Source
from .file_audio import FileAudio

log = logging.getLogger("livefx.source")

#: Consecutive undecodable packets tolerated before the file counts as unreadable.
MAX_BAD_PACKETS = 25
#: FFmpeg's text-art demuxers: they "play" any text file (notes.txt as ANSI art), never a video.
TEXT_FORMATS = frozenset({"tty", "bintext", "xbin", "adf", "idf"})


class FileSource(Source):
    """Decodes the first video stream, and in the same pass the first audio stream if there
    is one; ``fps`` is the file's native rate. Times start at 0 with the first picture and
    the sound keeps the file's offset to it. ``loop`` starts again at the end, with
    timestamps (pictures and sound alike) that keep increasing."""

    self_paced = False

    def __init__(self, path: str | Path, loop: bool = False) -> None:
        if av is None:
            raise UsageError(f"--source file:{path}: reading files needs PyAV (pip install av)")
        self.path = Path(path)
        self.loop = loop
        #: Times the file was started again (``loop``).
        self.restarts = 0
        self._offset = 0.0
        self._last_t = 0.0
        self.spec = f"file:{path}"
        self._container: av.container.InputContainer | None = None
        self._frames: Iterator[av.VideoFrame] | None = None
        self._size = (0, 0)
        self._t0: float | None = None
        self._first: av.VideoFrame | None = None
        self._audio: FileAudio | None = None

    @property
    def has_audio(self) -> bool:
        return self._audio is not None

    @property
    def audio_channels(self) -> int:
        return self._audio.channels if self._audio is not None else 0

    @property
    def audio_dropped(self) -> int:
        return self._audio.dropped if self._audio is not None else 0

    def take_audio(self) -> list[AudioChunk]:
        if self._audio is None or self._t0 is None:
            return []
        return self._audio.take(self._t0)

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def check(self) -> None:
        """Open and close at once: what ``open`` would refuse (no file, a folder, text, an
        empty or corrupt file) fails now, before any model loads, as one SourceError line."""
        try:
            self.open()
        finally:
            self.close()

    def open(self) -> None:
        if self.path.is_dir():
            raise SourceError(f"{self.spec}: is a folder, not a video file; name a video file in it")
        if not self.path.exists():
            raise SourceError(f"{self.spec}: no such file; check the path")
        if not self.path.is_file():
            raise SourceError(f"{self.spec}: not a regular file; name a video file (mp4, mkv, webm, y4m)")
        if self.path.stat().st_size == 0:
            raise SourceError(f"{self.spec}: the file is empty; use an mp4, mkv, webm or y4m file")
        try:
            self._container = av.open(str(self.path), mode="r")
        except (av.FFmpegError, OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or one_line(exc)
            raise SourceError(
                f"{self.spec}: not a readable video ({reason}); use an mp4, mkv, webm or y4m file"
            ) from None
        if set(self._container.format.name.split(",")) & TEXT_FORMATS:
            self.close()
            raise SourceError(f"{self.spec}: a text file, not a video; use an mp4, mkv, webm or y4m file")
        if not self._container.streams.video:
            self.close()
            raise SourceError(f"{self.spec}: has no video stream; pick a file with video in it")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.fps = float(rate) if rate else 30.0
        self._size = (stream.codec_context.width, stream.codec_context.height)
        self._audio = self._open_audio()
        self._frames = self._decode(stream)
        # Decode one frame now so a file with no decodable video fails at open, not later.
        self._first = next(self._frames, None)
        if self._first is None:
            self.close()
            raise SourceError(f"{self.spec}: no decodable video frames (corrupt or truncated file)")
        self._size = (self._first.width, self._first.height)
        self._t0 = float(self._first.time) if self._first.time is not None else 0.0

    def _open_audio(self) -> FileAudio | None:
        """The first audio stream, if FFmpeg can decode it (else the pictures go alone, said once)."""
        assert self._container is not None
        if not self._container.streams.audio:
            return None
        stream = self._container.streams.audio[0]
        if stream.codec_context is None or not stream.codec_context.channels:
            log.warning("%s: its audio cannot be decoded here; the video goes on without it", self.spec)
            return None
        return FileAudio(self.spec, stream)

    def _decode(self, stream: av.video.stream.VideoStream) -> Iterator[av.VideoFrame]:
        assert self._container is not None
        bad = 0
        audio = self._audio
        streams = (stream, audio.stream) if audio is not None else (stream,)
        for packet in self._container.demux(*streams):
            if audio is not None and packet.stream is audio.stream:
                audio.decode(packet, self._offset)
                continue
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                bad += 1
                if bad == 1:
                    log.warning("%s: skipping undecodable data (%s)", self.spec, one_line(exc))
                if bad >= MAX_BAD_PACKETS:
                    raise SourceError(f"{self.spec}: too much undecodable data; the file is corrupt") from None
                continue
            bad = 0
            yield from frames
        if audio is not None:
            audio.end_pass(self._offset)

    def read(self) -> tuple[np.ndarray, float] | None:
        if self._frames is None:
            return None
        frame = self._first if self._first is not None else next(self._frames, None)
        self._first = None
        if frame is None and self.loop and self._restart():
            frame = next(self._frames, None)
        if frame is None:
            return None
        t = float(frame.time) if frame.time is not None else 0.0
        if self._t0 is None:
            self._t0 = t
        # Every pass keeps the first pass's origin, so the sound decoded before a pass's
        # first picture already knows its time.
        self._last_t = self._offset + t - self._t0
        return frame.to_ndarray(format="rgb24"), self._last_t

    def _restart(self) -> bool:
        """Back to the first frame; the next pass's times continue one frame after this one's."""
        assert self._container is not None
        stream = self._container.streams.video[0]
        try:
            self._container.seek(0, stream=stream)
        except av.FFmpegError as exc:
            log.warning("%s: cannot loop (%s)", self.spec, one_line(exc))
            return False
        self._frames = self._decode(stream)
        self._offset = self._last_t + 1.0 / self.fps
        self.restarts += 1
        return True

    def close(self) -> None:
        self._frames = self._first = self._audio = None
        if self._container is not None:
            self._container.close()
            self._container = None
