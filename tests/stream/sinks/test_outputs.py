"""The outputs' audio side: each sink that holds audio gets all of it on its own runner; the
others are named once; a stuck sink costs no one else anything."""

import logging
import threading

from livefx.stream.sinks.file import FileSink
from livefx.stream.sinks.null import NullSink
from livefx.stream.sources.file import FileSource

from ..helpers import Collect, pipeline, wait_until


class HearingSink(Collect):
    """Keeps frames and sound; ``hold`` (an Event) stalls its sound until set."""

    holds_audio = True

    def __init__(self, hold: threading.Event | None = None) -> None:
        super().__init__(in_order=True)
        self.hold = hold
        self.format = None
        self.chunks = []

    def expect_audio(self, rate, channels):
        self.format = (rate, channels)

    def write_audio(self, chunk):
        if self.hold is not None:
            self.hold.wait()
        self.chunks.append(chunk)


def test_every_chunk_reaches_a_sink_that_holds_audio_in_order_offline(flash_beep_clip):
    sink = HearingSink()
    p = pipeline(FileSource(flash_beep_clip(".mp4", 3.0)), [sink], realtime=False)
    p.open()
    stats = p.run(log_every_s=0)
    assert sink.format == (48_000, 2) and len(sink.frames) == 90
    times = [c.time_s for c in sink.chunks]
    assert times == sorted(times) and len(times) == stats["audio"]["chunks_in"] > 100
    assert stats["audio"] == {
        "chunks_in": len(times),
        "chunks_dropped": 0,
        "sinks": {sink.spec: {"written": len(times), "dropped": 0}},
    }


def test_sinks_that_cannot_hold_sound_are_named_in_one_line_once(flash_beep_clip, tmp_path, caplog):
    y4m = FileSink(tmp_path / "o.y4m")
    p = pipeline(FileSource(flash_beep_clip(".mp4", 3.0)), [NullSink(), y4m], realtime=False, max_frames=20)
    p.open()
    with caplog.at_level(logging.INFO, logger="livefx"):
        p.run(log_every_s=0)
    notices = [r.getMessage() for r in caplog.records if "video only" in r.getMessage()]
    assert notices == [f"null, {y4m.spec}: video only; they cannot hold the sound of {p.source.spec}"]


def test_a_silent_source_says_nothing_about_sound(make_video, caplog):
    p = pipeline(FileSource(make_video("silent.mkv", frames=5)), [NullSink()], realtime=False)
    p.open()
    with caplog.at_level(logging.INFO, logger="livefx"):
        stats = p.run(log_every_s=0)
    assert "audio" not in stats and not [r for r in caplog.records if "sound" in r.getMessage()]


def test_a_sink_stuck_on_sound_holds_back_neither_the_source_nor_the_other_sinks(flash_beep_clip):
    """Real time: the stuck sink's runner blocks in write_audio; the capture thread still
    reads the whole file and the other sink still gets its pictures and sound."""
    hold = threading.Event()
    stuck, other = HearingSink(hold), HearingSink()
    p = pipeline(FileSource(flash_beep_clip(".mp4", 3.0)), [stuck, other])
    p.open()
    p.start()
    try:
        wait_until(lambda: not p.capture.is_alive(), "the capture thread to read the whole file")
        wait_until(lambda: other.chunks and other.chunks[-1].time_s > 2.9, "the other sink's sound")
        assert len(stuck.chunks) == 0 and other.frames
    finally:
        hold.set()
        p.close()
    assert p.outputs.audio.pushed == len(other.chunks)


def test_an_fps_that_re_times_the_pictures_leaves_the_sound_out_saying_so(flash_beep_clip, caplog):
    sink = HearingSink()
    p = pipeline(FileSource(flash_beep_clip(".mp4", 3.0)), [sink], realtime=False, fps=15.0, max_frames=10)
    p.open()
    with caplog.at_level(logging.WARNING, logger="livefx"):
        stats = p.run(log_every_s=0)
    assert sink.chunks == [] and sink.format is None and "audio" not in stats
    assert any("re-times the pictures" in r.getMessage() for r in caplog.records)
