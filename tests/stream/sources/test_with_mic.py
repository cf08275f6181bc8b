"""WithMicrophone on a private PulseAudio: a source's pictures and a microphone's sound on one
clock, a paced source paced here, and the recording stream gone from the server at close."""

from __future__ import annotations

import time

import pytest

from livefx.stream.errors import SourceError
from livefx.stream.frame import now_ns
from livefx.stream.sources.synthetic import SyntheticSource
from livefx.stream.sources.with_mic import WithMicrophone

from ..pulse_daemon import pactl

RATE = 48_000


@pytest.fixture
def room(pulse_server):
    """A null sink whose monitor is the microphone (silence, but a real stream of it)."""
    pactl("load-module", "module-null-sink", "sink_name=room", f"rate={RATE}", "channels=1")
    return "pulse:room.monitor"


def recording_streams() -> list[str]:
    return pactl("list", "short", "source-outputs").splitlines()


def test_a_synthetic_source_is_paced_and_its_sound_lies_on_its_clock(room):
    from livefx.stream.sources.microphone import Microphone

    source = WithMicrophone(SyntheticSource(64, 48, fps=50), Microphone(room))
    assert source.self_paced and source.fps == 50 and source.size == (64, 48) and source.spec == "synthetic"
    source.open()
    try:
        assert source.has_audio and source.audio_channels == 1 and len(recording_streams()) == 1
        times = [source.read()[1] for _ in range(10)]
        taken_s = (now_ns() - source.origin_ns) / 1e9
        chunks = source.take_audio()
    finally:
        source.close()
    assert recording_streams() == []  # parec's stream is gone
    # Paced here, in real time: picture k comes k/50 s after the start at the earliest (a busy
    # machine only makes it later).
    assert times == sorted(times) and all(t >= k / 50 for k, t in enumerate(times)), times
    # The sound since the first picture, in order, without gaps (a prompter read may pull the
    # stream's start earlier, see LiveClock), and none of it after it was taken.
    assert chunks and source.audio_dropped == 0
    for a, b in zip(chunks, chunks[1:]):
        assert a.time_s < b.time_s <= a.time_s + a.duration_s + 1 / RATE
    assert chunks[-1].time_s + chunks[-1].duration_s <= taken_s
    assert chunks[0].time_s + chunks[0].duration_s >= times[0]  # older blocks were discarded


class Broken(SyntheticSource):
    def open(self):
        raise SourceError("broken: cannot open")


def test_a_source_that_fails_to_open_leaves_no_recording_behind(room):
    from livefx.stream.sources.microphone import Microphone

    source = WithMicrophone(Broken(64, 48), Microphone(room))
    with pytest.raises(SourceError, match="broken: cannot open"):
        source.open()
    deadline = time.monotonic() + 10
    while recording_streams() and time.monotonic() < deadline:  # the server notices the end
        time.sleep(0.01)
    assert recording_streams() == []
