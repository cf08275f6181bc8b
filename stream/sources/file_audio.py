"""A file's sound, decoded in the same pass as its pictures and held for the capture thread."""

from __future__ import annotations

import logging
from collections import deque

try:
    import av
except ImportError:  # a machine without PyAV: file sources refuse before this is used
    av = None

from livefx.models.errors import one_line

from ..audio.chunk import AudioChunk
from ..audio.convert import AudioConverter

log = logging.getLogger("livefx.source")

#: Seconds of decoded audio held for the capture thread at most: a file whose sound lies far
#: ahead of its pictures loses the oldest (counted, said once) rather than filling memory.
MAX_PENDING_S = 10.0


class FileAudio:
    """The first audio stream of an open file: ``decode`` each of its packets (with the
    loop offset the frames get), ``take`` the chunks on the frames' clock."""

    def __init__(self, spec: str, stream: av.audio.stream.AudioStream) -> None:
        self.spec = spec
        self.stream = stream
        self.converter = AudioConverter(stream.codec_context.channels)
        # Decoded frames with the loop offset of their pass; None ends a pass (flush there).
        self._pending: deque[tuple[av.AudioFrame | None, float]] = deque()
        self._held_s = 0.0
        self._warned_bad = False
        #: Decoded frames lost because the capture thread did not take them in time.
        self.dropped = 0

    @property
    def channels(self) -> int:
        return self.converter.channels

    def decode(self, packet: av.Packet, offset_s: float) -> None:
        """Decode one packet of the audio stream; undecodable audio is skipped (the
        pictures go on), said once."""
        try:
            frames = packet.decode()
        except av.FFmpegError as exc:
            if not self._warned_bad:
                log.warning("%s: skipping undecodable audio (%s)", self.spec, one_line(exc))
                self._warned_bad = True
            return
        for frame in frames:
            self._pending.append((frame, offset_s))
            self._held_s += frame.samples / frame.sample_rate
        lost = 0
        while self._held_s > MAX_PENDING_S and self._pending:
            old, _ = self._pending.popleft()
            if old is not None:
                self._held_s -= old.samples / old.sample_rate
                lost += 1
        if lost and not self.dropped:
            log.warning("%s: the sound lies far ahead of the pictures in this file; some is dropped", self.spec)
        self.dropped += lost

    def end_pass(self, offset_s: float) -> None:
        """The file ended (it may start again): what the resampler holds is due."""
        self._pending.append((None, offset_s))

    def take(self, t0_s: float) -> list[AudioChunk]:
        """Everything decoded so far, as chunks whose media time is ``offset + t - t0_s``."""
        chunks: list[AudioChunk] = []
        while self._pending:
            frame, offset_s = self._pending.popleft()
            if frame is None:
                chunks += self.converter.flush()
                continue
            self._held_s -= frame.samples / frame.sample_rate
            chunks += self.converter.convert(frame, offset_s - t0_s)
        return chunks
