"""Decoded audio in any format, rate and layout, as AudioChunks: int16 interleaved at AUDIO_RATE.

Chunks are timed by a running sample count from the first frame's timestamp, not by each
output frame's own pts: a container's coarse timestamps (Matroska's milliseconds) would
otherwise make neighbouring chunks overlap or leave gaps, which a sink must patch with
audible clicks. A frame whose timestamp strays from the count by more than ``REANCHOR_S``
(a gap in the stream, a seek, a loop) starts a new run at its own time.
"""

from __future__ import annotations

try:
    import av
except ImportError:  # a machine without PyAV: only file sources decode audio, and they refuse there
    av = None

from .chunk import AUDIO_RATE, AudioChunk

#: Largest drift (s) between a frame's timestamp and the running count that is still jitter.
REANCHOR_S = 0.05


class AudioConverter:
    """One audio stream's decoded frames -> chunks; mono stays mono, anything else is stereo."""

    def __init__(self, channels_in: int) -> None:
        self.channels = 1 if channels_in == 1 else 2
        self.layout = "mono" if self.channels == 1 else "stereo"
        self._resampler: av.AudioResampler | None = None
        #: Media time of the current run's first output sample (None: no run yet).
        self._anchor_s: float | None = None
        self._in_s = 0.0  # input converted in this run (s)
        self._out = 0  # output samples made in this run
        self._end_s = 0.0  # where the last run ended (continues frames with no timestamp)

    def convert(self, frame: av.AudioFrame, base_s: float = 0.0) -> list[AudioChunk]:
        """The chunks ``frame`` completes; ``base_s`` is added to its timestamp (a loop's offset)."""
        t = base_s + float(frame.time) if frame.time is not None else None
        chunks: list[AudioChunk] = []
        if self._anchor_s is not None and t is not None and abs(t - self._anchor_s - self._in_s) > REANCHOR_S:
            chunks += self.flush()
        for attempt in range(2):
            if self._resampler is None:
                self._anchor_s = t if t is not None else self._end_s
                self._resampler = av.AudioResampler(format="s16", layout=self.layout, rate=AUDIO_RATE)
            try:
                outs = self._resampler.resample(frame)
            except ValueError:  # the stream changed format or layout mid-way: start a new run
                if attempt:
                    raise
                chunks += self.flush()
                continue
            break
        self._in_s += frame.samples / frame.sample_rate
        chunks += [self._chunk(out) for out in outs]
        return chunks

    def flush(self) -> list[AudioChunk]:
        """The resampler's tail; the next frame starts a new run at its own timestamp."""
        chunks = [self._chunk(out) for out in self._resampler.resample(None)] if self._resampler else []
        if self._anchor_s is not None:
            self._end_s = self._anchor_s + self._out / AUDIO_RATE
        self._resampler, self._anchor_s, self._in_s, self._out = None, None, 0.0, 0
        return chunks

    def _chunk(self, out: av.AudioFrame) -> AudioChunk:
        assert self._anchor_s is not None
        samples = out.to_ndarray().reshape(-1, self.channels).copy()
        chunk = AudioChunk(samples, AUDIO_RATE, self._anchor_s + self._out / AUDIO_RATE)
        self._out += chunk.frames
        return chunk
