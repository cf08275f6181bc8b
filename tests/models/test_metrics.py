"""PSNR and SSIM on cases with known answers."""

import torch

from models.train.metrics import psnr, ssim


def test_psnr_and_ssim_are_right_on_known_cases():
    a = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert psnr(a, a) == 99.0
    assert abs(psnr(a, (a + 0.1).clamp(0, 1)) - 20.0) < 0.6  # mse ~0.01 -> ~20 dB
    assert abs(ssim(a, a) - 1.0) < 1e-6
    assert ssim(a, torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))) < 0.2
