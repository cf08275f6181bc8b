"""What every session starts with: the server's style, budget, size, codec and side stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from livefx.models.action.load import ActionModel

from ..device import FrameConverter
from ..pipeline import PipelineConfig
from ..scheduling.budget import OnLate
from ..stages.actions import ActionsConfig
from ..stages.motion import MotionConfig, MotionStage, build_motion_stage
from ..stages.style import Style


@dataclass
class SessionSettings:
    """What every new session starts with."""

    converter: FrameConverter
    style: Style
    budget_ms: float = 100.0
    on_late: OnLate = OnLate.BEST_EFFORT
    #: Prefer plans that keep up with the source's frame rate (see PipelineConfig.keep_up).
    keep_up: bool = True
    size: tuple[int, int] = (640, 480)
    #: How a server-side source's frames meet ``size`` (see stream.fit).
    fit: str = "pad"
    backend: str = "auto"
    #: CPU threads for the models, fixed (None: tuned between frames; see stream.thread_tuner).
    threads: int | None = None
    #: Style one frame in ``carry`` at 0.75 scale before 0.5 (see PipelineConfig.carry).
    carry: int = 2
    #: The output's effect mix and mirror every stream starts with (the page changes them live).
    mix: float = 1.0
    mirror: bool = False
    codec: str = "auto"
    metrics_every_s: float = 0.5
    #: Interpolation/stabilization for every stream (see stream.motion); ``rife`` is the weights file.
    motion: MotionConfig = field(default_factory=MotionConfig)
    rife: Path | None = None
    #: Action labels for every stream (one loaded model, shared), sent as ``labels`` events.
    actions: ActionModel | None = None
    actions_config: ActionsConfig = field(default_factory=ActionsConfig)

    def pipeline_config(self, size: tuple[int, int] | None) -> PipelineConfig:
        """The engine settings every session's pipeline (and a broadcast's) starts with."""
        return PipelineConfig(
            budget_ms=self.budget_ms,
            on_late=self.on_late,
            keep_up=self.keep_up,
            size=size,
            fit=self.fit,
            backend=self.backend,
            threads=self.threads,
            carry=self.carry,
            mix=self.mix,
            mirror=self.mirror,
        )

    def motion_stage(self) -> MotionStage | None:
        if not self.motion.active or self.rife is None:
            return None
        return build_motion_stage(self.rife, self.motion, self.converter, self.backend)
