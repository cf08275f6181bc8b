import logging
import threading

import numpy as np
import pytest

from livefx.stream.audio.bus import AudioBus, AudioClosed
from livefx.stream.audio.chunk import AUDIO_RATE, AudioChunk

STEP_S = 0.02  # each chunk: 20 ms


def chunk(i: int) -> AudioChunk:
    n = round(STEP_S * AUDIO_RATE)
    return AudioChunk(np.full((n, 2), i, np.int16), AUDIO_RATE, i * STEP_S)


def test_a_consumer_gets_every_chunk_in_order_while_it_keeps_up():
    bus = AudioBus(buffer_s=1.0)
    consumer = bus.consumer("sink")
    for i in range(30):
        bus.push(chunk(i))
    assert [c.time_s for c in consumer.drain()] == [i * STEP_S for i in range(30)]
    assert consumer.dropped == 0 and consumer.taken == 30 and bus.pushed == 30


def test_a_consumer_that_falls_behind_keeps_its_newest_chunks_and_counts_the_rest(caplog):
    bus = AudioBus(buffer_s=0.1)  # five chunks of 20 ms
    consumer = bus.consumer("slow")
    with caplog.at_level(logging.WARNING, logger="livefx.audio"):
        for i in range(50):
            bus.push(chunk(i))
    kept = consumer.drain()
    assert [int(c.samples[0, 0]) for c in kept] == [45, 46, 47, 48, 49]
    assert consumer.dropped == 45
    assert len([r for r in caplog.records if "falls behind" in r.getMessage()]) == 1  # said once


def test_a_slow_consumer_costs_only_itself():
    bus = AudioBus(buffer_s=0.1)
    slow, fast = bus.consumer("slow"), bus.consumer("fast")
    got = []
    for i in range(50):
        bus.push(chunk(i))
        got += fast.drain()
    assert len(got) == 50 and fast.dropped == 0
    assert slow.held == 5 and slow.dropped == 45


def test_the_producer_never_waits_for_a_consumer_that_never_reads():
    bus = AudioBus(buffer_s=0.5)
    bus.consumer("stuck")
    pusher = threading.Thread(target=lambda: [bus.push(chunk(i)) for i in range(5000)])
    pusher.start()
    pusher.join(timeout=30)  # a hang guard: pushing never waits, whatever the machine's speed
    assert not pusher.is_alive() and bus.pushed == 5000


def test_close_ends_every_consumer_after_what_it_holds():
    bus = AudioBus()
    a, b = bus.consumer("a"), bus.consumer("b")
    bus.push(chunk(0))
    ended = []

    def wait_for_end() -> None:
        b.drain()
        try:
            b.get(timeout=30)
        except AudioClosed:
            ended.append(True)

    waiter = threading.Thread(target=wait_for_end)
    waiter.start()
    bus.close()
    waiter.join(timeout=30)
    assert ended == [True]  # a reader blocked in get() wakes up
    assert a.get(timeout=0).time_s == 0.0  # what was held is still read
    with pytest.raises(AudioClosed):
        a.get(timeout=0)
    assert a.ended
    bus.push(chunk(1))  # after the end: ignored
    assert bus.pushed == 1 and a.held == 0
    late = bus.consumer("late")  # joining a closed bus ends at once
    with pytest.raises(AudioClosed):
        late.get(timeout=0)


def test_get_times_out_with_none_when_nothing_came():
    consumer = AudioBus().consumer("idle")
    assert consumer.get(timeout=0.01) is None


def test_a_closed_consumer_is_let_go():
    bus = AudioBus()
    consumer = bus.consumer("done")
    consumer.close()
    for i in range(10):
        bus.push(chunk(i))
    assert consumer.held == 0 and consumer.dropped == 0
