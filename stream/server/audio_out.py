"""The sound a session sends back beside its processed video, delayed to match it.

The browser lines the two tracks up by when each was sent (RTCP sender reports pair the wall
clock at sending with the RTP clock), so the sound must leave as late after its capture as
the picture does: ``ProcessedAudioTrack`` plays the sound captured the video's median
capture-to-send latency ago (``AudioDelay``, gliding when that latency moves), in 20 ms frames
paced to real time. It never waits on video work: no video frame, and the sound plays on.
The sound's own path (arrival, the capture thread, the output runner) takes time too: the
delay never goes below what that path measures (``floor_ms``), or it would play silence.
"""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import Callable

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..audio.chunk import AUDIO_RATE, AudioChunk
from ..audio.delay import AudioDelay
from ..audio.follow import LatencyFollower
from ..frame import now_ns
from ..recent import RecentSamples

#: Samples per outgoing frame: 20 ms, what the Opus encoder packs.
FRAME_SAMPLES = AUDIO_RATE // 50
AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_RATE)
#: How far ahead of real time frames may be handed over (the encoder and network add the rest).
LEAD_NS = 5_000_000
#: Frames this late are not sent in a burst to catch up: the pace starts again from now.
STALL_NS = 100_000_000


class ProcessedAudioTrack(MediaStreamTrack):
    """The session's outgoing audio: ``offer`` chunks (on the loop) as they arrive; ``recv``
    hands aiortc 20 ms s16 frames at real-time pace, delayed by ``video_latency_ms()``."""

    kind = "audio"

    def __init__(
        self,
        channels: int,
        video_latency_ms: Callable[[int], float | None],
        clock: Callable[[], int] = now_ns,
    ) -> None:
        """``video_latency_ms(now_ns)``: the paired video track's recent capture-to-send latency
        (None until it has sent frames)."""
        super().__init__()
        self.channels = 1 if channels == 1 else 2  # aiortc's Opus takes mono or stereo s16
        self.delay = AudioDelay(self.channels)
        self.follower = LatencyFollower()
        self._video_latency_ms = video_latency_ms
        self._clock = clock
        self._t0: int | None = None
        self._sent = 0
        #: How late the sound's own chunks arrive here after their capture (ms, recent only).
        self.arrival_lag = RecentSamples(window_s=2.0)

    @property
    def floor_ms(self) -> float:
        """The shortest delay that plays captured sound, not silence: the recent worst arrival
        lag of a chunk's first sample, plus the frame handed out ahead."""
        return floor_ms(self.arrival_lag.maximum(self._clock()))

    def offer(self, chunk: AudioChunk) -> None:
        """A chunk of the session's sound (on the loop; never blocks)."""
        now = self._clock()
        self.arrival_lag.add(now, (now - chunk.t_capture) / 1e6)
        self.delay.push(chunk)

    def next_frame(self, now: int) -> av.AudioFrame:
        """The frame that plays from ``now``: the sound captured the video's latency before it."""
        latency = self._video_latency_ms(now)
        lag = self.arrival_lag.maximum(now)
        if latency is not None and lag is not None:
            target = self.follower.add(max(latency, floor_ms(lag)))
            if target is not None:
                self.delay.set_target_ms(target)  # taken at once until the first pull
        if self.follower.target_ms is None:  # no picture or no sound yet: nothing to line up
            samples = np.zeros((FRAME_SAMPLES, self.channels), np.int16)
        else:
            samples = self.delay.pull(FRAME_SAMPLES, now)
        frame = av.AudioFrame.from_ndarray(
            samples.reshape(1, -1), format="s16", layout="mono" if self.channels == 1 else "stereo"
        )
        frame.sample_rate = AUDIO_RATE
        frame.pts, frame.time_base = self._sent * FRAME_SAMPLES, AUDIO_TIME_BASE
        self._sent += 1
        return frame

    def due_ns(self) -> int:
        """When the next frame is due (the sender does not pace: a track that returned frames
        early would send them in a burst)."""
        if self._t0 is None:
            self._t0 = self._clock()
        return self._t0 + self._sent * FRAME_SAMPLES * 1_000_000_000 // AUDIO_RATE

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        due, now = self.due_ns(), self._clock()
        if now - due > STALL_NS:  # the loop stalled: go on from now instead of bursting to catch up
            self._t0 = now - self._sent * FRAME_SAMPLES * 1_000_000_000 // AUDIO_RATE
            due = now
        wait = (due - LEAD_NS - now) / 1e9
        if wait > 0:
            await asyncio.sleep(wait)
        return self.next_frame(due)


def floor_ms(lag_ms: float | None) -> float:
    """``ProcessedAudioTrack.floor_ms`` for a worst arrival lag (0 before any sound came)."""
    return 0.0 if lag_ms is None else lag_ms + FRAME_SAMPLES * 1000 / AUDIO_RATE
