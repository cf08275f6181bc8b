"""The worker thread: newest frame in, planned stages, processed frame out.

At most one frame is in flight; frames that arrive while it works are overwritten in
the ring and counted as dropped, never queued behind slow work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from livefx.models.errors import one_line
from livefx.models.stage import MOTION_STAGE, Stage, synchronize

from .actions import ACTIONS_STAGE, ActionStage
from .arrival import ArrivalInterval
from .budget import IO_STAGE, BudgetPlanner, OnLate, Plan, StageSpec, cost_key
from .control import (
    ConfigureStage,
    Control,
    ControlQueue,
    SetBudget,
    SetMotion,
    StageSwap,
)
from .core_share import CPU_SHARES
from .device import FrameConverter
from .emit import emit
from .errors import LivefxError
from .frame import Frame, now_ns
from .motion import MotionStage
from .post import PostStep, Processed
from .ring import ReadPolicy, Ring, RingClosed
from .stats import FrameRecord, RunStats
from .thread_tuner import CpuThreads, ThreadTuner

log = logging.getLogger("livefx.worker")


#: A stage that fails this many frames in a row is turned off (the stream goes on without it).
DISABLE_AFTER = 20


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
        controls: ControlQueue | None = None,
        post: Sequence[PostStep] = (),
        clock: Callable[[], int] = now_ns,
        measure_arrival: bool = False,
        threads: int | None = None,
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
        #: Monotonic ns for planning and latency (the capture thread stamps frames with the same).
        self.clock = clock
        self.reader = frames_in.reader(ReadPolicy.NEWEST if realtime else ReadPolicy.IN_ORDER)
        #: A self-paced source's measured frame interval, which replaces its declared one
        #: in the planner (``measure_arrival``; real time only).
        self.arrival = ArrivalInterval() if measure_arrival and realtime else None
        self.stage_errors = 0
        #: The latest failure, "stage: reason" (None: none yet).
        self.last_stage_error: str | None = None
        #: Stages turned off after failing DISABLE_AFTER frames in a row (e.g. out of GPU memory).
        self.disabled_stages: list[str] = []
        self._failing: dict[str, int] = {}
        self.error: BaseException | None = None
        #: Live changes from other threads, applied here between frames (the only way in).
        self.controls = controls if controls is not None else ControlQueue()
        #: After the models, before emission, in order.
        self.post: list[PostStep] = list(post)
        #: Interpolation/stabilization; its spec (``MotionStage.spec``) is among the planner's stages.
        self.motion = motion
        #: Interpolation/stabilization on (``SetMotion``).
        self.motion_enabled = True
        self._last_out: Frame | None = None
        #: The last frame the effect produced (what an ``on_late=hold`` plan shows again).
        self._last_processed: np.ndarray | None = None
        #: The action classifier beside the frame path (its spec is among the planner's stages).
        self.actions = actions
        self._stop_event = threading.Event()
        #: On a CPU device: this worker's share of the cores (core_share), tuned to the load.
        self._core_shares = CPU_SHARES if converter.device.type == "cpu" else None
        fixed = ThreadTuner((threads,)) if threads else None  # ``threads``: fixed, not tuned
        self.cpu_threads = CpuThreads(CPU_SHARES, fixed) if self._core_shares is not None else None

    def stop(self) -> None:
        self._stop_event.set()

    def _apply(self, message: Control) -> None:
        """One live change, between two frames (worker thread only)."""
        if isinstance(message, StageSwap):
            self._install(message)
        elif isinstance(message, SetBudget):
            if not message.ms > 0:
                raise LivefxError(f"budget {message.ms:g} ms: must be positive")
            self.planner.budget_ms = message.ms
            self.stats.update(budget_ms=message.ms)
        elif isinstance(message, SetMotion):
            self.motion_enabled = (not self.motion_enabled) if message.on is None else message.on
            if self.motion_enabled and MOTION_STAGE in self.disabled_stages:
                self.disabled_stages.remove(MOTION_STAGE)  # asked for again: a fresh start
        elif isinstance(message, ConfigureStage):
            if message.stage not in self.stages:
                raise LivefxError(f"no {message.stage} stage is running")
            self.stages[message.stage].configure(message.change)
            self._last_processed = None
        else:
            raise TypeError(f"not a control message: {message!r}")

    def _install(self, swap: StageSwap) -> None:
        if swap.stage is not None and swap.spec.name in self.disabled_stages:
            self.disabled_stages.remove(swap.spec.name)  # a new model gets a fresh start
        specs = [spec for spec in self.planner_specs if spec.name != swap.spec.name]
        self.stages.pop(swap.spec.name, None)
        if swap.stage is not None:
            specs.insert(swap.position, swap.spec)
            self.stages[swap.spec.name] = swap.stage
        self.planner_specs = specs
        self.planner.set_stages(specs)
        self.planner.cost.forget(swap.spec.name)
        self._last_processed = None  # never hold a frame of the previous chain
        for (key, pixels), ms in swap.warm_costs.items():
            self.planner.cost.observe(key, pixels, ms)
        self.swaps += 1

    def run(self) -> None:
        if self._core_shares is not None:
            self._core_shares.join()
        try:
            with torch.inference_mode():
                self._loop()
        except BaseException as exc:  # noqa: BLE001 - reported by the pipeline
            self.error = exc
            log.exception("worker failed")
        finally:
            if self._core_shares is not None:
                self._core_shares.leave()
            self.controls.close("the stream ended before the change could be applied")
            self.reader.close()
            self.frames_out.close()

    def _loop(self) -> None:
        while not self._stop_event.is_set():
            if self.cpu_threads is not None:  # streams started or stopped beside this one, or load came
                self.cpu_threads.before_frame([*self.stages.values(), self.motion and self.motion.flow])
            self.controls.drain(self._apply)
            try:
                frame = self.reader.get(timeout=0.1)
            except RingClosed:
                return
            if frame is None:
                continue
            self._observe_arrival(frame)
            plan = self._plan(frame)
            result = self._process(frame, plan)
            if self.cpu_threads is not None:
                self.cpu_threads.after_frame(result.stage_ms, frame.width * frame.height, plan.scale)
            if self.motion is not None and self.motion.config.stabilize and self.motion_enabled:
                self.stats.degrade.observe(unstabilized=MOTION_STAGE not in result.stage_ms)
            for step in self.post:
                result = step(frame, result)
            try:
                self._emit(frame, result)
            except RingClosed:
                return
            if self.actions is not None:
                cost_ms = self.actions.new_cost_ms()
                if cost_ms is not None:
                    self.planner.cost.observe(ACTIONS_STAGE, frame.width * frame.height, cost_ms)
                self.actions.on_frame(ACTIONS_STAGE in plan.schedule, self.clock())
            latency_ms = (self.clock() - frame.t_capture) / 1e6
            self.stats.record(
                FrameRecord(
                    seq=frame.seq,
                    decision=plan.decision,
                    latency_ms=latency_ms,
                    # A held frame shows old content: this frame's own missed its deadline.
                    missed_deadline=plan.hold or latency_ms > self.planner.budget_ms,
                    scale=plan.scale,
                    stage_ms=result.stage_ms,
                    steps=result.steps,
                )
            )

    def _observe_arrival(self, frame: Frame) -> None:
        if self.arrival is None:
            return
        interval_ms = self.arrival.observe(frame.seq, frame.t_capture)
        if interval_ms is not None:
            self.planner.frame_interval_ms = interval_ms
            self.stats.update(source_fps=1000.0 / interval_ms)

    def _emit(self, frame: Frame, result: Processed) -> None:
        """Push the in-between frames (pts evenly between the last output and this frame),
        then the frame itself."""
        factor = self.motion.config.factor if self.motion is not None and self.motion_enabled else 1
        emission = emit(self._last_out, frame, result.image, result.between, factor)
        if emission.inherent_wait_ms is not None:
            self.stats.record_motion(emission.interpolated, emission.held, emission.inherent_wait_ms)
        for out in emission.frames:
            self.frames_out.push(out)
        self._last_out = out

    def _stage_failed(self, name: str, frame: Frame, exc: Exception) -> None:
        """Count a failure; after DISABLE_AFTER in a row, turn the stage off and say so."""
        self.stage_errors += 1
        self.last_stage_error = f"{name}: {one_line(exc)}"
        if self.stage_errors == 1 or self.stage_errors % 100 == 0:
            log.error("processing frame %d failed in %s (%s); passing it through", frame.seq, name, one_line(exc))
            log.debug("the failure", exc_info=exc)
        if self.motion is not None:
            self.motion.reset()
        if isinstance(exc, torch.cuda.OutOfMemoryError):
            torch.cuda.empty_cache()
        self._failing[name] = self._failing.get(name, 0) + 1
        if self._failing[name] < DISABLE_AFTER or name == IO_STAGE:
            return
        self._failing.pop(name)
        if name not in self.disabled_stages:
            self.disabled_stages.append(name)
        log.error(
            "%s failed on %d frames in a row (%s): turned off, the stream goes on without it",
            name,
            DISABLE_AFTER,
            one_line(exc),
        )
        if name == MOTION_STAGE:
            self.motion_enabled = False
        else:
            spec = next(spec for spec in self.planner_specs if spec.name == name)
            self._install(StageSwap(spec, None, {}))

    def _plan(self, frame: Frame) -> Plan:
        pixels = frame.width * frame.height
        if self.realtime:
            return self.planner.plan(pixels, frame.t_capture, self.clock())
        rung = self.planner.ladder[0]  # offline rendering: always the full chain
        return Plan(rung.name, rung.scale, rung.run, rung.schedule, 0.0, float("inf"), steps=rung.steps)

    def _process(self, frame: Frame, plan: Plan) -> Processed:
        held = self._last_processed
        if plan.hold and held is not None and held.shape[:2] == frame.image.shape[:2]:
            return Processed(held.copy(), [], {})  # post steps draw on it; sinks may hold the old one
        if plan.passthrough:
            if self.motion is not None:
                self.motion.reset()  # an unprocessed frame breaks the processed sequence
            return Processed(frame.image, [], {})
        t_start = time.perf_counter()
        stage_ms: dict[str, float] = {}
        steps = dict(plan.steps)
        current = IO_STAGE
        try:
            x_in = x = self.converter.to_tensor(frame.image)
            h, w = x.shape[-2:]
            if plan.scale != 1.0:
                x = F.interpolate(x, scale_factor=plan.scale, mode="bilinear", antialias=True)
            for name in plan.run:
                if name == MOTION_STAGE:
                    continue
                current = name
                t0 = time.perf_counter()
                count, stage = steps.get(name), self.stages[name]
                x = stage.run_steps(x, count) if count else stage(x)
                synchronize(x.device)
                stage_ms[name] = (time.perf_counter() - t0) * 1e3
                if stage.last_call_representative:
                    self.planner.cost.observe(cost_key(name, count), x.shape[-1] * x.shape[-2], stage_ms[name])
                elif count:
                    steps.pop(name)  # repeated or part-filled: not a frame of that step count
            current = IO_STAGE
            if x.shape[-2:] != (h, w):
                x = F.interpolate(x, size=(h, w), mode="bilinear")
            between: list[torch.Tensor] = []
            if self.motion is not None and not self.motion_enabled:
                self.motion.reset()
            elif self.motion is not None:
                current = MOTION_STAGE
                t0 = time.perf_counter()
                flow_scale = dict(plan.reduced).get(MOTION_STAGE, 1.0)
                result = self.motion.step(x_in, x, run_flow=MOTION_STAGE in plan.run, flow_scale=flow_scale)
                x, between = result.current, result.between
                synchronize(x.device)
                if result.cut:
                    self.stats.record_scene_cut()
                if result.ran:
                    stage_ms[MOTION_STAGE] = (time.perf_counter() - t0) * 1e3
                    # Keyed by the planner's reduction only: the stage's own size choice is inside.
                    flow_pixels = int(h * w * flow_scale * flow_scale)
                    self.planner.cost.observe(MOTION_STAGE, flow_pixels, stage_ms[MOTION_STAGE])
            current = IO_STAGE
            image = self.converter.to_image(x)
            between_images = [self.converter.to_image(b) for b in between]
        except Exception as exc:  # noqa: BLE001 - keep the stream alive, pass the frame through
            self._stage_failed(current, frame, exc)
            return Processed(frame.image, [], stage_ms)
        for name in stage_ms:  # the stages that ran and succeeded start counting afresh
            self._failing.pop(name, None)
        io_ms = (time.perf_counter() - t_start) * 1e3 - sum(stage_ms.values())
        stage_ms[IO_STAGE] = io_ms
        self.planner.cost.observe(IO_STAGE, frame.width * frame.height, io_ms)
        if self.planner.on_late is OnLate.HOLD:  # kept apart from what post steps draw on
            self._last_processed = image.copy()
        return Processed(image, between_images, stage_ms, min(steps.values(), default=None))
