"""A delay line for live audio outputs (a virtual microphone, a call app): it plays the sound
captured ``delay`` ago, so the voice arrives with the processed video.

Where each output sample comes from is computed from the chunks' capture stamps and the delay,
never accumulated from sample counts, so an hour at a constant delay stays exact. The delay
follows its target by gliding: playback runs at most ``MAX_SPEED_DEVIATION`` faster or slower
(resampling, linear interpolation) until the target is reached; a change bigger than
``JUMP_MS`` fades out, jumps and fades in instead.

Why 2 %: it is a third of a semitone, which a speaking voice does not betray over the second or
two a glide lasts, while a typical change of the video's latency (10-50 ms) is absorbed in 0.5-2.5 s
(100 ms in about 5 s), well within the lip-sync tolerance (ITU-R BT.1359: +45/-125 ms).
"""

from __future__ import annotations

import math
import threading

import numpy as np

from .chunk import AUDIO_RATE, AudioChunk
from .timeline import Timeline

#: Playback speed stays within 1 +- this while the delay glides to its target.
MAX_SPEED_DEVIATION = 0.02
#: Near the target the remaining error decays with this time constant (s): no overshoot, and
#: the speed eases back to 1 instead of stepping.
GLIDE_TAU_S = 0.1
#: A target further than this from the delay fades out, jumps and fades in (ms).
JUMP_MS = 500.0
#: Length of the fade out and of the fade in around a jump (s).
FADE_S = 0.005
#: A delay this close to its target (ns) is the target: the glide ends exactly.
SNAP_NS = 100.0
#: A read position this close to a whole sample is that sample (sample-exact constant delays).
SNAP_SAMPLES = 1e-4


def glide(delay_ns: float, target_ns: float, dt_ns: float) -> float:
    """The delay ``dt_ns`` after it was ``delay_ns``, moving toward ``target_ns`` at most
    ``MAX_SPEED_DEVIATION`` ns per ns, and exponentially (``GLIDE_TAU_S``) over the last stretch."""
    error = target_ns - delay_ns
    size, tau = abs(error), GLIDE_TAU_S * 1e9
    knee = MAX_SPEED_DEVIATION * tau
    if size > knee:
        linear_ns = (size - knee) / MAX_SPEED_DEVIATION
        if dt_ns <= linear_ns:
            return delay_ns + math.copysign(MAX_SPEED_DEVIATION * dt_ns, error)
        dt_ns -= linear_ns
        size = knee
    size *= math.exp(-dt_ns / tau)
    return target_ns if size < SNAP_NS else target_ns - math.copysign(size, error)


