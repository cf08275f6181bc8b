"""In-between frame placement, without threads or clocks."""

from fractions import Fraction

import numpy as np
import pytest

from livefx.stream.frame import Frame
from livefx.stream.scheduling.emit import emit

TB = Fraction(1, 90_000)


def frame(seq: int, pts: int, value: int) -> Frame:
    return Frame(seq, t_capture=0, pts=pts, image=np.full((2, 2, 3), value, np.uint8), time_base=TB)


def test_without_interpolation_the_frame_goes_out_alone():
    out = emit(frame(0, 0, 1), frame(1, 3000, 2), np.zeros((2, 2, 3), np.uint8), [], factor=1)
    assert [f.pts for f in out.frames] == [3000] and out.inherent_wait_ms is None


def test_in_betweens_go_first_evenly_spaced_and_the_real_frame_waits_two_thirds_of_an_interval():
    last, new = frame(0, 0, 0), frame(1, 3000, 90)
    between = [np.full((2, 2, 3), 30, np.uint8), np.full((2, 2, 3), 60, np.uint8)]
    out = emit(last, new, new.image, between, factor=3)
    assert [f.pts for f in out.frames] == [1000, 2000, 3000]
    assert [int(f.image[0, 0, 0]) for f in out.frames] == [30, 60, 90]
    step_ns = round(1000 / 90_000 * 1e9)
    assert [f.gap_ns for f in out.frames] == [0, step_ns, step_ns]
    assert (out.interpolated, out.held) == (2, 0)
    assert out.inherent_wait_ms == pytest.approx(1000 / 30 * 2 / 3)


def test_a_skipped_flow_holds_the_previous_output_in_every_slot():
    last, new = frame(0, 0, 7), frame(1, 3000, 9)
    out = emit(last, new, new.image, [], factor=2)
    assert [int(f.image[0, 0, 0]) for f in out.frames] == [7, 9]
    assert (out.interpolated, out.held) == (0, 1)


@pytest.mark.parametrize("last", [None, frame(5, 3000, 0)])
def test_no_previous_output_or_no_forward_time_emits_only_the_frame(last):
    out = emit(last, frame(6, 3000, 1), np.zeros((2, 2, 3), np.uint8), [], factor=2)
    assert len(out.frames) == 1 and out.frames[0].gap_ns == 0
