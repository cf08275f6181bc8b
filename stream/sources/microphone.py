"""A microphone beside a live source (``--mic default|pulse:NAME``): on Linux ``parec`` from
PulseAudio/PipeWire, read by a thread of its own; each block timed on the monotonic clock
(``audio/live_clock.py``) and held, bounded, until the capture thread takes it."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable

import numpy as np

from ..audio import pulse
from ..audio.chunk import AUDIO_RATE, AudioChunk
from ..audio.live_clock import LiveClock
from ..errors import SourceError, UsageError
from ..frame import now_ns

log = logging.getLogger("livefx.source")

MIC_HELP = "default | pulse:NAME"
#: What would capture the sound where it is not built yet.
ROUTES = {
    "win32": "WASAPI capture (the default recording device, or one by name)",
    "darwin": "Core Audio capture through AVFoundation (the default input, or one by name)",
}
#: parec's --latency-msec: how much sound the server gathers before it sends.
PAREC_LATENCY_MS = 10
#: Nothing is subtracted for the path from the server to this reader: measured with a private
#: pulseaudio (a pipe source written at known monotonic instants, parec, this reader), the
#: promptest reads see a block within 0.2 ms of its last sample's arrival (p90 of all reads:
#: 1.4-1.9 ms later), and LiveClock keeps the promptest. What a device buffers before the server
#: has it (a USB or Bluetooth microphone's own latency) is not visible here.
PATH_LATENCY_NS = 0
#: Seconds of sound held for the capture thread at most (it takes them after every picture);
#: a source that stops giving pictures (a camera reconnecting) loses the oldest, counted.
HOLD_S = 1.0
#: How long the first sound may take to come (s).
FIRST_SOUND_S = 5.0


class Microphone:
    """``check`` (before any model loads), ``open`` (once), then ``take`` from the capture thread."""

    def __init__(self, spec: str, clock: Callable[[], int] = now_ns) -> None:
        kind, _, name = spec.partition(":")
        if spec != "default" and not (kind == "pulse" and re.fullmatch(r"[^\s'\"]+", name)):
            raise UsageError(f"--mic {spec}: unknown microphone; use {MIC_HELP} (pactl list short sources names them)")
        self.spec = f"--mic {spec}"
        self.device = name or None
        self.clock = clock
        #: Channels of the sound (the source's own: 1, or 2 for stereo and more); set by ``check``.
        self.channels = 0
        self._proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._pending: deque[tuple[int, np.ndarray]] = deque()
        #: Blocks whose sound ends by this clock time are not kept (``discard``).
        self._not_before: int | None = None
        self._held = 0
        self._lock = threading.Lock()
        self._ready = threading.Event()  # the first sound came, or parec ended
        self._sounding = False
        self._closing = False
        #: Blocks lost because the capture thread did not take them in time.
        self.dropped = 0

    def check(self) -> None:
        """One readable SourceError unless the platform, the tools, a server and the device are there."""
        if sys.platform != "linux":
            route = ROUTES.get(sys.platform, "the platform's capture API")
            raise SourceError(f"{self.spec}: not built yet on {sys.platform}; it will use {route}")
        pulse.check_server(self.spec, ("pactl", "parec"), SourceError)
        sources = pulse.short_list(self.spec, "sources", SourceError)
        name = self.device or self._default_source()
        if name not in sources:
            known = ", ".join(sorted(sources)) or "none"
            raise SourceError(f"{self.spec}: no such PulseAudio source; the server has: {known}")
        spec = sources[name][1] if len(sources[name]) > 1 else ""
        found = re.search(r"(\d+)ch", spec)
        self.channels = 1 if found is None or found.group(1) == "1" else 2

    def _default_source(self) -> str:
        info = pulse.pactl(self.spec, "info", error=SourceError)
        found = re.search(r"^Default Source: (\S+)", info, re.M)
        if found is None:
            raise SourceError(f"{self.spec}: the server has no default microphone; name one: --mic pulse:NAME")
        return found.group(1)

    def open(self) -> None:
        """Start ``parec`` and wait for its first sound; a SourceError says why none comes."""
        self.check()
        device = [f"--device={self.device}"] if self.device else []
        self._proc = subprocess.Popen(
            ["parec", *device, "--raw", "--format=s16le", f"--rate={AUDIO_RATE}", f"--channels={self.channels}"]
            + [f"--latency-msec={PAREC_LATENCY_MS}", "--client-name=livefx", "--stream-name=livefx camera sound"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
        )
        self._reader = threading.Thread(target=self._read, name="livefx-mic", daemon=True)
        self._reader.start()
        self._ready.wait(FIRST_SOUND_S)
        if not self._sounding:
            reason = self._stop_parec()
            raise SourceError(
                f"{self.spec}: parec gave no sound in {FIRST_SOUND_S:.0f} s ({reason or 'no reason given'})"
            )
        log.info("%s: %d-channel sound from %s", self.spec, self.channels, self.device or "the default microphone")

    def _read(self) -> None:
        """The reader thread: whatever the pipe holds, each read one block, until parec ends."""
        assert self._proc is not None and self._proc.stdout is not None
        fd, frame_bytes = self._proc.stdout.fileno(), 2 * self.channels
        clock, rest = LiveClock(AUDIO_RATE, PATH_LATENCY_NS), b""
        while data := self._next_read(fd):
            now = self.clock()
            data, usable = rest + data, (len(rest) + len(data)) // frame_bytes * frame_bytes
            rest = data[usable:]
            if not usable:
                continue
            samples = np.frombuffer(data[:usable], "<i2").astype(np.int16).reshape(-1, self.channels)
            self._hold(clock.place(len(samples), now), samples)
            self._sounding = True
            self._ready.set()
        self._ready.set()
        if not self._closing and self._sounding:
            log.warning("%s: the microphone stopped (parec ended); the pictures go on without sound", self.spec)

    @staticmethod
    def _next_read(fd: int) -> bytes:
        try:
            return os.read(fd, 1 << 16)
        except OSError:
            return b""

    def _hold(self, start_ns: int, samples: np.ndarray) -> None:
        with self._lock:
            if self._not_before is not None and _end_ns(start_ns, samples) <= self._not_before:
                return  # read before the cut, held after it: the reader was mid-block at discard
            self._pending.append((start_ns, samples))
            self._held += len(samples)
            while self._held > HOLD_S * AUDIO_RATE:
                self._held -= len(self._pending.popleft()[1])
                self.dropped += 1

    def take(self, origin_ns: int) -> list[AudioChunk]:
        """The blocks read since the last call, oldest first, as chunks whose media time is
        their start minus ``origin_ns``."""
        with self._lock:
            blocks, self._pending, self._held = self._pending, deque(), 0
        return [AudioChunk(samples, AUDIO_RATE, (start - origin_ns) / 1e9) for start, samples in blocks]

    def discard(self, before_ns: int) -> None:
        """Forget the sound that ends by clock time ``before_ns`` (from before the pictures
        start), uncounted: what is held now and any block the reader thread still brings."""
        with self._lock:
            self._not_before = before_ns
            kept = deque(block for block in self._pending if _end_ns(*block) > before_ns)
            self._pending, self._held = kept, sum(len(samples) for _, samples in kept)

    def close(self) -> None:
        """Stop parec and the reader. Safe to call twice."""
        self._stop_parec()

    def _stop_parec(self) -> str:
        """Stop parec if it runs; the first line it wrote on stderr."""
        self._closing = True
        proc, self._proc = self._proc, None
        if proc is None:
            return ""
        proc.terminate()
        try:
            proc.wait(timeout=pulse.TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=pulse.TIMEOUT_S)  # parec's end closed the pipe: it ends
        assert proc.stdout is not None and proc.stderr is not None
        err = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
        return pulse.first_line(err.decode(errors="replace"))


def _end_ns(start_ns: int, samples: np.ndarray) -> int:
    return start_ns + len(samples) * 1_000_000_000 // AUDIO_RATE
