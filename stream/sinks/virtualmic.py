"""A virtual microphone (call apps take livefx's sound, delayed to match the processed video):
on Linux a PulseAudio/PipeWire null sink, and a source remapped from its monitor that apps list
as "livefx microphone"; ``pacat`` plays into the sink, fed continuously by a paced writer.

As a pipeline sink it reads every processed frame as it leaves (like a live video sink on the
same output ring) only for its capture-to-output latency: the sound is delayed by that much, so
the voice leaves the microphone as late as the picture leaves livefx."""

from __future__ import annotations

import array
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

from ..audio.chunk import AUDIO_RATE, AudioChunk
from ..audio.delay import AudioDelay
from ..audio.follow import LatencyFollower
from ..errors import SinkError, UsageError
from ..frame import Frame, now_ns
from ..recent import RecentSamples
from . import pulse
from .base import Sink

log = logging.getLogger("livefx.sink")

DEFAULT_NAME = "livefx_mic"
#: The route on systems where it is not built yet.
ROUTES = {
    "win32": "VB-Cable (vb-audio.com/Cable): play into CABLE Input, pick CABLE Output as the microphone",
    "darwin": "BlackHole (existential.audio/blackhole): play into BlackHole, pick it as the microphone",
}
#: Samples per write: 10 ms.
BLOCK = AUDIO_RATE // 100
#: pacat's --latency-msec: what the server buffers of the stream.
SERVER_LATENCY_MS = 20
#: How far ahead of the server's buffer the writer keeps the pipe filled (a late wake-up of the
#: writer must not starve the server).
LEAD_MS = 30
#: A pipe holding more than this (ms) has a backlog (the server stalled): blocks are skipped.
MAX_BACKLOG_MS = LEAD_MS + 20
#: How long pacat may take to connect (s).
CONNECT_TIMEOUT_S = 10
#: A writer this late (ms) starts afresh on the clock instead of catching up.
RESYNC_MS = 250
#: How far ahead of its turn the writer takes a sample from the delay line, at most (ms): the
#: last sample of a block is pulled with the first, the lead and the server's buffer before it is heard.
PATH_MS = LEAD_MS + SERVER_LATENCY_MS + BLOCK * 1000 // AUDIO_RATE
#: How long a chunk's arrival lag counts toward the shortest playable delay (s).
LAG_WINDOW_S = 2.0
#: Fewest and most frames whose latency's median is followed (about a second of them).
FOLLOW_MIN, FOLLOW_MAX = 5, 61
#: Channels of the silent microphone a source without sound gets.
SILENT_CHANNELS = 1


