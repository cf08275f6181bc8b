from fractions import Fraction

import av
import numpy as np
import pytest

from livefx.stream.audio.chunk import AUDIO_RATE
from livefx.stream.audio.convert import AudioConverter


def frames(rate: int, layout: str, seconds: float, n: int = 1024, start_s: float = 0.0, tb: Fraction | None = None):
    """Decoder-like float planar frames of a ramp, with timestamps in ``tb`` (default 1/rate)."""
    tb = tb or Fraction(1, rate)
    channels = av.AudioLayout(layout).nb_channels
    done = 0
    while done < seconds * rate:
        x = np.tile(((done + np.arange(n)) % 100 / 100).astype(np.float32), (channels, 1))
        frame = av.AudioFrame.from_ndarray(x, format="fltp", layout=layout)
        frame.sample_rate, frame.time_base = rate, tb
        frame.pts = round((start_s + done / rate) / tb)
        yield frame
        done += n


@pytest.mark.parametrize("rate, layout, channels", [(44100, "mono", 1), (48000, "stereo", 2), (32000, "5.1", 2)])
def test_any_rate_and_layout_becomes_48k_int16_on_one_unbroken_timeline(rate, layout, channels):
    conv = AudioConverter(av.AudioLayout(layout).nb_channels)
    chunks = [c for f in frames(rate, layout, 1.0, start_s=0.25) for c in conv.convert(f)] + conv.flush()
    assert all(c.rate == AUDIO_RATE and c.channels == channels and c.samples.dtype == np.int16 for c in chunks)
    assert chunks[0].time_s == pytest.approx(0.25)
    for a, b in zip(chunks, chunks[1:]):
        assert b.time_s == pytest.approx(a.time_s + a.duration_s, abs=1e-9)  # no gap, no overlap
    total = sum(c.frames for c in chunks) / AUDIO_RATE
    assert total == pytest.approx(np.ceil(rate * 1.0 / 1024) * 1024 / rate, abs=2e-3)


def test_coarse_container_timestamps_do_not_break_the_timeline():
    """Matroska stamps audio in milliseconds: 21.333 ms frames read as 21 or 22 ms apart."""
    conv = AudioConverter(2)
    chunks = [c for f in frames(48000, "stereo", 1.0, tb=Fraction(1, 1000)) for c in conv.convert(f)]
    expected = np.cumsum([0] + [c.frames for c in chunks[:-1]]) / AUDIO_RATE
    assert [c.time_s for c in chunks] == pytest.approx(expected.tolist(), abs=1e-9)


def test_a_jump_in_the_stream_starts_a_new_run_at_the_new_time():
    conv = AudioConverter(1)
    first = [c for f in frames(48000, "mono", 0.2) for c in conv.convert(f)]
    later = [c for f in frames(48000, "mono", 0.2, start_s=5.0) for c in conv.convert(f)]
    assert later[0].time_s == pytest.approx(5.0)
    assert later[1].time_s == pytest.approx(5.0 + later[0].duration_s)
    assert first[-1].time_s < 0.2


def test_a_base_offset_moves_every_chunk():
    conv = AudioConverter(2)
    chunks = [c for f in frames(48000, "stereo", 0.1) for c in conv.convert(f, base_s=10.0)]
    assert chunks[0].time_s == pytest.approx(10.0)
