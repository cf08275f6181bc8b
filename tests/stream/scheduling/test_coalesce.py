"""Edits waiting for the helper thread merge: the latest value of each field wins."""

import threading
from concurrent.futures import CancelledError, ThreadPoolExecutor

import pytest

from livefx.stream.scheduling.coalesce import Coalescer


@pytest.fixture
def helper():
    """A one-thread helper and ``hold()``, which keeps it busy until the test ends or releases."""
    executor = ThreadPoolExecutor(max_workers=1)
    releases: list[threading.Event] = []

    def hold() -> threading.Event:
        started, release = threading.Event(), threading.Event()
        releases.append(release)
        executor.submit(lambda: (started.set(), release.wait(60)))
        assert started.wait(30)
        return release

    yield executor, hold
    for release in releases:
        release.set()
    executor.shutdown(wait=True, cancel_futures=True)


def test_edits_made_while_the_helper_is_busy_run_once_merged(helper):
    executor, hold = helper
    applied = []
    edits = Coalescer(executor, applied.append)
    release = hold()
    calls = [edits.submit(prompt="a green frog", strength=0.7), edits.submit(prompt="a grey owl", strength=None)]
    calls.append(edits.submit(seed=5))  # None: keep the older value; absent: likewise
    assert not any(call.done() for call in calls)
    release.set()
    for call in calls:
        call.result(timeout=30)
    assert applied == [{"prompt": "a grey owl", "strength": 0.7, "seed": 5}]


def test_an_edit_after_the_job_started_is_a_new_job(helper):
    executor, _ = helper
    started, release = threading.Event(), threading.Event()
    applied = []

    def apply(fields: dict) -> None:
        started.set()
        release.wait(60)
        applied.append(fields)

    edits = Coalescer(executor, apply)
    try:
        first = edits.submit(prompt="a")
        assert started.wait(30)  # running: its fields are taken, later edits cannot change them
        second = edits.submit(prompt="b")
    finally:
        release.set()
    first.result(timeout=30), second.result(timeout=30)
    assert applied == [{"prompt": "a"}, {"prompt": "b"}]


def test_a_caller_that_gives_up_leaves_the_others_and_later_edits_alone(helper):
    executor, hold = helper
    applied = []
    edits = Coalescer(executor, applied.append)
    release = hold()
    leaving, staying = edits.submit(prompt="x"), edits.submit(strength=0.3)
    assert leaving.cancel()  # e.g. a viewer that closed its page while its edit waited
    release.set()
    staying.result(timeout=30)
    edits.submit(prompt="y").result(timeout=30)
    assert applied == [{"prompt": "x", "strength": 0.3}, {"prompt": "y"}]


def test_a_sealed_batch_takes_no_more_edits(helper):
    executor, hold = helper
    order = []
    edits = Coalescer(executor, lambda fields: order.append(fields["prompt"]))
    release = hold()
    before = edits.submit(prompt="before the switch")
    edits.seal()
    executor.submit(order.append, "switch")
    after = edits.submit(prompt="after the switch")
    release.set()
    before.result(timeout=30), after.result(timeout=30)
    assert order == ["before the switch", "switch", "after the switch"]


def test_a_failing_job_fails_every_call_merged_into_it(helper):
    executor, hold = helper

    def apply(fields: dict) -> None:
        raise RuntimeError(f"out of memory encoding {fields['prompt']!r}")

    edits = Coalescer(executor, apply)
    release = hold()
    calls = [edits.submit(prompt="x"), edits.submit(prompt="y")]
    release.set()
    for call in calls:
        with pytest.raises(RuntimeError, match="encoding 'y'"):
            call.result(timeout=30)
    later = edits.submit(prompt="z")  # the next edit gets a job of its own
    assert "'z'" in str(later.exception(timeout=30))


def test_edits_waiting_when_the_helper_shuts_down_are_cancelled_not_left_hanging(helper):
    executor, hold = helper
    edits = Coalescer(executor, lambda fields: None)
    release = hold()
    waiting = edits.submit(prompt="x")
    executor.shutdown(wait=False, cancel_futures=True)  # what closing the pipeline does
    release.set()
    with pytest.raises(CancelledError):
        waiting.result(timeout=30)
    with pytest.raises(RuntimeError):
        edits.submit(prompt="y")  # refused at once, as the executor refuses work