class VirtualMicSink(Sink):
    """``virtualmic[:NAME]``: holds audio and writes no pictures. In a pipeline ``expect_audio``
    names the sound's format, ``open`` (the first frame) makes the microphone (silent when the
    source has no sound), ``write`` follows the frames' latency and ``write_audio`` queues the
    sound. Used alone: ``open_audio``, ``set_delay_target_ms`` (it is silent until the first),
    ``write_audio`` (never waits), ``close``."""

    holds_audio = True
    holds_video = False

    def __init__(self, name: str | None = None, *, clock: Callable[[], int] = now_ns) -> None:
        """``clock``: the ``now_ns()`` clock the frames' and chunks' stamps are on (tests inject one)."""
        if name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise UsageError(f"--sink virtualmic:{name}: a name holds letters, digits, '_', '.' and '-' only")
        self.name = name or DEFAULT_NAME
        self.spec = "virtualmic" + (f":{name}" if name else "")
        self._target_ms = 0.0
        self._target_set = False
        self._delay: AudioDelay | None = None
        self._loaded: list[int] = []  # modules this sink loaded, to unload at close
        self._pacat: subprocess.Popen | None = None
        self._writer: _Writer | None = None
        self._clock = clock
        self._format: tuple[int, int] | None = None  # (rate, channels) of the source's sound
        #: The video's capture-to-output latency, steadied (ms).
        self.follower = LatencyFollower()
        self._lags = RecentSamples(LAG_WINDOW_S, limit=512)  # ms from a chunk's capture to its arrival here
        #: The shortest delay that plays captured sound (the recent worst lag of a chunk's arrival
        #: after its capture, plus ``PATH_MS``; kept while no sound comes), the last frame's latency (ms).
        self.floor_ms = 0.0
        self.video_latency_ms: float | None = None
        self._final: dict[str, float] = {}  # the counters at close
        self._opened_ns = 0  # when ``open`` made the microphone

    def expect_audio(self, rate: int, channels: int) -> None:
        """The source has sound in this format; ``open`` makes the microphone for it."""
        self._format = (rate, channels)

    def open(self, width: int, height: int, fps: float) -> None:
        """Make the microphone and start streaming (see ``open_audio``); when no sound was
        announced it says so once and stays silent (call apps still list it)."""
        if self._format is None:
            log.info("%s: the source has no sound to send; the microphone is there, silent", self.spec)
        rate, channels = self._format or (AUDIO_RATE, SILENT_CHANNELS)
        # about a second of frames, whatever the rate (a fixed count follows a slow stream slowly)
        self.follower = LatencyFollower(window=min(max(round(fps or 30), FOLLOW_MIN), FOLLOW_MAX))
        self.open_audio(rate, channels)
        self._opened_ns = self._clock()

    def write(self, frame: Frame) -> None:
        """A processed frame as it leaves livefx: its capture-to-output latency, steadied by
        ``follower``, is the sound's delay, never below what the sound's own path needs (``floor_ms``)."""
        now = self._clock()
        if frame.t_capture < self._opened_ns:  # it waited for the microphone to open: not a latency
            return
        lag = self._lags.maximum(now)
        if lag is not None:  # else no sound came lately: the last floor stands
            self.floor_ms = max(0.0, lag + PATH_MS)
        elif self._format is not None and not self._target_set:
            return  # the sound's path is not measured yet: the delay starts once it is
        self.video_latency_ms = (now - frame.t_capture) / 1e6
        target = self.follower.add(self.video_latency_ms)
        if target is not None:
            self.set_delay_target_ms(max(target, self.floor_ms))

    @property
    def delay_target_ms(self) -> float:
        """The delay the sound is moving to (ms)."""
        return self._target_ms

    def open_audio(self, rate: int, channels: int) -> None:
        """Create the microphone (unless NAME exists) and start streaming into it (silence until
        the first delay target). Raises a SinkError that says what to install or start."""
        if sys.platform != "linux":
            route = ROUTES.get(sys.platform, "a virtual audio cable")
            raise SinkError(f"{self.spec}: not built yet on {sys.platform}; the route will be {route}")
        if rate != AUDIO_RATE:
            raise SinkError(
                f"{self.spec}: sound at {rate} Hz; it plays {AUDIO_RATE} Hz (livefx converts at the source)"
            )
        if self._writer is not None:
            return
        pulse.check_server(self.spec)
        try:
            self._create_devices(channels)
            self._delay = AudioDelay(channels, target_ms=self._target_ms)
            self._pacat = subprocess.Popen(
                ["pacat", "--playback", f"--device={self.name}", "--raw", "--format=s16le"]
                + [f"--rate={AUDIO_RATE}", f"--channels={channels}", f"--latency-msec={SERVER_LATENCY_MS}"],
                stdin=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            self._writer = _Writer(self.spec, self._pacat, self._delay)
            self._writer.live = self._target_set
            self._writer.start()
            self._wait_connected()
        except BaseException:
            self.close()
            raise
        log.info("%s: microphone %r (%s_src) is live", self.spec, "livefx microphone", self.name)

    def _create_devices(self, channels: int) -> None:
        """The null sink NAME and the source NAME_src apps list, each unless it exists."""
        description = "livefx microphone" + (f" {self.name}" if self.name != DEFAULT_NAME else "")
        if self.name not in pulse.names(self.spec, "sinks"):
            props = f"sink_properties=\"device.description='{description} feed'\""
            args = (f"sink_name={self.name}", f"rate={AUDIO_RATE}", f"channels={channels}", props)
            self._loaded.append(pulse.load_module(self.spec, "module-null-sink", *args))
        if f"{self.name}_src" not in pulse.names(self.spec, "sources"):
            props = f"source_properties=\"device.description='{description}'\""
            args = (f"master={self.name}.monitor", f"source_name={self.name}_src", props)
            self._loaded.append(pulse.load_module(self.spec, "module-remap-source", *args))

    def _wait_connected(self) -> None:
        """Wait until pacat's stream plays into the sink; a sink made here is then suspended and
        resumed once: a fresh null sink sleeps 2 s before it takes anything, and resuming makes
        it start at the stream's latency (else the first 2 s of sound would be skipped)."""
        assert self._pacat is not None
        deadline = now_ns() + CONNECT_TIMEOUT_S * 1_000_000_000
        mark = f'application.process.id = "{self._pacat.pid}"'
        while mark not in pulse.pactl(self.spec, "list", "sink-inputs"):
            if self._pacat.poll() is not None or now_ns() > deadline:
                error = self._writer.error if self._writer is not None else None
                raise error or SinkError(f"{self.spec}: pacat did not connect to {self.name}")
            time.sleep(0.01)
        if self._loaded:
            pulse.pactl(self.spec, "suspend-sink", self.name, "1")
            pulse.pactl(self.spec, "suspend-sink", self.name, "0")

    def write_audio(self, chunk: AudioChunk) -> None:
        """Queue a chunk (stamped with its capture time); raises the writer's error if pacat died."""
        if self._writer is not None and self._writer.error is not None:
            raise self._writer.error
        now = self._clock()
        if chunk.t_capture >= self._opened_ns:  # else it waited for the microphone to open
            self._lags.add(now, (now - chunk.t_capture) / 1e6)
        if self._delay is not None:
            self._delay.push(chunk)

    def set_delay_target_ms(self, ms: float) -> None:
        """Delay the sound by this much (the video's capture-to-output latency); the first target
        is taken at once, later ones are glided to."""
        self._target_ms, self._target_set = ms, True
        if self._delay is not None:
            self._delay.set_target_ms(ms)
        self._go_live()

    def _go_live(self) -> None:
        """The writer plays from the delay line from now on (silence before the first target:
        the delay starts there instead of gliding from 0)."""
        if self._writer is not None:
            self._writer.live = True

    def audio_counters(self) -> dict[str, float]:
        """The delay line's counters (target, gaps, drops), the writer's (skipped blocks, resyncs
        after a stall) and the video latency followed."""
        if self._delay is None:
            return dict(self._final)
        counters: dict[str, float] = self._delay.counters()
        if self.video_latency_ms is not None:
            counters.update(video_latency_ms=round(self.video_latency_ms, 3), floor_ms=round(self.floor_ms, 3))
        if self._writer is not None:
            counters.update(skipped_blocks=self._writer.skipped, resyncs=self._writer.resyncs)
        return counters

    def close(self) -> None:
        """Stop the writer, end pacat, unload what this sink loaded (``audio_counters`` keeps the
        last counters). Safe twice."""
        if self._delay is not None:
            self._final = self.audio_counters()
        if self._writer is not None:
            self._writer.stop()
            self._writer = None
        if self._pacat is not None:
            _end(self._pacat)
            self._pacat = None
        while self._loaded:
            index = self._loaded.pop()
            try:
                pulse.unload_module(self.spec, index)
            except SinkError as exc:  # the server went away: nothing is left to unload
                log.warning("%s", exc)
        self._delay = None


def _end(proc: subprocess.Popen) -> None:
    """End pacat: EOF first (it drains), then a signal if it lingers."""
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except OSError:
        pass  # its end of the pipe is gone already
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


class _Writer(threading.Thread):
    """Writes a 10 ms block every 10 ms, ``LEAD_MS`` ahead, whether sound came or not (a null
    sink fed in bursts adds ~600 ms); each block is what the delay line gives for the instant it
    will be heard. Never lets the pipe build a backlog; after a stall it resumes on the clock."""

    def __init__(self, spec: str, proc: subprocess.Popen, delay: AudioDelay) -> None:
        super().__init__(name=f"livefx-{spec}", daemon=True)
        self.spec = spec
        self.proc = proc
        self.delay = delay
        self.error: SinkError | None = None
        self.skipped = 0
        self.resyncs = 0
        #: Play from the delay line (else silence: no target and no sound yet).
        self.live = False
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def run(self) -> None:
        try:
            self._stream()
        except Exception as exc:  # noqa: BLE001 - said once; write_audio raises it to the caller
            log.exception("%s: the writer failed", self.spec)
            self.error = SinkError(f"{self.spec}: the writer failed ({type(exc).__name__}: {exc})")

    def _stream(self) -> None:
        assert self.proc.stdin is not None
        fd = self.proc.stdin.fileno()
        block_ns = BLOCK * 1_000_000_000 // AUDIO_RATE
        bytes_per_ms = self.delay.channels * 2 * AUDIO_RATE // 1000
        silence = np.zeros((BLOCK, self.delay.channels), np.int16)
        due = now_ns() - LEAD_MS * 1_000_000  # when the next block is written: LEAD_MS before its turn
        while not self._stop_event.is_set():
            late = now_ns() - due
            if late < 0:
                self._stop_event.wait(-late / 1e9)
                continue
            if late > RESYNC_MS * 1_000_000:  # this thread stalled: what was due is past
                self.resyncs += 1
                due = now_ns()
            # heard after what is queued ahead of it: the lead, then the server's buffer
            heard = due + (LEAD_MS + SERVER_LATENCY_MS) * 1_000_000
            samples = self.delay.pull(BLOCK, heard) if self.live else silence
            due += block_ns
            if _queued(fd) > MAX_BACKLOG_MS * bytes_per_ms:
                self.skipped += 1
                # A dead pacat leaves its unread backlog in the pipe: no write would fail.
                if self.proc.poll() is not None:
                    self._stopped(f"exit status {self.proc.returncode}")
                    return
                continue
            try:
                os.write(fd, samples.tobytes())
            except OSError as exc:  # BrokenPipeError: pacat ended
                self._stopped(str(exc))
                return

    def _stopped(self, fallback: str) -> None:
        self.error = SinkError(f"{self.spec}: pacat stopped ({self._why(fallback)})")
        log.error("%s", self.error)

    def _why(self, fallback: str) -> str:
        try:
            self.proc.wait(timeout=1)
            text = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
        except (subprocess.TimeoutExpired, OSError, ValueError):
            text = ""
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[-1].strip() if lines else fallback


def _queued(fd: int) -> int:
    """Bytes waiting in the pipe to pacat (Linux answers FIONREAD on a pipe's write end)."""
    import fcntl  # POSIX only: imported where the microphone runs
    import termios

    count = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, count)
    return count[0]
