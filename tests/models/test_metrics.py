"""PSNR, SSIM, the style score and the flicker measure on cases with known answers."""

import numpy as np
import pytest
import torch

from livefx.models.train.data import skimage_image
from livefx.models.train.metrics import (
    box_blur3,
    colour_grade_floor,
    psnr,
    quantize,
    ssim,
    style_report,
    warping_error,
)


def test_psnr_and_ssim_are_right_on_known_cases():
    a = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert psnr(a, a) == 99.0
    assert abs(psnr(a, (a + 0.1).clamp(0, 1)) - 20.0) < 0.6  # mse ~0.01 -> ~20 dB
    assert abs(ssim(a, a) - 1.0) < 1e-6
    assert ssim(a, torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))) < 0.2


def _smooth_picture(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.interpolate(torch.rand(1, 3, 12, 16, generator=g), size=(48, 64), mode="bilinear")


def test_colour_grade_floor_recovers_a_quadratic_grade_exactly():
    x = _smooth_picture()
    r, g, b = x[0]
    graded = torch.stack([0.2 + 0.5 * r * r, 0.9 * g - 0.3 * r * b + 0.1, 0.4 * b + 0.3 * g * g]).unsqueeze(0)
    assert psnr(colour_grade_floor(x, graded), graded) > 60


def test_style_score_is_zero_for_a_colour_grade_and_one_for_the_teacher_on_a_blurred_input():
    torch.manual_seed(0)
    teacher = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 5, padding=2), torch.nn.Sigmoid())  # a texture-making "style"
    frames = [(f"f{i}", (_smooth_picture(i)[0].permute(1, 2, 0) * 255).round().byte().numpy()) for i in range(3)]
    with torch.no_grad():
        graded = style_report(frames, teacher, lambda x: colour_grade_floor(x, quantize(teacher(x))))
        blurred = style_report(frames, teacher, lambda x: teacher(box_blur3(x)))
        itself = style_report(frames, teacher, teacher)
    assert graded["score"] == pytest.approx(0.0, abs=1e-9)
    assert blurred["score"] == pytest.approx(1.0, abs=1e-9)
    assert itself["score"] > 1 and itself["psnr_mean"] == 99.0
    assert graded["frames"] == 3 and graded["psnr_worst"] <= graded["psnr_mean"]
    assert set(graded["per_frame"][0]) == {"frame", "psnr", "ssim", "floor_psnr", "ceiling_psnr"}


@pytest.mark.parametrize("judge", ["dis-medium", "farneback"])
def test_warping_error_is_low_for_output_that_moves_with_the_input_and_high_for_flicker(judge):
    image = np.ascontiguousarray(skimage_image("astronaut")[100:244, 60:316])
    inputs = [np.ascontiguousarray(np.roll(image, 3 * k, axis=1)[:, 40:216]) for k in range(4)]
    flicker = [np.clip(f.astype(int) + (40 if k % 2 else -40), 0, 255).astype(np.uint8) for k, f in enumerate(inputs)]
    steady = warping_error(inputs, inputs, judge)
    assert steady < 0.03 and warping_error(flicker, inputs, judge) > steady + 0.2


def test_an_unknown_flicker_judge_is_refused_with_the_choices():
    frames = [np.zeros((8, 8, 3), np.uint8)] * 2
    with pytest.raises(ValueError, match="farneback"):
        warping_error(frames, frames, "lucas-kanade")
