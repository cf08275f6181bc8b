"""Live changes to a running stream, asked for from other threads: a style (or any stage)
swapped in, a diffusion prompt, the budget, interpolation on/off, the output's mix and mirror,
a label rule's action.

What takes time (building and warming a stage, encoding a prompt) is done on a helper
thread, off the frame path; each change then reaches the worker through the control queue
and is applied between two frames. Each call returns a future that resolves once it is in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from livefx.models.diffusion.stage import DiffusionStage, DiffusionStyle, PromptChange
from livefx.models.stage import STYLE_STAGE, LiveModel, Stage

from ..device import FrameConverter
from ..errors import LivefxError
from ..pipeline_config import PipelineConfig
from ..stages.style import Style, build_style, describe, pick_style, style_spec
from .budget import StageSpec
from .coalesce import Coalescer
from .control import ConfigureStage, ControlQueue, SetBudget, SetLook, SetMotion, StageSwap
from .own_thread import run_on_own_thread

log = logging.getLogger("livefx")

#: Warms a stage up at the stream's sizes: (cost key, pixels) -> ms (``StageWarmup.warm_stage``).
WarmStage = Callable[[StageSpec, LiveModel], dict[tuple[str, int], float]]


class LiveChanges:
    """The pipeline's live controls. ``style_stage``: the style stage running now."""

    def __init__(
        self,
        converter: FrameConverter,
        config: PipelineConfig,
        warm_stage: WarmStage,
        style_stage: Callable[[], Stage | None],
        has_motion: bool,
    ) -> None:
        #: The one way to change the running worker.
        self.controls = ControlQueue()
        self.converter = converter
        self.config = config
        self._warm_stage = warm_stage
        self._style_stage = style_stage
        self._has_motion = has_motion
        self._preparer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livefx-prepare")
        self._prompt_changes = Coalescer(self._preparer, self._apply_prompt)
        #: Per diffusion model: the prompt, strength and seed last set live (kept across style switches).
        self._live_prompts: dict[str, dict] = {}
        #: The diffusion model loaded at start or switched to last: names pick it by its name.
        self.loaded: Style = None

    def switch_style(self, style: Style) -> Future:
        """Switch to ``style`` (None: no style) without stalling the stream. A diffusion style
        comes back with the prompt, strength and seed last set live for its model here."""
        log.info("preparing style %s ...", describe(style))
        if isinstance(style, DiffusionStyle):
            self.loaded = style

        def prepare() -> Stage | None:
            # On the helper thread, after the prompt edits queued before this switch.
            resumed = style
            if isinstance(style, DiffusionStyle) and style.name in self._live_prompts:
                resumed = style.with_settings(**self._live_prompts[style.name])
            return build_style(resumed, self.converter, self.config.backend)

        return self.switch_stage(style_spec(style), prepare)

    def switch_stage(self, spec: StageSpec, prepare: Callable[[], Stage | None]) -> Future:
        """Build a stage with ``prepare`` and warm it up on a helper thread, then have the
        worker install it between two frames. The frame path never waits for it.
        The future resolves once the worker has installed the stage."""

        def build() -> tuple[Stage | None, dict]:
            stage = prepare()
            return stage, self._warm_stage(spec, stage) if stage is not None else {}

        def job() -> None:
            stage, costs = run_on_own_thread(build, "livefx-prepare-stage")
            self.controls.send(StageSwap(spec, stage, costs, position=0)).result()

        self._prompt_changes.seal()  # prompt edits made after this switch apply after it
        return self._preparer.submit(job)

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
        stage = self._style_stage()
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

    def set_budget(self, ms: float) -> Future:
        """Change the per-frame latency budget live; resolves once the worker applied it."""
        return self.controls.send(SetBudget(float(ms)))

    def set_motion(self, on: bool | None) -> Future:
        """Interpolation/stabilization on, off, or (None) toggled, live."""
        return self.controls.send(SetMotion(on))

    @property
    def has_motion(self) -> bool:
        """Interpolation/stabilization was configured (``set_motion`` has something to switch)."""
        return self._has_motion

    def set_look(self, change: SetLook) -> Future:
        """The output's effect mix and mirror, live (``SetLook``); resolves once applied."""
        return self.controls.send(change)

    def run_rule_action(self, action: str, argument: str) -> None:
        """What a label rule asks for: ``style``/NAME or ``interpolate``/on|off|toggle."""
        if action == "style":
            future = self.switch_style(pick_style(argument, self.loaded))
            future.add_done_callback(
                lambda f: f.exception() and log.error("rule: style %s failed: %s", argument, f.exception())
            )
        elif action == "interpolate" and self._has_motion:
            on = {"on": True, "off": False}.get(argument)  # anything else toggles
            self.set_motion(on)
            log.info("rule: interpolation %s", argument)

    def close(self) -> None:
        """Drop the changes still being prepared; those sent later fail."""
        self._preparer.shutdown(wait=False, cancel_futures=True)
        self.controls.close()
