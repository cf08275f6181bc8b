"""Frame interpolation and flow-based stabilization between consecutive processed frames.

The motion is found on the *input* frames (real content, so it is not confused by style
textures): one IFNet pass per in-between time, or one OpenCV DIS pair for all of them
(``--flow``); the flow and blend mask then move the *stylized* frames. So each input frame
is stylized once, the in-between frames cost only the flow, and stabilization reuses the
same flow at no extra model cost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from livefx.models.cuts import CutDetector
from livefx.models.rife.dis_stage import DisFlowStage
from livefx.models.rife.ifnet import Interpolation, warp
from livefx.models.rife.sharp_warp import sharp_warp
from livefx.models.rife.stage import FlowStage, auto_flow_scale, blend_with, build_flow_stage
from livefx.models.stage import MOTION_STAGE

from ..device import FrameConverter
from ..scheduling.budget import StageKind, StageSpec

log = logging.getLogger("livefx")


#: ``MotionConfig.flow`` choices.
FLOW_METHODS = ("auto", "rife", "dis-fast", "dis-medium")


@dataclass(frozen=True)
class MotionConfig:
    #: Output frames per input frame (1: no interpolation).
    factor: int = 1
    stabilize: bool = False
    #: How much of the motion-compensated previous output survives where the warp is
    #: confident (0: none, 1: freeze). 0.5 halves frame-to-frame style flicker.
    stabilize_strength: float = 0.5
    #: Input-frame warping error (0-1 scale) at which a pixel stops being trusted.
    confidence_error: float = 0.08
    #: Size the motion is found at, as a fraction of the frame (None: from the frame size,
    #: see ``auto_flow_scale``); the planner may halve it again under time pressure.
    flow_scale: float | None = None
    #: Measure the motion first with a small probe and find it on smaller frames when it is
    #: large (see ``reach_scale``): about 1/16 of a pass more, fast pans followed.
    adaptive: bool = True
    #: What finds the motion: "rife" (the IFNet weights given), "dis-fast" or "dis-medium"
    #: (OpenCV DIS on the CPU, no weights), or "auto" (see ``choose_flow``).
    flow: str = "auto"

    def __post_init__(self) -> None:
        if self.factor < 1:
            raise ValueError(f"interpolation factor must be >= 1, got {self.factor}")
        if not 0.0 <= self.stabilize_strength < 1.0:
            raise ValueError(f"stabilize strength must be in [0, 1), got {self.stabilize_strength}")
        if self.flow not in FLOW_METHODS:
            raise ValueError(f"flow {self.flow!r}: expected one of {', '.join(FLOW_METHODS)}")

    @property
    def times(self) -> list[float]:
        return [k / self.factor for k in range(1, self.factor)]

    @property
    def active(self) -> bool:
        return self.factor > 1 or self.stabilize


def motion_spec(reduced: float) -> StageSpec:
    """Interpolation is optional; under time pressure its flow is found at ``reduced`` of its
    size first (1.0: it keeps running as is while the effect scales down)."""
    return StageSpec(MOTION_STAGE, StageKind.OPTIONAL, scalable=False, reduced=reduced)


@dataclass
class MotionResult:
    current: torch.Tensor  # the (possibly stabilized) processed frame
    between: list[torch.Tensor]  # in-between frames, oldest first (empty when skipped)
    ran: bool = False  # whether IFNet ran (the cost the planner should learn)
    cut: bool = False  # a scene cut lies between the previous frame and this one: held
    #: The fraction of the frame the motion was found at (None when IFNet did not run).
    flow_scale: float | None = None


def flow_to_previous(result: Interpolation) -> torch.Tensor:
    """Flow from the current frame (t=1) back to the previous one (t=0), from the flows of
    a pass at t=0.5: a point at t lands at p+F(t->0) in frame 0 and p+F(t->1) in frame 1,
    so frame 1 -> frame 0 is F(t->0) - F(t->1) (sampled at p, a half-step approximation)."""
    return result.flow[:, :2] - result.flow[:, 2:4]


class MotionStage:
    """Keeps the previous input/output pair; makes in-between frames and stabilizes."""

    def __init__(self, flow: FlowStage | DisFlowStage, config: MotionConfig, cuts: CutDetector | None = None) -> None:
        self.flow = flow
        self.config = config
        #: Interpolating across a cut would morph one shot into the next: hold instead.
        self.cuts = cuts or CutDetector()
        self._prev_in: torch.Tensor | None = None
        self._prev_out: torch.Tensor | None = None

    def reset(self) -> None:
        self._prev_in = self._prev_out = None

    @property
    def spec(self) -> StageSpec:
        """What the planner knows of this stage: optional, its flow reduced to
        ``flow.reduced_scale`` under time pressure."""
        return motion_spec(self.flow.reduced_scale)

    @property
    def probes(self) -> bool:
        """Whether each pair's motion is measured first by a small probe (``reach_scale``)."""
        return self.config.adaptive and self.flow.probes

    def flow_scale_for(self, height: int, width: int) -> float:
        """The size the motion of frames this big is found at (before any planner reduction)."""
        return self.config.flow_scale or auto_flow_scale(height, width)

    def step(
        self, frame_in: torch.Tensor, frame_out: torch.Tensor, *, run_flow: bool = True, flow_scale: float = 1.0
    ) -> MotionResult:
        """``frame_in``: the input as the worker saw it; ``frame_out``: its processed result
        (same size). ``run_flow=False`` (the planner skipped the stage): no model work.
        ``flow_scale`` < 1 (the planner's reduction) finds the motion at that fraction of the
        size ``flow_scale_for`` picks (cheaper, coarser)."""
        prev_in, prev_out = self._prev_in, self._prev_out
        usable = prev_in is not None and prev_out is not None and prev_in.shape == frame_in.shape
        between: list[torch.Tensor] = []
        current = frame_out
        ran = usable and run_flow
        cut = ran and self.cuts(prev_in, frame_in)
        ran = ran and not cut
        flow_scale *= self.flow_scale_for(*frame_in.shape[-2:])
        if ran:
            assert prev_in is not None and prev_out is not None
            # Only the flow and mask are used here (they move the processed frames).
            flow_scale, passes = self.flow.passes(
                prev_in, frame_in, self.config.times, flow_scale, probe=self.config.adaptive
            )
            if self.config.stabilize:
                mid = passes.get(0.5) or self.flow(prev_in, frame_in, 0.5, flow_scale, sharp=False)
                current = self._stabilize(mid, prev_in, prev_out, frame_in, frame_out)
            between = [blend_with(passes[t], prev_out, current).clamp_(0, 1) for t in self.config.times]
        self._prev_in, self._prev_out = frame_in, current
        return MotionResult(current, between, ran, cut, flow_scale if ran else None)

    def _stabilize(
        self,
        mid: Interpolation,
        prev_in: torch.Tensor,
        prev_out: torch.Tensor,
        frame_in: torch.Tensor,
        frame_out: torch.Tensor,
    ) -> torch.Tensor:
        back = flow_to_previous(mid)
        # Trust the warp where it explains the *input* frames (occlusions and flow errors fail this).
        error = (warp(prev_in, back) - frame_in).abs().mean(1, keepdim=True)
        confidence = (1 - error / self.config.confidence_error).clamp_(0, 1)
        weight = self.config.stabilize_strength * confidence
        # Bicubic: the previous output is re-sampled every frame, and bilinear sampling would
        # soften it a little more each time (mean |Laplacian| on bikes with candy: 27.3 -> 29.1,
        # unstabilized 39.5; flicker unchanged).
        return frame_out + weight.to(frame_out.dtype) * (sharp_warp(prev_out, back) - frame_out)


