"""The last styled frame carried to a newer frame by the motion between their inputs."""

import numpy as np
import pytest

from livefx.stream.stages.carry import FrameCarry

from ..helpers import shifted, texture


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * np.log10(255**2 / max(np.mean((a.astype(float) - b.astype(float)) ** 2), 1e-12))


@pytest.mark.parametrize("size", [(240, 320), (480, 640)])  # the motion found at full size, then on a shrunk grey
def test_a_moved_frame_gets_the_styled_key_frame_moved_the_same_way(size):
    h, w = size
    source, styled = texture(h, w, 0), texture(h, w, 1)  # the "effect" is any picture of the source
    carry = FrameCarry()
    carry.remember(source, styled)
    out = carry.carry(shifted(source, 6, -4))
    assert out is not None and out.shape == styled.shape and out.dtype == np.uint8
    truth, inner = shifted(styled, 6, -4), (slice(16, -16), slice(16, -16))
    # Far closer to the styled picture moved than to the key frame shown again (the baseline).
    assert psnr(out[inner], truth[inner]) > psnr(styled[inner], truth[inner]) + 10
    assert psnr(out[inner], truth[inner]) > 30
    assert carry.since_key == 1 and carry.refused == 0


def test_the_key_frame_is_kept_as_a_copy():
    source, styled = texture(240, 320, 0), texture(240, 320, 1)
    carry = FrameCarry()
    carry.remember(source, styled)
    kept = styled.copy()
    styled[:] = 0  # post steps draw on the frame the chain returned
    out = carry.carry(source)
    assert out is not None and psnr(out, kept) > 40


def test_a_cut_is_refused_and_forgets_the_key_frame():
    carry = FrameCarry()
    carry.remember(texture(240, 320, 0), texture(240, 320, 1))
    assert carry.carry(texture(240, 320, 2)) is None  # another scene: the motion explains nothing
    assert carry.refused == 1 and not carry.holds((240, 320, 3))


def test_motion_faster_than_the_limit_is_refused():
    source = texture(240, 320, 0)
    slow, fast = FrameCarry(), FrameCarry()
    for carry in (slow, fast):
        carry.remember(source, texture(240, 320, 1))
    # 5% of 320 px is 16 px a frame: 8 px is carried, 30 px is not (bikes.mp4's pans smeared)
    assert slow.carry(shifted(source, 8, 0)) is not None
    assert fast.carry(shifted(source, 30, 0)) is None and fast.refused == 1


def test_nothing_is_carried_across_sizes_or_without_a_key_frame():
    carry = FrameCarry()
    assert carry.carry(texture(240, 320)) is None
    carry.remember(texture(240, 320, 0), texture(240, 320, 1))
    assert not carry.holds((480, 640, 3))
    assert carry.carry(texture(480, 640)) is None and carry.refused == 0
    carry.reset()
    assert carry.carry(texture(240, 320, 0)) is None
