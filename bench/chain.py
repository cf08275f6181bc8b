"""The whole chain (style + 2x interpolation [+ actions]) end to end, and the two loops
users would otherwise write, on the same frames in the same process:

- livefx: the real engine (capture thread, ring, planner, worker, sink threads) fed by a
  source replaying the frames at a fixed rate;
- naive loop: what the model cards and the RIFE scripts show, one frame after another in
  one thread: read (BGR, as OpenCV gives it), convert on the CPU, style, interpolate the
  styled pair, convert back, write. It never drops a frame, so it is measured for
  throughput on frames it can read as fast as it likes;
- unbounded queue: the aiortc server example's shape, a producer at the source rate
  feeding an unbounded queue that a consumer drains in order with the naive loop's work.

Latency is capture to hand-off to the output, for each real (not in-between) frame.
"""

from __future__ import annotations

import queue
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from livefx.models.action.load import ActionModel
from livefx.models.frames import tensor_to_image
from livefx.models.rife.dis_stage import DisFlowStage
from livefx.models.rife.stage import FlowStage
from livefx.models.stage import STYLE_STAGE
from livefx.models.stylize import StyleStage
from livefx.stream.device import FrameConverter
from livefx.stream.frame import Frame, now_ns
from livefx.stream.pipeline import Pipeline, PipelineConfig
from livefx.stream.scheduling.budget import StageSpec
from livefx.stream.scheduling.worker import BoundStage
from livefx.stream.sinks import make_sink
from livefx.stream.sinks.base import Sink
from livefx.stream.sources.base import Source
from livefx.stream.sources.synthetic import SyntheticSource
from livefx.stream.stages.motion import MotionConfig, MotionStage

from .measure import PeakMemory, percentile_summary

#: The longest a run is stretched to reach its ``min_processed`` frames on a slow machine.
MAX_RUN_S = 120.0


@dataclass
class ChainModels:
    """Built once, shared by every runner (same weights, device and precision)."""

    style: StyleStage
    flow: FlowStage | DisFlowStage | None
    actions: ActionModel | None
    converter: FrameConverter


def source_frames(width: int, height: int, count: int) -> list[np.ndarray]:
    """``count`` frames of the synthetic source (a moving texture, a disc and a counter)."""
    source = SyntheticSource(width, height)
    source.open()
    return [source.read()[0] for _ in range(count)]


class ReplaySource(Source):
    """Plays ``frames`` in a loop at ``fps`` (paced by the capture thread) until ``count``."""

    self_paced = False

    def __init__(self, frames: list[np.ndarray], fps: float, count: int) -> None:
        self.spec, self.fps, self.frames, self.count, self.n = "replay", fps, frames, count, 0

    @property
    def size(self) -> tuple[int, int]:
        return self.frames[0].shape[1], self.frames[0].shape[0]

    def open(self) -> None:
        self.n = 0

    def read(self) -> tuple[np.ndarray, float] | None:
        if self.n >= self.count:
            return None
        self.n += 1
        return self.frames[(self.n - 1) % len(self.frames)], (self.n - 1) / self.fps


class LatencyLog:
    """Output times of real frames: (capture ns, hand-off ns) per frame, and the count of
    every frame handed off (in-between ones included)."""

    def __init__(self) -> None:
        self.by_seq: dict[int, tuple[int, int]] = {}
        self.outputs = 0
        self.first_ns: int | None = None

    def add(self, seq: int, t_capture: int) -> None:
        t = now_ns()
        self.first_ns = self.first_ns or t
        self.by_seq[seq] = (t_capture, t)  # the real frame is the last one of its seq
        self.outputs += 1

    def latencies_ms(self) -> list[float]:
        return [(t_out - t_cap) / 1e6 for t_cap, t_out in self.by_seq.values()]

    def summary(self, seconds: float) -> dict:
        return {
            "frames_processed": len(self.by_seq),
            "frames_out": self.outputs,
            "processed_per_s": round(len(self.by_seq) / seconds, 2),
            "out_fps": round(self.outputs / seconds, 2),
            "latency": percentile_summary(self.latencies_ms(), digits=1),
            "over_time": self.over_time(),
        }

    def over_time(self, windows: int = 5) -> list[dict]:
        """Latency p50/p99 in ``windows`` equal spans of output time."""
        points = sorted((t_out, (t_out - t_cap) / 1e6) for t_cap, t_out in self.by_seq.values())
        if len(points) < windows:
            return []
        t0, t1 = points[0][0], points[-1][0] + 1
        span = (t1 - t0) / windows
        out = []
        for k in range(windows):
            chunk = [ms for t, ms in points if t0 + k * span <= t < t0 + (k + 1) * span]
            if chunk:
                p = percentile_summary(chunk, digits=1)
                out.append({"from_s": round(k * span / 1e9, 1), "p50_ms": p["median_ms"], "p99_ms": p["p99_ms"]})
        return out


class TimingSink(Sink):
    """Logs each frame's hand-off, then passes it on to ``inner``."""

    def __init__(self, inner: Sink, log: LatencyLog) -> None:
        self.inner, self.log = inner, log
        self.spec, self.in_order = f"timed:{inner.spec}", True

    def open(self, width: int, height: int, fps: float) -> None:
        self.inner.open(width, height, fps)

    def write(self, frame: Frame) -> None:
        self.log.add(frame.seq, frame.t_capture)
        self.inner.write(frame)

    def close(self) -> None:
        self.inner.close()


