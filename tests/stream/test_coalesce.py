"""Edits waiting for the helper thread merge: the latest value of each field wins."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from livefx.stream.coalesce import Coalescer


@pytest.fixture
def helper():
    executor = ThreadPoolExecutor(max_workers=1)
    yield executor
    executor.shutdown(wait=True, cancel_futures=True)


def held(helper):
    """A job that keeps the helper busy until the returned event is set."""
    started, release = threading.Event(), threading.Event()

    def busy() -> None:
        started.set()
        release.wait(60)

    helper.submit(busy)
    assert started.wait(30)
    return release


def test_edits_made_while_the_helper_is_busy_run_once_merged(helper):
    applied = []
    edits = Coalescer(helper, applied.append)
    release = held(helper)
    first = edits.submit(prompt="a green frog", strength=0.7)
    second = edits.submit(prompt="a grey owl", strength=None)  # None: keep the older strength
    third = edits.submit(seed=5)
    assert first is second is third and not first.done()
    release.set()
    first.result(timeout=30)
    assert applied == [{"prompt": "a grey owl", "strength": 0.7, "seed": 5}]
    assert edits.merged == 2


def test_an_edit_after_the_job_started_is_a_new_job(helper):
    started, release = threading.Event(), threading.Event()
    applied = []

    def apply(fields: dict) -> None:
        started.set()
        release.wait(60)
        applied.append(fields)

    edits = Coalescer(helper, apply)
    first = edits.submit(prompt="a")
    assert started.wait(30)  # running: its fields are taken, later edits cannot change them
    second = edits.submit(prompt="b")
    assert second is not first
    release.set()
    first.result(timeout=30), second.result(timeout=30)
    assert applied == [{"prompt": "a"}, {"prompt": "b"}]
    assert edits.merged == 0


def test_a_failing_job_fails_every_call_merged_into_it(helper):
    def apply(fields: dict) -> None:
        raise RuntimeError(f"out of memory encoding {fields['prompt']!r}")

    edits = Coalescer(helper, apply)
    release = held(helper)
    calls = [edits.submit(prompt="x"), edits.submit(prompt="y")]
    release.set()
    for call in calls:
        with pytest.raises(RuntimeError, match="encoding 'y'"):
            call.result(timeout=30)
    later = edits.submit(prompt="z")  # the next edit gets a job of its own
    assert later is not calls[0] and "'z'" in str(later.exception(timeout=30))
