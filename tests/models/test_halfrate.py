"""The half-rate harness's pieces: clips shrunk to a width, and its ceiling method."""

import numpy as np
import torch

from livefx.models.train.common import to_tensor
from livefx.models.train.data import skimage_image
from livefx.models.train.halfrate import ceiling, fit_width
from livefx.models.train.metrics import psnr
from livefx.models.train.train_rife import linear_blend

CPU = torch.device("cpu")


def test_wide_frames_shrink_to_the_width_keeping_their_shape():
    wide = np.zeros((720, 1280, 3), np.uint8)
    assert fit_width(wide, 320).shape == (180, 320, 3)
    small = np.zeros((144, 176, 3), np.uint8)
    assert fit_width(small, 320) is small and fit_width(wide, None) is wide


def test_the_ceiling_rebuilds_a_pan_from_the_true_middle_frame():
    image = skimage_image("chelsea")[:200, :280]
    f0, truth, f1 = (np.ascontiguousarray(image[:, 12 - s : 268 - s]) for s in (0, 5, 10))  # 5 px a frame
    inner = (slice(8, -8), slice(16, -16))  # away from the edges the pan uncovers

    def score(frame: np.ndarray) -> float:
        return psnr(to_tensor(frame[inner], CPU), to_tensor(truth[inner], CPU))

    assert score(ceiling(f0, truth, f1)) > score(linear_blend(f0, f1, 0.5)) + 6
