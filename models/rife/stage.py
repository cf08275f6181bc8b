"""IFNet as a live stage: padded, accelerated, and returning flow as well as frames."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..accel import accelerate
from ..stage import MOTION_STAGE, cheapest_run_ms, set_runtime_threads
from .dis import batch_time_flows
from .ifnet import IFNet, Interpolation, pad_to_multiple
from .sharp_warp import sharp_warp


class _PackedIFNet(nn.Module):
    """IFNet behind a one-tensor interface, so ``accelerate`` (compile, CUDA graphs) applies:
    in N x 7 x H x W (frame 0, frame 1, t plane; then the 4 starting-flow channels for a
    ``flow_init`` network), out N x 8 x H x W (frame, flow, mask)."""

    def __init__(self, net: IFNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        start = x[:, 7:11] if self.net.config.flow_init else None
        r = self.net(x[:, :3], x[:, 3:6], x[:, 6:7, :1, :1].flatten(), start)
        return torch.cat((r.frame.to(x.dtype), r.flow.to(x.dtype), r.mask.to(x.dtype)), 1)


class FlowStage:
    """Runs IFNet on two frames of any size (padded to its layout's multiple, cropped back).
    Satisfies ``models.stage.LiveModel``."""

    name = MOTION_STAGE

    def __init__(
        self,
        net: IFNet,
        device: torch.device,
        dtype: torch.dtype,
        *,
        backend: str = "auto",
        label: str = "rife",
        precision: str = "auto",
    ) -> None:
        self.device, self.dtype, self.label = device, dtype, label
        #: Frame sides are padded to this (the layout's coarsest block needs it).
        self.pad_multiple = net.config.pad_multiple
        #: The Practical-RIFE layout the weights are in ("4.6", "4.25", ...).
        self.version = net.config.version
        #: The starting flow's source ("": the network finds it; "dis-fast" ...: DIS on the CPU).
        self.flow_init = net.config.flow_init
        #: Whether ``probe_scale`` measures the motion first (not when DIS gives the start).
        self.probes = not self.flow_init
        #: Under time pressure the motion is found at this fraction of its size first.
        self.reduced_scale = 0.5
        # exact: flow coordinates need fp32 (bf16 moved pixels by up to 0.8 of a unit here).
        self.run, self.accel = accelerate(
            _PackedIFNet(net), device, backend=backend, dtype=dtype, precision=precision, exact=True
        )

    def set_threads(self, count: int) -> None:
        """See ``Stage.set_threads``."""
        set_runtime_threads(self.run, count)

    @torch.inference_mode()
    def __call__(
        self, img0: torch.Tensor, img1: torch.Tensor, t: float = 0.5, scale: float = 1.0, sharp: bool = True
    ) -> Interpolation:
        """``img0``/``img1``: 1 x 3 x H x W in [0, 1] on the stage's device. ``scale`` < 1
        finds the motion on frames shrunk by that factor (about scale^2 of the cost) and
        returns flow and mask at H x W (flow in full-size pixels), and the frame made by
        moving the full-size frames with bicubic sampling (``sharp``) or, cheaper, the
        network's own frame, enlarged when found small (for callers that only use the flow,
        as the engine does)."""
        size = img0.shape[-2:]
        small0, small1 = img0, img1
        if scale != 1.0:
            small0, small1 = (shrink(x, scale) for x in (img0, img1))
        x0, (h, w) = pad_to_multiple(small0.to(self.dtype), self.pad_multiple)
        x1, _ = pad_to_multiple(small1.to(self.dtype), self.pad_multiple)
        planes = [x0, x1, torch.full_like(x0[:, :1], t)]
        if self.flow_init:
            start = batch_time_flows(small0, small1, torch.tensor([t]), self.flow_init)
            planes.append(pad_to_multiple(start.to(self.dtype), self.pad_multiple)[0])
        out = self.run(torch.cat(planes, 1))[..., :h, :w]
        if scale != 1.0:
            out = F.interpolate(out.float(), size=size, mode="bilinear", align_corners=False)
            out[:, 3:7:2] *= size[-1] / w  # flow (x0, y0, x1, y1) in the full-size frame's pixels
            out[:, 4:7:2] *= size[-2] / h
        result = Interpolation(out[:, :3].clamp(0, 1), out[:, 3:7].float(), out[:, 7:8].float())
        if sharp:  # the full-size frames moved with bicubic sampling (the network's own warp is bilinear)
            result.frame = blend_with(result, img0, img1).clamp(0, 1)
        return result

    @torch.inference_mode()
    def probe_scale(
        self, img0: torch.Tensor, img1: torch.Tensor, base: float = 1.0
    ) -> tuple[float, Interpolation | None]:
        """Where to find this pair's motion: a cheap pass at ``PROBE_SCALE`` of ``base``
        measures it, then ``base`` times 1, 1/2 or 1/4 (``reach_scale``). Returns the scale
        and the probe (its t = 0.5 result, reusable when the scale is the probe's own); no
        probe (``base``, None) for frames under ``MIN_PROBED_SIDE`` at the base scale, nor for
        a network that starts from DIS flow (DIS follows large motion through its own pyramid)."""
        if not self.probes or min(img0.shape[-2:]) * base < MIN_PROBED_SIDE:
            return base, None
        probe = self(img0, img1, 0.5, base * PROBE_SCALE, sharp=False)
        return base * reach_scale(probe, base), probe

    @torch.inference_mode()
    def passes(
        self, img0: torch.Tensor, img1: torch.Tensor, times: list[float], base: float = 1.0, *, probe: bool = True
    ) -> tuple[float, dict[float, Interpolation]]:
        """One pass per time in ``times`` (flow and mask only, ``sharp=False``) at the scale
        ``probe_scale`` picks from ``base`` (``base`` itself without ``probe``); the probe is
        reused as the t = 0.5 pass when the scale is its own. Returns the scale and the passes."""
        scale, probed = self.probe_scale(img0, img1, base) if probe else (base, None)
        reuse = probed is not None and scale == base * PROBE_SCALE
        return scale, {t: probed if reuse and t == 0.5 else self(img0, img1, t, scale, sharp=False) for t in times}

    @torch.inference_mode()
    def warmup(self, height: int, width: int, runs: int = 3) -> float:
        """Cheapest of ``runs`` passes on blank frames of this size, in ms (see Stage.warmup)."""
        x = torch.full((1, 3, height, width), 0.5, device=self.device, dtype=self.dtype)
        return cheapest_run_ms(lambda: self(x, x), self.device, runs)


def auto_flow_scale(height: int, width: int) -> float:
    """Flow at half size from 720p up, a quarter from 4K: the motion in pixels grows with
    the frame, IFNet's reach does not. Measured on held-out real video at half its frame
    rate (``python -m livefx.models.train.halfrate``): at 1280x720 half size gains 1.4 dB
    over full size; at 640x272 and below full size is better by 0.5-1 dB."""
    short = min(height, width)
    return 0.25 if short >= 2160 else 0.5 if short >= 540 else 1.0


#: Motion (frame 0 to frame 1, 90th percentile over the frame) that IFNet follows in the
#: pixels it works at; beyond it the motion is better found on smaller frames. Measured with
#: ``models.train.pan``: a 24 px pan at 640x480 is recovered as 3.3 px of 12 at full size,
#: 9.8 at half and 11.9 at a quarter; on held-out real video (``halfrate``) choosing the
#: scale this way is neutral (+-0.01 dB: real motion is mostly small).
REACH_PX = 12.0
#: The probe that measures the motion runs at this fraction of the base flow size.
PROBE_SCALE = 0.25
#: Frames whose flow is found at a short side under this are not probed: there a pass is so
#: small that the probe's fixed cost is a large share (about 20% at 320x240 on a CPU, 9% at
#: 640x480), and 12 px is already a fast motion for the frame.
MIN_PROBED_SIDE = 360


def reach_scale(probe: Interpolation, base: float) -> float:
    """The fraction of the base flow size (1, 1/2 or 1/4) at which the motion a probe
    (an IFNet pass at ``PROBE_SCALE`` of the base size; flows in full-size pixels) saw
    stays within ``REACH_PX`` of the working size."""
    motion = (probe.flow[:, 2:4] - probe.flow[:, :2])[..., ::4, ::4].norm(dim=1).flatten()
    working = float(motion.kthvalue(max(1, int(0.9 * motion.numel()))).values) * base
    return 1.0 if working < REACH_PX else 0.5 if working < 2 * REACH_PX else 0.25


def shrink(x: torch.Tensor, scale: float) -> torch.Tensor:
    return F.interpolate(x, scale_factor=scale, mode="bilinear", antialias=True)


def blend_with(result: Interpolation, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
    """The frame at t made from *other* images (e.g. stylized ones) with the flow and mask
    IFNet found between the inputs: one stylization per input frame, pixels moved by
    motion measured on the real content (bicubic sampling, ``sharp_warp``)."""
    w0 = sharp_warp(img0, result.flow[:, :2])
    w1 = sharp_warp(img1, result.flow[:, 2:4])
    return w0 * result.mask.to(w0.dtype) + w1 * (1 - result.mask.to(w1.dtype))


def build_flow_stage(
    path: Path, device: torch.device, dtype: torch.dtype, backend: str = "auto", precision: str = "auto"
) -> FlowStage:
    from .load import load_ifnet

    return FlowStage(load_ifnet(path), device, dtype, backend=backend, label=path.stem, precision=precision)
