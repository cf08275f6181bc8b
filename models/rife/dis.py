"""OpenCV DIS optical flow taken to an in-between time: the starting flow a DIS-initialised
IFNet refines (``IFNetConfig.flow_init``), and the classical baseline interpolators are
judged against.

DIS (Kroeger et al., ECCV 2016) runs on the CPU on 8-bit grey frames, with its own image
pyramid, so it follows large motions that a thin IFNet's coarse blocks lose.
"""

from __future__ import annotations

import threading
from typing import TypeVar

import cv2
import numpy as np
import torch

#: ``IFNetConfig.flow_init`` values -> OpenCV DIS presets. At 320x240, one direction, one
#: thread: ultrafast about 1 ms, fast 2 ms, medium 10-40 ms (medium's variational refinement
#: is most of its cost).
DIS_PRESETS = {
    "dis-ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "dis-fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "dis-medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
#: Each preset's finest pyramid level (OpenCV's defaults; 0 is full size, k is 1/2^k).
PRESET_FINEST = {"dis-ultrafast": 2, "dis-fast": 2, "dis-medium": 1}

_local = threading.local()

FlowT = TypeVar("FlowT", np.ndarray, torch.Tensor)


def dis_for(preset: str, finest: int | None = None) -> cv2.DISOpticalFlow:
    """This thread's DIS object for ``preset`` (at pyramid level ``finest`` instead of the
    preset's own finest scale, when given), made once (an OpenCV algorithm object is not
    shared across threads; making one per frame would allocate its pyramids every time)."""
    if not hasattr(_local, "dis"):
        _local.dis = {}
    cache = _local.dis
    if (preset, finest) not in cache:
        dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
        if finest is not None:
            dis.setFinestScale(finest)
        cache[preset, finest] = dis
    return cache[preset, finest]


def check_flow_init(name: str) -> None:
    """ValueError naming the choices unless ``name`` is "" (no starting flow) or a DIS preset."""
    if name and name not in DIS_PRESETS:
        raise ValueError(f"flow_init {name!r}: expected '' or one of {', '.join(DIS_PRESETS)}")


def time_flows(gray0: np.ndarray, gray1: np.ndarray, t: float, preset: str = "dis-medium") -> np.ndarray:
    """H x W x 4 float32 flows from time ``t`` to frame 0 (x, y) and to frame 1 (x, y), in pixels.

    DIS both ways between two H x W uint8 grey frames, taken to time t by the linear-motion
    approximation of Super SloMo (Jiang et al. 2018).
    """
    dis = dis_for(preset)
    return np.concatenate(flows_to_time(dis.calc(gray0, gray1, None), dis.calc(gray1, gray0, None), t), -1)


def flows_to_time(f01: FlowT, f10: FlowT, t: float) -> tuple[FlowT, FlowT]:
    """The flows from time ``t`` to frame 0 and to frame 1, from the flows frame 0 -> 1 and
    frame 1 -> 0 (any layout, numpy or torch): Super SloMo's linear-motion approximation."""
    return -(1 - t) * t * f01 + t * t * f10, (1 - t) ** 2 * f01 - t * (1 - t) * f10


def gray_u8(image: torch.Tensor) -> np.ndarray:
    """H x W uint8 grey (BT.601 luma) of a 3 x H x W RGB tensor in [0, 1], on the CPU."""
    r, g, b = image.float().clamp(0, 1).unbind(0)
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    return (luma * 255).round().to(torch.uint8).cpu().numpy()


def batch_time_flows(img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor, preset: str) -> torch.Tensor:
    """N x 4 x H x W starting flows (``time_flows``) for N x 3 x H x W frames in [0, 1] and
    an N-vector of times, on the frames' device."""
    flows = [
        time_flows(gray_u8(a), gray_u8(b), float(ti), preset) for a, b, ti in zip(img0, img1, t.flatten().tolist())
    ]
    return torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).to(img0.device)
