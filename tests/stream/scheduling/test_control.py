"""Live changes reach the worker through one bounded queue, applied between frames."""

import numpy as np
import pytest

from livefx.stream.errors import LivefxError
from livefx.stream.scheduling.control import ControlQueue, SetBudget, SetMotion
from livefx.stream.sources.synthetic import SyntheticSource

from ..helpers import Collect, SlowInvert, pipeline


def test_messages_apply_in_order_and_resolve_their_futures():
    queue, seen = ControlQueue(capacity=3), []
    futures = [queue.send(SetBudget(50)), queue.send(SetMotion(None)), queue.send(SetMotion(True))]
    assert not any(f.done() for f in futures)  # nothing happens until the worker drains
    assert queue.drain(seen.append) == 3
    assert seen == [SetBudget(50), SetMotion(None), SetMotion(True)]
    assert all(f.result(timeout=0) is None for f in futures)


def test_a_full_queue_refuses_instead_of_waiting_and_a_closed_one_fails_pending_senders():
    queue = ControlQueue(capacity=1)
    pending = queue.send(SetBudget(50))
    with pytest.raises(LivefxError, match="too many live changes"):
        queue.send(SetBudget(60)).result(timeout=0)
    queue.close("gone")
    with pytest.raises(LivefxError, match="gone"):
        pending.result(timeout=0)
    with pytest.raises(LivefxError, match="gone"):
        queue.send(SetBudget(70)).result(timeout=0)


def test_a_failing_change_reaches_its_sender_and_the_next_one_still_applies():
    queue = ControlQueue()
    bad, good = queue.send(SetBudget(-1)), queue.send(SetBudget(5))

    def apply(message):
        if message.ms <= 0:
            raise LivefxError("must be positive")

    queue.drain(apply)
    with pytest.raises(LivefxError, match="must be positive"):
        bad.result(timeout=0)
    assert good.result(timeout=0) is None


def test_the_worker_applies_changes_before_the_next_frame_and_refuses_them_after_the_end():
    sink = Collect()
    p = pipeline(SyntheticSource(64, 48, fps=30), [sink], SlowInvert(0), realtime=False, max_frames=5)
    p.open()
    budget = p.set_budget(250)
    invalid = p.set_budget(0)
    motion = p.set_motion(None)
    stats = p.run(log_every_s=0)
    assert budget.result(timeout=0) is None and motion.result(timeout=0) is None
    with pytest.raises(LivefxError, match="must be above 0 and at most 60000 ms"):
        invalid.result(timeout=0)
    assert stats["budget_ms"] == 250
    assert len(sink.frames) == 5
    source = SyntheticSource(64, 48, fps=30)
    source.open()
    for frame in sink.frames:  # every frame went through the stage
        image = source.read()[0].astype(int)
        assert np.abs(frame.image.astype(int) - (255 - image)).max() <= 1
    with pytest.raises(LivefxError, match="ended"):
        p.set_budget(100).result(timeout=1)
