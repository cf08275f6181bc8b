"""Wires one run together: source -> capture thread -> ring -> worker -> output ring -> sinks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future

from livefx.models.action.load import ActionModel
from livefx.models.stage import STYLE_STAGE, Stage

from .device import FrameConverter, describe_device
from .errors import LivefxError
from .pipeline_config import PipelineConfig
from .scheduling.budget import Budget, BudgetPlanner, StageSpec
from .scheduling.chain import BoundStage
from .scheduling.live import LiveChanges
from .scheduling.own_thread import run_on_own_thread
from .scheduling.ring import Ring
from .scheduling.warmup import StageWarmup
from .scheduling.worker import Worker
from .sinks.base import Sink
from .sinks.outputs import Outputs
from .sources.base import Source
from .sources.capture import CaptureThread
from .stages.actions import ActionsConfig, ActionStage, LabelEvent
from .stages.motion import MotionStage
from .stages.post import DrawLabels, OutputLook
from .stages.style import Style
from .stats import RunStats

log = logging.getLogger("livefx")


class Pipeline:
    """One run's lifecycle: ``open()`` fails fast with a readable error; ``run()`` (``start``,
    ``join``, ``close``) blocks until done. Beside it: ``warm`` (the stages at every size),
    ``live`` (changes while it runs), ``outputs`` (the sinks' runners, the stats)."""

    def __init__(
        self,
        source: Source,
        sinks: list[Sink],
        stages: list[BoundStage],
        converter: FrameConverter,
        config: PipelineConfig,
        motion: MotionStage | None = None,
        actions: ActionModel | None = None,
        actions_config: ActionsConfig | None = None,
    ) -> None:
        self.source = source
        self.sinks = sinks
        self.stages = stages
        # Its own converter: two sessions' workers must not share a reused (pinned) upload buffer.
        self.converter = FrameConverter(converter.device, converter.dtype, converter.precision)
        self.config = config
        budget = Budget(config.budget_ms)  # one owner: the planner changes it, the stats read it
        self.stats = RunStats(budget, describe_device(converter.device))
        self.motion = motion if motion is not None and motion.config.active else None
        self.action_model = actions
        self.actions_config = actions_config or ActionsConfig()
        #: Built once the input rate is known (``warmup``); listeners may be added before ``start``.
        self.actions: ActionStage | None = None
        self.label_listeners: list[Callable[[LabelEvent], None]] = []
        self.draw_labels = False
        side_specs = [self.actions_config.spec] if actions is not None else []
        # Frames are carried on the host (uint8 pictures), where nothing moves them already.
        carry = config.carry if self.converter.device.type == "cpu" and self.motion is None else 1
        specs = planner_specs(stages, self.motion, side_specs)
        self.planner = BudgetPlanner(specs, budget, on_late=config.on_late, carry=carry)
        self.look = OutputLook(config.mix, config.mirror)  # after the models; changed by live.set_look
        self.stats.update(on_late=config.on_late.value, realtime=config.realtime, output=self.look.settings())
        self.frames_in = Ring(config.ring_capacity, lossless=not config.realtime)
        self.frames_out = Ring(config.out_capacity, lossless=not config.realtime)
        self.capture: CaptureThread | None = None
        self.worker: Worker | None = None
        #: Set to a reason (only set: safe from a signal handler) to have ``join()`` stop the stream.
        self.stop_requested: str | None = None
        self.warm = StageWarmup(self.planner, self.stats, self.motion, self.converter, config)
        self.live = LiveChanges(self.converter, config, self.warm.warm_stage, self.style_stage, self.motion is not None)
        #: The one way to change the running worker (style, budget, interpolation, prompt).
        self.controls = self.live.controls
        self.outputs = Outputs(sinks, self.frames_out)

    def open(self) -> tuple[int, int]:
        """Open the source and warm the stages up at its size; returns (width, height)."""
        self.source.open()
        width, height = self.config.size or self.source.size
        self.warmup(width, height)
        return width, height

    def warmup(self, width: int, height: int) -> None:
        """Warm the stages up at this size (see ``StageWarmup``), on a thread of its own (``own_thread``)."""
        run_on_own_thread(lambda: self._warmup(width, height), "livefx-warmup")

    def _warmup(self, width: int, height: int) -> None:
        self.warm.warm_chain(self.stages, width, height)
        fps = self.config.fps or self.source.fps
        if self.action_model is not None and self.actions is None:
            self.frames_in, self.actions = self.warm.build_actions(
                self.action_model, self.actions_config, self.frames_in, fps or 30.0, width, height
            )
        self.warm.expect_rate(fps, width, height, warn=bool(self.stages))

    def style_stage(self) -> Stage | None:
        """The style stage running now (the worker's, once started)."""
        if self.worker is not None:
            return self.worker.stages.get(STYLE_STAGE)
        return next((b.stage for b in self.stages if b.spec.name == STYLE_STAGE), None)

    def switch_style(self, style: Style) -> Future:
        return self.live.switch_style(style)

    def set_prompt(self, prompt: str | None = None, strength: float | None = None, seed: int | None = None) -> Future:
        return self.live.set_prompt(prompt, strength, seed)

    def set_budget(self, ms: float) -> Future:
        return self.live.set_budget(ms)

    def set_motion(self, on: bool | None) -> Future:
        return self.live.set_motion(on)

    def run_rule_action(self, action: str, argument: str) -> None:
        self.live.run_rule_action(action, argument)

    def start(self) -> None:
        """Start the threads (capture, worker, sinks, classifier). Prefer ``with pipeline:``."""
        cfg = self.config
        fps = cfg.fps or self.source.fps
        self.worker = Worker(
            self.frames_in,
            self.frames_out,
            self.stages,
            self.planner,
            self.stats,
            self.converter,
            realtime=cfg.realtime,
            motion=self.motion,
            side_work=[self.actions] if self.actions is not None else [],
            controls=self.controls,
            post=[self.look, *([DrawLabels(self.actions)] if self.draw_labels and self.actions is not None else [])],
            clock=cfg.clock,
            threads=cfg.threads,
            # A browser or webcam may deliver fewer frames than it declares.
            measure_arrival=cfg.keep_up and self.source.self_paced,
        )
        if self.actions is not None:
            self.actions.listeners += self.label_listeners
        self.capture = CaptureThread(
            self.source,
            self.frames_in,
            realtime=cfg.realtime,
            fps=cfg.fps,
            max_frames=cfg.max_frames,
            size=cfg.size,
            fit=cfg.fit,
            clock=cfg.clock,
            audio=self.outputs.audio,
        )
        runners = self.outputs.start(fps * (self.motion.config.factor if self.motion else 1), self.capture)
        for thread in (*runners, self.worker, self.capture, *([self.actions] if self.actions else [])):
            thread.start()

    def __enter__(self) -> Pipeline:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def stop(self) -> None:
        """Stop capturing; what is in flight drains to the sinks (``join`` waits for it)."""
        if self.capture is not None:
            self.capture.stop()

    def join(self, log_every_s: float = 2.0) -> dict:
        """Wait until the stream ends (source exhausted, ``stop()``, Ctrl-C, or every sink
        failed), logging a stats line every ``log_every_s`` (0: never); what was in flight
        reaches the sinks. Returns the stats document; raises what stopped the stream."""
        assert self.capture is not None and self.worker is not None, "start() first"
        self.outputs.joining = True
        last, last_t = None, time.monotonic()
        try:
            while self.worker.is_alive():
                self.worker.join(timeout=0.1)
                if self.stop_requested and not self.capture.stopping:
                    # Asked from a signal handler, which only sets the flag.
                    log.info("stopping (%s): finishing the outputs ...", self.stop_requested)
                    self.stop()
                if log_every_s and time.monotonic() - last_t >= log_every_s:
                    snap = self.snapshot()
                    log.info("%s", self.stats.log_line(last, time.monotonic() - last_t))
                    last, last_t = snap, time.monotonic()
                if self.outputs.all_failed:
                    self.stop()  # nothing left to deliver to
                    self.worker.stop()
        except KeyboardInterrupt:
            log.info("stopping (Ctrl-C); flushing sinks ...")
            self.stop()
            self.worker.join()
        for runner in self.outputs.runners:
            runner.join()
        self.stop()
        self.capture.join(timeout=5)
        for error in (self.capture.error, self.worker.error):
            if error is not None:
                raise _as_livefx(error)
        if self.outputs.all_failed:
            raise _as_livefx(self.outputs.errors[0])
        return self.snapshot()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop and release everything ``start()`` started; safe to call more than once."""
        self.stop()
        if self.worker is not None:
            self.worker.stop()
        for thread in (self.capture, self.worker, *self.outputs.runners):
            if thread is not None and thread.is_alive():
                thread.join(timeout=timeout_s)
        self.live.close()
        if self.actions is not None:
            self.actions.stop()
            if self.actions.is_alive():
                self.actions.join(timeout=timeout_s)

    def run(self, log_every_s: float = 2.0) -> dict:
        """``start()``, ``join()``, ``close()``: the whole run; Ctrl-C stops it cleanly."""
        with self:
            return self.join(log_every_s)

    def snapshot(self) -> dict:
        """The stats document, with the counters owned by the rings, worker and sinks folded in."""
        return self.outputs.snapshot(self.stats, self.frames_in, self.worker, self.actions, self.style_stage())

    @property
    def sink_errors(self) -> list[BaseException]:
        return self.outputs.errors


def _as_livefx(exc: BaseException) -> BaseException:
    return exc if isinstance(exc, LivefxError) else LivefxError(f"stopped by an internal error: {exc!r}")


def planner_specs(stages: list[BoundStage], motion: MotionStage | None, side: list[StageSpec]) -> list[StageSpec]:
    """What the planner plans: the model stages in order, then motion, then the side work."""
    return [b.spec for b in stages] + ([motion.spec] if motion is not None else []) + side
