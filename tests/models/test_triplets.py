"""Interpolation training data: large, known motion; real shots at several strides."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from livefx.models.rife.ifnet import warp

triplets = pytest.importorskip("livefx.models.train.triplets")


def tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div(255)[None]


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    return triplets.training_images()


def test_synthetic_motion_reaches_48_px_and_its_flow_explains_the_middle_frame(images):
    rng = np.random.default_rng(0)
    samples = [triplets.synthetic_sample(images, rng, 160) for _ in range(120)]
    known = [s for s in samples if s.flow is not None]
    assert 0.6 < len(known) / len(samples) < 0.95  # wobbled samples have no flow label
    # Between the two input frames: the flow to frame 1 minus the flow to frame 0.
    travel = max(float(np.hypot(*(s.flow[..., 2:] - s.flow[..., :2]).transpose(2, 0, 1)).max()) for s in known)
    assert travel >= 44
    better = 0
    for s in known:
        mid, f0, f1 = tensor(s.middle), tensor(s.frame0), tensor(s.frame1)
        flow = torch.from_numpy(s.flow).permute(2, 0, 1)[None]
        moved = ((warp(f0, flow[:, :2]) - mid).abs().mean() + (warp(f1, flow[:, 2:]) - mid).abs().mean()) / 2
        still = ((f0 - mid).abs().mean() + (f1 - mid).abs().mean()) / 2
        better += bool(moved < still)
    assert better >= 0.9 * len(known)


def test_real_shots_are_split_at_cuts_and_sampled_at_strides(real_clip):
    shots = triplets.training_shots()
    # bikes.mp4's first 200 frames hold cuts after frames 29, 75, 136 and 186; bigbuckbunny none.
    assert [len(s) for s in shots] == [30, 46, 61, 50, 13, 100]
    flows = triplets.PseudoFlow(max_pairs=8)
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(40):
        s = triplets.strided_sample(shots, rng, flows)
        seen.add(s.name)
        assert s.flow is not None and s.flow_estimated and s.flow.shape == (*s.middle.shape[:2], 4)
        assert s.t in (0.5, 1 / 3, 2 / 3)
    assert seen == {"real/k1", "real/k2", "real/k3", "real/k4"}
    assert len(flows._cache) <= 8  # bounded


def test_pseudo_flow_is_trusted_where_it_explains_the_pixels():
    from livefx.models.train.pseudo_flow import PseudoFlow, consistent

    rng = np.random.default_rng(2)
    base = (np.kron(rng.random((12, 16, 3)), np.ones((8, 8, 1))) * 255).astype(np.uint8)  # 96x128 blocks
    frames = [np.roll(base, 3 * i, axis=1) for i in range(3)]  # a pan, 3 px a frame
    flows = PseudoFlow()
    to0, to1 = flows(0, frames, 1, 0), flows(0, frames, 1, 2)
    inner = (slice(16, -16), slice(16, -16))
    assert np.allclose(to0[inner][..., 0], -3, atol=0.5) and np.allclose(to1[inner][..., 0], 3, atol=0.5)
    flow = torch.from_numpy(np.concatenate([to0, to1], -1)).permute(2, 0, 1)[None]
    f0, mid, f1 = (tensor(f) for f in frames)
    assert consistent(f0, mid, f1, flow)[..., 16:-16, 16:-16].mean() > 0.95
    assert consistent(f0, mid, f1, -flow)[..., 16:-16, 16:-16].mean() < 0.5  # the wrong way round
