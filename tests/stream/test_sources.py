import time

import numpy as np
import pytest

from livefx.stream.errors import SourceError, UsageError
from livefx.stream.scheduling.ring import ReadPolicy, Ring, RingClosed
from livefx.stream.sources import FileSource, SyntheticSource, WebcamSource, make_source
from livefx.stream.sources.capture import CaptureThread


def test_make_source_parses_specs():
    assert isinstance(make_source("synthetic", (320, 240), 15), SyntheticSource)
    assert isinstance(make_source("file:x.mp4", None, None), FileSource)
    cam = make_source("webcam:2", None, None)
    assert isinstance(cam, WebcamSource) and cam.index == 2
    for bad in ["bogus", "webcam:front", "file:", "synthetic:x"]:
        with pytest.raises(UsageError, match="--source"):
            make_source(bad, None, None)


def test_synthetic_moves_and_counts():
    src = SyntheticSource(160, 120, fps=30)
    src.open()
    a, ta = src.read()
    b, tb = src.read()
    assert a.shape == (120, 160, 3) and a.dtype == np.uint8
    assert tb - ta == pytest.approx(1 / 30)
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 1  # content moves
    assert a.std() > 30  # textured, not flat


def test_synthetic_is_paced_at_fps_in_realtime():
    src = SyntheticSource(64, 48, fps=50)
    src.open()
    ring = Ring(64)
    reader = ring.reader(ReadPolicy.IN_ORDER)
    cap = CaptureThread(src, ring, realtime=True, max_frames=25)
    t0 = time.monotonic()
    cap.start()
    cap.join(60)
    assert not cap.is_alive()
    elapsed = time.monotonic() - t0
    # 25 frames at 50 fps take at least 0.48 s (frame k waits for a tick at least k/50 s after
    # the start): pacing never runs ahead, whatever the machine's speed (a busy one only makes
    # it longer).
    assert elapsed >= 24 / 50
    frames = [reader.get(timeout=0) for _ in range(25)]
    assert [f.seq for f in frames] == list(range(25))
    assert all(b.t_capture > a.t_capture for a, b in zip(frames, frames[1:]))
    assert frames[1].time_s == pytest.approx(1 / 50, abs=1e-4)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm", ".y4m"])
def test_file_source_reads_every_container(make_video, suffix):
    path = make_video(f"clip{suffix}", frames=12, size=(64, 48), fps=25)
    src = FileSource(path)
    src.open()
    assert src.size == (64, 48) and src.fps == pytest.approx(25)
    frames = []
    while (item := src.read()) is not None:
        frames.append(item)
    src.close()
    assert len(frames) == 12
    assert frames[0][0].shape == (48, 64, 3)
    assert frames[1][1] == pytest.approx(1 / 25, abs=1e-3)


def test_file_source_on_a_real_clip(real_clip):
    src = FileSource(real_clip)
    src.open()
    image, t = src.read()
    assert image.shape[::-1][1:] == src.size and t == 0.0
    src.close()


