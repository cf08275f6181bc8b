import subprocess
import sys
import threading

import pytest
import torch

import livefx.stream.scheduling.worker as worker_module
from livefx.stream.scheduling.core_share import CoreShares
from livefx.stream.sources.synthetic import SyntheticSource

from ..helpers import Collect, SlowInvert, pipeline, wait_until


def test_the_cores_are_split_evenly_and_every_worker_keeps_one():
    shares = CoreShares(4)
    assert shares.share() == 4  # alone (or before any worker joins): the whole machine
    shares.join()
    assert shares.share() == 4
    shares.join()
    assert shares.share() == 2
    for _ in range(4):
        shares.join()
    assert shares.workers == 6 and shares.share() == 1  # more streams than cores: one each
    for _ in range(5):
        shares.leave()
    assert shares.share() == 4


def test_a_share_is_applied_only_when_it_changes():
    applied = []
    shares = CoreShares(2, applied.append)
    shares.join()
    current = shares.apply(None)
    assert current == 2 and shares.apply(current) == 2 and applied == [2]
    shares.join()
    assert shares.apply(current) == 1 and applied == [2, 1]
    assert CoreShares(2).apply(None) is None  # no OpenMP runtime to set: nothing applied


def test_the_cores_are_torchs_thread_count_when_the_first_worker_joins():
    # e.g. `python -m bench --threads 1`: set after import, it must hold for the workers.
    before = torch.get_num_threads()
    shares = CoreShares(None)
    try:
        torch.set_num_threads(1)
        shares.join()
        assert shares.cores == 1 and shares.share() == 1
    finally:
        torch.set_num_threads(before)


def test_a_worker_takes_its_share_on_its_own_thread_and_widens_when_a_stream_stops(monkeypatch):
    applied = []
    shares = CoreShares(4, lambda n: applied.append((threading.current_thread().name, n)))
    monkeypatch.setattr(worker_module, "CPU_SHARES", shares)
    shares.join()  # another stream's worker is running
    sink = Collect()
    # Four threads asked for (a tuned worker starts at one): the share is what caps them.
    p = pipeline(SyntheticSource(64, 48, fps=30), [sink], SlowInvert(0), max_frames=100000, threads=4)
    p.open()
    with p:
        wait_until(lambda: len(sink.frames) > 3, "frames")
        assert shares.workers == 2 and applied[0] == ("livefx-worker", 2)
        shares.leave()  # the other stream stopped
        wait_until(lambda: len(applied) == 2, "the worker to widen its team")
        assert applied[1] == ("livefx-worker", 4)
        p.stop()
        p.join(log_every_s=0)
    assert shares.workers == 0  # the worker left when it ended


# A fresh interpreter: libgomp's per-thread team size, set as core_share does, is what torch
# uses on that thread, and the rest of the process keeps its own.
PER_THREAD_PROBE = """
import threading, torch
from livefx.stream.scheduling.core_share import _openmp_setter
setter = _openmp_setter()
assert setter is not None, "libgomp is not loaded"
seen = {}
def narrow():
    setter(1)
    seen["thread"] = torch.get_num_threads()
t = threading.Thread(target=narrow)
t.start()
t.join()
print(seen["thread"], torch.get_num_threads())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="libgomp is PyTorch's OpenMP on Linux")
@pytest.mark.skipif(torch.get_num_threads() < 2, reason="one torch thread: nothing to share")
def test_a_thread_narrows_its_own_openmp_team_only():
    out = subprocess.run([sys.executable, "-c", PER_THREAD_PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    narrowed, rest = map(int, out.stdout.split())
    assert narrowed == 1 and rest == torch.get_num_threads()
