"""The bridge between aiortc and the engine: what the outgoing track measures, what a client may send."""

import threading
import time

import av
import numpy as np

from livefx.stream.recent import RecentSamples
from livefx.stream.server.bridge import MAX_INPUT_PIXELS, MIN_INPUT_SIDE, TrackSource, input_size


def test_capture_to_send_is_a_median_of_the_last_seconds_only():
    samples = RecentSamples(window_s=2.0)
    assert samples.median(0) is None
    for i, ms in enumerate([1.0, 1.0, 1.0, 1.0]):  # an early stretch of fast (raw) frames
        samples.add(i * 10**8, ms)
    for i, ms in enumerate([90.0, 100.0, 110.0]):  # then the effect turns on
        samples.add(5 * 10**9 + i * 10**8, ms)
    assert samples.median(5 * 10**9 + 3 * 10**8) == 100.0  # the stale fast frames no longer count
    assert samples.median(60 * 10**9) is None


def test_input_size_scales_huge_frames_down_and_refuses_tiny_ones():
    assert input_size(640, 480) == (640, 480)
    assert input_size(1920, 1080) == (1920, 1080)
    w, h = input_size(7680, 4320)  # 8K: scaled down, aspect kept, even sides
    assert w * h <= MAX_INPUT_PIXELS and w % 2 == h % 2 == 0 and abs(w / h - 16 / 9) < 0.01
    w, h = input_size(16, 100000)  # absurd aspect: bounded too, never under the minimum side
    assert w >= MIN_INPUT_SIDE and w * h <= MAX_INPUT_PIXELS
    assert input_size(MIN_INPUT_SIDE - 1, 480) is None


def test_track_source_scales_and_refuses_what_a_client_sends():
    source = TrackSource(max_pixels=320 * 240)
    tiny = av.VideoFrame.from_ndarray(np.zeros((8, 8, 3), np.uint8), format="rgb24")
    big = av.VideoFrame.from_ndarray(np.full((960, 1280, 3), 200, np.uint8), format="rgb24")
    source.put(tiny)
    reader = threading.Thread(target=lambda: results.append(source.read()))
    results: list = []
    reader.start()
    deadline = time.monotonic() + 30
    while source.refused_small == 0:  # the tiny frame was taken and refused; read() waits on
        assert time.monotonic() < deadline
        time.sleep(0.01)
    source.put(big)
    reader.join(30)
    image, _ = results[0]
    assert image.shape == (240, 320, 3) and int(image.mean()) == 200
    assert (source.refused_small, source.scaled_down, source.sent_size) == (1, 1, (1280, 960))
    source.end()
    assert source.read() is None
