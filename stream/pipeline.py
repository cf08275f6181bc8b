"""Wires one run together: source -> capture thread -> ring -> worker -> output ring -> sinks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from livefx.models.action.load import ActionModel
from livefx.models.diffusion.stage import DiffusionStage, DiffusionStyle, PromptChange
from livefx.models.rife.stage import MIN_PROBED_SIDE, PROBE_SCALE
from livefx.models.stage import MOTION_STAGE, STYLE_STAGE, LiveModel, Stage

from .actions import ACTIONS_STAGE, ActionsConfig, ActionStage, LabelEvent
from .budget import BudgetPlanner, OnLate, StageSpec, cost_key
from .bus import SinkRunner
from .capture import CaptureThread
from .coalesce import Coalescer
from .control import ConfigureStage, ControlQueue, SetBudget, SetMotion, StageSwap
from .device import FrameConverter, describe_device
from .errors import LivefxError
from .frame import now_ns
from .motion import MotionStage
from .own_thread import run_on_own_thread
from .post import DrawLabels
from .ring import Ring
from .sinks.base import Sink
from .sources.base import Source
from .stats import RunStats
from .style import Style, build_style, describe, style_spec
from .worker import BoundStage, Worker

log = logging.getLogger("livefx")


@dataclass
class PipelineConfig:
    budget_ms: float = 100.0
    #: What a frame gets when even the cheapest plan misses the budget (see stream.budget).
    on_late: OnLate = OnLate.BEST_EFFORT
    realtime: bool = True
    #: Prefer plans that keep up with the source's frame rate (see BudgetPlanner.plan);
    #: False: the best plan the latency budget allows, dropping frames when it is slow.
    keep_up: bool = True
    fps: float | None = None
    max_frames: int | None = None
    size: tuple[int, int] | None = None
    #: How frames meet ``size``: pad (letterbox), crop or stretch (see stream.fit).
    fit: str = "pad"
    #: Input ring slots: enough for a 16-frame action window plus slack.
    ring_capacity: int = 32
    #: Output ring slots: how far a recorder may fall behind before it skips.
    out_capacity: int = 8
    #: Model backend for stages built during the run (see models.accel).
    backend: str = "auto"
    #: CPU threads for the models, fixed (None: tuned between frames from the worker's timings,
    #: see stream.thread_tuner).
    threads: int | None = None
    #: Monotonic ns read for capture stamps, planning and latency; tests inject a fake one.
    clock: Callable[[], int] = now_ns


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
        #: The one way to change the running worker (style, budget, interpolation, prompt).
        self.controls = ControlQueue()
        # Each pipeline owns its converter: its reused (pinned) upload buffer must not be
        # shared by two sessions' workers. The caller's converter only names device and dtype.
        self.converter = FrameConverter(converter.device, converter.dtype, converter.precision)
        self.config = config
        self.stats = RunStats(config.budget_ms, describe_device(converter.device))
        self.motion = motion if motion is not None and motion.config.active else None
        self.action_model = actions
        self.actions_config = actions_config or ActionsConfig()
        #: Built once the input rate is known (``warmup``); listeners may be added before ``start``.
        self.actions: ActionStage | None = None
        self.label_listeners: list[Callable[[LabelEvent], None]] = []
        self.draw_labels = False
        specs = [b.spec for b in stages] + ([self.motion.spec] if self.motion else [])
        specs += [self.actions_config.spec] if actions is not None else []
        self.planner = BudgetPlanner(specs, config.budget_ms, on_late=config.on_late)
        self.stats.on_late = config.on_late.value
        self.stats.realtime = config.realtime
        self.frames_in = Ring(config.ring_capacity, lossless=not config.realtime)
        self.frames_out = Ring(config.out_capacity, lossless=not config.realtime)
        self.capture: CaptureThread | None = None
        self.worker: Worker | None = None
        self.runners: list[SinkRunner] = []
        self.frame_size = config.size or (0, 0)
        #: ``join()`` is waiting: it raises the error of the last output to fail.
        self._joining = False
        #: Set to a reason (only set: safe from a signal handler) to have ``join()`` stop the stream.
        self.stop_requested: str | None = None
        self._preparer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livefx-prepare")
        self._prompt_changes = Coalescer(self._preparer, self._apply_prompt)
        #: Per diffusion model: the prompt, strength and seed last set live (kept across style switches).
        self._live_prompts: dict[str, dict] = {}

    def open(self) -> tuple[int, int]:
        """Open the source and warm the stages up at its size; returns (width, height)."""
        self.source.open()
        width, height = self.config.size or self.source.size
        self.warmup(width, height)
        return width, height

    def warmup(self, width: int, height: int) -> None:
        """Run each stage at full and reduced scales so the first live frame pays nothing
        and the planner starts with measured costs; on a thread of its own (``own_thread``)."""
        run_on_own_thread(lambda: self._warmup(width, height), "livefx-warmup")

    def _warmup(self, width: int, height: int) -> None:
        self.frame_size = (width, height)
        warm = [(b.spec, b.stage, 1.0) for b in self.stages]
        if self.motion:
            warm.append((self.motion.spec, self.motion.flow, self.motion.flow_scale_for(height, width)))
        for spec, stage, base in warm:
            costs = self.warm_stage(spec, stage, base)
            if spec.name == MOTION_STAGE and self.motion is not None and self.motion.probes:
                probes = self.warm_motion_probe(base)
                costs = {(key, pixels): ms + probes.get(pixels, 0.0) for (key, pixels), ms in costs.items()}
            for (key, pixels), ms in costs.items():
                self.planner.cost.observe(key, pixels, ms)
        if self.action_model is not None and self.actions is None:
            self._build_actions(width, height)
        fps = self.config.fps or self.source.fps
        if self.config.realtime and self.config.keep_up and fps:
            self.planner.frame_interval_ms = 1000.0 / fps
        self._warn_if_too_slow(width, height, fps)

    def _warn_if_too_slow(self, width: int, height: int, fps: float | None) -> None:
        """Say before the first frame when even the cheapest plan misses the budget, or
        cannot keep up with the source."""
        if not self.stages:
            return
        ladder, pixels = self.planner.ladder, width * height
        cheapest_ms = self.planner.predict_ms(ladder[-2], pixels)
        if self.planner.best_fitting(pixels) is ladder[-1]:
            outcome = {
                OnLate.BEST_EFFORT: "be processed late at that rung, dropping the frames that arrive meanwhile",
                OnLate.HOLD: "repeat the last processed frame",
                OnLate.PASSTHROUGH: "pass through unprocessed",
            }[self.config.on_late]
            log.warning(
                "even the cheapest rung (%s, ~%.0f ms) misses the %g ms budget at %dx%d: frames"
                " will %s (--on-late %s); raise --budget-ms or lower --size",
                ladder[-2].name,
                cheapest_ms,
                self.config.budget_ms,
                width,
                height,
                outcome,
                self.config.on_late.value,
            )
        elif self.planner.frame_interval_ms and cheapest_ms > self.planner.frame_interval_ms:
            log.warning(
                "even the cheapest rung (%s, ~%.0f ms) takes longer than a frame at %g fps (%.0f ms):"
                " about %.0f%% of the input frames will be dropped; lower --size or --fps for every frame",
                ladder[-2].name,
                cheapest_ms,
                fps,
                self.planner.frame_interval_ms,
                100 * (1 - self.planner.frame_interval_ms / cheapest_ms),
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
            model,
            self.frames_in,
            self.converter.device,
            self.converter.dtype,
            fps,
            self.actions_config,
            synchronous=not self.config.realtime,
        )
        log.info("warming up actions (%s, %d frames, stride %d) ...", model.name, model.num_frames, self.actions.stride)
        t0 = time.perf_counter()
        ms = self.actions.warmup(height, width)
        self.stats.add_warmup(ACTIONS_STAGE, time.perf_counter() - t0)
        self.planner.cost.observe(ACTIONS_STAGE, width * height, ms)
        log.info("actions ready: %.0f ms per clip, every %d frames", ms, self.actions_config.every_frames)

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
            # Rungs below full scale run the fewest steps: other counts are met at full scale only.
            for scale in scales if count == fewest else scales[:1]:
                h, w = max(4, int(height * scale * base)), max(4, int(width * scale * base))
                log.info("warming up %s at %dx%d%s ...", spec.name, w, h, f", steps {count}" * bool(count))
                ms = stage.warmup(h, w, steps=count) if count else stage.warmup(h, w)
                costs[(cost_key(spec.name, count), int(width * scale) * int(height * scale))] = ms
        seconds = time.perf_counter() - t0
        self.stats.add_warmup(spec.name, seconds, stage.accel.engine_entry() if stage.accel is not None else None)
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

    def switch_style(self, style: Style) -> Future:
        """Switch to ``style`` (None: no style) without stalling the stream. A diffusion style
        comes back with the prompt, strength and seed last set live for its model here."""
        log.info("preparing style %s ...", describe(style))

        def prepare() -> Stage | None:
            # On the helper thread, after the prompt edits queued before this switch.
            resumed = style
            if isinstance(style, DiffusionStyle) and style.name in self._live_prompts:
                resumed = style.with_settings(**self._live_prompts[style.name])
            return build_style(resumed, self.converter, self.config.backend)

        return self.switch_stage(style_spec(style), prepare)

    def set_prompt(self, prompt: str | None = None, strength: float | None = None, seed: int | None = None) -> Future:
        """Change a diffusion style's prompt, strength or seed live. The prompt's embeddings are
        computed off the frame path; the worker installs them between two frames. Changes that
        are still waiting merge into one encode (the latest value of each wins); each call's
        future resolves once its change is in."""
        try:
            PromptChange(strength=strength, seed=seed)  # a bad value fails alone, merging nothing
        except LivefxError as exc:
            failed: Future = Future()
            failed.set_exception(exc)
            return failed
        return self._prompt_changes.submit(prompt=prompt, strength=strength, seed=seed)

    def _apply_prompt(self, fields: dict) -> None:
        stage = self.style_stage()
        if not isinstance(stage, DiffusionStage):
            raise LivefxError("the running style takes no prompt: start with --style sd:PATH")
        prompt = fields.get("prompt")
        embeddings = None
        if prompt is not None:
            embeddings = run_on_own_thread(lambda: stage.model.encode_prompt(prompt), "livefx-encode-prompt")
        change = PromptChange(prompt, embeddings, fields.get("strength"), fields.get("seed"))
        self.controls.send(ConfigureStage(STYLE_STAGE, change)).result()
        self._live_prompts[stage.model.name] = {"prompt": stage.prompt, "strength": stage.strength, "seed": stage.seed}
        log.info("prompt now %r (strength %g, seed %d)", stage.prompt, stage.strength, stage.seed)

    def style_stage(self) -> Stage | None:
        """The style stage running now (the worker's, once started)."""
        if self.worker is not None:
            return self.worker.stages.get(STYLE_STAGE)
        return next((b.stage for b in self.stages if b.spec.name == STYLE_STAGE), None)

    def run_rule_action(self, action: str, argument: str) -> None:
        """What a label rule asks for: ``style``/NAME or ``interpolate``/on|off|toggle."""
        if action == "style":
            from livefx.models.registry import resolve_style

            future = self.switch_style(resolve_style(argument))
            future.add_done_callback(
                lambda f: f.exception() and log.error("rule: style %s failed: %s", argument, f.exception())
            )
        elif action == "interpolate" and self.motion is not None:
            on = {"on": True, "off": False}.get(argument)  # anything else toggles
            self.set_motion(on)
            log.info("rule: interpolation %s", argument)

    def set_budget(self, ms: float) -> Future:
        """Change the per-frame latency budget live; resolves once the worker applied it."""
        return self.controls.send(SetBudget(float(ms)))

    def set_motion(self, on: bool | None) -> Future:
        """Interpolation/stabilization on, off, or (None) toggled, live."""
        return self.controls.send(SetMotion(on))

    def switch_stage(self, spec: StageSpec, prepare: Callable[[], Stage | None]) -> Future:
        """Build a stage with ``prepare`` and warm it up on a helper thread, then have the
        worker install it between two frames. The frame path never waits for it.
        The future resolves once the worker has installed the stage."""

        def build() -> tuple[Stage | None, dict]:
            stage = prepare()
            return stage, self.warm_stage(spec, stage) if stage is not None else {}

        def job() -> None:
            stage, costs = run_on_own_thread(build, "livefx-prepare-stage")
            self.controls.send(StageSwap(spec, stage, costs, position=0)).result()

        self._prompt_changes.seal()  # prompt edits made after this switch apply after it
        return self._preparer.submit(job)

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
            actions=self.actions,
            controls=self.controls,
            post=[DrawLabels(self.actions)] if self.draw_labels and self.actions is not None else [],
            clock=cfg.clock,
            threads=cfg.threads,
            # A browser or webcam may deliver fewer frames than it declares.
            measure_arrival=cfg.keep_up and self.source.self_paced,
        )
        if self.actions is not None:
            self.actions.listeners += self.label_listeners
        out_fps = fps * (self.motion.config.factor if self.motion else 1)
        self.runners = [SinkRunner(sink, self.frames_out, out_fps, self._sink_failed) for sink in self.sinks]
        self.capture = CaptureThread(
            self.source,
            self.frames_in,
            realtime=cfg.realtime,
            fps=cfg.fps,
            max_frames=cfg.max_frames,
            size=cfg.size,
            fit=cfg.fit,
            clock=cfg.clock,
        )
        for thread in (*self.runners, self.worker, self.capture, *([self.actions] if self.actions else [])):
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

    def _sink_failed(self, runner: SinkRunner) -> None:
        """Say once why an output stopped: logged here, unless it was the last one and
        ``join()`` is about to raise it (the CLI prints that)."""
        others = [r for r in self.runners if r is not runner and r.error is None and r.is_alive()]
        error, rest = runner.error, "; the other outputs keep running" * bool(others)
        if not isinstance(error, LivefxError):
            log.error("%s: output failed%s", runner.sink.spec, rest, exc_info=error)
        elif others or not self._joining:
            log.error("%s%s", error, rest)

    def join(self, log_every_s: float = 2.0) -> dict:
        """Wait until the stream ends (source exhausted, ``stop()``, Ctrl-C, or every sink
        failed), logging a stats line every ``log_every_s`` (0: never); what was in flight
        reaches the sinks. Returns the stats document; raises what stopped the stream."""
        assert self.capture is not None and self.worker is not None, "start() first"
        self._joining = True
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
                if self.runners and all(r.error is not None for r in self.runners):
                    self.stop()  # nothing left to deliver to
                    self.worker.stop()
        except KeyboardInterrupt:
            log.info("stopping (Ctrl-C); flushing sinks ...")
            self.stop()
            self.worker.join()
        for runner in self.runners:
            runner.join()
        self.stop()
        self.capture.join(timeout=5)
        if self.capture.error is not None:
            raise _as_livefx(self.capture.error)
        if self.worker.error is not None:
            raise _as_livefx(self.worker.error)
        if self.runners and all(r.error is not None for r in self.runners):
            raise _as_livefx(self.runners[0].error)
        return self.snapshot()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop and release everything ``start()`` started; safe to call more than once."""
        self.stop()
        if self.worker is not None:
            self.worker.stop()
        for thread in (self.capture, self.worker, *self.runners):
            if thread is not None and thread.is_alive():
                thread.join(timeout=timeout_s)
        self._preparer.shutdown(wait=False, cancel_futures=True)
        self.controls.close()
        if self.actions is not None:
            self.actions.stop()
            if self.actions.is_alive():
                self.actions.join(timeout=timeout_s)

    def run(self, log_every_s: float = 2.0) -> dict:
        """``start()``, ``join()``, ``close()``: the whole run; Ctrl-C stops it cleanly."""
        with self:
            return self.join(log_every_s)

    def snapshot(self) -> dict:
        """The stats document, with the counters owned by the rings and sinks folded in."""
        fields: dict[str, object] = {"frames_in": self.frames_in.pushed}
        if self.actions is not None:
            fields["actions"] = self.actions.snapshot()
        if self.worker is not None:
            reader = self.worker.reader
            fields["frames_dropped"] = reader.skipped + (reader.unread if not self.worker.is_alive() else 0)
            fields["stage_errors"] = self.worker.stage_errors
            fields["last_stage_error"] = self.worker.last_stage_error
            fields["disabled_stages"] = list(self.worker.disabled_stages)
        fields["sinks"] = {r.sink.spec: r.counters() for r in self.runners}
        stage = self.style_stage()
        fields["diffusion"] = stage.live_state() if isinstance(stage, DiffusionStage) else None
        self.stats.update(**fields)
        return self.stats.snapshot()

    @property
    def sink_errors(self) -> list[BaseException]:
        return [r.error for r in self.runners if r.error is not None]


def _as_livefx(exc: BaseException) -> BaseException:
    return exc if isinstance(exc, LivefxError) else LivefxError(f"stopped by an internal error: {exc!r}")
