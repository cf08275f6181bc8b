"""IFNet, the flow network of RIFE (Huang et al., ECCV 2022), in the Practical-RIFE v4.x layouts.

Each IFBlock looks at both frames (first raw, later warped by the flow so far) at a
coarse scale, and predicts a residual of the bidirectional flow (t->0 and t->1, in
pixels) and a fusion mask. Flows accumulate from coarse to fine. The output frame is
the mask-weighted blend of the two frames backward-warped to time t.

Two families share this file (``IFNetConfig`` says which):

- v4.6 (and livefx's own default): four blocks, no feature encoder; each block also
  outputs one spare channel, and the masks accumulate.
- v4.21 and later (4.22, 4.25, 4.26 and their lite/heavy variants): a small encoder
  (``encode``) turns each frame into a few feature channels that are warped with the
  images; each block also outputs 8 feature channels for the next one, and the mask is
  replaced, not accumulated. 4.25/4.26 add a fifth, finer block.

A v4.6-family network may also start from a given flow (``IFNetConfig.flow_init``, e.g.
OpenCV DIS computed on the CPU, see ``dis.py``): then every block refines, none finds the
motion from scratch (DIS follows large motion through its own pyramid). ``train_rife
--flow-init`` trains one; models/train/NOTES.md has how far it got.

Module and parameter names follow the published ``flownet.pkl`` state dicts exactly, so
those checkpoints load unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .dis import check_flow_init

#: v4.6: channels per block, coarse to fine, and the scale each block works at.
V4_6_CHANNELS = (192, 128, 96, 64)
V4_6_SCALES = (8.0, 4.0, 2.0, 1.0)
#: Inputs are padded to a multiple of this (the coarsest block sees 1/32 of the frame).
PAD_MULTIPLE = 32


@dataclass(frozen=True)
class IFNetConfig:
    channels: tuple[int, ...] = V4_6_CHANNELS
    scales: tuple[float, ...] = V4_6_SCALES
    #: Feature channels the encoder makes per frame (0: no encoder, the v4.6 family).
    head: int = 0
    #: Width of the encoder's hidden convolutions.
    head_width: int = 16
    #: Feature channels each block passes to the next (0: v4.6, one spare channel instead).
    feat: int = 0
    #: Practical-RIFE version this layout matches, for messages ("4.6", "4.25", ...).
    version: str = "4.6"
    #: Where the starting flow comes from: "" (block 0 finds it) or a DIS preset
    #: ("dis-fast", ...: ``forward`` is given it, and block 0 refines it like later blocks).
    flow_init: str = ""

    def __post_init__(self) -> None:
        if len(self.channels) != len(self.scales) or not self.channels:
            raise ValueError(f"need one scale per block, got channels={self.channels} scales={self.scales}")
        check_flow_init(self.flow_init)
        if self.flow_init and self.head:
            raise ValueError("flow_init is for the v4.6 family (no feature encoder)")

    @property
    def pad_multiple(self) -> int:
        """Frame sides must be multiples of this: each block shrinks by its scale, then 4x."""
        return max(PAD_MULTIPLE, int(4 * max(self.scales)))

    def block_inputs(self, index: int) -> int:
        """Input channels of block ``index`` (the flow so far is added inside the block)."""
        features = 2 * self.head
        if index == 0 and not self.flow_init:
            return 3 + 3 + features + 1  # both frames, their features, t
        return 3 + 3 + features + 1 + 1 + self.feat + 4  # warped frames and features, t, mask, feat, flow


#: Practical-RIFE's later layouts, by version (scales: the inference wrapper's defaults).
V4_22 = IFNetConfig((256, 192, 96, 48), V4_6_SCALES, head=8, head_width=32, feat=8, version="4.22")
V4_22_LITE = IFNetConfig((192, 128, 64, 32), V4_6_SCALES, head=4, feat=8, version="4.22.lite")
V4_25 = IFNetConfig((192, 128, 96, 64, 32), (16.0, 8.0, 4.0, 2.0, 1.0), head=4, feat=8, version="4.25")
V4_25_LITE = IFNetConfig((192, 128, 96, 64, 24), (32.0, 16.0, 8.0, 4.0, 1.0), head=4, feat=8, version="4.25.lite")
V4_25_HEAVY = IFNetConfig((384, 256, 192, 128, 64), (16.0, 8.0, 4.0, 2.0, 1.0), head=4, feat=8, version="4.25.heavy")
V4_26_HEAVY = IFNetConfig((192, 128, 96, 64, 32), (16.0, 8.0, 4.0, 2.0, 1.0), head=16, feat=8, version="4.26.heavy")


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


class Head(nn.Module):
    """The v4.21+ feature encoder: three 3x3 convs (the first at stride 2), then a 4x4
    transposed conv back to full size with ``out`` channels."""

    def __init__(self, width: int, out: int) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, width, 3, 2, 1)
        self.cnn1 = nn.Conv2d(width, width, 3, 1, 1)
        self.cnn2 = nn.Conv2d(width, width, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(width, out, 4, 2, 1)
        self.relu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.cnn0(x))
        x = self.relu(self.cnn1(x))
        x = self.relu(self.cnn2(x))
        return self.cnn3(x)


class IFBlock(nn.Module):
    """One coarse-to-fine step: (images, flow so far) at 1/scale -> flow and mask residuals,
    and ``feat`` feature channels for the next block."""

    def __init__(self, in_planes: int, c: int, feat: int = 0) -> None:
        super().__init__()
        self.feat = feat
        self.conv0 = nn.Sequential(conv_lrelu(in_planes, c // 2, 2), conv_lrelu(c // 2, c, 2))
        self.convblock = nn.Sequential(*(ResConv(c) for _ in range(8)))
        # 4 flow + 1 mask + (feat, or one spare channel), at twice the feature resolution,
        # then x2 again.
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, 4 * (5 + (feat or 1)), 4, 2, 1), nn.PixelShuffle(2))

    def forward(
        self, x: torch.Tensor, flow: torch.Tensor | None, scale: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if scale != 1:
            x = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
        if flow is not None:
            if scale != 1:
                flow = F.interpolate(flow, scale_factor=1.0 / scale, mode="bilinear", align_corners=False) / scale
            x = torch.cat((x, flow), 1)
        out = self.lastconv(self.convblock(self.conv0(x)))
        if scale != 1:
            out = F.interpolate(out, scale_factor=scale, mode="bilinear", align_corners=False)
        return out[:, :4] * scale, out[:, 4:5], out[:, 5 : 5 + self.feat] if self.feat else None


def warp(image: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Backward-warp ``image`` by ``flow`` (pixels, x then y): out(p) = image(p + flow(p)),
    sampled with ``grid_sample``'s ``mode`` (bilinear, as the networks were trained).

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
    out = F.grid_sample(image.float(), grid, mode=mode, padding_mode="border", align_corners=True)
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
    """RIFE's IFNet (v4.6 layout by default; ``config`` gives thinner variants and the
    v4.21+ layouts, e.g. ``V4_25``)."""

    def __init__(self, config: IFNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or IFNetConfig()
        if config.head:
            self.encode = Head(config.head_width, config.head)
        for i, c in enumerate(config.channels):
            # block0 sees both images (and features) and t; later blocks also the mask,
            # the previous block's features and the flow so far.
            setattr(self, f"block{i}", IFBlock(config.block_inputs(i), c, config.feat))

    @property
    def blocks(self) -> list[IFBlock]:
        return [getattr(self, f"block{i}") for i in range(len(self.config.channels))]

    def forward(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        timestep: float | torch.Tensor = 0.5,
        flow: torch.Tensor | None = None,
    ) -> Interpolation:
        """``img0``/``img1``: N x 3 x H x W in [0, 1], H and W multiples of
        ``config.pad_multiple`` (use ``pad_to_multiple``); ``timestep``: a float in (0, 1)
        or an N-vector; ``flow``: N x 4 x H x W starting flows (t->0, t->1, pixels), given
        exactly when ``config.flow_init`` is set."""
        n, _, h, w = img0.shape
        if bool(self.config.flow_init) != (flow is not None):
            raise ValueError(
                f"this IFNet (flow_init={self.config.flow_init!r}) "
                + ("needs a starting flow" if flow is None else "takes no starting flow")
            )
        t = torch.as_tensor(timestep, dtype=img0.dtype, device=img0.device).reshape(-1, 1, 1, 1)
        t = t.expand(n, 1, h, w)
        f0 = f1 = None
        if self.config.head:
            f0, f1 = self.encode(img0), self.encode(img1)
        mask: torch.Tensor | None = None
        feat: torch.Tensor | None = None
        warped0, warped1 = img0, img1
        if flow is not None:  # refine a given flow from an even mask
            flow = flow.to(img0.dtype)
            mask = torch.zeros_like(img0[:, :1])
            warped0, warped1 = warp(img0, flow[:, :2]), warp(img1, flow[:, 2:4])
        coarse = []
        for block, scale in zip(self.blocks, self.config.scales):
            if self.training and flow is not None and mask is not None:
                coarse.append(warped0 * torch.sigmoid(mask) + warped1 * (1 - torch.sigmoid(mask)))
            if flow is None or mask is None:
                features = (f0, f1) if f0 is not None and f1 is not None else ()
                flow, mask, feat = block(torch.cat((img0, img1, *features, t), 1), None, scale)
            elif f0 is not None and f1 is not None and feat is not None:
                wf0, wf1 = warp(f0, flow[:, :2]), warp(f1, flow[:, 2:4])
                d_flow, mask, feat = block(torch.cat((warped0, warped1, wf0, wf1, t, mask, feat), 1), flow, scale)
                flow = flow + d_flow  # v4.21+: each block's mask replaces the last one
            else:
                d_flow, d_mask, _ = block(torch.cat((warped0, warped1, t, mask), 1), flow, scale)
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
