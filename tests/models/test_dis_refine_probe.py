"""The DIS-refinement probe speaks the IFNet's flow convention."""

import numpy as np
import torch

from livefx.models.rife.ifnet import IFNet, IFNetConfig
from livefx.models.train.dis_refine_probe import refine_dis
from livefx.models.train.train_rife import dis_flow


def textured(shift: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = (rng.random((48, 96, 3)) * 255).astype(np.uint8)
    base = np.repeat(np.repeat(base, 2, 0), 2, 1)[:, :96]  # 2x2 texels: DIS can follow them
    return np.roll(base, shift, axis=1)[:48, 8:88].copy()


def test_with_no_block_left_the_probe_is_dis_bidirectional_warping():
    torch.manual_seed(0)
    model = IFNet(IFNetConfig(channels=(16, 16, 16, 16))).eval()
    f0, f1 = textured(0), textured(4)
    with torch.inference_mode():
        probe = refine_dis(model, first_block=len(model.blocks))(f0, f1, 0.5).astype(float)
    reference = dis_flow(f0, f1, 0.5).astype(float)
    assert np.abs(probe - reference).mean() < 1.0  # the same flows, the same warp, an even mask
    assert np.abs(probe - (f0.astype(float) + f1) / 2).mean() > 5 * np.abs(probe - reference).mean()
