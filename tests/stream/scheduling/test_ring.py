import threading

import numpy as np
import pytest

from livefx.stream.frame import Frame
from livefx.stream.scheduling.ring import ReadPolicy, Ring, RingClosed


def frame(seq: int) -> Frame:
    return Frame(seq=seq, t_capture=seq, pts=seq, image=np.zeros((2, 2, 3), np.uint8))


def test_newest_reader_jumps_to_newest_and_counts_skips():
    ring = Ring(4)
    reader = ring.reader()
    for i in range(3):
        ring.push(frame(i))
    assert reader.get(timeout=0).seq == 2
    assert reader.skipped == 2
    assert reader.get(timeout=0) is None  # nothing new


def test_wrap_around_overwrites_oldest_and_counts_unread():
    ring = Ring(3)
    reader = ring.reader(ReadPolicy.IN_ORDER)
    for i in range(7):
        ring.push(frame(i))
    assert ring.overwritten_unread == 4
    assert [reader.get(timeout=0).seq for _ in range(3)] == [4, 5, 6]
    assert reader.skipped == 4


def test_producer_never_blocks_without_readers_or_with_slow_ones():
    ring = Ring(2)
    ring.reader()
    for i in range(1000):
        ring.push(frame(i))  # would hang if push waited
    assert ring.pushed == 1000


def test_window_returns_last_n_in_order():
    ring = Ring(8)
    for i in range(11):
        ring.push(frame(i))
    assert [f.seq for f in ring.window(5)] == [6, 7, 8, 9, 10]
    assert [f.seq for f in ring.window(8)] == list(range(3, 11))
    with pytest.raises(ValueError):
        ring.window(9)


def test_window_before_full_returns_what_exists():
    ring = Ring(8)
    ring.push(frame(0))
    ring.push(frame(1))
    assert [f.seq for f in ring.window(5)] == [0, 1]


def test_close_drains_then_raises():
    ring = Ring(4)
    reader = ring.reader(ReadPolicy.IN_ORDER)
    ring.push(frame(0))
    ring.push(frame(1))
    ring.close()
    assert reader.get().seq == 0
    assert reader.get().seq == 1
    with pytest.raises(RingClosed):
        reader.get()
    with pytest.raises(RingClosed):
        ring.push(frame(2))


def test_lossless_ring_waits_for_readers_and_loses_nothing():
    ring = Ring(2, lossless=True)
    reader = ring.reader(ReadPolicy.IN_ORDER)
    got = []

    def consume():
        while True:
            try:
                f = reader.get(timeout=1)
            except RingClosed:
                return
            if f is not None:  # None: a second with nothing new (a busy machine), keep reading
                got.append(f.seq)

    t = threading.Thread(target=consume)
    t.start()
    for i in range(200):
        ring.push(frame(i))
    ring.close()
    t.join(5)
    assert got == list(range(200))
    assert ring.overwritten_unread == 0


def test_detached_reader_no_longer_holds_a_lossless_producer():
    ring = Ring(1, lossless=True)
    reader = ring.reader()
    ring.push(frame(0))
    reader.close()
    ring.push(frame(1))  # would wait forever if the closed reader still counted
    assert ring.pushed == 2


def test_concurrent_producer_and_newest_consumer():
    ring = Ring(4)
    reader = ring.reader()
    seen: list[int] = []
    n = 5000

    def consume():
        while True:
            try:
                f = reader.get(timeout=1)
            except RingClosed:
                return
            if f is not None:
                seen.append(f.seq)

    t = threading.Thread(target=consume)
    t.start()
    for i in range(n):
        ring.push(frame(i))
    ring.close()
    t.join(5)
    assert seen == sorted(set(seen)), "frames must come out in order, never twice"
    assert seen[-1] == n - 1, "the newest frame is always delivered"
    assert len(seen) + reader.skipped == n, "every frame is either read or counted as skipped"
