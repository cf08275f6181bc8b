"""Scene cuts: found on real clips where they are, and nowhere else."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from livefx.models.cuts import CutDetector

clip_frames = pytest.importorskip("livefx.models.train.data").clip_frames


def tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).float().div(255)[None]


@pytest.fixture(scope="module")
def clips(real_clip) -> dict[str, list[np.ndarray]]:
    return {name: clip_frames(name) for name in ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")}


def test_the_cuts_of_a_real_clip_are_found_and_nothing_else(clips):
    detect = CutDetector()
    bikes = clips["bikes.mp4"]
    found = [i for i in range(len(bikes) - 1) if detect(tensor(bikes[i]), tensor(bikes[i + 1]))]
    assert found == [29, 75, 136, 186, 241]  # the five shot changes, by eye; the fast pans are not
    for name in ("bigbuckbunny.mp4", "carphone_pristine.mp4"):  # single shots, motion up to 4 frames apart
        frames = [tensor(f) for f in clips[name]]
        assert not [(i, k) for k in (1, 2, 4) for i in range(len(frames) - k) if detect(frames[i], frames[i + k])]
