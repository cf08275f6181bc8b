"""One frame through the stages its plan names: upload, scale, the model stages in order,
interpolation/stabilization, download. Which stages run, and with what, changes only here,
between two frames (``install``, ``configure``, ``set_motion``), on the worker thread."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from livefx.models.stage import MOTION_STAGE, Stage, synchronize

from ..device import FrameConverter
from ..errors import LivefxError
from ..frame import Frame
from ..stages.carry import FrameCarry
from ..stages.motion import MotionStage
from ..stages.post import Processed
from ..stats import RunStats
from .budget import CARRY_STAGE, IO_STAGE, BudgetPlanner, OnLate, Plan, StageSpec, cost_key
from .control import StageSwap
from .failures import StageFailures

log = logging.getLogger("livefx.worker")


def scaled_on_host(
    image: np.ndarray, scale: float, run: Callable[[torch.Tensor], torch.Tensor], converter: FrameConverter
) -> np.ndarray:
    """``run`` on ``image`` at ``scale`` with the scaling on the uint8 image (OpenCV, bilinear
    both ways), for ``StageChain._scales_on_host``. Bilinear, not area-average, down: 640x480 to
    480x360 took 0.21 ms against 0.99, and the light student's output brought back to size read
    the same against its full-scale output (23.40 against 23.41 dB, 8 frames of a real clip;
    at 0.5 both 19.71 dB and 0.08 ms)."""
    h, w = image.shape[:2]
    if scale != 1.0:  # the sizes F.interpolate(scale_factor=...) gives
        size = (max(1, int(w * scale)), max(1, int(h * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    out = converter.to_image(run(converter.to_tensor(image)))
    if out.shape[:2] != (h, w):
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    return out


@dataclass
class BoundStage:
    """A model stage with the role the planner gives it."""

    spec: StageSpec
    stage: Stage


class StageChain:
    """The worker's stages and what a frame goes through. A stage that fails passes the
    frame through; one that keeps failing is turned off (``failures``)."""

    def __init__(
        self,
        stages: list[BoundStage],
        planner: BudgetPlanner,
        stats: RunStats,
        converter: FrameConverter,
        motion: MotionStage | None = None,
    ) -> None:
        #: The model stages by name, and their specs in the planner's order.
        self.stages = {b.spec.name: b.stage for b in stages}
        self.specs = [b.spec for b in stages]
        #: Stage swaps installed so far.
        self.swaps = 0
        self.planner = planner
        self.stats = stats
        self.converter = converter
        #: Interpolation/stabilization; its spec (``MotionStage.spec``) is among the planner's stages.
        self.motion = motion
        #: Interpolation/stabilization on (``set_motion``).
        self.motion_enabled = True
        self.failures = StageFailures()
        #: The last frame the effect produced (what an ``on_late=hold`` plan shows again).
        self._last_processed: np.ndarray | None = None
        #: The stage running now: what a failure is charged to.
        self._running = IO_STAGE
        #: Per cost key, the pixel count of its last run (see ``_learn``).
        self._last_pixels: dict[str, int] = {}
        #: The key frame of plans that style one frame in several (``Plan.every``).
        self.carry = FrameCarry()

    def install(self, swap: StageSwap) -> None:
        """Replace (``swap.stage`` None: remove) the stage of ``swap``'s name; the planner's
        ladder and its costs for that stage follow."""
        if swap.stage is not None:
            self.failures.enable(swap.spec.name)  # a new model gets a fresh start
        specs = [spec for spec in self.specs if spec.name != swap.spec.name]
        self.stages.pop(swap.spec.name, None)
        if swap.stage is not None:
            specs.insert(swap.position, swap.spec)
            self.stages[swap.spec.name] = swap.stage
        self.specs = specs
        self.planner.set_stages(specs)
        self.planner.cost.forget(swap.spec.name)
        self._last_processed = None  # never hold (or carry) a frame of the previous chain
        self.carry.reset()
        for (key, pixels), ms in swap.warm_costs.items():
            self.planner.cost.observe(key, pixels, ms)
        self.swaps += 1

    def configure(self, name: str, change: object) -> None:
        """A change to a running stage's own settings (``Stage.configure``)."""
        if name not in self.stages:
            raise LivefxError(f"no {name} stage is running")
        self.stages[name].configure(change)
        self._last_processed = None
        self.carry.reset()

    def set_motion(self, on: bool | None) -> None:
        """Interpolation/stabilization on, off, or (None) toggled."""
        self.motion_enabled = (not self.motion_enabled) if on is None else on
        if self.motion_enabled:
            self.failures.enable(MOTION_STAGE)  # asked for again: a fresh start

    @property
    def output_factor(self) -> int:
        """Frames out per frame in: the interpolation factor while motion is on, else 1."""
        return self.motion.config.factor if self.motion is not None and self.motion_enabled else 1

    def models(self) -> list[object]:
        """Everything here that runs a model (for the thread count: ``set_threads``)."""
        return [*self.stages.values(), *([self.motion.flow] if self.motion is not None else [])]

    def process(self, frame: Frame, plan: Plan) -> Processed:
        """``frame`` as ``plan`` says: held, passed through, or through its stages; each
        stage's time goes to the result and (when it is a fair sample) to the planner."""
        result = self._process(frame, plan)
        if self.motion is not None and self.motion.config.stabilize and self.motion_enabled:
            self.stats.degrade.observe(unstabilized=MOTION_STAGE not in result.stage_ms)
        return result

    def _process(self, frame: Frame, plan: Plan) -> Processed:
        held = self._last_processed
        if plan.hold and held is not None and held.shape[:2] == frame.image.shape[:2]:
            return Processed(held.copy(), [], {})  # post steps draw on it; sinks may hold the old one
        if plan.passthrough:
            if self.motion is not None:
                self.motion.reset()  # an unprocessed frame breaks the processed sequence
            self.carry.reset()
            return Processed(frame.image, [], {})
        carried, refused_ms = self._carried(frame, plan)
        if carried is not None:
            return carried
        t_start = time.perf_counter()
        stage_ms: dict[str, float] = {} if refused_ms is None else {CARRY_STAGE: refused_ms}
        steps = dict(plan.steps)
        self._running = IO_STAGE
        try:
            if self._scales_on_host():
                run = partial(self._run_stages, plan=plan, steps=steps, stage_ms=stage_ms)
                image, between_images = scaled_on_host(frame.image, plan.scale, run, self.converter), []
            else:
                x_in = self.converter.to_tensor(frame.image)
                x = self._run_planned(x_in, plan, steps, stage_ms)
                x, between = self._run_motion(x_in, x, plan, stage_ms)
                self._running = IO_STAGE
                image = self.converter.to_image(x)
                between_images = [self.converter.to_image(b) for b in between]
        except Exception as exc:  # noqa: BLE001 - keep the stream alive, pass the frame through
            self._failed(self._running, frame, exc)
            return Processed(frame.image, [], stage_ms)
        self.failures.succeeded(stage_ms)  # the stages that ran and succeeded start counting afresh
        frame_ms = (time.perf_counter() - t_start) * 1e3
        io_ms = frame_ms - sum(ms for name, ms in stage_ms.items() if name != CARRY_STAGE)
        stage_ms[IO_STAGE] = io_ms
        self.planner.cost.observe(IO_STAGE, frame.width * frame.height, io_ms)
        if refused_ms is not None:
            # What a frame between key frames cost this time: the carry refused, then styled. So
            # a rung whose carries are refused (fast motion) is priced near styling every frame.
            self.planner.cost.observe(CARRY_STAGE, frame.width * frame.height, refused_ms + frame_ms)
        if self.planner.on_late is OnLate.HOLD:  # kept apart from what post steps draw on
            self._last_processed = image.copy()
        if plan.every > 1 and self._scales_on_host():
            self.carry.remember(frame.image, image)
        # The stats count frames by denoising steps; a style's forms show in the rung's name instead.
        counts = [n for name, n in steps.items() if not self.stages[name].step_names]
        return Processed(image, between_images, stage_ms, min(counts, default=None))

    def _carried(self, frame: Frame, plan: Plan) -> tuple[Processed | None, float | None]:
        """The last styled frame carried to ``frame`` where ``plan`` styles one frame in several
        and this is not the one, else None: style it. Second, the ms of a carry tried and refused
        (a cut, fast motion, nothing to carry yet; None where none was tried)."""
        if plan.every <= 1 or self.carry.since_key >= plan.every - 1 or not self._scales_on_host():
            return None, None
        if not self.carry.holds(frame.image.shape):
            return None, None  # the first frame of the cadence, or after a change: a key frame
        t0 = time.perf_counter()
        try:
            image = self.carry.carry(frame.image)
        except cv2.error as exc:  # not seen in use; style the frame rather than lose it
            log.warning("carrying the styled frame to frame %d failed (%s); styling it", frame.seq, exc)
            self.carry.reset()
            image = None
        ms = (time.perf_counter() - t0) * 1e3
        if image is None:
            return None, ms
        self.planner.cost.observe(CARRY_STAGE, frame.width * frame.height, ms)
        if self.planner.on_late is OnLate.HOLD:
            self._last_processed = image.copy()
        return Processed(image, [], {CARRY_STAGE: ms}), None

    def _scales_on_host(self) -> bool:
        """On a CPU with no motion stage in use, the plan's scaling runs on the uint8 image
        (OpenCV), not on float tensors: a quarter of the bytes, and no OpenMP team to wake."""
        motion_on = self.motion is not None and self.motion_enabled
        return self.converter.device.type == "cpu" and not motion_on

    def _run_planned(
        self, x_in: torch.Tensor, plan: Plan, steps: dict[str, int], stage_ms: dict[str, float]
    ) -> torch.Tensor:
        """The plan's scale, its model stages in order, and back to the input's size."""
        h, w = x_in.shape[-2:]
        x = x_in
        if plan.scale != 1.0:
            x = F.interpolate(x, scale_factor=plan.scale, mode="bilinear", antialias=True)
        x = self._run_stages(x, plan, steps, stage_ms)
        if x.shape[-2:] != (h, w):
            x = F.interpolate(x, size=(h, w), mode="bilinear")
        return x

    def _run_stages(
        self, x: torch.Tensor, plan: Plan, steps: dict[str, int], stage_ms: dict[str, float]
    ) -> torch.Tensor:
        """The plan's model stages in order. A stage whose call is no fair sample of its step
        count leaves ``steps``."""
        for name in plan.run:
            if name == MOTION_STAGE:
                continue
            self._running = name
            t0 = time.perf_counter()
            count, stage = steps.get(name), self.stages[name]
            x = stage.run_steps(x, count) if count else stage(x)
            synchronize(x.device)
            stage_ms[name] = (time.perf_counter() - t0) * 1e3
            if stage.last_call_representative:
                self._learn(cost_key(name, count), x.shape[-1] * x.shape[-2], stage_ms[name])
            elif count:
                steps.pop(name)  # repeated or part-filled: not a frame of that step count
        self._running = IO_STAGE
        return x

    def _learn(self, key: str, pixels: int, ms: float) -> None:
        """Teach the planner a model stage's cost, but not from its first run at a new input size
        where that size's cost is known already: that run also sets the size up (OpenVINO, the
        light student at 480x372 right after 320x248: 11.6 ms against 8.8 steady), and one such
        sample kept the planner from ever stepping up to it (see ``PROBE_FRAMES``)."""
        resized = self._last_pixels.get(key, pixels) != pixels
        self._last_pixels[key] = pixels
        if not (resized and self.planner.cost.knows(key, pixels)):
            self.planner.cost.observe(key, pixels, ms)

    def _run_motion(
        self, x_in: torch.Tensor, x: torch.Tensor, plan: Plan, stage_ms: dict[str, float]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Interpolation/stabilization on the processed frame ``x`` (``x_in``: its input):
        the frame to show and the in-between frames before it."""
        if self.motion is None:
            return x, []
        if not self.motion_enabled:
            self.motion.reset()
            return x, []
        self._running = MOTION_STAGE
        t0 = time.perf_counter()
        flow_scale = dict(plan.reduced).get(MOTION_STAGE, 1.0)
        result = self.motion.step(x_in, x, run_flow=MOTION_STAGE in plan.run, flow_scale=flow_scale)
        synchronize(result.current.device)
        if result.cut:
            self.stats.record_scene_cut()
        if result.ran:
            stage_ms[MOTION_STAGE] = (time.perf_counter() - t0) * 1e3
            # Keyed by the planner's reduction only: the stage's own size choice is inside.
            h, w = x_in.shape[-2:]
            flow_pixels = int(h * w * flow_scale * flow_scale)
            self.planner.cost.observe(MOTION_STAGE, flow_pixels, stage_ms[MOTION_STAGE])
        return result.current, result.between

    def _failed(self, name: str, frame: Frame, exc: Exception) -> None:
        """Count a failure; after DISABLE_AFTER in a row, turn the stage off and say so."""
        self.carry.reset()  # a frame passed through breaks the styled sequence
        if self.motion is not None:
            self.motion.reset()
        if isinstance(exc, torch.cuda.OutOfMemoryError):
            torch.cuda.empty_cache()
        if not self.failures.failed(name, frame, exc):
            return
        if name == MOTION_STAGE:
            self.motion_enabled = False
        else:
            spec = next(spec for spec in self.specs if spec.name == name)
            self.install(StageSwap(spec, None, {}))
