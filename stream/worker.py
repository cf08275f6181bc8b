"""The worker thread: newest frame in, planned stages, processed frame out.

At most one frame is in flight; frames that arrive while it works are overwritten in
the ring and counted as dropped, never queued behind slow work.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from models.stage import Stage, synchronize
from stream.actions import ACTIONS_STAGE, ActionStage
from stream.budget import IO_STAGE, BudgetPlanner, Plan, StageKind, StageSpec
from stream.device import FrameConverter
from stream.frame import Frame, now_ns
from stream.motion import MotionStage
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


#: The planner's name for the flow stage (interpolation and stabilization).
MOTION_STAGE = "interpolate"
MOTION_SPEC = StageSpec(MOTION_STAGE, StageKind.OPTIONAL, scalable=False)


@dataclass
class Processed:
    """One input frame's results: its processed image and any in-between images before it."""

    image: np.ndarray
    between: list[np.ndarray]
    stage_ms: dict[str, float]


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
        motion: MotionStage | None = None,
        actions: ActionStage | None = None,
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
        #: Interpolation/stabilization; its spec (MOTION_SPEC) is among the planner's stages.
        self.motion = motion
        #: Cleared to turn interpolation/stabilization off live (a control message, a rule).
        self.motion_enabled = True
        self._last_out: Frame | None = None
        #: The action classifier beside the frame path (its spec is among the planner's stages).
        self.actions = actions
        self.actions_deferred = 0
        #: Burn the latest action labels into the output frames.
        self.draw_labels = False
        self._frames_since_actions = 0
        self._action_runs_seen = 0
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
            result = self._process(frame, plan)
            if self.draw_labels and self.actions is not None and self.actions.latest is not None:
                result = draw_labels(frame, result, self.actions.latest.labels)
            try:
                self._emit(frame, result)
            except RingClosed:
                return
            if self.actions is not None:
                self._schedule_actions(plan, frame.width * frame.height)
            latency_ms = (now_ns() - frame.t_capture) / 1e6
            self.stats.record(
                FrameRecord(
                    seq=frame.seq,
                    decision=plan.decision,
                    latency_ms=latency_ms,
                    missed_deadline=latency_ms > self.planner.budget_ms,
                    stage_ms=result.stage_ms,
                )
            )

    def _emit(self, frame: Frame, result: Processed) -> None:
        """Push the in-between frames (pts evenly between the last output and this frame),
        then the frame itself."""
        region = self.keep_region
        if region is not None:
            w, h = region
            for image in (*result.between, result.image):
                if image is not frame.image:
                    image[:h, :w] = frame.image[:h, :w]
        factor = self.motion.config.factor if self.motion is not None and self.motion_enabled else 1
        last = self._last_out
        gap_ns = 0
        if factor > 1 and last is not None and frame.pts > last.pts:
            step = (frame.pts - last.pts) / factor
            gap_ns = int(float(step * frame.time_base) * 1e9)
            between = result.between or [last.image] * (factor - 1)  # skipped: hold the last frame
            for k, image in enumerate(between, start=1):
                self.frames_out.push(
                    replace(frame, pts=last.pts + round(k * step), image=image, gap_ns=gap_ns if k > 1 else 0)
                )
            # Real frames now show (factor-1)/factor of an input interval later than they could.
            wait_ms = float((frame.pts - last.pts) * frame.time_base) * 1e3 * (factor - 1) / factor
            self.stats.record_motion(len(result.between), len(between) - len(result.between), wait_ms)
        out = replace(frame, image=result.image, gap_ns=gap_ns)
        self.frames_out.push(out)
        self._last_out = out

    def _schedule_actions(self, plan: Plan, pixels: int) -> None:
        """Every ``every_frames`` frames, ask for a classification if the planner schedules
        it now; otherwise it is deferred to a later frame (counted)."""
        assert self.actions is not None
        counters = self.actions.counters
        if counters.runs != self._action_runs_seen and counters.ms:
            self._action_runs_seen = counters.runs
            self.planner.cost.observe(ACTIONS_STAGE, pixels, counters.ms[-1])
        self._frames_since_actions += 1
        if self._frames_since_actions < self.actions.config.every_frames:
            return
        if ACTIONS_STAGE in plan.schedule and self.actions.request():
            self._frames_since_actions = 0
        else:
            self.actions_deferred += 1

    def _plan(self, frame: Frame) -> Plan:
        pixels = frame.width * frame.height
        if self.realtime:
            return self.planner.plan(pixels, frame.t_capture, now_ns())
        rung = self.planner.ladder[0]  # offline rendering: always the full chain
        return Plan(rung.name, rung.scale, rung.run, rung.schedule, 0.0, float("inf"))

    def _process(self, frame: Frame, plan: Plan) -> Processed:
        if plan.passthrough:
            if self.motion is not None:
                self.motion.reset()  # an unprocessed frame breaks the processed sequence
            return Processed(frame.image, [], {})
        t_start = time.perf_counter()
        stage_ms: dict[str, float] = {}
        try:
            x_in = x = self.converter.to_tensor(frame.image)
            h, w = x.shape[-2:]
            if plan.scale != 1.0:
                x = F.interpolate(x, scale_factor=plan.scale, mode="bilinear", antialias=True)
            for name in plan.run:
                if name == MOTION_STAGE:
                    continue
                t0 = time.perf_counter()
                x = self.stages[name](x)
                synchronize(x.device)
                stage_ms[name] = (time.perf_counter() - t0) * 1e3
                self.planner.cost.observe(name, x.shape[-1] * x.shape[-2], stage_ms[name])
            if x.shape[-2:] != (h, w):
                x = F.interpolate(x, size=(h, w), mode="bilinear")
            between: list[torch.Tensor] = []
            if self.motion is not None and not self.motion_enabled:
                self.motion.reset()
            elif self.motion is not None:
                t0 = time.perf_counter()
                result = self.motion.step(x_in, x, run_flow=MOTION_STAGE in plan.run)
                x, between = result.current, result.between
                synchronize(x.device)
                if result.ran:
                    stage_ms[MOTION_STAGE] = (time.perf_counter() - t0) * 1e3
                    self.planner.cost.observe(MOTION_STAGE, h * w, stage_ms[MOTION_STAGE])
            image = self.converter.to_image(x)
            between_images = [self.converter.to_image(b) for b in between]
        except Exception:  # noqa: BLE001 - keep the stream alive, pass the frame through
            self.stage_errors += 1
            if self.stage_errors == 1 or self.stage_errors % 100 == 0:
                log.exception("processing frame %d failed; passing it through", frame.seq)
            if self.motion is not None:
                self.motion.reset()
            return Processed(frame.image, [], stage_ms)
        io_ms = (time.perf_counter() - t_start) * 1e3 - sum(stage_ms.values())
        stage_ms[IO_STAGE] = io_ms
        self.planner.cost.observe(IO_STAGE, frame.width * frame.height, io_ms)
        return Processed(image, between_images, stage_ms)


def draw_labels(frame: Frame, result: Processed, labels: list[tuple[str, float]]) -> Processed:
    """``result`` with the labels written in its bottom-left corner (never on the input frame,
    which the action clips still read)."""
    image = result.image.copy() if result.image is frame.image else result.image
    h = image.shape[0]
    for i, (name, score) in enumerate(reversed(labels)):
        y = h - 8 - 16 * i
        text = f"{name} {score:.2f}"
        cv2.putText(image, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(image, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return replace(result, image=image)
