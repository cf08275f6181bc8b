"""Warm-up: each stage run at every size (and step count) the planner may ask for, before
the first live frame or, for a stage swapped in, off the frame path; so no size is first met
(and compiled) mid-stream, and the planner starts from measured costs."""

from __future__ import annotations

import logging
import time

from livefx.models.action.load import ActionModel
from livefx.models.rife.stage import MIN_PROBED_SIDE, PROBE_SCALE
from livefx.models.stage import MOTION_STAGE, LiveModel

from ..device import FrameConverter
from ..pipeline_config import PipelineConfig
from ..stages.actions import ACTIONS_STAGE, ActionsConfig, ActionStage
from ..stages.motion import MotionStage
from ..stats import RunStats
from .budget import BudgetPlanner, OnLate, StageSpec, cost_key
from .chain import BoundStage
from .ring import Ring

log = logging.getLogger("livefx")


class StageWarmup:
    """Warms a pipeline's stages up at its frame size and seeds its planner with their costs."""

    def __init__(
        self,
        planner: BudgetPlanner,
        stats: RunStats,
        motion: MotionStage | None,
        converter: FrameConverter,
        config: PipelineConfig,
    ) -> None:
        self.planner = planner
        self.stats = stats
        self.motion = motion
        self.converter = converter
        self.config = config
        #: (width, height) the stages are warmed at; set by ``warm_chain``.
        self.frame_size = config.size or (0, 0)

    def warm_chain(self, stages: list[BoundStage], width: int, height: int) -> None:
        """The model stages and the motion stage (its probe too) at ``width`` x ``height``."""
        self.frame_size = (width, height)
        warm = [(b.spec, b.stage, 1.0) for b in stages]
        if self.motion:
            warm.append((self.motion.spec, self.motion.flow, self.motion.flow_scale_for(height, width)))
        for spec, stage, base in warm:
            costs = self.warm_stage(spec, stage, base)
            if spec.name == MOTION_STAGE and self.motion is not None and self.motion.probes:
                probes = self.warm_motion_probe(base)
                costs = {(key, pixels): ms + probes.get(pixels, 0.0) for (key, pixels), ms in costs.items()}
            for (key, pixels), ms in costs.items():
                self.planner.cost.observe(key, pixels, ms)

    def warm_stage(self, spec: StageSpec, stage: LiveModel, base: float = 1.0) -> dict[tuple[str, int], float]:
        """Warm ``stage`` up at every size (and step count) the planner may ask for; (cost key,
        pixels as the planner counts them) -> ms. ``base``: the fraction of that size the stage
        itself works at."""
        width, height = self.frame_size
        t0 = time.perf_counter()
        costs = {}
        scales = (1.0, *self.planner.scales) if spec.scalable else tuple(dict.fromkeys((1.0, spec.reduced or 1.0)))
        fewest = spec.steps[-1] if spec.steps else None
        for count in spec.steps or (None,):
            # Rungs below full scale run the fewest steps (other counts are met at full scale
            # only), or any form of a model that has forms (``build_ladder``).
            for scale in scales if count == fewest or spec.step_names else scales[:1]:
                h, w = max(4, int(height * scale * base)), max(4, int(width * scale * base))
                log.info("warming up %s at %dx%d%s ...", spec.name, w, h, form_text(spec, count))
                ms = stage.warmup(h, w, steps=count) if count else stage.warmup(h, w)
                costs[(cost_key(spec.name, count), int(width * scale) * int(height * scale))] = ms
        seconds = time.perf_counter() - t0
        self.stats.add_warmup(spec.name, seconds, stage.accel.engine_entry() if stage.accel is not None else None)
        for model, entry in getattr(stage, "engine_entries", dict)().items():  # a stage with several networks
            self.stats.add_engine(model, entry)
        accel = f" ({stage.accel.describe()})" if stage.accel is not None else ""
        log.info("%s ready in %.1f s%s", spec.name, seconds, accel)
        return costs

    def warm_motion_probe(self, base: float) -> dict[int, float]:
        """The adaptive motion stage's extra sizes: its probe (``PROBE_SCALE`` of each rung's
        flow size; pixels as the planner counts them -> ms) and the smaller passes it may
        choose, so no size is first met (and compiled) mid-stream."""
        assert self.motion is not None
        width, height = self.frame_size
        t0 = time.perf_counter()
        costs = {}
        for scale in sorted({1.0, self.motion.spec.reduced or 1.0}, reverse=True):
            if min(width, height) * scale * base < MIN_PROBED_SIDE:
                continue  # not probed (see FlowStage.probe_scale)
            for fraction in (PROBE_SCALE, 0.5):
                h, w = max(4, int(height * scale * base * fraction)), max(4, int(width * scale * base * fraction))
                ms = self.motion.flow.warmup(h, w)
                if fraction == PROBE_SCALE:
                    costs[int(width * scale) * int(height * scale)] = ms
        seconds = time.perf_counter() - t0
        self.stats.add_warmup(MOTION_STAGE, seconds)
        return costs

    def build_actions(
        self, model: ActionModel, config: ActionsConfig, ring: Ring, fps: float, width: int, height: int
    ) -> tuple[Ring, ActionStage]:
        """The classifier thread at ``fps``, warmed up on one clip at this size, and an input
        ring whose window is long enough for its clips at that rate (``ring`` when it is)."""
        realtime = self.config.realtime
        needed = model.stride_for(fps) * (model.num_frames - 1) + 1
        if needed > ring.capacity:
            ring = Ring(needed + 8, lossless=not realtime)
        device, dtype = self.converter.device, self.converter.dtype
        actions = ActionStage(
            model,
            ring,
            device,
            dtype,
            fps,
            config,
            synchronous=not realtime,
            backend=self.config.backend,
            precision=self.converter.precision,
        )
        log.info("warming up actions (%s, %d frames, stride %d) ...", model.name, model.num_frames, actions.stride)
        t0 = time.perf_counter()
        ms = actions.warmup(height, width)
        self.stats.add_warmup(ACTIONS_STAGE, time.perf_counter() - t0, actions.accel.engine_entry())
        self.planner.cost.observe(ACTIONS_STAGE, width * height, ms)
        log.info(
            "actions ready: %.0f ms per clip, every %d frames (%s)", ms, config.every_frames, actions.accel.describe()
        )
        return ring, actions

    def expect_rate(self, fps: float | None, width: int, height: int, warn: bool) -> None:
        """Plans keep up with ``fps`` where the config asks for it; with ``warn``, say before
        the first frame when even the cheapest plan is too slow."""
        if self.config.realtime and self.config.keep_up and fps:
            self.planner.frame_interval_ms = 1000.0 / fps
        if warn:
            warn_if_too_slow(self.planner, self.config.on_late, width, height, fps)


