"""The server's own outputs fed by one page at a time, re-timed to continue across pages."""

import numpy as np

from livefx.stream.audio.chunk import AudioChunk
from livefx.stream.frame import Frame
from livefx.stream.server.relay import SessionRelay
from livefx.stream.sinks.base import Sink


class Recorder(Sink):
    spec = "rec"
    in_order = True
    holds_audio = True

    def __init__(self) -> None:
        self.opened, self.closed, self.frames, self.sound, self.expected = 0, 0, [], [], None

    def expect_audio(self, rate, channels):
        self.expected = (rate, channels)

    def open(self, width, height, fps):
        self.opened += 1

    def write(self, frame):
        self.frames.append((frame.seq, frame.time_s))

    def write_audio(self, chunk):
        self.sound.append(chunk.time_s)

    def close(self):
        self.closed += 1


def frame(seq: int, time_s: float) -> Frame:
    return Frame(seq, 0, round(time_s * 90_000), np.zeros((4, 4, 3), np.uint8))


def test_one_page_feeds_the_outputs_and_the_next_takes_over_where_it_stopped():
    out = Recorder()
    relay = SessionRelay([out])
    first, second = relay.feed("first"), relay.feed("second")
    for feed in (first, second):
        feed.expect_audio(48_000, 2)
        feed.open(4, 4, 30.0)
    assert out.opened == 1 and out.expected == (48_000, 2)
    first.write(frame(0, 5.0))  # the first page to send a frame feeds the outputs
    second.write(frame(100, 9.0))  # another page meanwhile: not written
    first.write(frame(1, 5.5))
    first.write_audio(AudioChunk(np.zeros((480, 2), np.int16), 48_000, 5.25))
    assert relay.feeds("first") and not relay.feeds("second")
    first.close()  # the first page left: the outputs stay open
    assert out.closed == 0 and not relay.feeds("first")
    second.write(frame(101, 12.0))  # the next page takes over, a frame after the last one
    second.write(frame(102, 12.5))
    assert [seq for seq, _ in out.frames] == [0, 1, 101, 102]
    times = [t for _, t in out.frames]
    assert times[:2] == [0.0, 0.5] and abs(times[2] - (0.5 + 1 / 30)) < 1e-4 and abs(times[3] - times[2] - 0.5) < 1e-4
    assert out.sound == [0.25]  # the sound re-timed with its pictures
    second.close()
    relay.close()
    assert out.closed == 1
