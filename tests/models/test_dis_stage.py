"""DIS as a live motion stage: the IFNet stage's conventions, one DIS pair for every time."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from livefx.models.rife import dis
from livefx.models.rife.dis import PRESET_FINEST
from livefx.models.rife.dis_stage import DisFlowStage, finest_scale_for
from livefx.models.train.data import skimage_image


def pan(shift: int, size: tuple[int, int] = (120, 200)) -> tuple[torch.Tensor, torch.Tensor]:
    """Two crops of a natural image, the second's content moved ``shift`` px to the left."""
    h, w = size
    image = torch.from_numpy(np.ascontiguousarray(skimage_image("astronaut"))).permute(2, 0, 1).float() / 255
    return image[None, :, 100 : 100 + h, 60 : 60 + w], image[None, :, 100 : 100 + h, 60 + shift : 60 + shift + w]


def inner(x: torch.Tensor) -> torch.Tensor:
    return x[..., 30:-30, 60:-60]


@pytest.mark.parametrize("preset", ["dis-fast", "dis-medium"])
def test_a_24px_pan_is_recovered_at_the_midpoint(preset):
    f0, f1 = pan(24)
    result = DisFlowStage(preset)(f0, f1, 0.5)
    flow = inner(result.flow)
    # Content moves 24 px left: at t = 0.5 it came from 12 px right in frame 0, goes 12 px left.
    assert abs(float(flow[0, 0].median()) - 12) < 2 and abs(float(flow[0, 2].median()) + 12) < 2
    assert float(flow[0, 1::2].abs().median()) < 1
    assert torch.equal(result.mask, torch.full_like(result.mask, 0.5))
    # The frame made is the true middle (a 12 px shift), far closer than the plain blend.
    truth = pan(12)[1]
    made, blend = (float((inner(x) - inner(truth)).abs().mean()) for x in (result.frame, (f0 + f1) / 2))
    assert made < blend / 3


def test_flow_found_at_half_size_is_returned_in_full_size_pixels():
    f0, f1 = pan(16)
    result = DisFlowStage("dis-fast")(f0, f1, 0.5, scale=0.5)
    assert result.flow.shape[-2:] == f0.shape[-2:]
    assert abs(float(inner(result.flow)[0, 0].median()) - 8) < 1.5


def test_the_mask_and_flows_follow_the_timestep():
    f0, f1 = pan(16)
    result = DisFlowStage("dis-fast")(f0, f1, 0.25)
    assert torch.equal(result.mask, torch.full_like(result.mask, 0.75))
    flow = inner(result.flow)
    assert abs(float(flow[0, 0].median()) - 4) < 1.5 and abs(float(flow[0, 2].median()) + 12) < 1.5


def test_several_times_share_one_dis_pair(monkeypatch):
    calls = []
    real = dis.dis_for

    def counting(preset, finest=None):
        calls.append(preset)
        return real(preset, finest)

    monkeypatch.setattr("livefx.models.rife.dis_stage.dis_for", counting)
    f0, f1 = pan(8)
    scale, passes = DisFlowStage("dis-fast").passes(f0, f1, [0.25, 0.5, 0.75], 1.0)
    assert scale == 1.0 and sorted(passes) == [0.25, 0.5, 0.75] and len(calls) == 1
    assert all(torch.equal(p.mask, torch.full_like(p.mask, 1 - t)) for t, p in passes.items())
    # The engine uses only the flow and mask: the frame is not moved (two warps saved).
    assert torch.allclose(passes[0.25].frame, 0.75 * f0 + 0.25 * f1)


def test_an_unknown_preset_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="dis-fast"):
        DisFlowStage("farneback")


def test_small_frames_get_a_finer_dis_level_than_the_preset():
    # The preset's own level keeps at least MIN_FINEST_WIDTH px across; smaller frames go finer.
    assert [finest_scale_for(w, "dis-fast") for w in (1280, 320, 176, 100, 64)] == [2, 2, 1, 0, 0]
    assert [finest_scale_for(w, "dis-medium") for w in (1280, 176, 100)] == [1, 1, 0]
    for preset, finest in PRESET_FINEST.items():  # the table matches OpenCV's presets
        assert cv2.DISOpticalFlow_create(dis.DIS_PRESETS[preset]).getFinestScale() == finest


def test_the_stage_runs_dis_at_the_level_chosen_for_the_size_it_works_at(monkeypatch):
    used = []
    real = dis.dis_for
    monkeypatch.setattr("livefx.models.rife.dis_stage.dis_for", lambda p, f=None: used.append(f) or real(p, f))
    f0, f1 = pan(8, size=(120, 176))
    DisFlowStage("dis-fast")(f0, f1, 0.5)
    DisFlowStage("dis-fast")(f0, f1, 0.5, scale=0.5)  # found at 88 px across
    assert used == [1, 0]
    assert real("dis-fast", 1).getFinestScale() == 1 and real("dis-fast").getFinestScale() == 2
