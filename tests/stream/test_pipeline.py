"""The whole engine under load: bounded latency, flat memory, nothing lost offline."""

import threading
import tracemalloc

import numpy as np

from livefx.models.rife.dis_stage import DisFlowStage
from livefx.stream.frame import Frame
from livefx.stream.scheduling.budget import OnLate, Plan, StageSpec
from livefx.stream.scheduling.control import StageSwap
from livefx.stream.scheduling.failures import DISABLE_AFTER
from livefx.stream.sinks.null import NullSink
from livefx.stream.sources.synthetic import SyntheticSource
from livefx.stream.stages.motion import MotionConfig, MotionStage

from .helpers import Collect, CountingSource, SlowInvert, pipeline, wait_until


class NewestCheck(SlowInvert):
    """A 40 ms stage that records, per call, which input it got (``CountingSource`` levels:
    frame number n at 3n) and how many frames had been captured when it finished."""

    def __init__(self, ms: float) -> None:
        super().__init__(ms)
        self.ring = None
        self.calls: list[tuple[int, int]] = []  # (input frame number, frames captured at the end)

    def __call__(self, x):
        out = super().__call__(x)
        if self.ring is not None:  # not the warm-up's blank frames
            self.calls.append((round(float(x.mean()) * 255 / 3), self.ring.pushed))
        return out


def test_overload_drops_frames_and_never_works_from_a_backlog():
    # 100 fps in, a 40 ms stage: the worker can do at most ~25 fps, so most frames must drop.
    stage = NewestCheck(40)
    p = pipeline(CountingSource(80), [NullSink()], stage, budget_ms=1000)
    p.open()
    stage.ring = p.frames_in
    stats = p.run(log_every_s=0)
    assert stats["frames_in"] == 80 and stats["frames_in"] == stats["frames_out"] + stats["frames_dropped"]
    assert stats["frames_dropped"] > 0 and len(stage.calls) == stats["frames_out"]
    # No queue builds up, however long the run and whatever the machine's speed: each frame the
    # worker takes is at least as new as the newest one captured when it finished the previous
    # (frame n is the n-th captured), so latency stays one frame wait plus one stage run.
    for (_, captured), (taken, _) in zip(stage.calls, stage.calls[1:]):
        assert taken >= captured, stage.calls


def test_memory_stays_flat_under_overload():
    tracemalloc.start()
    try:
        p = pipeline(
            SyntheticSource(320, 240, fps=200),
            [NullSink(), Collect(in_order=False, delay_s=0.05)],
            SlowInvert(20),
            budget_ms=1000,
            max_frames=600,
        )
        p.open()
        samples = []
        t = threading.Thread(target=p.run, kwargs={"log_every_s": 0})
        t.start()
        while t.is_alive():
            t.join(0.25)
            samples.append(tracemalloc.get_traced_memory()[0])
        frame_bytes = 320 * 240 * 3
    finally:
        tracemalloc.stop()
    collected = p.sinks[1]
    collected.frames.clear()  # the test sink itself keeps frames; drop them before judging
    early = max(samples[1:3])
    late = max(samples[-3:])
    # 600 frames went through; a leak of even a tenth of them would be ~14 MB.
    assert late < early + 60 * frame_bytes, (early, late)


def test_offline_mode_processes_every_frame_in_order():
    sink = Collect()
    p = pipeline(SyntheticSource(64, 48, fps=30), [sink], SlowInvert(2), realtime=False, max_frames=50)
    p.open()
    stats = p.run(log_every_s=0)
    assert [f.seq for f in sink.frames] == list(range(50))
    assert stats["frames_dropped"] == 0 and stats["frames_out"] == 50
    src = SyntheticSource(64, 48, fps=30)
    src.open()
    first, _ = src.read()
    assert np.abs(sink.frames[0].image.astype(int) - (255 - first.astype(int))).max() <= 1


class StuckSink(Collect):
    """A live output whose first write hangs until ``release`` (a stuck virtual camera)."""

    def __init__(self) -> None:
        super().__init__(in_order=False)
        self.release = threading.Event()

    def write(self, frame):
        assert self.release.wait(60)
        super().write(frame)


