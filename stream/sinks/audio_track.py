"""The sound of a recording: one audio stream whose samples lie on one unbroken timeline.

Chunks are placed by their media time, the clock of the frames' pts, so the file's two
streams agree wherever they were made. What overlaps the timeline (a looped file whose
sound outlasts its pictures) is cut, a gap (audio dropped upstream) is filled with silence:
an encoder wants contiguous samples, and a player plays the gap as a pause, not a click.

An encoder's first packet holds priming (AAC: 1024 samples, Opus: 312) that starts before
the first sample given. Matroska records it and players skip it; a fragmented MP4 has no
edit list for it, so the muxer would shift every stream, pictures too, to fit it. There the
sound starts that many samples after the first picture instead (``lead_in``), so the
priming fits after the picture's start and nothing moves.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from functools import cache

import numpy as np

try:
    import av
except ImportError:  # a machine without PyAV: file sinks refuse before this is used
    av = None

from ..audio.chunk import AudioChunk

#: Longest silence made in one piece (s): a long gap is filled a second at a time.
FILL_PIECE_S = 1.0
#: Bit rate per encoder.
BIT_RATES = {"aac": 128_000, "libopus": 96_000}


class AudioTrack:
    """An audio stream of ``container`` fed with chunks; ``start_at`` the first picture's time."""

    def __init__(
        self,
        container: av.container.OutputContainer,
        codec: str,
        rate: int,
        channels: int,
        *,
        lead_in: bool = False,
    ) -> None:
        """``lead_in``: the container keeps the encoder's priming (see above)."""
        self.rate = rate
        self.channels = channels
        self.layout = "mono" if channels == 1 else "stereo"
        self.stream = container.add_stream(codec, rate=rate, layout=self.layout)
        self.stream.bit_rate = BIT_RATES.get(codec, 128_000)
        self.time_base = Fraction(1, rate)
        #: Samples after the first picture where the sound starts.
        self.lead_in = encoder_priming(codec, rate, self.layout) if lead_in else 0
        #: The pts (in samples) the next sample gets; None until ``start_at``.
        self.next_pts: int | None = None
        #: Samples cut where chunks overlapped or came before the start; silence added for gaps.
        self.samples_cut = 0
        self.samples_filled = 0

    def start_at(self, time_s: float) -> None:
        """The timeline starts here (the first picture): earlier sound is cut."""
        if self.next_pts is None:
            self.next_pts = round(time_s * self.rate) + self.lead_in

    def encode(self, chunk: AudioChunk) -> Iterator[av.Packet]:
        """The packets ``chunk`` completes (placed on the timeline as said above)."""
        if self.next_pts is None:
            raise RuntimeError("start_at() first")
        if chunk.rate != self.rate or chunk.channels != self.channels:
            raise ValueError(
                f"a {chunk.rate} Hz {chunk.channels}-channel chunk on a {self.rate} Hz {self.layout} track"
            )
        start = round(chunk.time_s * self.rate)
        samples = chunk.samples
        if start < self.next_pts:
            cut = min(self.next_pts - start, chunk.frames)
            samples, start = samples[cut:], start + cut
            self.samples_cut += cut
        while start > self.next_pts:
            n = min(start - self.next_pts, round(FILL_PIECE_S * self.rate))
            self.samples_filled += n
            yield from self._encode(np.zeros((n, self.channels), np.int16))
        if len(samples):
            yield from self._encode(samples)

    def flush(self) -> Iterator[av.Packet]:
        """What the encoder still holds (at the end)."""
        yield from self.stream.encode(None)

    def _encode(self, samples: np.ndarray) -> Iterator[av.Packet]:
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples).reshape(1, -1), format="s16", layout=self.layout
        )
        frame.sample_rate, frame.pts, frame.time_base = self.rate, self.next_pts, self.time_base
        self.next_pts += len(samples)
        yield from self.stream.encode(frame)


@cache
def encoder_priming(codec: str, rate: int, layout: str) -> int:
    """Samples ``codec`` puts before the first sample it is given, measured on silence."""
    ctx = av.CodecContext.create(codec, "w")
    ctx.sample_rate, ctx.layout, ctx.time_base = rate, layout, Fraction(1, rate)
    ctx.format = ctx.codec.audio_formats[0].name
    first = 10 * rate  # any positive start
    for i in range(32):
        frame = av.AudioFrame(format="s16", layout=layout, samples=1024)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate, frame.pts, frame.time_base = rate, first + 1024 * i, Fraction(1, rate)
        packets = ctx.encode(frame)
        if packets:
            return max(0, first - packets[0].pts)
    return 0
