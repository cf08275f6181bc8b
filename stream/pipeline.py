"""Wires one run together: source -> capture thread -> ring -> worker -> output ring -> sinks."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from models.action.load import ActionModel
from models.rife.stage import FlowStage
from models.stage import Stage
from stream.actions import ACTIONS_STAGE, ActionsConfig, ActionStage, LabelEvent
from stream.budget import BudgetPlanner, StageSpec
from stream.bus import SinkRunner
from stream.capture import CaptureThread
from stream.device import FrameConverter, describe_device
from stream.errors import LivefxError
from stream.motion import MotionStage
from stream.ring import Ring
from stream.sinks.base import Sink
from stream.sources.base import Source
from stream.stats import RunStats
from stream.worker import MOTION_SPEC, BoundStage, StageSwap, Worker

log = logging.getLogger("livefx")


@dataclass
class PipelineConfig:
    budget_ms: float = 100.0
    realtime: bool = True
    fps: float | None = None
    max_frames: int | None = None
    size: tuple[int, int] | None = None
    #: Input ring slots: enough for a 16-frame action window plus slack.
    ring_capacity: int = 32
    #: Output ring slots: how far a recorder may fall behind before it skips.
    out_capacity: int = 8
    #: Model backend for stages built during the run (see models.accel).
    backend: str = "auto"


def style_stages(path: Path | None, converter: FrameConverter, backend: str) -> list[BoundStage]:
    """The stage list for one style (empty for None), built for the converter's device and dtype."""
    if path is None:
        return []
    from models.stylize import build_style_stage

    stage = build_style_stage(path, converter.device, converter.dtype, backend)
    log.info("style %s loaded from %s; backend %s", path.stem, path, stage.accel.describe())
    return [BoundStage(StageSpec("stylize"), stage)]


