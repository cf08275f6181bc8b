"""FileSink's sound: beside the pictures, on the frames' pts clock, in mp4 (AAC) and mkv (Opus)."""

import av
import numpy as np
import pytest

from livefx.bench.av_sync import av_offsets
from livefx.stream.audio.chunk import AUDIO_RATE, AudioChunk
from livefx.stream.errors import SinkError
from livefx.stream.frame import Frame
from livefx.stream.sinks.file import FileSink

FPS = 30
FLASHES = (0.5, 1.2)  # s: a flash frame and a beep at each


def frame(k: int) -> Frame:
    image = np.full((96, 128, 3), 24, np.uint8)
    if any(round(t * FPS) == k for t in FLASHES):
        image[12:-12, 16:-16] = 235
    return Frame(seq=k, t_capture=0, pts=k * 3000, image=image)  # 90 kHz


def sound(start_s: float, seconds: float) -> AudioChunk:
    t = start_s + np.arange(round(seconds * AUDIO_RATE)) / AUDIO_RATE
    on = np.zeros(len(t), bool)
    for f in FLASHES:
        on |= (t >= f) & (t < f + 0.06)
    beep = (on * 16000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    return AudioChunk(beep[:, None].repeat(2, axis=1), AUDIO_RATE, start_s)


def record(path, seconds: float = 2.0) -> FileSink:
    """Frames at 30 fps with 20 ms chunks interleaved, ahead of the pictures as a live run's are."""
    sink = FileSink(path)
    sink.expect_audio(AUDIO_RATE, 2)
    sink.open(128, 96, FPS)
    chunk_s, t_audio = 0.02, 0.0
    for k in range(round(seconds * FPS)):
        sink.write(frame(k))
        while t_audio < (k + 1) / FPS + 0.1 and t_audio < seconds:
            sink.write_audio(sound(t_audio, chunk_s))
            t_audio += chunk_s
    sink.close()
    return sink


@pytest.mark.parametrize("suffix, codec", [(".mp4", "aac"), (".mkv", "opus")])
def test_a_recording_holds_the_sound_in_sync_with_the_pictures(tmp_path, suffix, codec):
    out = tmp_path / f"o{suffix}"
    sink = record(out)
    assert sink.holds_audio and sink.audio_chunks_written == 100
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == codec
        video_times = [float(f.time) for f in container.decode(video=0)]
    assert video_times == pytest.approx([k / FPS for k in range(60)], abs=1e-3)  # the sound moved no picture
    offsets = av_offsets(out)
    print(f"{suffix}: video - audio {offsets} ms")
    assert len(offsets) == 2 and max(abs(o) for o in offsets) <= 2.0


def test_sound_from_before_the_first_picture_is_not_written(tmp_path):
    out = tmp_path / "early.mkv"
    sink = FileSink(out)
    sink.expect_audio(AUDIO_RATE, 2)
    sink.open(128, 96, FPS)
    sink.write_audio(sound(0.0, 0.1))  # before any picture: dropped, not an error
    assert sink.audio_chunks_written == 0
    sink.write(frame(0))
    sink.write_audio(sound(0.0, 0.1))
    sink.close()
    assert sink.audio_chunks_written == 1
    with pytest.raises(SinkError, match="closed"):
        sink.write_audio(sound(0.1, 0.1))


def test_y4m_holds_no_sound_and_a_sink_told_of_none_writes_none(tmp_path):
    assert not FileSink(tmp_path / "o.y4m").holds_audio
    out = tmp_path / "quiet.mp4"
    sink = FileSink(out)
    sink.open(128, 96, FPS)
    for k in range(5):
        sink.write(frame(k))
    sink.write_audio(sound(0.0, 0.1))  # never told to expect sound: ignored
    sink.close()
    with av.open(str(out)) as container:
        assert not container.streams.audio
