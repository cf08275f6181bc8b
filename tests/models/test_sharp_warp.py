"""Bicubic output warping: the same values on either path, exact at whole pixels, and
sharper than bilinear sampling at sub-pixel offsets."""

import math

import torch

from livefx.models.rife.ifnet import warp
from livefx.models.rife.sharp_warp import sharp_warp


def stripes(h: int, w: int, shift_x: float = 0.0) -> torch.Tensor:
    """1 x 3 x H x W fine vertical stripes (period 3 px), sampled at x + ``shift_x``."""
    x = torch.arange(w, dtype=torch.float32) + shift_x
    row = 0.5 + 0.4 * torch.sin(2 * math.pi * x / 3.0)
    return row.view(1, 1, 1, w).expand(1, 3, h, w).contiguous()


def test_the_cpu_path_matches_the_grid_sample_path():
    gen = torch.Generator().manual_seed(0)
    image = torch.rand((2, 3, 24, 32), generator=gen)
    flow = torch.randn((2, 2, 24, 32), generator=gen) * 3
    opencv = sharp_warp(image, flow)  # float32 on the CPU: OpenCV remap
    torch_path = sharp_warp(image.double(), flow).float()  # other dtypes: grid_sample bicubic
    assert opencv.shape == image.shape
    assert (opencv - torch_path).abs().max() < 1e-3


def test_whole_pixel_moves_are_exact():
    gen = torch.Generator().manual_seed(1)
    image = torch.rand((1, 3, 16, 20), generator=gen)
    assert torch.allclose(sharp_warp(image, torch.zeros(1, 2, 16, 20)), image, atol=1e-5)
    flow = torch.zeros(1, 2, 16, 20)
    flow[:, 0] = 2.0  # out(p) = image(p + 2 px right)
    assert torch.allclose(sharp_warp(image, flow)[..., :-2], image[..., 2:], atol=1e-5)


def test_half_pixel_moves_keep_detail_that_bilinear_sampling_blurs():
    image, truth = stripes(8, 64), stripes(8, 64, shift_x=0.5)
    flow = torch.zeros(1, 2, 8, 64)
    flow[:, 0] = 0.5
    inner = (..., slice(4, -4))  # away from the replicated borders
    bicubic = (sharp_warp(image, flow) - truth)[inner].abs().mean()
    bilinear = (warp(image, flow) - truth)[inner].abs().mean()
    assert bicubic < 0.5 * bilinear
