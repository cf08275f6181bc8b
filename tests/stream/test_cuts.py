"""Scene cuts: found on real clips where they are, nowhere else, and held, not morphed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from livefx.models.registry import DEFAULT_RIFE
from livefx.models.rife import load_ifnet
from livefx.models.rife.stage import FlowStage
from livefx.stream.cuts import CutDetector
from livefx.stream.motion import MotionConfig, MotionStage
from livefx.stream.sources.base import Source

from .helpers import CPU, Collect, pipeline

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


class SplicedSource(Source):
    """Six frames of one clip, then six of another: one cut, after frame 5."""

    spec, fps = "spliced", 25.0

    def __init__(self, first: list[np.ndarray], second: list[np.ndarray]) -> None:
        h, w = first[0].shape[:2]
        self.frames = first[:6] + [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in second[:6]]
        self.n = 0

    @property
    def size(self):
        return self.frames[0].shape[1], self.frames[0].shape[0]

    def open(self):
        self.n = 0

    def read(self):
        if self.n >= len(self.frames):
            return None
        self.n += 1
        return self.frames[self.n - 1], (self.n - 1) / self.fps


def test_the_in_between_frame_at_a_cut_holds_the_last_shot_instead_of_morphing(clips):
    source = SplicedSource(clips["bikes.mp4"][40:], clips["bigbuckbunny.mp4"])
    sink = Collect()
    motion = MotionStage(FlowStage(load_ifnet(DEFAULT_RIFE), CPU, torch.float32, backend="eager"), MotionConfig(2))
    p = pipeline(source, [sink], None, motion, realtime=False)
    p.open()
    stats = p.run(log_every_s=0)
    assert stats["interpolation"]["scene_cuts"] == 1
    assert stats["interpolation"]["frames_interpolated"] == 10  # 11 pairs, one of them a cut
    images = [f.image for f in sink.frames]
    assert len(images) == 23
    # Output: frame0, (mid, frame)x5 of shot one, then the cut's slot, then shot two.
    last_of_first, slot, first_of_second = images[10], images[11], images[12]
    assert np.array_equal(slot, last_of_first)  # held, not a blend of two shots
    assert not np.array_equal(images[9], images[8])  # an ordinary slot is made, not held
    assert np.abs(first_of_second.astype(int) - last_of_first.astype(int)).mean() > 20  # it was a real cut