class AudioDelay:
    """Chunks go in from any thread (``push``); an output takes what to play with ``pull``.

    Storage holds ``capacity_s`` of sound: older samples are dropped (``dropped`` counts those
    never played). Output times with nothing captured for them play silence (``gap_samples``).
    Only ``AUDIO_RATE`` is accepted: livefx converts all sound to it where it enters.
    """

    def __init__(self, channels: int, *, capacity_s: float = 4.0, target_ms: float = 0.0) -> None:
        if channels < 1:
            raise ValueError(f"audio delay: channels must be >= 1, got {channels}")
        self.rate = AUDIO_RATE
        self.channels = channels
        self.capacity = int(capacity_s * self.rate)
        #: The longest delay it follows (ms): storage must also hold the chunk still arriving.
        self.max_target_ms = max(0.0, 1000 * capacity_s - 500)
        self._buf = np.zeros((self.capacity, channels), np.int16)
        self._start = 0  # index (since the first sample) of the oldest stored sample
        self._end = 0  # index of the next sample to arrive
        self._timeline = Timeline(self.rate)
        self._lock = threading.Lock()
        self._target_ns = self._delay_ns = self._clamp(target_ms) * 1e6
        self._t_next: int | None = None  # output time right after the last pulled block
        self._fade_in = 0  # samples of fade-in left after a jump
        self._read_hi = -1  # the newest input index played
        self.dropped = 0
        self.gap_samples = 0
        self.jumps = 0

    def _clamp(self, ms: float) -> float:
        if not math.isfinite(ms) or ms < 0:
            raise ValueError(f"audio delay: target must be a finite number of ms >= 0, got {ms}")
        return min(ms, self.max_target_ms)

    def set_target_ms(self, ms: float) -> None:
        """The delay to reach (the video's capture-to-output latency); before the first ``pull``
        it is taken at once, afterwards the delay glides to it."""
        with self._lock:
            self._target_ns = self._clamp(ms) * 1e6
            if self._t_next is None:
                self._delay_ns = self._target_ns

    @property
    def delay_ms(self) -> float:
        """The delay the last pulled block ended at."""
        return self._delay_ns / 1e6

    @property
    def target_ms(self) -> float:
        return self._target_ns / 1e6

    def push(self, chunk: AudioChunk) -> None:
        """Store a chunk (never waits on the output)."""
        if chunk.rate != self.rate:
            raise ValueError(f"audio delay: a chunk at {chunk.rate} Hz; livefx's audio runs at {self.rate} Hz")
        samples = self._fit_channels(chunk.samples)
        if len(samples) == 0:
            return
        with self._lock:
            self._timeline.place(float(chunk.t_capture), self._end)
            self._store(samples)

    def _fit_channels(self, samples: np.ndarray) -> np.ndarray:
        have = samples.shape[1]
        if have == self.channels:
            return samples
        if have == 1:
            return np.repeat(samples, self.channels, axis=1)
        if self.channels == 1:
            return samples.mean(axis=1, keepdims=True).astype(np.int16)
        raise ValueError(f"audio delay: a {have}-channel chunk for a {self.channels}-channel output")

    def _store(self, samples: np.ndarray) -> None:
        n = len(samples)
        end = self._end + n
        if end - self._start > self.capacity:
            start = end - self.capacity
            self.dropped += max(0, start - max(self._start, self._read_hi + 1))
            self._start = start
            self._timeline.forget_before(start)
        samples = samples[-self.capacity :]
        at = (end - len(samples)) % self.capacity
        first = min(len(samples), self.capacity - at)
        self._buf[at : at + first] = samples[:first]
        self._buf[: len(samples) - first] = samples[first:]
        self._end = end

    def pull(self, n: int, now_ns: int) -> np.ndarray:
        """``n`` samples (int16, (n, channels)) for an output that plays them from ``now_ns``
        (the ``now_ns()`` clock; add the device's own latency when known): the sound captured
        ``delay`` before each output instant."""
        with self._lock:
            if self._t_next is not None and now_ns > self._t_next:
                self._delay_ns = glide(self._delay_ns, self._target_ns, now_ns - self._t_next)
            d0, block_ns = self._delay_ns, n * 1e9 / self.rate
            steps = np.arange(n)
            gain = None
            if abs(self._target_ns - d0) > JUMP_MS * 1e6:
                delays = np.full(n, d0)
                gain = np.clip(1 - steps / (FADE_S * self.rate), 0, 1)
                d_end = self._target_ns
                self._fade_in = int(FADE_S * self.rate)
                self.jumps += 1
            else:
                d_end = glide(d0, self._target_ns, block_ns)
                delays = d0 + (d_end - d0) * steps / n
                if self._fade_in:
                    fade = int(FADE_S * self.rate)
                    gain = np.clip((fade - self._fade_in + steps + 1) / fade, 0, 1)
                    self._fade_in = max(0, self._fade_in - n)
            origin = self._timeline.origin  # times relative to it keep float64 at sub-ns
            out = self._at((now_ns - origin) + steps * (1e9 / self.rate) - delays)
            self._delay_ns, self._t_next = d_end, now_ns + round(block_ns)
        if gain is not None:
            out *= gain[:, None]
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)

    def _at(self, times: np.ndarray) -> np.ndarray:
        """The sound at these capture times (ns after the timeline's origin), float (n, channels);
        silence where none was captured."""
        out = np.zeros((len(times), self.channels))
        pos, bound = self._timeline.positions(times, self._end)
        whole = np.rint(pos)
        pos = np.where(np.abs(pos - whole) < SNAP_SAMPLES, whole, pos)
        i = np.floor(pos).astype(np.int64)
        frac = pos - i
        last = i + (frac > 0)
        valid = (i >= self._start) & (last < bound)
        self.gap_samples += int(len(times) - valid.sum())
        if valid.any():
            i, frac, last = i[valid], frac[valid, None], last[valid]
            here = self._buf[i % self.capacity].astype(np.float64)
            after = self._buf[last % self.capacity].astype(np.float64)
            out[valid] = here + (after - here) * frac
            self._read_hi = max(self._read_hi, int(last.max()))
        return out

    @property
    def resets(self) -> int:
        """Chunks whose stamp broke the timeline (the source paused, or its clock jumped)."""
        return self._timeline.resets

    def counters(self) -> dict[str, float]:
        """What it dropped, filled with silence, re-timed and jumped; where the delay stands."""
        with self._lock:
            return {
                "delay_ms": round(self._delay_ns / 1e6, 3),
                "target_ms": round(self._target_ns / 1e6, 3),
                "dropped": self.dropped,
                "gap_samples": self.gap_samples,
                "resets": self._timeline.resets,
                "jumps": self.jumps,
            }