class Pipeline:
    """One run. ``open()`` fails fast with a readable error; ``run()`` blocks until done."""

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
        self.converter = converter
        self.config = config
        self.stats = RunStats(config.budget_ms, describe_device(converter.device))
        self.motion = motion if motion is not None and motion.config.active else None
        self.action_model = actions
        self.actions_config = actions_config or ActionsConfig()
        #: Built once the input rate is known (``warmup``); listeners may be added before ``start``.
        self.actions: ActionStage | None = None
        self.label_listeners: list[Callable[[LabelEvent], None]] = []
        self.draw_labels = False
        specs = [b.spec for b in stages] + ([MOTION_SPEC] if self.motion else [])
        specs += [self.actions_config.spec] if actions is not None else []
        self.planner = BudgetPlanner(specs, config.budget_ms)
        self.frames_in = Ring(config.ring_capacity, lossless=not config.realtime)
        self.frames_out = Ring(config.out_capacity, lossless=not config.realtime)
        self.capture: CaptureThread | None = None
        self.worker: Worker | None = None
        self.runners: list[SinkRunner] = []
        self.frame_size = config.size or (0, 0)
        self._preparer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livefx-prepare")

    def open(self) -> tuple[int, int]:
        """Open the source and warm the stages up at its size; returns (width, height)."""
        self.source.open()
        width, height = self.config.size or self.source.size
        self.warmup(width, height)
        return width, height

    def warmup(self, width: int, height: int) -> None:
        """Run each stage at full and reduced scales so the first live frame pays nothing
        and the planner starts with measured costs."""
        self.frame_size = (width, height)
        warm = [(b.spec, b.stage) for b in self.stages] + ([(MOTION_SPEC, self.motion.flow)] if self.motion else [])
        for spec, stage in warm:
            for pixels, ms in self.warm_stage(spec, stage).items():
                self.planner.cost.observe(spec.name, pixels, ms)
        if self.action_model is not None and self.actions is None:
            self._build_actions(width, height)
        best = self.planner.best_fitting(width * height)
        if self.stages and best.passthrough:
            cheapest = self.planner.predict_ms(self.planner.ladder[-2], width * height)
            log.warning(
                "even the cheapest rung (%s, ~%.0f ms) misses the %g ms budget at %dx%d: frames"
                " will pass through unprocessed; raise --budget-ms or lower --size",
                self.planner.ladder[-2].name,
                cheapest,
                self.config.budget_ms,
                width,
                height,
            )

    def _build_actions(self, width: int, height: int) -> None:
        """The classifier thread, with a ring window long enough for its clips at this rate."""
        assert self.action_model is not None
        fps = self.config.fps or self.source.fps or 30.0
        model = self.action_model
        needed = model.stride_for(fps) * (model.num_frames - 1) + 1
        if needed > self.frames_in.capacity:
            self.frames_in = Ring(needed + 8, lossless=not self.config.realtime)
        self.actions = ActionStage(
            model, self.frames_in, self.converter.device, self.converter.dtype, fps, self.actions_config
        )
        log.info("warming up actions (%s, %d frames, stride %d) ...", model.name, model.num_frames, self.actions.stride)
        t0 = time.perf_counter()
        ms = self.actions.warmup(height, width)
        self.stats.warmup_s[ACTIONS_STAGE] = round(time.perf_counter() - t0, 3)
        self.planner.cost.observe(ACTIONS_STAGE, width * height, ms)
        log.info("actions ready: %.0f ms per clip, every %d frames", ms, self.actions_config.every_frames)

    def warm_stage(self, spec: StageSpec, stage: Stage | FlowStage) -> dict[int, float]:
        """Warm ``stage`` up at every size the planner may ask for; pixels -> ms."""
        width, height = self.frame_size
        t0 = time.perf_counter()
        costs = {}
        for scale in (1.0, *self.planner.scales) if spec.scalable else (1.0,):
            h, w = max(4, int(height * scale)), max(4, int(width * scale))
            log.info("warming up %s at %dx%d ...", spec.name, w, h)
            costs[w * h] = stage.warmup(h, w)
        seconds = time.perf_counter() - t0
        self.stats.warmup_s[spec.name] = round(self.stats.warmup_s.get(spec.name, 0.0) + seconds, 3)
        accel = getattr(stage, "accel", None)
        log.info("%s ready in %.1f s%s", spec.name, seconds, f" ({accel.describe()})" if accel else "")
        return costs

    def switch_style(self, path: Path | None) -> Future:
        """Switch to the style in ``path`` (None: no style) without stalling the stream."""
        from models.stylize import build_style_stage

        device, dtype, backend = self.converter.device, self.converter.dtype, self.config.backend
        log.info("preparing style %s ...", path.stem if path else "none")
        return self.switch_stage(
            StageSpec("stylize"), lambda: build_style_stage(path, device, dtype, backend) if path else None
        )

    def run_rule_action(self, action: str, argument: str) -> None:
        """What a label rule asks for: ``style``/NAME or ``interpolate``/on|off|toggle."""
        if action == "style":
            from models.registry import resolve_style

            future = self.switch_style(resolve_style(argument))
            future.add_done_callback(
                lambda f: f.exception() and log.error("rule: style %s failed: %s", argument, f.exception())
            )
        elif action == "interpolate" and self.worker is not None:
            on = {"on": True, "off": False}.get(argument, not self.worker.motion_enabled)
            self.worker.motion_enabled = on
            log.info("rule: interpolation %s", "on" if on else "off")

    def switch_stage(self, spec: StageSpec, prepare: Callable[[], Stage | None]) -> Future:
        """Build a stage with ``prepare`` and warm it up on a helper thread, then have the
        worker install it between two frames. The frame path never waits for it.
        The future resolves once the worker has installed the stage."""

        def job() -> None:
            stage = prepare()
            costs = self.warm_stage(spec, stage) if stage is not None else {}
            installed = threading.Event()
            assert self.worker is not None, "start() first"
            self.worker.request_swap(StageSwap(spec, stage, costs, position=0, done=installed))
            while not installed.wait(0.1):
                if not self.worker.is_alive():
                    raise LivefxError(f"the run ended before {spec.name} could be switched")

        return self._preparer.submit(job)

    def start(self) -> None:
        # Everything loaded so far (models, libraries) lives for the whole run: move it out of
        # the collector's reach, so a full collection cannot stall a frame for hundreds of ms.
        gc.collect()
        gc.freeze()
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
            actions=self.actions,
        )
        self.worker.draw_labels = self.draw_labels
        if self.actions is not None:
            self.actions.listeners += self.label_listeners
        out_fps = fps * (self.motion.config.factor if self.motion else 1)
        self.runners = [SinkRunner(sink, self.frames_out, out_fps) for sink in self.sinks]
        self.capture = CaptureThread(
            self.source,
            self.frames_in,
            realtime=cfg.realtime,
            fps=cfg.fps,
            max_frames=cfg.max_frames,
            size=cfg.size,
        )
        for thread in (*self.runners, self.worker, self.capture, *([self.actions] if self.actions else [])):
            thread.start()

    def close(self) -> None:
        """Release the helper threads (stage switches, the action classifier) and hand the
        heap back to the collector (see ``start``), so a long-lived server frees the cycles
        of finished sessions."""
        self._preparer.shutdown(wait=False, cancel_futures=True)
        gc.unfreeze()
        if self.actions is not None:
            self.actions.stop()
            if self.actions.is_alive():
                self.actions.join(timeout=5)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Stop a pipeline started with ``start()`` (not ``run()``): drain, join, release."""
        self.stop()
        for thread in (self.capture, self.worker, *self.runners):
            if thread is not None:
                thread.join(timeout=timeout_s)
        self.close()

    def stop(self) -> None:
        """Stop capturing; what is in flight drains to the sinks."""
        if self.capture is not None:
            self.capture.stop()

    def run(self, log_every_s: float = 2.0) -> dict:
        """Start, log a stats line every ``log_every_s`` until the stream ends; Ctrl-C stops."""
        self.start()
        assert self.capture and self.worker
        last, last_t = None, time.monotonic()
        try:
            while any(t.is_alive() for t in (self.capture, self.worker, *self.runners)):
                self.worker.join(timeout=0.1)
                if log_every_s and time.monotonic() - last_t >= log_every_s:
                    snap = self.snapshot()
                    log.info("%s", self.stats.log_line(last, time.monotonic() - last_t))
                    last, last_t = snap, time.monotonic()
                if not self.worker.is_alive():
                    for runner in self.runners:
                        runner.join()
                    break
                if self.runners and all(r.error is not None for r in self.runners):
                    self.stop()  # nothing left to deliver to
                    self.worker.stop()
        except KeyboardInterrupt:
            log.info("stopping (Ctrl-C); flushing sinks ...")
            self.stop()
            self.worker.join()
            for runner in self.runners:
                runner.join()
        self.capture.stop()
        self.capture.join(timeout=5)
        self.close()
        if self.capture.error is not None:
            raise _as_livefx(self.capture.error)
        if self.worker.error is not None:
            raise _as_livefx(self.worker.error)
        if self.runners and all(r.error is not None for r in self.runners):
            raise _as_livefx(self.runners[0].error)
        return self.snapshot()

    def snapshot(self) -> dict:
        """The stats document, with the counters owned by the rings and sinks folded in."""
        self.stats.frames_in = self.frames_in.pushed
        if self.actions is not None:
            self.stats.actions = {
                **self.actions.snapshot(),
                "deferred": self.worker.actions_deferred if self.worker is not None else 0,
            }
        if self.worker is not None:
            reader = self.worker.reader
            self.stats.frames_dropped = reader.skipped + (reader.unread if not self.worker.is_alive() else 0)
        self.stats.sinks = {r.sink.spec: r.counters() for r in self.runners}
        return self.stats.snapshot()

    @property
    def sink_errors(self) -> list[BaseException]:
        return [r.error for r in self.runners if r.error is not None]


def _as_livefx(exc: BaseException) -> BaseException:
    return exc if isinstance(exc, LivefxError) else LivefxError(f"stopped by an internal error: {exc!r}")
