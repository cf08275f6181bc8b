"""A recording's sound on one unbroken timeline: overlaps cut, gaps filled, priming measured."""

import av
import numpy as np
import pytest

from livefx.stream.audio.chunk import AUDIO_RATE, AudioChunk
from livefx.stream.sinks.audio_track import AudioTrack, encoder_priming


def tone(time_s: float, seconds: float) -> AudioChunk:
    """A 440 Hz tone (a perceptual codec keeps it; it would drop a constant level)."""
    t = time_s + np.arange(round(seconds * AUDIO_RATE)) / AUDIO_RATE
    return AudioChunk((8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)[:, None], AUDIO_RATE, time_s)


def loud_blocks(samples: np.ndarray, t0: float) -> tuple[np.ndarray, np.ndarray]:
    """(block start s, loud?) per 10 ms block."""
    n = round(0.01 * AUDIO_RATE)
    blocks = np.abs(samples[: len(samples) // n * n]).reshape(-1, n).max(axis=1)
    return t0 + np.arange(len(blocks)) * 0.01, blocks > 0.1


def decoded(path) -> tuple[float, np.ndarray]:
    """(first sample's time, every sample) of the file's audio."""
    with av.open(str(path)) as container:
        frames = list(container.decode(audio=0))
    return float(frames[0].time), np.concatenate([f.to_ndarray()[0] for f in frames])


def record(path, chunks, start_s: float = 0.0) -> AudioTrack:
    with av.open(str(path), "w", format="matroska") as container:
        track = AudioTrack(container, "libopus", AUDIO_RATE, 1)
        track.start_at(start_s)
        for chunk in chunks:
            for packet in track.encode(chunk):
                container.mux(packet)
        for packet in track.flush():
            container.mux(packet)
    return track


def test_chunks_land_at_their_media_time_with_silence_in_gaps_and_overlaps_cut(tmp_path):
    out = tmp_path / "a.mkv"
    chunks = [tone(0.0, 0.5), tone(0.45, 0.25), tone(1.0, 0.5)]  # 50 ms overlap, then a 300 ms gap
    track = record(out, chunks)
    assert track.samples_cut == round(0.05 * AUDIO_RATE)
    assert track.samples_filled == round(0.3 * AUDIO_RATE)
    assert track.next_pts == round(1.5 * AUDIO_RATE)
    t0, samples = decoded(out)
    assert t0 == pytest.approx(0.0, abs=1e-3)
    t, loud = loud_blocks(samples, t0)
    assert loud[(t > 0.05) & (t < 0.65)].mean() > 0.99  # the tone, unbroken across the overlap
    assert not loud[(t > 0.75) & (t < 0.95)].any()  # the gap is silent
    assert loud[(t > 1.05) & (t < 1.45)].mean() > 0.99


def test_sound_before_the_first_picture_is_cut(tmp_path):
    track = record(tmp_path / "b.mkv", [tone(0.0, 0.5)], start_s=0.2)
    assert track.samples_cut == round(0.2 * AUDIO_RATE)
    assert decoded(tmp_path / "b.mkv")[0] == pytest.approx(0.2, abs=2e-3)  # Matroska counts ms


def test_a_chunk_in_another_format_is_refused(tmp_path):
    with av.open(str(tmp_path / "c.mkv"), "w", format="matroska") as container:
        track = AudioTrack(container, "libopus", AUDIO_RATE, 2)
        track.start_at(0.0)
        with pytest.raises(ValueError, match="1-channel chunk on a 48000 Hz stereo track"):
            list(track.encode(tone(0.0, 0.1)))


def test_encoder_priming_is_measured_per_codec():
    assert encoder_priming("aac", AUDIO_RATE, "stereo") == 1024
    assert encoder_priming("libopus", AUDIO_RATE, "mono") == 312