def test_slow_sink_does_not_slow_the_worker_or_other_sinks():
    stuck, fast = StuckSink(), Collect(in_order=False)
    p = pipeline(SyntheticSource(64, 48, fps=50), [stuck, fast], max_frames=50)
    p.open()
    result: list[dict] = []
    runner = threading.Thread(target=lambda: result.append(p.run(log_every_s=0)))
    runner.start()

    # The worker gets through the whole source while one output is stuck on its first frame,
    # whatever the machine's speed: it never waits for a sink.
    def finished() -> bool:  # started (a thread not yet started is not alive either) and ended
        return p.worker is not None and p.worker.ident is not None and not p.worker.is_alive()

    wait_until(finished, "the worker to finish the source")
    assert not stuck.frames
    stuck.release.set()
    runner.join(60)
    stats = result[0]
    assert stats["frames_in"] == 50 and stats["frames_out"] + stats["frames_dropped"] == 50
    # Each output saw every frame it could, and skipped (and counted) the rest; the stuck one
    # shows only the newest after it came back, not a backlog.
    for sink in (stuck, fast):
        counts = stats["sinks"][sink.spec]
        assert counts["written"] == len(sink.frames) and counts["written"] + counts["skipped"] == stats["frames_out"]
    assert len(stuck.frames) <= 2 and len(fast.frames) > len(stuck.frames)


class ResizingSource(CountingSource):
    """A camera that switches resolution halfway (as browsers do under load)."""

    fps = 50.0

    def __init__(self):
        super().__init__(40)

    def read(self):
        self.n += 1
        if self.n > self.frames:
            return None
        w, h = (64, 48) if self.n <= 20 else (96, 72)
        return np.full((h, w, 3), self.n, np.uint8), self.n / self.fps


def test_size_change_mid_stream_keeps_running(tmp_path):
    from livefx.stream.sinks.file import FileSink

    from ..conftest import count_frames

    out = tmp_path / "o.mp4"
    sink = Collect()
    p = pipeline(ResizingSource(), [sink, FileSink(out)], SlowInvert(1), realtime=False)
    p.open()
    stats = p.run(log_every_s=0)
    assert stats["frames_out"] == 40
    assert {f.image.shape for f in sink.frames} == {(48, 64, 3), (72, 96, 3)}
    assert count_frames(out) == 40


class FailingSink(Collect):
    def write(self, frame):
        raise OSError("disk full")


def test_failing_sink_does_not_stop_the_others():
    bad, good = FailingSink(), Collect()
    p = pipeline(SyntheticSource(64, 48, fps=30), [bad, good], realtime=False, max_frames=30)
    p.open()
    p.run(log_every_s=0)
    assert len(good.frames) == 30
    assert isinstance(p.outputs.runners[0].error, OSError) and bad.closed


def test_a_pipeline_is_a_context_manager_that_frees_its_threads():
    sink = Collect()
    p = pipeline(SyntheticSource(64, 48, fps=30), [sink], SlowInvert(0), realtime=False, max_frames=6)
    p.open()
    with p:
        stats = p.join(log_every_s=0)
        assert stats["frames_out"] == 6
    assert sink.closed
    assert not any(t.is_alive() for t in (p.capture, p.worker, *p.outputs.runners))
    p = pipeline(SyntheticSource(64, 48, fps=30), [Collect()], SlowInvert(0))
    p.open()
    with p:
        pass  # leaving early (an error in the caller): the endless source is stopped too
    assert not any(t.is_alive() for t in (p.capture, p.worker, *p.outputs.runners))


def late_run(on_late: OnLate) -> tuple[list[int], dict]:
    # A 30 ms stage against a 5 ms budget: even the cheapest rung misses every deadline.
    sink = Collect(in_order=True)
    p = pipeline(CountingSource(40), [sink], SlowInvert(30), budget_ms=5, on_late=on_late)
    p.open()
    stats = p.run(log_every_s=0)
    levels = [int(np.median(f.image)) for f in sink.frames]
    assert levels, "the run produced no frames"
    return levels, stats


def test_a_late_styled_stream_shows_processed_frames_by_default():
    levels, stats = late_run(OnLate.BEST_EFFORT)
    inputs = {3 * n for n in range(1, 41)}
    assert stats["decisions"].get("best_effort", 0) > 0 and "passthrough" not in stats["decisions"]
    assert all(255 - level in inputs for level in levels), levels  # every output inverted: styled
    assert len(set(levels)) == len(levels)  # each a fresh frame
    assert stats["frames_dropped"] > 0 and stats["deadline_misses"] > 0 and stats["on_late"] == "best-effort"


