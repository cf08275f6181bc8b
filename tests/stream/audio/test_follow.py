"""LatencyFollower: jitter leaves the target still, a real change moves it."""

from __future__ import annotations

import numpy as np
import pytest

from livefx.stream.audio.follow import LatencyFollower


def test_jitter_does_not_move_the_target():
    follower = LatencyFollower()
    rng = np.random.default_rng(3)
    targets = {follower.add(100 + rng.uniform(-5, 5)) for _ in range(3000)}  # 100 s of frames at 30 fps
    assert follower.moves == 0 and len(targets) == 1
    assert abs(follower.target_ms - 100) <= 5


def test_a_real_change_moves_it_once_within_half_a_window():
    follower = LatencyFollower(window=31)
    for _ in range(100):
        follower.add(80.0)
    seen = [follower.add(140.0) for _ in range(31)]
    assert follower.moves == 1 and follower.target_ms == 140.0
    assert seen.index(140.0) == 15  # the median turns at the 16th sample
    assert len(set(seen)) == 2  # no steps in between: the delay glides once


def test_one_late_frame_is_ignored_and_bad_samples_are_skipped():
    follower = LatencyFollower()
    assert follower.add(float("nan")) is None and follower.add(-1.0) is None
    for _ in range(20):
        follower.add(90.0)
    follower.add(2000.0)  # a single stall
    assert follower.target_ms == 90.0 and follower.moves == 0


def test_it_refuses_a_window_of_nothing():
    with pytest.raises(ValueError, match="window >= 1"):
        LatencyFollower(window=0)
