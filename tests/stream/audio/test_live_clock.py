"""LiveClock on an injected clock: reads at known instants, late by known amounts."""

import numpy as np

from livefx.stream.audio.live_clock import REANCHOR_S, LiveClock

RATE = 48_000
BLOCK = 480  # 10 ms
MS = 1_000_000


def read_times(blocks: int, start_ns: int, lateness_ns: np.ndarray, ppm: float = 0.0) -> list[int]:
    """When each block's read returns: its last sample's instant (on a device clock ``ppm``
    slower than the monotonic one) plus the reader's lateness."""
    ends = start_ns + (np.arange(1, blocks + 1) * BLOCK * 1e9 / RATE) * (1 + ppm * 1e-6)
    return [int(e + late) for e, late in zip(ends, lateness_ns)]


def test_continuous_blocks_get_continuous_times_from_the_promptest_read():
    rng = np.random.default_rng(1)
    lateness = rng.uniform(0, 8 * MS, 300)  # a busy reader: 0-8 ms late every time
    lateness[0] = 6 * MS  # the first read is late: the origin must not stay there
    lateness[40] = 0  # one prompt read proves where the sound started
    clock = LiveClock(RATE)
    starts = [clock.place(BLOCK, now) for now in read_times(300, 10**12, lateness)]
    steps = np.diff(starts[40:])
    assert np.all(np.abs(steps - BLOCK * 1e9 / RATE) <= 1), "one block's length apart, no jitter"
    assert abs(starts[40] - (10**12 + 40 * 10 * MS)) <= 1  # the true start of block 40
    assert starts[1] - starts[0] == 10 * MS  # before the prompt read: still continuous
    assert clock.reanchors == 0


def test_a_gap_starts_a_new_run_at_its_own_time():
    clock = LiveClock(RATE)
    first = read_times(100, 10**12, np.zeros(100))
    for now in first:
        clock.place(BLOCK, now)
    resumed = first[-1] + round((REANCHOR_S + 0.2) * 1e9)  # 300 ms of sound never came
    after = [clock.place(BLOCK, resumed + i * 10 * MS) for i in range(5)]
    assert clock.reanchors == 1
    assert after[0] == resumed - 10 * MS  # the block ended at its read, as it says
    assert np.all(np.diff(after) == 10 * MS)


def test_a_late_read_within_the_limit_is_not_a_gap():
    clock = LiveClock(RATE)
    times = read_times(50, 10**12, np.zeros(50))
    times[20] += round(0.8 * REANCHOR_S * 1e9)  # the reader stalled after reading block 20
    starts = [clock.place(BLOCK, now) for now in times]
    assert clock.reanchors == 0 and np.all(np.diff(starts) == 10 * MS)


def test_the_count_follows_a_device_clock_that_runs_slow():
    # 200 ppm slow: 20 s of sound ends 4 ms after a plain count says; the count follows in
    # steps of under 2 ms (FOLLOW_S plus a 2 s window's drift), and never starts a new run.
    blocks = round(20 * RATE / BLOCK)
    clock = LiveClock(RATE)
    times = read_times(blocks, 10**12, np.full(blocks, 0.2 * MS), ppm=200)
    starts = [clock.place(BLOCK, now) for now in times]
    true_last = times[-1] - 0.2 * MS - BLOCK * 1e9 / RATE * (1 + 200e-6)
    assert abs(starts[-1] - true_last) < 2 * MS
    assert clock.reanchors == 0
    assert np.max(np.diff(starts)) - 10 * MS <= 2 * MS


def test_a_known_path_latency_is_subtracted():
    clock = LiveClock(RATE, latency_ns=5 * MS)
    assert clock.place(BLOCK, 10**12) == 10**12 - 5 * MS - 10 * MS