def choose_flow(method: str, rife: Path, device: torch.device) -> str:
    """The flow method ``auto`` stands for: DIS fast for the embedded interpolator on a CPU
    (there it is about 5x cheaper than the embedded IFNet and scores higher on held-out
    real video, see ``DisFlowStage``), else the IFNet weights in ``rife`` (a checkpoint the
    user chose, or a GPU, where the network is the cheap one)."""
    from livefx.models.registry import DEFAULT_RIFE

    if method != "auto":
        return method
    return "dis-fast" if device.type == "cpu" and rife == DEFAULT_RIFE else "rife"


def build_flow(
    method: str, rife: Path, device: torch.device, dtype: torch.dtype, backend: str = "auto", precision: str = "auto"
) -> FlowStage | DisFlowStage:
    """What finds the motion for ``method`` (a ``FLOW_METHODS`` choice other than "auto"):
    the IFNet in ``rife`` on ``device``, or DIS."""
    if method == "rife":
        return build_flow_stage(rife, device, dtype, backend, precision)
    return DisFlowStage(method)


def build_motion_stage(
    rife: Path, config: MotionConfig, converter: FrameConverter, backend: str = "auto"
) -> MotionStage | None:
    """Load the interpolator ``config.flow`` names (the IFNet in ``rife``, or DIS) for
    ``config`` (None when ``config`` asks for nothing)."""
    if not config.active:
        return None
    device = converter.device
    flow = build_flow(
        choose_flow(config.flow, rife, device), rife, device, converter.dtype, backend, converter.precision
    )
    if isinstance(flow, DisFlowStage):
        log.info("motion found by OpenCV DIS (%s preset) on the CPU", flow.preset.removeprefix("dis-"))
    else:
        backend_text = flow.accel.describe()
        log.info(
            "interpolator %s (RIFE %s layout) loaded from %s; backend %s", rife.stem, flow.version, rife, backend_text
        )
    return MotionStage(flow, config)