def form_text(spec: StageSpec, count: int | None) -> str:
    """How the log names a stage's form: ``, steps N``, or the form's name (``, light``)."""
    if not count:
        return ""
    if spec.step_names:
        return f", {spec.step_names[spec.steps.index(count)]}"
    return f", steps {count}"


def warn_if_too_slow(planner: BudgetPlanner, on_late: OnLate, width: int, height: int, fps: float | None) -> None:
    """Say before the first frame when even the cheapest plan misses the budget, or cannot
    keep up with the source."""
    ladder, pixels = planner.ladder, width * height
    cheapest_ms = planner.predict_ms(ladder[-2], pixels)
    if planner.best_fitting(pixels) is ladder[-1]:
        outcome = {
            OnLate.BEST_EFFORT: "be processed late at that rung, dropping the frames that arrive meanwhile",
            OnLate.HOLD: "repeat the last processed frame",
            OnLate.PASSTHROUGH: "pass through unprocessed",
        }[on_late]
        log.warning(
            "even the cheapest rung (%s, ~%.0f ms) misses the %g ms budget at %dx%d: frames"
            " will %s (--on-late %s); raise --budget-ms or lower --size",
            ladder[-2].name,
            cheapest_ms,
            planner.budget.ms,
            width,
            height,
            outcome,
            on_late.value,
        )
    elif planner.frame_interval_ms and cheapest_ms > planner.frame_interval_ms:
        log.warning(
            "even the cheapest rung (%s, ~%.0f ms) takes longer than a frame at %g fps (%.0f ms):"
            " about %.0f%% of the input frames will be dropped; lower --size or --fps for every frame",
            ladder[-2].name,
            cheapest_ms,
            fps,
            planner.frame_interval_ms,
            100 * (1 - planner.frame_interval_ms / cheapest_ms),
        )
