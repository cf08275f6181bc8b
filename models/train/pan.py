"""How much of a pure pan an interpolator recovers: the motion a viewer sees most.

A held-out picture (never read in training) is cut twice, ``shift`` pixels apart, as frames
0 and 1; at t = 0.5 every pixel of the true middle frame came from ``shift / 2`` pixels
further along in frame 0 and as far back in frame 1.
"""

from __future__ import annotations

import numpy as np
import torch

from ..rife.ifnet import IFNet
from ..rife.stage import FlowStage
from .common import to_tensor
from .data import HELD_OUT_IMAGES, fit_short_side, skimage_image


def pan_frames(shift: int, size: tuple[int, int] = (640, 480)) -> tuple[np.ndarray, np.ndarray]:
    """Frames 0 and 1 (``size`` = width, height) of a held-out picture panned by ``shift`` px:
    frame1(x) = frame0(x + shift)."""
    width, height = size
    img = fit_short_side(skimage_image(HELD_OUT_IMAGES[0]), height)
    if img.shape[1] < width + shift:
        raise ValueError(f"the picture is {img.shape[1]} px wide: too narrow for {width} + {shift}")
    return np.ascontiguousarray(img[:height, :width]), np.ascontiguousarray(img[:height, shift : shift + width])


@torch.inference_mode()
def pan_recovery(net: IFNet, shift: int, size: tuple[int, int] = (640, 480)) -> tuple[float, float]:
    """(x flow to frame 0, x flow to frame 1) at t = 0.5, medians over the frame's interior;
    the truth is (+shift/2, -shift/2)."""
    cpu = torch.device("cpu")
    stage = FlowStage(net, cpu, torch.float32, backend="eager")
    f0, f1 = pan_frames(shift, size)
    flow = stage(to_tensor(f0, cpu), to_tensor(f1, cpu), 0.5).flow[0]
    margin = 2 * shift  # the picture's edges: what entered or left the view has no match
    inner = flow[:, margin:-margin, margin:-margin]
    return float(inner[0].median()), float(inner[2].median())