def test_missing_file(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        FileSource(tmp_path / "nope.mp4").open()


def test_not_a_video(tmp_path):
    path = tmp_path / "random.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(SourceError, match="not a readable video"):
        FileSource(path).open()


NOTES = "meeting notes: FFmpeg reads a .txt as ANSI art, a 'video'\n" * 50


@pytest.mark.parametrize(
    "name, content, message",
    [
        (".", None, "is a folder, not a video file; name a video file in it"),
        ("notes.txt", NOTES, "a text file, not a video"),
        ("notes.mp4", NOTES, r"not a readable video \(Invalid data found when processing input\)"),
        ("short.txt", "hi\n", r"not a readable video \(Invalid data found when processing input\)"),
        ("empty.mp4", "", "the file is empty"),
    ],
)
def test_what_is_not_a_video_is_refused_by_check_in_one_line(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(SourceError, match=message) as caught:
        FileSource(path).check()
    assert "\n" not in str(caught.value) and "Errno" not in str(caught.value)


def test_check_leaves_the_source_ready_to_open_from_its_first_frame(make_video):
    source = FileSource(make_video("clip.mkv", frames=5))
    source.check()
    source.open()
    times = []
    while (got := source.read()) is not None:
        times.append(got[1])
    source.close()
    assert len(times) == 5 and times[0] == 0.0


def test_truncated_stream_plays_the_frames_it_has(make_video):
    full = make_video("full.mkv", frames=30, size=(64, 48))
    cut = full.with_name("cut.mkv")
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    src = FileSource(cut)
    src.open()
    n = 0
    while src.read() is not None:
        n += 1
    assert 0 < n < 30


def test_truncated_mp4_without_its_index_is_a_clear_error(make_video):
    full = make_video("full.mp4", frames=30, size=(64, 48))
    cut = full.with_name("cut.mp4")
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(SourceError, match="file:.*cut.mp4"):
        FileSource(cut).open()


class FakeCapture:
    """Stands in for cv2.VideoCapture: no camera device can exist on CI.

    ``script`` lists, per open, how many frames the camera gives before it vanishes
    (None: it cannot be opened at all that time).
    """

    script: list = []
    opens = 0

    def __init__(self, index):
        plan = FakeCapture.script[min(FakeCapture.opens, len(FakeCapture.script) - 1)]
        FakeCapture.opens += 1
        self.left = plan

    def isOpened(self):
        return self.left is not None

    def set(self, *args):
        return True

    def get(self, prop):
        return 30.0

    def read(self):
        if not self.left:
            return False, None
        self.left -= 1
        img = np.zeros((48, 64, 3), np.uint8)
        img[..., 0] = 255  # blue in BGR
        return True, img

    def release(self):
        pass


@pytest.fixture
def fake_cv2(monkeypatch):
    import livefx.stream.sources.webcam as webcam

    FakeCapture.opens = 0
    monkeypatch.setattr(webcam.cv2, "VideoCapture", FakeCapture)
    return FakeCapture


def test_webcam_not_found(fake_cv2):
    fake_cv2.script = [None]
    with pytest.raises(SourceError, match="cannot open camera 3"):
        WebcamSource(3).open()


def test_webcam_reconnects_with_backoff_after_it_disappears(fake_cv2):
    fake_cv2.script = [5, None, None, 5]  # gives 5 frames, vanishes, fails twice, returns
    src = WebcamSource(0, max_backoff_s=0.05)
    src.open()
    frames = [src.read() for _ in range(8)]
    assert all(f is not None for f in frames)
    assert frames[0][0][0, 0].tolist() == [0, 0, 255]  # converted to RGB
    assert src.reconnects == 1 and fake_cv2.opens == 4


def test_webcam_retry_loop_stops_when_interrupted(fake_cv2):
    fake_cv2.script = [1, None]  # one frame, then gone for good
    src = WebcamSource(0, max_backoff_s=0.05)
    src.open()
    ring = Ring(8)
    reader = ring.reader(ReadPolicy.IN_ORDER)
    cap = CaptureThread(src, ring)
    cap.start()
    assert reader.get(timeout=2) is not None
    time.sleep(0.2)
    assert cap.is_alive()  # still retrying, not crashed
    cap.stop()
    cap.join(2)
    assert not cap.is_alive()
    with pytest.raises(RingClosed):
        reader.get(timeout=0)


def test_a_looping_file_starts_again_with_increasing_timestamps(make_video):
    from livefx.stream.sources.file import FileSource

    source = FileSource(make_video("five.mkv", frames=5, fps=25), loop=True)
    source.open()
    times = [source.read()[1] for _ in range(12)]
    source.close()
    assert source.restarts == 2
    assert times == sorted(times) and len(set(times)) == 12
    assert times[5] - times[4] == pytest.approx(1 / 25, abs=1e-3)  # one frame on, not a jump back


def test_a_file_source_without_pyav_is_refused_saying_what_to_install(tmp_path, monkeypatch):
    import livefx.stream.sources.file as file_source

    monkeypatch.setattr(file_source, "av", None)  # as on a machine without PyAV
    with pytest.raises(UsageError, match=r"needs PyAV \(pip install av\)"):
        make_source(f"file:{tmp_path / 'clip.mp4'}", None, None)