def test_on_late_hold_repeats_the_last_processed_frame():
    levels, stats = late_run(OnLate.HOLD)
    inputs = {3 * n for n in range(1, 41)}
    assert stats["decisions"].get("hold", 0) > 0
    assert all(255 - level in inputs for level in levels), levels  # processed, never raw
    # The first frame had nothing to hold, so it was processed; late frames repeat it
    # (a periodic probe of the rung above may add a fresh one).
    assert len(set(levels)) < len(levels) and levels.count(levels[0]) > len(levels) // 2


def test_on_late_passthrough_sends_raw_frames():
    levels, stats = late_run(OnLate.PASSTHROUGH)
    inputs = {3 * n for n in range(1, 41)}
    assert stats["decisions"].get("passthrough", 0) > 0
    assert sum(level in inputs for level in levels) >= len(levels) - 1  # raw (a probe may style one)


def test_hold_never_shows_a_frame_of_another_size_or_of_the_previous_style():
    p = pipeline(CountingSource(1), [NullSink()], SlowInvert(0), on_late=OnLate.HOLD)
    p.start()  # builds the worker; the source ends at once
    p.join(log_every_s=0)
    worker = p.worker
    hold = Plan("hold", 0.5, ("slow",), (), 0.0, 0.0, hold=True)
    full = Plan("full", 1.0, ("slow",), (), 0.0, 100.0)

    def frame(level: int, width: int = 64) -> Frame:
        return Frame(seq=0, t_capture=0, pts=0, image=np.full((48, width, 3), level, np.uint8))

    first = worker.chain.process(frame(30), full).image
    assert int(first.mean()) == 225
    assert int(worker.chain.process(frame(60), hold).image.mean()) == 225  # the last styled frame, again
    assert int(worker.chain.process(frame(60, width=32), hold).image.mean()) == 195  # other size: styled anew
    worker.chain.install(StageSwap(StageSpec("slow"), SlowInvert(0), {}))
    assert int(worker.chain.process(frame(90), hold).image.mean()) == 165  # new chain: nothing old to hold


class Failing(SlowInvert):
    """Raises on the frames ``fails`` says (as a GPU out of memory would), inverts the rest."""

    name = "slow"

    def __init__(self, fails) -> None:
        super().__init__(0)
        self.fails, self.calls, self.armed = fails, 0, False

    def __call__(self, x):
        if not self.armed:  # warm-up
            return super().__call__(x)
        self.calls += 1
        if self.fails(self.calls):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().__call__(x)


def test_a_stage_failing_every_frame_is_turned_off_and_the_stream_goes_on():
    sink = Collect()
    stage = Failing(lambda n: True)
    p = pipeline(CountingSource(60), [sink], stage, realtime=False)
    p.open()
    stage.armed = True
    stats = p.run(log_every_s=0)
    assert stats["disabled_stages"] == ["slow"] and stats["stage_errors"] == DISABLE_AFTER
    assert "out of memory" in stats["last_stage_error"] and stats["last_stage_error"].startswith("slow: ")
    assert len(sink.frames) == 60 == stats["frames_out"]  # every frame still went out (raw)
    assert p.worker.stages == {}


def test_occasional_failures_pass_those_frames_through_and_keep_the_stage():
    sink = Collect()
    stage = Failing(lambda n: n % 2 == 0)
    p = pipeline(CountingSource(60), [sink], stage, realtime=False)
    p.open()
    stage.armed = True
    stats = p.run(log_every_s=0)
    assert stats["disabled_stages"] == [] and stats["stage_errors"] == 30
    levels = [int(np.median(f.image)) for f in sink.frames]
    raw = sum(level == 3 * (f.seq + 1) for level, f in zip(levels, sink.frames))
    assert raw == stats["stage_errors"] and len(levels) == 60


def test_carried_frames_are_planned_only_on_a_cpu_where_nothing_else_moves_frames():
    def every_rungs(p) -> list[str]:
        return [r.name for r in p.planner.ladder if r.every > 1]

    source = SyntheticSource(64, 48)
    assert every_rungs(pipeline(source, [NullSink()], SlowInvert(0))) == ["scale_0.75_every2"]
    assert every_rungs(pipeline(source, [NullSink()], SlowInvert(0), carry=1)) == []
    stabilized = MotionStage(DisFlowStage("dis-fast"), MotionConfig(stabilize=True))
    assert every_rungs(pipeline(source, [NullSink()], SlowInvert(0), motion=stabilized)) == []
