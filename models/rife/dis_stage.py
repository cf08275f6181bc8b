"""Classical optical flow as a live motion stage: OpenCV DIS in place of IFNet.

On a CPU, DIS (fast preset) finds the motion between two 320x240 frames in a few
milliseconds against about 25 ms for the embedded IFNet, and on held-out real video at half
its frame rate its in-between frames score higher (37.89 against 37.42 dB, blend 34.89,
both with bicubic output sampling; bench/results/interp-halfrate-cpu.md). It has the same
interface as ``FlowStage``, so the motion stage (interpolation, stabilization) runs on either.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..stage import MOTION_STAGE, cheapest_run_ms
from .dis import DIS_PRESETS, PRESET_FINEST, dis_for, flows_to_time, gray_u8
from .ifnet import Interpolation
from .sharp_warp import sharp_warp
from .stage import shrink

#: The fewest pixels across DIS's finest pyramid level may work at: for smaller frames the
#: preset's finest scale is lowered (finer). At 176x144 (carphone) the fast preset's scale 2
#: works at 44 px across; scale 1 scores 0.26 dB more on held-out video at 4 ms a pair.
MIN_FINEST_WIDTH = 80


def finest_scale_for(width: int, preset: str) -> int:
    """The finest pyramid level (0: full size) DIS ``preset`` runs to on frames ``width`` px
    wide: the preset's own, or a finer one that keeps ``MIN_FINEST_WIDTH`` px across."""
    scale = PRESET_FINEST[preset]
    while scale > 0 and width >> scale < MIN_FINEST_WIDTH:
        scale -= 1
    return scale


class DisFlowStage:
    """Motion between two frames by OpenCV DIS (both ways), taken to any in-between time by
    the linear-motion approximation; the blend weight of frame 0 at time t is 1 - t.
    Runs on the CPU whatever the frames' device (the flow comes back to it)."""

    name = MOTION_STAGE
    version = "dis"
    flow_init = ""
    pad_multiple = 1
    accel = None
    #: No motion probe first: DIS follows large motion through its own image pyramid.
    probes = False
    #: Never reduced under time pressure: at full size it costs a few ms at 320x240, and
    #: found at half size the motion loses 0.44 dB on held-out video (37.19 -> 36.75, measured
    #: with bilinear output sampling).
    reduced_scale = 1.0

    def __init__(self, preset: str = "dis-fast") -> None:
        if preset not in DIS_PRESETS:
            raise ValueError(f"DIS preset {preset!r}: expected one of {', '.join(DIS_PRESETS)}")
        self.preset = self.label = preset

    def pair_flows(self, img0: torch.Tensor, img1: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """1 x 4 x H x W: flow frame 0 -> 1 (x, y) and frame 1 -> 0 (x, y), in the pixels of
        the H x W inputs; found on frames shrunk by ``scale`` (cost about scale^2)."""
        size = img0.shape[-2:]
        if scale != 1.0:
            img0, img1 = shrink(img0, scale), shrink(img1, scale)
        gray0, gray1 = gray_u8(img0[0]), gray_u8(img1[0])
        dis = dis_for(self.preset, finest_scale_for(gray0.shape[1], self.preset))
        flows = np.concatenate([dis.calc(gray0, gray1, None), dis.calc(gray1, gray0, None)], -1)
        out = torch.from_numpy(flows).permute(2, 0, 1)[None].to(img0.device)
        if scale != 1.0:
            h, w = gray0.shape
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
            out[:, 0::2] *= size[-1] / w
            out[:, 1::2] *= size[-2] / h
        return out

    @staticmethod
    def at_time(pair: torch.Tensor, t: float) -> torch.Tensor:
        """1 x 4 x H x W flows from time ``t`` to frame 0 and to frame 1, from ``pair_flows``
        (``dis.flows_to_time``)."""
        return torch.cat(flows_to_time(pair[:, :2], pair[:, 2:], t), 1)

    def interpolation(
        self, img0: torch.Tensor, img1: torch.Tensor, pair: torch.Tensor, t: float, sharp: bool = True
    ) -> Interpolation:
        """The frame at ``t`` from ``pair_flows``' flows, with the flow and mask that made it;
        without ``sharp`` (callers that use only the flow and mask), the frame is the inputs'
        plain blend, not moved (two warps cheaper)."""
        flow = self.at_time(pair, t)
        mask = torch.full_like(flow[:, :1], 1.0 - t)
        frame = (sharp_warp(img0, flow[:, :2]), sharp_warp(img1, flow[:, 2:])) if sharp else (img0, img1)
        return Interpolation((frame[0] * (1.0 - t) + frame[1] * t).clamp(0, 1), flow, mask)

    @torch.inference_mode()
    def __call__(
        self, img0: torch.Tensor, img1: torch.Tensor, t: float = 0.5, scale: float = 1.0, sharp: bool = True
    ) -> Interpolation:
        """As ``FlowStage.__call__``: ``img0``/``img1`` are 1 x 3 x H x W in [0, 1]; the motion
        is found at ``scale`` of their size; flow and mask come back at H x W; the frame is made
        by moving the full-size inputs (``sharp``) or, cheaper, is their plain blend."""
        return self.interpolation(img0, img1, self.pair_flows(img0, img1, scale), t, sharp)

    def probe_scale(self, img0: torch.Tensor, img1: torch.Tensor, base: float = 1.0) -> tuple[float, None]:
        """``base``: no probe (see ``probes``)."""
        return base, None

    @torch.inference_mode()
    def passes(
        self, img0: torch.Tensor, img1: torch.Tensor, times: list[float], base: float = 1.0, *, probe: bool = True
    ) -> tuple[float, dict[float, Interpolation]]:
        """As ``FlowStage.passes`` (flow and mask only, ``sharp=False``): one DIS pair for all
        ``times`` (each further time costs only the flow arithmetic)."""
        pair = self.pair_flows(img0, img1, base)
        return base, {t: self.interpolation(img0, img1, pair, t, sharp=False) for t in times}

    @torch.inference_mode()
    def warmup(self, height: int, width: int, runs: int = 3) -> float:
        """Cheapest of ``runs`` passes on textured frames of this size, in ms (DIS on blank
        frames would skip the work textured content costs)."""
        gen = torch.Generator().manual_seed(0)
        x0 = torch.rand((1, 3, height, width), generator=gen)
        x1 = torch.roll(x0, shifts=(1, 2), dims=(2, 3))
        return cheapest_run_ms(lambda: self(x0, x1), torch.device("cpu"), runs)