def run_livefx(
    models: ChainModels,
    frames: list[np.ndarray],
    fps: float,
    seconds: float,
    *,
    actions: bool,
    sink: str,
    interpolate: bool = True,
    keep_up: bool = True,
    min_processed: int = 0,
) -> dict:
    """The engine at its defaults (100 ms budget, best-effort when late), real time, for
    ``seconds`` (longer, up to ``MAX_RUN_S``, until it has processed ``min_processed`` frames)."""
    log = LatencyLog()
    count = round(fps * (MAX_RUN_S if min_processed else seconds))
    with tempfile.TemporaryDirectory() as tmp, PeakMemory(models.converter.device) as peak:
        inner = make_sink(sink.replace("{tmp}", tmp))
        pipeline = Pipeline(
            ReplaySource(frames, fps, count),
            [TimingSink(inner, log)],
            [BoundStage(StageSpec(STYLE_STAGE), models.style)],
            models.converter,
            PipelineConfig(fps=fps, keep_up=keep_up),
            MotionStage(models.flow, MotionConfig(factor=2)) if interpolate else None,
            models.actions if actions else None,
        )
        pipeline.open()
        t0 = time.perf_counter()
        done = threading.Event()

        def stop_when_enough() -> None:
            while not done.wait(0.05):
                if time.perf_counter() - t0 >= seconds and len(log.by_seq) >= min_processed:
                    pipeline.stop()
                    return

        watcher = threading.Thread(target=stop_when_enough, name="bench-stop", daemon=True)
        if min_processed:
            watcher.start()
        stats = pipeline.run(log_every_s=0)
        done.set()
        elapsed = time.perf_counter() - t0
        written = sum(p.stat().st_size for p in Path(tmp).iterdir())
    result = log.summary(elapsed)
    result.update(
        frames_in=stats["frames_in"],
        frames_dropped=stats["frames_dropped"],
        stage_errors=stats["stage_errors"],
        deadline_misses=stats["deadline_misses"],
        dropped_pct=round(100 * stats["frames_dropped"] / max(1, stats["frames_in"]), 2),
        decisions=stats["decisions"],
        interpolation=stats.get("interpolation", {}),
        stage_p95_ms={k: v["p95"] for k, v in stats["stages"].items()},
        bytes_written=written,
        **peak.as_dict(),
    )
    if "actions" in stats:
        result["classifications"] = stats["actions"].get("classifications")
    return result


class NaiveChain:
    """One frame's work as a naive script does it: CPU conversions, the style at full size,
    the interpolator on the styled pair, everything in order."""

    def __init__(self, models: ChainModels) -> None:
        self.models = models
        self.prev: torch.Tensor | None = None

    def __call__(self, image_bgr: np.ndarray) -> list[np.ndarray]:
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        x = torch.from_numpy(rgb).permute(2, 0, 1).float().div(255).unsqueeze(0)
        x = x.to(self.models.converter.device, self.models.converter.dtype)
        with torch.inference_mode():
            styled = self.models.style(x)
            outputs = [self.models.flow(self.prev, styled, 0.5).frame] if self.prev is not None else []
        self.prev = styled
        return [cv2.cvtColor(tensor_to_image(y), cv2.COLOR_RGB2BGR) for y in (*outputs, styled)]


def run_naive(models: ChainModels, frames: list[np.ndarray], count: int) -> dict:
    """Throughput of the naive loop on ``count`` frames read as fast as it can."""
    log = LatencyLog()
    step = NaiveChain(models)
    bgr = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in frames]
    with PeakMemory(models.converter.device) as peak:
        t0 = time.perf_counter()
        for i in range(count):
            t_read = now_ns()
            for _ in step(bgr[i % len(bgr)]):
                log.add(i, t_read)
        elapsed = time.perf_counter() - t0
    return {**log.summary(elapsed), **peak.as_dict()}


def run_unbounded(
    models: ChainModels, frames: list[np.ndarray], fps: float, seconds: float, *, min_processed: int = 0
) -> dict:
    """The unbounded-queue pipeline for ``seconds`` (longer, up to ``MAX_RUN_S``, until it has
    processed ``min_processed`` frames): what is still queued at the end is reported, not drained."""
    log = LatencyLog()
    step = NaiveChain(models)
    bgr = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in frames]
    backlog: queue.Queue[tuple[int, int, np.ndarray]] = queue.Queue()  # unbounded on purpose
    stop = threading.Event()

    def produce() -> None:
        start = time.monotonic()
        i = 0
        while not stop.is_set():
            delay = start + i / fps - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
            # A capture hands over a new buffer per frame: the backlog costs memory.
            backlog.put((i, now_ns(), bgr[i % len(bgr)].copy()))
            i += 1

    producer = threading.Thread(target=produce, name="bench-producer", daemon=True)
    with PeakMemory(models.converter.device) as peak:
        t0 = time.perf_counter()
        producer.start()
        try:
            while time.perf_counter() - t0 < seconds or (
                len(log.by_seq) < min_processed and time.perf_counter() - t0 < MAX_RUN_S
            ):
                try:
                    seq, t_capture, image = backlog.get(timeout=0.1)
                except queue.Empty:
                    continue
                for _ in step(image):
                    log.add(seq, t_capture)
        finally:
            stop.set()
            producer.join()
        elapsed = time.perf_counter() - t0
    return {**log.summary(elapsed), "queued_at_end": backlog.qsize(), **peak.as_dict()}
