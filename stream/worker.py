"""The worker thread: newest frame in, planned stages, processed frame out.

At most one frame is in flight; frames that arrive while it works are overwritten in
the ring and counted as dropped, never queued behind slow work.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.stage import Stage, synchronize
from stream.budget import IO_STAGE, BudgetPlanner, Plan, StageSpec
from stream.device import FrameConverter
from stream.frame import Frame, now_ns
from stream.ring import ReadPolicy, Ring, RingClosed
from stream.stats import FrameRecord, RunStats

log = logging.getLogger("livefx.worker")


@dataclass
class StageSwap:
    """A stage prepared off the hot path, to replace (or with ``stage=None`` remove) the
    stage of the same name. ``warm_costs`` (pixels -> ms) seed the planner's cost model."""

    spec: StageSpec
    stage: Stage | None
    warm_costs: dict[int, float]
    position: int = 0
    done: threading.Event | None = None


@dataclass
class BoundStage:
    """A model stage with the role the planner gives it."""

    spec: StageSpec
    stage: Stage


class Worker(threading.Thread):
    """Owns the models for one device. ``realtime=False`` processes every frame in order."""

    def __init__(
        self,
        frames_in: Ring,
        frames_out: Ring,
        stages: list[BoundStage],
        planner: BudgetPlanner,
        stats: RunStats,
        converter: FrameConverter,
        *,
        realtime: bool = True,
    ) -> None:
        super().__init__(name="livefx-worker", daemon=True)
        self.frames_out = frames_out
        self.stages = {b.spec.name: b.stage for b in stages}
        self.planner_specs = [b.spec for b in stages]
        self.swaps = 0
        self.planner = planner
        self.stats = stats
        self.converter = converter
        self.realtime = realtime
        self.reader = frames_in.reader(ReadPolicy.NEWEST if realtime else ReadPolicy.IN_ORDER)
        self.stage_errors = 0
        self.error: BaseException | None = None
        #: (width, height) of a top-left region copied unprocessed from input to output, so a
        #: client's frame code survives for end-to-end latency measurement; None: off.
        self.keep_region: tuple[int, int] | None = None
        self._pending_swap: StageSwap | None = None
        self._swap_lock = threading.Lock()
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def request_swap(self, swap: StageSwap) -> None:
        """Hand over a prepared (loaded, warmed-up) stage; installed between two frames."""
        with self._swap_lock:
            self._pending_swap = swap  # a newer request replaces one not yet installed

    def _install_pending_swap(self) -> None:
        with self._swap_lock:
            swap, self._pending_swap = self._pending_swap, None
        if swap is None:
            return
        specs = [spec for spec in self.planner_specs if spec.name != swap.spec.name]
        self.stages.pop(swap.spec.name, None)
        if swap.stage is not None:
            specs.insert(swap.position, swap.spec)
            self.stages[swap.spec.name] = swap.stage
        self.planner_specs = specs
        self.planner.set_stages(specs)
        self.planner.cost.forget(swap.spec.name)
        for pixels, ms in swap.warm_costs.items():
            self.planner.cost.observe(swap.spec.name, pixels, ms)
        self.swaps += 1
        if swap.done is not None:
            swap.done.set()

    def run(self) -> None:
        try:
            with torch.inference_mode():
                self._loop()
        except BaseException as exc:  # noqa: BLE001 - reported by the pipeline
            self.error = exc
            log.exception("worker failed")
        finally:
            self.reader.close()
            self.frames_out.close()

    def _loop(self) -> None:
        while not self._stop_event.is_set():
            self._install_pending_swap()
            try:
                frame = self.reader.get(timeout=0.1)
            except RingClosed:
                return
            if frame is None:
                continue
            plan = self._plan(frame)
            image, stage_ms = self._process(frame, plan)
            region = self.keep_region
            if region is not None and image is not frame.image:
                w, h = region
                image[:h, :w] = frame.image[:h, :w]
            try:
                self.frames_out.push(frame.with_image(image))
            except RingClosed:
                return
            latency_ms = (now_ns() - frame.t_capture) / 1e6
            self.stats.record(
                FrameRecord(
                    seq=frame.seq,
                    decision=plan.decision,
                    latency_ms=latency_ms,
                    missed_deadline=latency_ms > self.planner.budget_ms,
                    stage_ms=stage_ms,
                )
            )

    def _plan(self, frame: Frame) -> Plan:
        pixels = frame.width * frame.height
        if self.realtime:
            return self.planner.plan(pixels, frame.t_capture, now_ns())
        rung = self.planner.ladder[0]  # offline rendering: always the full chain
        return Plan(rung.name, rung.scale, rung.run, rung.schedule, 0.0, float("inf"))

    def _process(self, frame: Frame, plan: Plan) -> tuple:
        if plan.passthrough:
            return frame.image, {}
        t_start = time.perf_counter()
        stage_ms: dict[str, float] = {}
        try:
            x = self.converter.to_tensor(frame.image)
            h, w = x.shape[-2:]
            if plan.scale != 1.0:
                x = F.interpolate(x, scale_factor=plan.scale, mode="bilinear", antialias=True)
            for name in plan.run:
                t0 = time.perf_counter()
                x = self.stages[name](x)
                synchronize(x.device)
                stage_ms[name] = (time.perf_counter() - t0) * 1e3
                self.planner.cost.observe(name, x.shape[-1] * x.shape[-2], stage_ms[name])
            if x.shape[-2:] != (h, w):
                x = F.interpolate(x, size=(h, w), mode="bilinear")
            image = self.converter.to_image(x)
        except Exception:  # noqa: BLE001 - keep the stream alive, pass the frame through
            self.stage_errors += 1
            if self.stage_errors == 1 or self.stage_errors % 100 == 0:
                log.exception("processing frame %d failed; passing it through", frame.seq)
            return frame.image, stage_ms
        io_ms = (time.perf_counter() - t_start) * 1e3 - sum(stage_ms.values())
        stage_ms[IO_STAGE] = io_ms
        self.planner.cost.observe(IO_STAGE, frame.width * frame.height, io_ms)
        return image, stage_ms
