"""Post-processing steps: the kept marker region and drawn labels, never on the input."""

import numpy as np

from livefx.stream.frame import Frame
from livefx.stream.stages.actions import LabelEvent
from livefx.stream.stages.post import DrawLabels, Processed


def frame(value: int = 10) -> Frame:
    return Frame(seq=0, t_capture=0, pts=0, image=np.full((48, 64, 3), value, np.uint8))


class Latest:
    def __init__(self, event):
        self.latest = event


def test_draw_labels_writes_on_a_copy_of_a_passed_through_frame():
    f = frame(10)
    passed_through = Processed(f.image, [], {})
    step = DrawLabels(Latest(None))
    assert step(f, passed_through).image is f.image  # no labels yet: nothing drawn
    step.actions.latest = LabelEvent(t=1.0, span=(0.5, 1.0), labels=[("waving", 0.9)])
    out = step(f, passed_through)
    assert (f.image == 10).all()  # the input, which the action clips read, is untouched
    changed = np.argwhere((out.image != 10).any(axis=2))
    assert len(changed) > 50 and changed[:, 0].min() > 48 // 2  # text in the bottom-left corner
    assert changed[:, 1].max() < 64
