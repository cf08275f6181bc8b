"""The measured arrival rate of a self-paced source, and the planner's use of it."""

import threading

import pytest

from livefx.stream.sources.arrival import MIN_INTERVAL_MS, ArrivalInterval

from ..helpers import Collect, CountingSource, SlowInvert, pipeline

MS = 1_000_000


def test_the_interval_counts_frames_dropped_between_two_reads():
    arrival = ArrivalInterval(min_samples=3)
    seqs = [0, 1, 4, 6, 7, 10, 13]  # the worker read only some of the frames a 10 fps source sent
    estimates = [arrival.observe(seq, seq * 100 * MS) for seq in seqs]
    assert estimates[:3] == [None, None, None]
    assert estimates[3:] == [100.0] * 4


def test_a_pause_and_jitter_do_not_move_the_estimate():
    arrival = ArrivalInterval()
    t = 0
    for seq in range(40):
        t += (60, 100, 140)[seq % 3] * MS  # network jitter around 100 ms
        if seq == 20:
            t += 5_000 * MS  # a hidden tab: five seconds without frames
        arrival.observe(seq, t)
    assert arrival.interval_ms == 100.0  # the mean of these gaps is 267 ms


def test_a_burst_is_not_taken_for_a_rate():
    arrival = ArrivalInterval(min_samples=3)
    for seq in range(5):
        arrival.observe(seq, seq * 1000)  # frames 1 us apart: delivered at once
    assert arrival.interval_ms == MIN_INTERVAL_MS


def test_it_refuses_a_window_smaller_than_its_minimum():
    with pytest.raises(ValueError, match="between 1 and window"):
        ArrivalInterval(window=4, min_samples=8)


class SlowCamera(CountingSource):
    """A camera that declares 30 fps and delivers 10: each read advances a fake clock by
    100 ms. It hands over the next frame only once the previous one came out, so every
    frame is seen whatever the machine's speed."""

    spec = "camera"
    fps = 30.0

    def __init__(self, frames: int, sink: Collect, self_paced: bool = True) -> None:
        super().__init__(frames)
        self.now, self.sink, self.self_paced = 0, sink, self_paced
        self._stopped = threading.Event()

    def read(self):
        for _ in range(1000):  # at most 10 s for the previous frame (a stuck worker fails the test)
            if len(self.sink.frames) >= self.n or self._stopped.wait(0.01):
                break
        self.now += 100 * MS
        return super().read()

    def interrupt(self):
        self._stopped.set()


def slow_camera_run(self_paced: bool) -> tuple[dict, float | None]:
    sink = Collect()
    camera = SlowCamera(20, sink, self_paced)
    p = pipeline(camera, [sink], SlowInvert(0), budget_ms=1000, clock=lambda: camera.now)
    p.open()
    stats = p.run(log_every_s=0)
    assert len(sink.frames) == 20
    return stats, p.planner.frame_interval_ms


def test_a_camera_slower_than_it_declares_is_planned_at_its_measured_rate():
    stats, interval_ms = slow_camera_run(self_paced=True)
    assert stats["source_fps"] == 10.0
    assert interval_ms == 100.0  # not the declared 33 ms, which would scale a slow camera down


def test_a_source_livefx_paces_keeps_its_declared_rate():
    stats, interval_ms = slow_camera_run(self_paced=False)
    assert "source_fps" not in stats
    assert interval_ms == pytest.approx(1000 / 30)
