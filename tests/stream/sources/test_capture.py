"""The capture thread's audio side: chunks stamped on the frames' media time -> capture mapping."""

import pytest

from livefx.stream.audio.bus import AudioBus, AudioClosed
from livefx.stream.scheduling.ring import ReadPolicy, Ring, RingClosed
from livefx.stream.sources.capture import CaptureThread
from livefx.stream.sources.file import FileSource

BASE_NS = 5_000_000_000


def drain(ring_reader, consumer) -> tuple[list, list]:
    frames, chunks = [], []
    while True:
        try:
            frame = ring_reader.get(timeout=30)
        except RingClosed:
            break
        frames.append(frame)
    while True:
        try:
            chunk = consumer.get(timeout=30)
        except AudioClosed:
            break
        chunks.append(chunk)
    return frames, chunks


def test_a_chunk_gets_the_capture_stamp_a_frame_at_its_media_time_had(flash_beep_clip):
    """An injected clock that stamps frame k at BASE + k/30 s, as a steady real-time capture
    would: every chunk must then read BASE + its media time, between and across frames."""
    ticks = iter(range(10_000))
    clock = lambda: BASE_NS + round(next(ticks) * 1e9 / 30)  # noqa: E731 - one line
    source = FileSource(flash_beep_clip(".mp4", 3.0))
    source.open()
    ring, bus = Ring(256, lossless=True), AudioBus()
    reader, consumer = ring.reader(ReadPolicy.IN_ORDER), bus.consumer("test")
    capture = CaptureThread(source, ring, realtime=False, clock=clock, audio=bus)
    capture.start()
    frames, chunks = drain(reader, consumer)
    capture.join(timeout=30)
    assert capture.error is None and len(frames) == 90
    assert [f.t_capture for f in frames] == [BASE_NS + round(f.time_s * 1e9) for f in frames]
    assert len(chunks) == capture.audio_chunks == bus.pushed > 100
    for chunk in chunks:
        assert chunk.t_capture == pytest.approx(BASE_NS + chunk.time_s * 1e9, abs=1_000)  # 1 us


def test_the_sound_stops_with_the_pictures_and_the_bus_closes(flash_beep_clip):
    source = FileSource(flash_beep_clip(".mp4", 3.0))
    source.open()
    ring, bus = Ring(16, lossless=True), AudioBus()
    reader, consumer = ring.reader(ReadPolicy.IN_ORDER), bus.consumer("test")
    capture = CaptureThread(source, ring, realtime=False, max_frames=10, audio=bus)
    capture.start()
    frames, chunks = drain(reader, consumer)  # returns only because the ring and the bus closed
    capture.join(timeout=30)
    assert len(frames) == 10 and bus.closed
    assert chunks and chunks[-1].time_s < frames[-1].time_s + 0.1  # what was decoded with them, no more
