"""Optical-flow pseudo-labels for real training triplets.

For a real triplet the true middle frame is known, so OpenCV DIS flow from the middle frame
to each outer frame is a privileged estimate of the motion an interpolator must find (it
never sees the middle frame at run time). Used as an auxiliary target where it explains the
pixels (see ``consistent``), it teaches large motions that the photometric loss alone finds
slowly. Estimates are cached per frame pair, in half precision, up to a bound.
"""

from __future__ import annotations

from collections import OrderedDict

import cv2
import numpy as np
import torch

from ..rife.ifnet import warp


class PseudoFlow:
    """``flows(shot, frames, a, b)``: H x W x 2 float32 flow from ``frames[a]`` to
    ``frames[b]`` in pixels (backward-warp convention: ``frames[a](p) ~ frames[b](p + f(p))``)."""

    def __init__(self, max_pairs: int = 4096, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) -> None:
        self._dis = cv2.DISOpticalFlow_create(preset)
        self._cache: OrderedDict[tuple[int, int, int], np.ndarray] = OrderedDict()
        self.max_pairs = max_pairs
        self.computed = 0

    def __call__(self, shot: int, frames: list[np.ndarray], a: int, b: int) -> np.ndarray:
        key = (shot, a, b)
        flow = self._cache.get(key)
        if flow is None:
            g0, g1 = (cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY) for i in (a, b))
            flow = self._dis.calc(g0, g1, None).astype(np.float16)
            self._cache[key] = flow
            self.computed += 1
            if len(self._cache) > self.max_pairs:
                self._cache.popitem(last=False)
        return flow.astype(np.float32)


def consistent(
    frame0: torch.Tensor, middle: torch.Tensor, frame1: torch.Tensor, flow: torch.Tensor, tolerance: float = 0.04
) -> torch.Tensor:
    """N x 4 x H x W weights (0 or 1) for a flow target: 1 where warping the outer frame by
    the target reproduces the middle frame within ``tolerance`` (mean over RGB, 0-1 scale),
    so occlusions and DIS's mistakes teach nothing."""
    err0 = (warp(frame0, flow[:, :2]) - middle).abs().mean(1, keepdim=True)
    err1 = (warp(frame1, flow[:, 2:]) - middle).abs().mean(1, keepdim=True)
    return torch.cat([(err0 < tolerance).expand(-1, 2, -1, -1), (err1 < tolerance).expand(-1, 2, -1, -1)], 1).float()
