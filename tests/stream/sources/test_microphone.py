"""--mic for real: a private PulseAudio daemon, beeps played into a null sink at known monotonic
instants and captured from its monitor by the Microphone, beside pictures that flash at the same
instants; the recording must keep them together. And the one-line errors."""

from __future__ import annotations

import fcntl
import json
import shutil
import signal
import subprocess
import sys
import threading
import time

import av
import numpy as np
import pytest

from livefx.bench.av_sync import BEEP_HZ, BEEP_S, DARK, DEFAULT_EVENTS, WHITE, av_offsets, median_abs
from livefx.stream.cli.main import main
from livefx.stream.errors import SourceError, UsageError
from livefx.stream.sinks import make_sink
from livefx.stream.sources import make_source
from livefx.stream.sources.base import Source
from livefx.stream.sources.microphone import Microphone
from livefx.stream.sources.with_mic import WithMicrophone

from ..helpers import pipeline
from ..pulse_daemon import WAIT_S, pactl

RATE = 48_000
BLOCK = RATE // 100
FPS = 30
F_SETPIPE_SZ = 1031  # Linux's fcntl to size a pipe


class FlashSource(Source):
    """A camera stand-in: dark pictures paced in real time (frame k at ``t0_ns + k/fps``), a
    white one at each flash frame, timed as a webcam times them (monotonic time at return)."""

    self_paced = True
    fps = FPS
    spec = "flashes"

    def __init__(self, frames: int, flashes: set[int]) -> None:
        self.frames, self.flashes = frames, flashes
        self.t0_ns = 0  # set by the test before the run
        self.k = 0
        self._stop = threading.Event()

    @property
    def size(self):
        return (160, 120)

    def open(self):
        pass

    def read(self):
        if self.k >= self.frames:
            return None
        wait = (self.t0_ns + self.k * 1e9 / FPS - time.monotonic_ns()) / 1e9
        if wait > 0 and self._stop.wait(wait):
            return None
        image = np.full((120, 160, 3), DARK, np.uint8)
        if self.k in self.flashes:
            image[15:105, 20:140] = WHITE
        self.k += 1
        return image, time.monotonic_ns() / 1e9

    def interrupt(self):
        self._stop.set()


