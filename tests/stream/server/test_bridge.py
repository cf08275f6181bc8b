"""The bridge between aiortc and the engine: what the outgoing track measures."""

from livefx.stream.server.bridge import RecentSamples


def test_capture_to_send_is_a_median_of_the_last_seconds_only():
    samples = RecentSamples(window_s=2.0)
    assert samples.median(0) is None
    for i, ms in enumerate([1.0, 1.0, 1.0, 1.0]):  # an early stretch of fast (raw) frames
        samples.add(i * 10**8, ms)
    for i, ms in enumerate([90.0, 100.0, 110.0]):  # then the effect turns on
        samples.add(5 * 10**9 + i * 10**8, ms)
    assert samples.median(5 * 10**9 + 3 * 10**8) == 100.0  # the stale fast frames no longer count
    assert samples.median(60 * 10**9) is None
