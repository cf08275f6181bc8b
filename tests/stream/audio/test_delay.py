"""AudioDelay on an injected clock: chunks stamped on a simulated capture clock go in, blocks
for simulated output times come out; nothing sleeps."""

from __future__ import annotations

import numpy as np
import pytest

from livefx.stream.audio.chunk import AudioChunk
from livefx.stream.audio.delay import GLIDE_TAU_S, MAX_SPEED_DEVIATION, AudioDelay

RATE = 48_000
T0 = 5 * 10**14  # a monotonic clock several days after boot
RAMP = 40_000  # a ramp's value is the input index it came from (mod RAMP): it shows read positions


def ramp(idx: np.ndarray) -> np.ndarray:
    return (idx % RAMP - RAMP // 2).astype(np.int16)


def sine(idx: np.ndarray, hz: float = 440.0, amp: float = 10_000) -> np.ndarray:
    return np.rint(amp * np.sin(2 * np.pi * hz * idx / RATE)).astype(np.int16)


def drive(delay, signal, seconds, *, chunk=480, block=480, skew=0.0, jitter_ms=0.0, pause=None, each_block=None):
    """Push ``signal`` (input indices -> int16) in chunks stamped when captured (the source's
    clock runs ``skew`` fast; stamps jitter by up to ``jitter_ms``; ``pause`` = (from_s, to_s)
    captures nothing then) and pull consecutive output blocks from T0. Returns the output (mono)."""
    rng = np.random.default_rng(1)
    out, pushed, t_in = [], 0, 0.0  # t_in: capture time (s after T0) of the next input sample
    block_ns = block * 10**9 // RATE
    for j in range(int(seconds * RATE) // block):
        now = T0 + j * block_ns
        while t_in <= (j + 1) * block / RATE:
            if pause and pause[0] <= t_in < pause[1]:
                t_in = pause[1]
                continue
            stamp = T0 + round(t_in * 1e9 + rng.uniform(-jitter_ms, jitter_ms) * 1e6)
            idx = np.arange(pushed, pushed + chunk)
            delay.push(AudioChunk(signal(idx)[:, None], RATE, t_in, stamp))
            pushed += chunk
            t_in += chunk / (RATE * (1 + skew))
        if each_block is not None:
            each_block(j, delay)
        out.append(delay.pull(block, now)[:, 0])
    return np.concatenate(out).astype(np.int64)


def test_a_constant_delay_shifts_the_input_by_exactly_the_target():
    delay = AudioDelay(1, target_ms=120)
    out = drive(delay, sine, 3.0)
    shift = 120 * RATE // 1000
    expected = sine(np.arange(len(out) - shift))
    assert np.array_equal(out[shift:], expected)
    assert not out[:shift].any() and delay.gap_samples == shift  # before the first capture: silence


def test_a_delay_between_samples_reads_between_them():
    delay = AudioDelay(1, target_ms=87.3)  # 4190.4 samples
    out = drive(delay, ramp, 3.0)
    m = np.arange(len(out))
    where = m - 4190.4
    clean = (where > 0) & (where % RAMP > 1) & (where % RAMP < RAMP - 2)  # away from the ramp's wraps
    assert np.abs(out[clean] - (where[clean] % RAMP - RAMP // 2)).max() <= 1


def glide_run(start_ms, end_ms, signal, seconds=12.0, change_s=2.0):
    delay = AudioDelay(1, target_ms=start_ms)
    delays = []

    def each_block(j, d):
        if j == int(change_s * 100):
            d.set_target_ms(end_ms)
        delays.append(d.delay_ms)

    out = drive(delay, signal, seconds, each_block=each_block)
    return delay, out, np.array(delays[1:] + [delay.delay_ms])  # delay at each block's end


@pytest.mark.parametrize("start_ms,end_ms", [(100, 200), (200, 100)])
def test_a_target_change_glides_without_a_click(start_ms, end_ms):
    delay, out, delays = glide_run(start_ms, end_ms, sine)
    steady = out[int(0.25 * RATE) :]  # after the first 200 ms of silence
    sine_step = np.abs(np.diff(sine(np.arange(RATE)).astype(np.int64))).max()
    click = np.abs(np.diff(steady)).max()
    print(f"max sample step {click} (the sine's own: {sine_step})")
    assert click <= 1.05 * sine_step + 2  # a jump would be up to 20000
    # never faster than the allowed playback speed
    assert np.abs(np.diff(delays)).max() <= MAX_SPEED_DEVIATION * 10 + 1e-9
    # reaches the target when the glide says: linear at 2 %, then exponential near it
    knee = MAX_SPEED_DEVIATION * GLIDE_TAU_S * 1000
    expected_s = (abs(end_ms - start_ms) - knee) / MAX_SPEED_DEVIATION / 1000 + GLIDE_TAU_S * np.log(knee / 1.0)
    reached_s = np.flatnonzero(np.abs(delays - end_ms) < 1.0)[0] / 100 + 0.01 - 2.0
    print(f"within 1 ms of {end_ms} ms after {reached_s:.2f} s (expected {expected_s:.2f} s)")
    assert abs(reached_s - expected_s) <= 0.02
    assert delays[-1] == end_ms and delay.jumps == 0


def test_after_a_glide_the_delay_is_exact_again():
    _, out, _ = glide_run(100, 200, ramp)
    tail = np.arange(len(out) - RATE, len(out))  # the last second, 8 s after the change
    assert np.array_equal(out[tail], ramp(tail - 200 * RATE // 1000))


@pytest.mark.parametrize("skew", [0.0, 1e-4])
def test_an_hour_at_a_constant_target_does_not_drift(skew):
    """A simulated hour: the source captures 1 s chunks (with ``skew`` its clock runs 100 ppm
    fast: 17280 samples too many in the hour, which the capture stamps say); the output listens
    to 10 ms each second, at a different phase each time, and every block read must be the sound
    captured exactly 150 ms before it (after the first minute, in which the timeline learns the
    source's clock from the stamps of one-second chunks)."""
    delay = AudioDelay(1, target_ms=150)
    worst, t_in, pushed = [0.0, 0.0], 0.0, 0
    for s in range(3600):
        while t_in <= s + 1:
            delay.push(AudioChunk(ramp(np.arange(pushed, pushed + RATE))[:, None], RATE, t_in, T0 + round(t_in * 1e9)))
            pushed += RATE
            t_in += 1 / (1 + skew)
        if s == 0:
            continue  # nothing was captured 150 ms before the first instants
        start = s * RATE + (s * 7919) % RATE  # output sample index (since T0) of the block
        out = delay.pull(480, T0 + start * 10**9 // RATE).astype(np.int64)[:, 0]
        where = (np.arange(start, start + 480) - 150 * RATE / 1000) * (1 + skew)  # input index captured then
        clean = (where % RAMP > 1) & (where % RAMP < RAMP - 2)
        error = np.abs(out[clean] - (where[clean] % RAMP - RAMP // 2)).max(initial=0)
        worst[s >= 60] = max(worst[s >= 60], error)
    print(f"skew {skew}: largest read position error in the first minute {worst[0]:.3f}, then {worst[1]:.3f} samples")
    assert worst[1] < 1 and worst[0] < 0.1 * RATE / 1000
    assert delay.resets == 0 and delay.gap_samples == 0 and delay.delay_ms == 150


def test_jittery_stamps_do_not_wobble_the_playback():
    delay = AudioDelay(1, target_ms=120)
    out = drive(delay, ramp, 8.0, jitter_ms=2.0)
    m = np.arange(3 * RATE, 8 * RATE)
    where = m - 120 * RATE / 1000
    clean = (where % RAMP > 1000) & (where % RAMP < RAMP - 1000)  # ramp values away from its wraps
    error = out[m][clean] - (where[clean] % RAMP - RAMP // 2)
    both = clean[960:] & clean[:-960]
    speed = (out[m[960:]] - out[m[:-960]])[both] / 960  # input samples read per output sample, over 20 ms
    wobble = np.abs(speed - 1).max()
    print(f"+-2 ms stamp jitter: position error {np.abs(error).max()} samples, speed within 1 +- {wobble:.4f}")
    assert np.abs(error).max() <= RATE / 1000  # a millisecond (lip sync tolerates tens)
    assert wobble <= MAX_SPEED_DEVIATION / 4  # a quarter of what a glide may do


def test_gaps_play_silence_and_are_counted():
    fresh = AudioDelay(1, target_ms=100)
    assert not fresh.pull(480, T0).any() and fresh.gap_samples == 480  # nothing came yet
    delay = AudioDelay(1, target_ms=100)
    out = drive(delay, sine, 3.0, pause=(1.0, 1.5))
    gap = out[int(1.1 * RATE) : int(1.6 * RATE)]
    assert not gap.any()
    assert delay.gap_samples == int(0.1 * RATE) + int(0.5 * RATE)  # the start, and the pause
    assert delay.resets == 1
    after = np.arange(int(1.6 * RATE), len(out))
    assert np.abs(out[after]).max() > 9000  # the sound is back


def test_storage_is_bounded_and_drops_the_oldest():
    delay = AudioDelay(1, capacity_s=1.0, target_ms=100)
    for k in range(300):  # 3 s of sound that nobody plays
        delay.push(AudioChunk(sine(np.arange(480))[:, None], RATE, k / 100, T0 + k * 10**7))
    assert delay.dropped == 2 * RATE
    assert delay._buf.shape == (RATE, 1) and len(delay._timeline._anchors) <= 101
    old = delay.pull(480, T0 + 10**9)  # 1 s: long gone
    assert not old.any() and delay.gap_samples == 480
    assert np.abs(delay.pull(480, T0 + 3 * 10**9)).max() > 9000  # the newest second is there
    assert delay.target_ms == 100 and AudioDelay(1, capacity_s=1.0, target_ms=5000).target_ms == 500


def test_a_big_change_fades_out_and_in_instead_of_gliding():
    delay = AudioDelay(1, target_ms=100)

    def each_block(j, d):
        if j == 200:
            d.set_target_ms(900)

    out = drive(delay, sine, 4.0, each_block=each_block)
    assert delay.jumps == 1 and delay.delay_ms == 900
    sine_step = np.abs(np.diff(sine(np.arange(RATE)).astype(np.int64))).max()
    assert np.abs(np.diff(out[RATE:])).max() <= 1.1 * sine_step  # faded: no click
    silent = out[2 * RATE + 240 : 2 * RATE + 480]
    assert not silent.any()  # faded out, then jumped
    tail = np.arange(3 * RATE, len(out))
    assert np.array_equal(out[tail], sine(tail - 900 * RATE // 1000))


def test_it_takes_only_its_rate_and_fits_channels():
    delay = AudioDelay(2, target_ms=0)
    with pytest.raises(ValueError, match="44100 Hz; livefx's audio runs at 48000 Hz"):
        delay.push(AudioChunk(np.zeros((10, 2), np.int16), 44_100, 0.0, T0))
    delay.push(AudioChunk(np.full((480, 1), 1000, np.int16), RATE, 0.0, T0))
    assert delay.pull(480, T0).tolist() == [[1000, 1000]] * 480
    with pytest.raises(ValueError, match="3-channel chunk for a 2-channel output"):
        delay.push(AudioChunk(np.zeros((10, 3), np.int16), RATE, 0.0, T0))
    with pytest.raises(ValueError, match="finite number of ms"):
        delay.set_target_ms(float("nan"))