class BeepPlayer(threading.Thread):
    """pacat into the sink, fed continuously in 10 ms blocks paced on the monotonic clock (a
    null sink that is not fed sleeps and delays what comes); a 1 kHz beep starts at each of
    ``events_ns``, which may be set while it plays. ``start`` once pacat is connected and the
    sink woken (``beeps_sink``): sound written before would wait in the pipe, and stay late."""

    def __init__(self, sink: str) -> None:
        super().__init__(daemon=True)
        self.proc = subprocess.Popen(
            ["pacat", "--playback", f"--device={sink}", "--raw", "--format=s16le", f"--rate={RATE}"]
            + ["--channels=1", "--latency-msec=10"],
            stdin=subprocess.PIPE,
        )
        fcntl.fcntl(self.proc.stdin, F_SETPIPE_SZ, 4096)  # a stalled pacat holds 42 ms at most
        self.events_ns: list[int] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        start, j = time.monotonic_ns(), 0
        t = np.arange(BLOCK)
        while not self.stopping.is_set():
            # A player that fell behind (a busy machine) skips what is past: written late, it
            # would wait in pacat's pipe and make every later beep late.
            j = max(j + 1, (time.monotonic_ns() - start) // 10_000_000)
            at = start + j * 10_000_000
            if self.stopping.wait(max(0.0, (at - time.monotonic_ns()) / 1e9)):
                break
            block = np.zeros(BLOCK)
            for event in self.events_ns:
                since = (at - event) / 1e9 + t / RATE  # each sample's time after the event
                on = (since >= 0) & (since < BEEP_S)
                block[on] = 0.5 * 32767 * np.sin(2 * np.pi * BEEP_HZ * since[on])
            try:
                self.proc.stdin.write(block.astype(np.int16).tobytes())
                self.proc.stdin.flush()
            except BrokenPipeError:
                break

    def stop(self) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(timeout=WAIT_S)
        self.proc.stdin.close()
        self.proc.wait(timeout=WAIT_S)


@pytest.fixture
def beeps_sink(pulse_server):
    """A null sink 'beeps' with a player streaming into it, settled (see BeepPlayer)."""
    pactl("load-module", "module-null-sink", "sink_name=beeps", f"rate={RATE}", "channels=1")
    player = BeepPlayer("beeps")
    try:
        deadline = time.monotonic() + WAIT_S
        while f'application.process.id = "{player.proc.pid}"' not in pactl("list", "sink-inputs"):
            assert time.monotonic() < deadline, "pacat never connected"
            time.sleep(0.01)
        pactl("suspend-sink", "beeps", "1")  # a fresh null sink sleeps 2 s unless woken so
        pactl("suspend-sink", "beeps", "0")
        player.start()
        yield player
    finally:
        player.stop()


def test_a_webcam_with_mic_records_flashes_and_beeps_together(beeps_sink, tmp_path):
    flash_frames = [round(t * FPS) for t in DEFAULT_EVENTS]
    frames = round((DEFAULT_EVENTS[-1] + 0.6) * FPS)
    camera = FlashSource(frames, set(flash_frames))
    source = WithMicrophone(camera, Microphone("pulse:beeps.monitor"))
    out = tmp_path / "out.mkv"
    p = pipeline(source, [make_sink(f"file:{out}")])
    p.open()
    camera.t0_ns = time.monotonic_ns() + 500_000_000
    beeps_sink.events_ns = [camera.t0_ns + round(f * 1e9 / FPS) for f in flash_frames]
    stats = p.run(log_every_s=0)
    offsets = av_offsets(out)
    print(f"--mic: video minus audio ms {offsets}, median |offset| {median_abs(offsets):.1f} ms")
    assert len(offsets) == len(flash_frames), offsets
    assert median_abs(offsets) <= 45
    assert stats["audio"]["chunks_in"] > 100 and stats["audio"]["chunks_dropped"] == 0


def test_run_with_mic_counts_the_sound_in_its_stats(pulse_server, tmp_path):
    pactl("load-module", "module-null-sink", "sink_name=room", f"rate={RATE}", "channels=2")
    out, stats = tmp_path / "o.mkv", tmp_path / "s.json"
    args = ["run", "--source", "synthetic", "--size", "64x48", "--style", "none", "--frames", "30"]
    assert main([*args, "--mic", "pulse:room.monitor", "--sink", f"file:{out}", "--stats", str(stats)]) == 0
    audio = json.loads(stats.read_text())["audio"]
    assert audio["chunks_in"] > 0 and audio["sinks"][f"file:{out}"]["written"] == audio["chunks_in"]
    assert audio["chunks_dropped"] == 0
    with av.open(str(out)) as container:
        assert container.streams.audio[0].channels == 2  # the source's own channels
        samples = sum(frame.samples for frame in container.decode(audio=0))
    assert samples >= 0.5 * RATE  # 30 pictures at 30 fps: about a second of sound beside them


def test_an_unknown_microphone_is_one_line(pulse_server, capsys):
    assert main(["run", "--style", "none", "--frames", "5", "--mic", "pulse:nonexistent"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("livefx: error: --mic pulse:nonexistent: no such PulseAudio source; the server has:")
    assert len([line for line in err if "error" in line]) == 1


def test_no_sound_server_says_what_to_start(monkeypatch, tmp_path, capsys):
    if shutil.which("pactl") is None or shutil.which("parec") is None:
        pytest.skip("pactl/parec are not installed (Debian: apt-get install pulseaudio-utils)")
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/dead-socket")
    assert main(["run", "--style", "none", "--frames", "5", "--mic", "default"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "livefx: error: --mic default: no PulseAudio server answers (Connection failure: Connection refused);"
        " start one: pulseaudio --start, or systemctl --user start pipewire-pulse"
    )


def test_missing_tools_say_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither pactl nor parec there
    with pytest.raises(SourceError, match="pactl not found; install pulseaudio-utils \\(pactl, parec\\)"):
        Microphone("default").check()


def test_other_systems_are_told_it_is_not_built_yet(monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(SourceError, match="--mic default: not built yet on win32; it will use WASAPI"):
        Microphone("default").check()
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(SourceError, match="not built yet on darwin; it will use Core Audio"):
        Microphone("pulse:usb").check()


def test_a_file_has_its_own_sound(flash_beep_clip, capsys):
    clip = flash_beep_clip(".mp4", 2.0)
    assert main(["run", "--source", f"file:{clip}", "--mic", "default"]) == 2
    assert f"--mic default: file:{clip} has its own sound; --mic goes with a live --source" in capsys.readouterr().err
    with pytest.raises(UsageError, match="--mic usb: unknown microphone; use default \\| pulse:NAME"):
        make_source("synthetic", None, None, mic="usb")


def test_serve_with_the_browser_source_takes_the_page_microphone(capsys):
    assert main(["serve", "--mic", "default"]) == 2
    assert "--mic default: the browser source sends the page's own microphone" in capsys.readouterr().err


def test_serve_gives_its_webcam_source_the_microphone(pulse_server, tmp_path):
    pactl("load-module", "module-null-sink", "sink_name=room", f"rate={RATE}", "channels=1")
    recording = tmp_path / "rec.mkv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "livefx.stream", "serve", "--source", "synthetic", "--mic", "pulse:room.monitor"]
        + ["--sink", f"file:{recording}", "--style", "none", "--size", "64x48", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "open http" in line:
                break
        deadline = time.monotonic() + 60  # a hang guard: the hub starts at once, without a viewer
        while not recording.exists() or recording.stat().st_size < 20_000:
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0
    with av.open(str(recording)) as container:
        assert container.streams.audio[0].channels == 1
        assert sum(frame.samples for frame in container.decode(audio=0)) > 0


def test_discard_drops_sound_from_before_the_cut_even_a_block_still_in_the_reader():
    """The first picture cuts at clock time T: blocks held that end by T go, a block the reader
    thread read before T but holds only after the cut goes too; sound past T stays."""
    from livefx.stream.sources.microphone import AUDIO_RATE

    mic = Microphone("default")
    block = np.zeros((480, 1), np.int16)  # 10 ms
    ms = 1_000_000
    mic._hold(0, block)  # [0, 10] ms: before the cut
    mic._hold(10 * ms, block)  # [10, 20] ms: over the cut
    mic.discard(15 * ms)
    mic._hold(2 * ms, block)  # [2, 12] ms, read before the cut, held after it
    mic._hold(20 * ms, block)
    chunks = mic.take(0)
    assert [round(c.time_s * 1000) for c in chunks] == [10, 20]
    assert mic.dropped == 0 and all(c.rate == AUDIO_RATE for c in chunks)
