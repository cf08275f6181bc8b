"""DIS starting flows: the IFNet's flow convention, grey conversion, preset names."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from livefx.models.rife.dis import DIS_PRESETS, batch_time_flows, check_flow_init, gray_u8, time_flows
from livefx.models.train.data import skimage_image


def textured(shift: int) -> np.ndarray:
    """A 160 x 96 crop of a natural image, its content moved ``shift`` px to the left."""
    return np.ascontiguousarray(skimage_image("chelsea")[60:156, 80 + shift : 240 + shift])


@pytest.mark.parametrize("preset", sorted(DIS_PRESETS))
def test_a_pan_gives_the_ifnet_convention_at_the_middle(preset):
    g0, g1 = (cv2.cvtColor(textured(s), cv2.COLOR_RGB2GRAY) for s in (0, 4))
    flows = time_flows(g0, g1, 0.5, preset)
    assert flows.shape == (96, 160, 4) and flows.dtype == np.float32
    inner = flows[16:-16, 24:-24]
    # Content moves left by 4 px: at t = 0.5 it came from 2 px to the right in frame 0
    # (t->0 x = +2) and goes 2 px to the left in frame 1 (t->1 x = -2).
    assert abs(np.median(inner[..., 0]) - 2) < 0.5 and abs(np.median(inner[..., 2]) + 2) < 0.5
    assert abs(np.median(inner[..., 1])) < 0.5 and abs(np.median(inner[..., 3])) < 0.5


def test_flows_follow_the_timestep():
    g0, g1 = (cv2.cvtColor(textured(s), cv2.COLOR_RGB2GRAY) for s in (0, 8))
    inner = time_flows(g0, g1, 0.25, "dis-medium")[16:-16, 24:-24]
    assert abs(np.median(inner[..., 0]) - 2) < 0.75 and abs(np.median(inner[..., 2]) + 6) < 0.75


def test_grey_matches_opencv_and_batches_run_per_item():
    rgb = [textured(0), textured(6)]
    tensors = torch.stack([torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in rgb])
    assert np.abs(gray_u8(tensors[0]).astype(int) - cv2.cvtColor(rgb[0], cv2.COLOR_RGB2GRAY)).max() <= 1
    flows = batch_time_flows(tensors, tensors.flip(0), torch.tensor([0.5, 0.5]), "dis-fast")
    assert flows.shape == (2, 4, 96, 160) and flows.dtype == torch.float32
    # Each item is its own pair: the second is the first reversed, and moves the other way.
    inner = flows[..., 16:-16, 24:-24]
    assert abs(float(inner[0, 0].median()) - 3) < 0.5 and abs(float(inner[1, 0].median()) + 3) < 0.5


def test_an_unknown_source_is_refused_with_the_choices():
    check_flow_init("")
    with pytest.raises(ValueError, match="dis-fast"):
        check_flow_init("farneback")
