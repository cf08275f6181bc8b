from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest

from livefx.stream.errors import SinkError, UsageError
from livefx.stream.frame import Frame
from livefx.stream.scheduling.commands import parse
from livefx.stream.sinks import FileSink, NullSink, VirtualCamSink, WindowSink, make_sink
from livefx.stream.sinks.window import QUIT, key_command
from livefx.stream.sources.synthetic import SyntheticSource

from ..conftest import count_frames
from .helpers import Collect, pipeline


def frames(n: int, size=(64, 48), fps=30):
    w, h = size
    rng = np.random.default_rng(1)
    for i in range(n):
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        yield Frame(seq=i, t_capture=0, pts=i * 90000 // fps, image=img)


def test_make_sink_parses_specs(tmp_path):
    assert isinstance(make_sink("null"), NullSink)
    assert isinstance(make_sink(f"file:{tmp_path}/a.mp4"), FileSink)
    assert make_sink("virtualcam:/dev/video9").device == "/dev/video9"
    assert isinstance(make_sink("window"), WindowSink)
    for bad in ["bogus", "file:", f"file:{tmp_path}/a.gif", f"file:{tmp_path}/no/dir/a.mp4"]:
        with pytest.raises(UsageError, match="--sink"):
            make_sink(bad)


def test_mp4_sink_writes_playable_h264_with_all_frames(tmp_path):
    import av

    path = tmp_path / "out.mp4"
    sink = FileSink(path)
    sink.open(64, 48, 30)
    for f in frames(20):
        sink.write(f)
    sink.close()
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        decoded = list(c.decode(stream))
    assert len(decoded) == 20
    assert decoded[1].time == pytest.approx(1 / 30, abs=1e-3)


def test_mp4_keeps_the_timing_of_dropped_frames(tmp_path):
    import av

    path = tmp_path / "gaps.mp4"
    sink = FileSink(path)
    sink.open(64, 48, 30)
    for f in frames(10):
        if f.seq % 2 == 0:  # every other frame was dropped upstream
            sink.write(f)
    sink.close()
    with av.open(str(path)) as c:
        times = [fr.time for fr in c.decode(video=0)]
    assert len(times) == 5 and times[-1] == pytest.approx(8 / 30, abs=1e-3)


def test_y4m_sink_is_lossless_raw(tmp_path):
    import av

    path = tmp_path / "out.y4m"
    sink = FileSink(path)
    sink.open(63, 47, 25)  # odd sizes are fine for 4:4:4
    src = list(frames(5, size=(63, 47)))
    for f in src:
        sink.write(f)
    sink.close()
    assert path.read_bytes().startswith(b"YUV4MPEG2 W63 H47 F25:1")
    with av.open(str(path)) as c:
        back = [fr.to_ndarray(format="rgb24") for fr in c.decode(video=0)]
    assert len(back) == 5
    # Only the 8-bit RGB<->YUV rounding is lost: no compression, no chroma subsampling.
    err = np.abs(back[2].astype(int) - src[2].image.astype(int))
    assert err.mean() < 2.0


def test_mp4_sink_crops_odd_sizes(tmp_path):
    path = tmp_path / "odd.mp4"
    sink = FileSink(path)
    sink.open(65, 49, 30)
    for f in frames(3, size=(65, 49)):
        sink.write(f)
    sink.close()
    assert count_frames(path) == 3


def test_file_sink_unwritable_path(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    sink = FileSink(folder / "x.mp4")
    folder.rmdir()
    with pytest.raises(SinkError, match="cannot write"):
        sink.open(64, 48, 30)


def test_an_existing_file_is_kept_unless_overwrite_is_asked_for(tmp_path):
    out = tmp_path / "talk.mp4"
    out.write_bytes(b"a recording worth keeping")
    with pytest.raises(UsageError, match=r"talk.mp4 already exists; add --overwrite \(or -y\)"):
        FileSink(out)
    with pytest.raises(UsageError, match="already exists"):
        make_sink(f"file:{out}")
    assert out.read_bytes() == b"a recording worth keeping"
    sink = make_sink(f"file:{out}", overwrite=True)
    sink.open(64, 48, 30)
    for f in frames(3):
        sink.write(f)
    sink.close()
    assert count_frames(out) == 3


def test_a_file_that_appears_after_the_checks_is_not_replaced(tmp_path):
    """The checks run at start-up, the recording starts after the models load: a file made
    in between is still refused (created exclusively), and the sink can be opened again later."""
    out = tmp_path / "late.mkv"
    sink = FileSink(out)
    out.write_bytes(b"made meanwhile")
    with pytest.raises(SinkError, match="appeared since the start and is kept; add --overwrite"):
        sink.open(64, 48, 30)
    assert out.read_bytes() == b"made meanwhile"
    out.unlink()
    mine = FileSink(out)
    for _ in range(2):  # a reopened sink rewrites its own file
        mine.open(64, 48, 30)
        for f in frames(2):
            mine.write(f)
        mine.close()
    assert count_frames(out) == 2


def test_folder_checks_are_real_and_leave_nothing_behind(tmp_path):
    (tmp_path / "notes.txt").write_text("not a folder")
    with pytest.raises(UsageError, match="notes.txt is not a folder"):
        FileSink(tmp_path / "notes.txt" / "o.mp4")
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(UsageError, match="is a folder; name a file in it"):
        FileSink(tmp_path / "dir.mp4")
    FileSink(tmp_path / "fine.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.mp4", "notes.txt"]  # no probe left, nothing made


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs Linux's /sys (no new files there, even for root)")
def test_a_folder_that_takes_no_new_files_is_refused_at_once():
    with pytest.raises(UsageError, match=r"cannot create files in folder /sys \("):
        FileSink("/sys/livefx-out.mp4")


class CapturingBackend:
    """A pyvirtualcam backend that keeps frames: no v4l2loopback device can exist on CI."""

    instances: list = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self._device = device or "/dev/video-fake"
        self.sent = []
        self.closed = False
        CapturingBackend.instances.append(self)

    def send(self, frame):
        self.sent.append(frame.copy())

    def close(self):
        self.closed = True

    def device(self):
        return self._device

    def native_fourcc(self):
        return None


def test_virtualcam_sends_rgb_frames_through_pyvirtualcam(monkeypatch):
    import pyvirtualcam.camera

    # register_backend stores into BACKENDS; patching the dict undoes it after the test.
    monkeypatch.setitem(pyvirtualcam.camera.BACKENDS, "capture", CapturingBackend)
    sink = VirtualCamSink(backend="capture")
    sink.open(64, 48, 30)
    sent = list(frames(3))
    for f in sent:
        sink.write(f)
    sink.write(next(frames(1, size=(96, 72))))  # size changed mid-stream: fitted, not crashed
    assert sink.device_name == "/dev/video-fake"
    sink.close()
    cam = CapturingBackend.instances[-1]
    assert cam.closed and (cam.width, cam.height) == (64, 48)
    assert len(cam.sent) == 4
    assert np.array_equal(cam.sent[0].reshape(48, 64, 3), sent[0].image)


def test_virtualcam_without_device_names_the_fix():
    sink = VirtualCamSink(device="/dev/video-does-not-exist")
    with pytest.raises(SinkError, match="v4l2loopback|OBS"):
        sink.open(64, 48, 30)


def test_window_sink_without_display_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    sink = WindowSink()
    try:
        sink.open(64, 48, 30)
    except SinkError as exc:
        assert "DISPLAY" in str(exc)
    else:  # a machine with a display: it must really show frames
        for f in frames(2):
            sink.write(f)
    sink.close()


@pytest.mark.parametrize(
    "key, command",
    [
        *((ord(str(n)), f"style {n}") for n in range(1, 10)),
        (ord("0"), None),
        (ord("+"), "mix +0.1"),
        (ord("="), "mix +0.1"),
        (ord("-"), "mix -0.1"),
        (ord("e"), "effect toggle"),
        (ord("m"), "mirror toggle"),
        (ord("n"), "next"),
        (ord("p"), "prev"),
        (ord("q"), QUIT),
        (27, QUIT),  # Esc
        (ord("m") | 0x100000, "mirror toggle"),  # a modifier bit some backends set
        (ord("x"), None),
        (-1, None),  # no key pressed
    ],
)
def test_window_keys_map_to_the_shared_commands(key, command):
    assert key_command(key) == command
    if command not in (None, QUIT):
        parse(command)  # every key sends a command the language accepts


def test_window_keys_hand_their_command_on_without_waiting_for_it():
    sent, quits = [], []
    pending: Future = Future()  # a style still loading: the window thread must not wait for it
    sink = WindowSink()
    sink.commands = lambda line: sent.append(line) or pending
    sink.on_quit = lambda: quits.append(True)
    sink.press(ord("3"))
    sink.press(ord("q"))
    sink.press(-1)
    assert sent == ["style 3"] and quits == [True] and not pending.done()
    pending.set_result("ok: style 3")  # the reply is logged whenever it comes


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full (a device that is always full)")
def test_a_full_disk_stops_the_recording_with_a_clear_error_not_the_run(tmp_path):
    full = tmp_path / "full.mp4"
    full.symlink_to("/dev/full")  # every write fails with ENOSPC, as on a full disk
    sink = FileSink(full, overwrite=True)  # it exists: only --overwrite writes there
    with pytest.raises(SinkError, match="No space left on device"):
        sink.open(64, 48, 30)  # the header is flushed at once
        for f in frames(40):
            sink.write(f)
    sink.close()  # safe after the failure
    sinks = [FileSink(full, overwrite=True), (kept := Collect())]
    p = pipeline(SyntheticSource(64, 48, fps=30), sinks, None, max_frames=30)
    p.open()
    stats = p.run(log_every_s=0)  # the run goes on for the other output
    assert len(kept.frames) == stats["frames_out"] > 0
    assert stats["sinks"][f"file:{full}"]["written"] < stats["frames_out"]


def test_a_file_sink_without_pyav_is_refused_saying_what_to_install(tmp_path, monkeypatch):
    import livefx.stream.sinks.file as file_sink

    monkeypatch.setattr(file_sink, "av", None)  # as on a machine without PyAV
    with pytest.raises(UsageError, match=r"needs PyAV \(pip install av\)"):
        make_sink(f"file:{tmp_path / 'out.mp4'}")
    assert isinstance(make_sink("null"), NullSink)  # the engine itself runs without it
