"""IFNet, the flow network of RIFE (Huang et al., ECCV 2022), in the Practical-RIFE v4.x layout.

Each IFBlock looks at both frames (first raw, later warped by the flow so far) at a
coarse scale, and predicts a residual of the bidirectional flow (t->0 and t->1, in
pixels), a fusion mask and one spare channel. Flows and masks accumulate from coarse
(1/8) to fine (1/1). The output frame is the mask-weighted blend of the two frames
backward-warped to time t. Module and parameter names follow the published v4.6
``flownet.pkl`` state dicts exactly, so those checkpoints load unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

#: v4.6: channels per block, coarse to fine, and the scale each block works at.
V4_6_CHANNELS = (192, 128, 96, 64)
V4_6_SCALES = (8.0, 4.0, 2.0, 1.0)
#: Inputs are padded to a multiple of this (the coarsest block sees 1/32 of the frame).
PAD_MULTIPLE = 32


@dataclass(frozen=True)
class IFNetConfig:
    channels: tuple[int, ...] = V4_6_CHANNELS
    scales: tuple[float, ...] = V4_6_SCALES

    def __post_init__(self) -> None:
        if len(self.channels) != len(self.scales) or not self.channels:
            raise ValueError(f"need one scale per block, got channels={self.channels} scales={self.scales}")


def conv_lrelu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2, inplace=True))


class ResConv(nn.Module):
    """lrelu(x + beta * conv(x)), with a learned per-channel ``beta``."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, c, 1, 1))
        self.relu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) * self.beta + x)


class IFBlock(nn.Module):
    """One coarse-to-fine step: (images, flow so far) at 1/scale -> (flow, mask) residuals."""

    def __init__(self, in_planes: int, c: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(conv_lrelu(in_planes, c // 2, 2), conv_lrelu(c // 2, c, 2))
        self.convblock = nn.Sequential(*(ResConv(c) for _ in range(8)))
        # 4 flow + 1 mask + 1 spare channel, at twice the feature resolution, then x2 again.
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, 4 * 6, 4, 2, 1), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor, flow: torch.Tensor | None, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        if scale != 1:
            x = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
        if flow is not None:
            if scale != 1:
                flow = F.interpolate(flow, scale_factor=1.0 / scale, mode="bilinear", align_corners=False) / scale
            x = torch.cat((x, flow), 1)
        out = self.lastconv(self.convblock(self.conv0(x)))
        if scale != 1:
            out = F.interpolate(out, scale_factor=scale, mode="bilinear", align_corners=False)
        return out[:, :4] * scale, out[:, 4:5]


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``image`` by ``flow`` (pixels, x then y): out(p) = image(p + flow(p)).

    Sampling runs in fp32 even for half-precision models: in fp16 the normalised grid
    loses sub-pixel precision on large frames.
    """
    n, _, h, w = flow.shape
    flow = flow.float()
    ys = torch.linspace(-1.0, 1.0, h, device=flow.device).view(1, h, 1).expand(n, h, w)
    xs = torch.linspace(-1.0, 1.0, w, device=flow.device).view(1, 1, w).expand(n, h, w)
    gx = xs + flow[:, 0] * (2.0 / max(w - 1, 1))
    gy = ys + flow[:, 1] * (2.0 / max(h - 1, 1))
    grid = torch.stack((gx, gy), dim=-1)
    out = F.grid_sample(image.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.to(image.dtype)


@dataclass
class Interpolation:
    """What one IFNet pass returns: the frame at t, and the flow and mask that made it."""

    frame: torch.Tensor  # N x 3 x H x W in [0, 1]
    flow: torch.Tensor  # N x 4 x H x W: t->0 (x, y) then t->1 (x, y), pixels
    mask: torch.Tensor  # N x 1 x H x W: weight of frame 0 in the blend
    #: In training mode only: the blended frame after each earlier block (deep supervision).
    coarse: list[torch.Tensor] = field(default_factory=list)


class IFNet(nn.Module):
    """RIFE's IFNet (v4.6 layout by default; ``config`` gives thinner variants)."""

    def __init__(self, config: IFNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or IFNetConfig()
        for i, c in enumerate(self.config.channels):
            # block0 sees both images and t; later blocks also the mask and the flow so far.
            setattr(self, f"block{i}", IFBlock(7 if i == 0 else 8 + 4, c))

    @property
    def blocks(self) -> list[IFBlock]:
        return [getattr(self, f"block{i}") for i in range(len(self.config.channels))]

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, timestep: float | torch.Tensor = 0.5) -> Interpolation:
        """``img0``/``img1``: N x 3 x H x W in [0, 1], H and W multiples of ``PAD_MULTIPLE``
        (use ``pad_to_multiple``); ``timestep``: a float in (0, 1) or an N-vector."""
        n, _, h, w = img0.shape
        t = torch.as_tensor(timestep, dtype=img0.dtype, device=img0.device).reshape(-1, 1, 1, 1)
        t = t.expand(n, 1, h, w)
        flow: torch.Tensor | None = None
        mask: torch.Tensor | None = None
        warped0, warped1 = img0, img1
        coarse = []
        for block, scale in zip(self.blocks, self.config.scales):
            if self.training and flow is not None and mask is not None:
                coarse.append(warped0 * torch.sigmoid(mask) + warped1 * (1 - torch.sigmoid(mask)))
            if flow is None or mask is None:
                flow, mask = block(torch.cat((img0, img1, t), 1), None, scale)
            else:
                d_flow, d_mask = block(torch.cat((warped0, warped1, t, mask), 1), flow, scale)
                flow, mask = flow + d_flow, mask + d_mask
            warped0, warped1 = warp(img0, flow[:, :2]), warp(img1, flow[:, 2:4])
        assert flow is not None and mask is not None
        weight = torch.sigmoid(mask)
        frame = warped0 * weight + warped1 * (1 - weight)
        return Interpolation(frame, flow, weight, coarse)


def pad_to_multiple(x: torch.Tensor, multiple: int = PAD_MULTIPLE) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the bottom/right edges (replicating) to a multiple of ``multiple``; returns the
    padded tensor and the original (H, W) for cropping back."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)
