import subprocess
import sys
import threading

import pytest
import torch

from livefx.models.stage import Stage
from livefx.stream.scheduling.own_thread import run_on_own_thread
from livefx.stream.sources.synthetic import SyntheticSource

from ..helpers import CPU, Collect, pipeline


def test_the_work_runs_on_a_named_thread_that_has_ended_and_its_result_comes_back():
    seen = []
    result = run_on_own_thread(lambda: seen.append(threading.current_thread()) or 42, "livefx-test-work")
    assert result == 42
    (thread,) = seen
    assert thread is not threading.current_thread() and thread.name == "livefx-test-work"
    assert not thread.is_alive()


def test_what_the_work_raises_reaches_the_caller():
    boom = ValueError("corrupt weights")

    def work():
        raise boom

    with pytest.raises(ValueError) as caught:
        run_on_own_thread(work, "livefx-test-work")
    assert caught.value is boom


# A fresh interpreter: counts its threads around torch work on the calling thread and on a
# thread of its own. libgomp keeps a helper thread per thread that ran a parallel region.
OPENMP_PROBE = """
import os, time, torch
from livefx.stream.scheduling.own_thread import run_on_own_thread

def threads():
    return len(os.listdir("/proc/self/task"))

def work():
    x = torch.rand(64, 256, 256)
    for _ in range(3):
        x = torch.relu(x * 1.01)

def settled(expected):
    for _ in range(500):  # the helper leaves a moment after its thread
        if threads() == expected:
            break
        time.sleep(0.01)
    return threads()

start = threads()
run_on_own_thread(work, "probe")
after_own = settled(start)
work()
after_calling = threads()
print(start, after_own, after_calling)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads in /proc (Linux)")
@pytest.mark.skipif(torch.get_num_threads() < 2, reason="one torch thread: OpenMP starts no helper threads")
def test_model_work_on_its_own_thread_leaves_no_openmp_helper_behind():
    # The premise of own_thread (see its docstring): the calling thread keeps a helper.
    out = subprocess.run([sys.executable, "-c", OPENMP_PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    start, after_own, after_calling = map(int, out.stdout.split())
    assert after_own == start
    assert after_calling > start


class ThreadRecording(Stage):
    """Inverts; records the thread of every call."""

    name = "recording"

    def __init__(self) -> None:
        super().__init__(CPU, torch.float32)
        self.threads: list[threading.Thread] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.threads.append(threading.current_thread())
        return 1.0 - x


def test_warm_up_runs_no_model_on_the_thread_that_opens_the_stream():
    stage = ThreadRecording()
    p = pipeline(SyntheticSource(64, 48, fps=30), [Collect()], stage, max_frames=3)
    p.open()
    assert stage.threads, "the stage was warmed up"
    assert threading.current_thread() not in stage.threads
    assert not any(t.is_alive() for t in stage.threads)
    stage.threads.clear()
    p.run(log_every_s=0)
    assert {t.name for t in stage.threads} == {"livefx-worker"}  # frames: on the worker only
