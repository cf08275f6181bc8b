"""FileSource's sound: decoded in the same pass as the pictures, on the pictures' clock."""

import av
import numpy as np
import pytest

from livefx.bench.av_sync import beep_onsets
from livefx.stream.audio.chunk import AUDIO_RATE
from livefx.stream.sources.file import FileSource


def read_all(source: FileSource, frames: int | None = None) -> tuple[list[float], list]:
    """Frame times and every chunk taken after each read (as the capture thread does)."""
    times, chunks = [], []
    while frames is None or len(times) < frames:
        item = source.read()
        chunks += source.take_audio()
        if item is None:
            break
        times.append(item[1])
    return times, chunks


def file_audio_times(path) -> list[tuple[float, int]]:
    """(time s, samples) of each audio frame, as PyAV decodes the file on its own."""
    with av.open(str(path)) as container:
        return [(float(f.time), f.samples) for f in container.decode(audio=0)]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_chunk_times_match_the_files_audio_pts(flash_beep_clip, suffix):
    clip = flash_beep_clip(suffix, 3.0)
    source = FileSource(clip)
    source.open()
    assert source.has_audio and source.audio_channels == 2
    times, chunks = read_all(source)
    source.close()
    decoded = file_audio_times(clip)
    assert times[0] == 0.0 and len(times) == 90
    # The clip's pictures start at 0, so media time is the file's own audio time.
    assert chunks[0].time_s == pytest.approx(decoded[0][0], abs=1e-3)
    assert sum(c.frames for c in chunks) == sum(n for _, n in decoded)  # every sample, once (48 kHz in and out)
    for a, b in zip(chunks, chunks[1:]):
        assert b.time_s == pytest.approx(a.time_s + a.duration_s, abs=1e-6)
    ends = np.cumsum([n for _, n in decoded]) / AUDIO_RATE + decoded[0][0]
    assert chunks[-1].time_s + chunks[-1].duration_s == pytest.approx(ends[-1], abs=1e-3)
    assert all(c.t_capture == 0 for c in chunks)  # stamped by the capture thread, not here


def envelope(chunks) -> tuple[np.ndarray, float]:
    """Loudness per sample, each chunk placed at its own time (a later chunk wins an overlap)."""
    t0 = chunks[0].time_s
    end = max(round((c.time_s - t0) * AUDIO_RATE) + c.frames for c in chunks)
    out = np.zeros(end, np.float32)
    for c in chunks:
        i = round((c.time_s - t0) * AUDIO_RATE)
        out[i : i + c.frames] = np.abs(c.samples.astype(np.float32)).max(axis=1)
    return out, t0


def test_the_beeps_lie_at_the_flash_instants_in_media_time(flash_beep_clip):
    source = FileSource(flash_beep_clip(".mp4", 3.0))
    source.open()
    _, chunks = read_all(source)
    source.close()
    assert beep_onsets(*envelope(chunks)) == pytest.approx([0.8, 1.9], abs=1e-3)


def test_a_looping_file_continues_its_sound_on_the_pictures_clock(flash_beep_clip):
    source = FileSource(flash_beep_clip(".mp4", 3.0), loop=True)
    source.open()
    times, chunks = read_all(source, frames=225)  # two passes and a half
    source.close()
    assert source.restarts == 2
    period = times[90]  # the second pass starts one frame after the first ended
    assert period == pytest.approx(3.0, abs=1e-3)
    starts = [c.time_s for c in chunks]
    assert starts == sorted(starts)
    onsets = beep_onsets(*envelope(chunks))
    assert onsets == pytest.approx([0.8, 1.9, 0.8 + period, 1.9 + period, 0.8 + 2 * period], abs=2e-3)


def test_a_file_without_sound_has_no_audio(make_video):
    source = FileSource(make_video("silent.mkv", frames=5))
    source.open()
    assert not source.has_audio and source.audio_channels == 0
    assert read_all(source)[1] == []
    source.close()
