"""Timeline: capture stamps to sample positions, across pauses and stamps that go back."""

from __future__ import annotations

import numpy as np
import pytest

from livefx.stream.audio.timeline import Timeline

RATE = 48_000
MS = 1_000_000
T0 = 10**12


def at(timeline: Timeline, *ms: float, end: int) -> tuple[list[float], list[int]]:
    pos, bound = timeline.positions(T0 - timeline.origin + np.array(ms) * MS, end)
    return pos.tolist(), bound.tolist()


def test_one_timeline_maps_time_to_samples_and_ends_with_them():
    timeline = Timeline(RATE)
    for k in range(3):
        timeline.place(T0 + k * 10 * MS, k * 480)
    pos, bound = at(timeline, -1, 0, 15, 29.99, 40, end=1440)
    assert pos[1:4] == pytest.approx([0, 720, 1439.52]) and bound[0] == -1
    assert bound[3] == 1440 and pos[4] == 1920 and bound[4] == 1440  # the last 10 ms came; not 40 ms


def test_a_pause_breaks_the_timeline():
    timeline = Timeline(RATE)
    timeline.place(T0, 0)
    timeline.place(T0 + 500 * MS, 480)  # 490 ms later than the first chunk's end
    assert timeline.resets == 1
    pos, bound = at(timeline, 5, 100, 500, end=960)
    assert pos == [240, 4800, 480]
    assert bound == [480, 480, 960]  # 100 ms: past the first chunk, nothing


def test_stamps_that_go_back_start_over_from_the_newer_sound():
    timeline = Timeline(RATE)
    for k in range(5):
        timeline.place(T0 + k * 10 * MS, k * 480)
    timeline.place(T0 - 200 * MS, 2400)
    assert timeline.resets == 1 and timeline.origin == T0 - 200 * MS
    pos, _ = at(timeline, -200, 0, end=2880)
    assert pos[0] == 2400


def test_forgotten_samples_take_their_anchors_along():
    timeline = Timeline(RATE)
    for k in range(100):
        timeline.place(T0 + k * 10 * MS, k * 480)
    timeline.forget_before(50 * 480)
    assert timeline.origin == T0 + 500 * MS and len(timeline._anchors) == 50
