"""Recording to files through PyAV: ``.mp4``/``.mkv`` as H.264 (with the source's sound as AAC
in mp4, Opus in mkv), ``.y4m`` as raw YUV 4:4:4 (pictures only).

A recording must survive the process dying. MP4 is written fragmented (an empty header,
then a fragment every half second of video), Matroska cluster by cluster, and every
packet reaches the file as it is made, so a hard kill loses about the last half second
plus the encoder's look-ahead; y4m is raw frames. A normal stop (end, Ctrl-C, SIGTERM)
flushes everything.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

try:
    import av
except ImportError:  # a machine without PyAV (the GPU bench machines): file sinks refuse, saying why
    av = None

from ..audio.chunk import AudioChunk
from ..errors import SinkError, UsageError
from ..frame import Frame
from ..preflight import check_output_file
from .audio_track import AudioTrack
from .base import FixedSize, Sink

log = logging.getLogger("livefx.sink")

#: Suffix -> (container format, codec, pixel format).
FORMATS = {
    ".mp4": ("mp4", "libx264", "yuv420p"),
    ".mkv": ("matroska", "libx264", "yuv420p"),
    ".y4m": ("yuv4mpegpipe", "rawvideo", "yuv444p"),
}
#: Suffix -> audio codec (a suffix missing here records pictures only).
AUDIO_CODECS = {".mp4": "aac", ".mkv": "libopus"}
PTS_TIME_BASE = Fraction(1, 90_000)


class FileSink(Sink):
    """Writes every frame it gets, timed by the frames' own pts (variable rate if frames
    were dropped upstream). H.264 needs even sizes: odd sizes lose their last row/column.
    The sound (``expect_audio`` before ``open``) is timed by the chunks' media time, the
    frames' pts clock, and starts with the first picture."""

    in_order = True

    def __init__(self, path: str | Path, *, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.spec = f"file:{path}"
        #: Replace an existing file (``--overwrite``); without it an existing file is refused,
        #: here and again when the recording starts (the file may have appeared meanwhile).
        self.overwrite = overwrite
        if av is None:
            raise UsageError(f"--sink {self.spec}: writing files needs PyAV (pip install av)")
        if self.path.suffix.lower() not in FORMATS:
            raise UsageError(
                f"--sink {self.spec}: unsupported file type {self.path.suffix or '(none)'};"
                f" use one of {', '.join(FORMATS)}"
            )
        check_output_file(self.path, f"--sink {self.spec}", replace=overwrite)
        self.holds_audio = self.path.suffix.lower() in AUDIO_CODECS
        self._audio_format: tuple[int, int] | None = None
        self._audio: AudioTrack | None = None
        self.audio_chunks_written = 0
        #: The file is this sink's (created or replaced by its first ``open``): reopening rewrites it.
        self._claimed = False
        self._container: av.container.OutputContainer | None = None
        self._stream = None
        self._fit: FixedSize | None = None
        self._last_pts = -1
        self.frames_written = 0

    def expect_audio(self, rate: int, channels: int) -> None:
        if self.holds_audio:
            self._audio_format = (rate, channels)

    def open(self, width: int, height: int, fps: float) -> None:
        fmt, codec, pix_fmt = FORMATS[self.path.suffix.lower()]
        if pix_fmt == "yuv420p" and (width % 2 or height % 2):
            log.warning(
                "%s: H.264 needs even sizes; cropping %dx%d to %dx%d",
                self.spec,
                width,
                height,
                width & ~1,
                height & ~1,
            )
            width, height = width & ~1, height & ~1
        try:
            # PyAV opens lazily: fail here, not on the first frame. Without --overwrite the file is
            # created exclusively, so a file that appeared since the checks is never replaced.
            self.path.open("wb" if self.overwrite or self._claimed else "xb").close()
            self._claimed = True
            # Each packet reaches the file at once (not a 32 KB buffer later): what a kill keeps.
            options = {"flush_packets": "1"}
            if fmt == "mp4":
                # A fragment every half second, at any frame: a slow stream loses no more.
                options |= {"movflags": "empty_moov+default_base_moof", "frag_duration": "500000"}
            self._container = av.open(str(self.path), mode="w", format=fmt, options=options)
            rate = Fraction(fps).limit_denominator(1001)
            self._stream = self._container.add_stream(codec, rate=rate)
            self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, pix_fmt
            if codec == "libx264":
                self._stream.codec_context.time_base = PTS_TIME_BASE
                # A keyframe a second: a damaged or cut file resumes within a second.
                gop = str(max(1, round(fps)))
                self._stream.options = {"preset": "veryfast", "crf": "18", "g": gop, "keyint_min": gop}
                if fmt == "mp4":  # fragments carry no edit list: without B-frames pts start at 0
                    self._stream.options["bf"] = "0"
            if self._audio_format is not None:
                codec = AUDIO_CODECS[self.path.suffix.lower()]
                self._audio = AudioTrack(self._container, codec, *self._audio_format, lead_in=fmt == "mp4")
        except FileExistsError:
            self.close()
            raise SinkError(
                f"{self.spec}: {self.path} appeared since the start and is kept; add --overwrite (or -y) to replace it"
            ) from None
        except (av.FFmpegError, OSError) as exc:
            self.close()
            raise SinkError(f"{self.spec}: cannot write this file ({exc}); check the path and permissions") from None
        self._fit = FixedSize(self.spec, width, height)

    def write(self, frame: Frame) -> None:
        if self._stream is None or self._container is None or self._fit is None:
            raise SinkError(f"{self.spec}: the recording is closed (it stopped after an error)")
        image = self._fit.fit(frame.image[: self._fit.size[1], : self._fit.size[0]])
        video_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        if self._stream.codec_context.name == "libx264":
            pts = round(frame.pts * frame.time_base / PTS_TIME_BASE)
            pts = max(pts, self._last_pts + 1)  # the muxer needs strictly rising pts
            video_frame.pts, video_frame.time_base = pts, PTS_TIME_BASE
            self._last_pts = pts
        if self._audio is not None:
            self._audio.start_at(frame.time_s)
        self._mux(self._stream.encode(video_frame))
        self.frames_written += 1

    def write_audio(self, chunk: AudioChunk) -> None:
        """Sound before the first picture is not kept: the recording starts with a picture."""
        if self._container is None:
            raise SinkError(f"{self.spec}: the recording is closed (it stopped after an error)")
        if self._audio is None or self._audio.next_pts is None:
            return
        self._mux(self._audio.encode(chunk))
        self.audio_chunks_written += 1

    def _mux(self, packets: Iterable[av.Packet]) -> None:
        """Encode (``packets`` is lazy) and write; a failure abandons the file, said as a SinkError."""
        assert self._container is not None
        try:
            for packet in packets:
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as exc:
            self._abandon()
            reason = getattr(exc, "strerror", None) or str(exc)
            raise SinkError(
                f"{self.spec}: cannot write ({reason}); the recording stops here, after {self.frames_written} frames"
            ) from None

    def _abandon(self) -> None:
        """Drop a container that can no longer be written (full disk, lost mount)."""
        container, self._container, self._stream, self._audio = self._container, None, None, None
        if container is not None:
            try:
                container.close()
            except (av.FFmpegError, OSError):
                pass  # it is broken already; what reached the disk stays (fragmented)

    def close(self) -> None:
        """Flush the encoder and finish the file; a write error here is a SinkError too."""
        container, stream, audio = self._container, self._stream, self._audio
        if container is None:
            return
        self._container = self._stream = self._audio = None
        try:
            if stream is not None:
                for packet in stream.encode():
                    container.mux(packet)
            if audio is not None:
                for packet in audio.flush():
                    container.mux(packet)
            container.close()
        except (av.FFmpegError, OSError) as exc:
            with contextlib.suppress(av.FFmpegError, OSError):
                container.close()
            reason = getattr(exc, "strerror", None) or str(exc)
            raise SinkError(
                f"{self.spec}: cannot finish the recording ({reason}); the frames written so far stay"
            ) from None
