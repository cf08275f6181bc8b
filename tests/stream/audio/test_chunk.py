import numpy as np
import pytest

from livefx.stream.audio.chunk import AUDIO_RATE, AudioChunk


def test_chunks_must_be_int16_frames_by_channels():
    with pytest.raises(ValueError, match="int16"):
        AudioChunk(np.zeros((10, 2), np.float32), AUDIO_RATE, 0.0)
    with pytest.raises(ValueError, match="int16"):
        AudioChunk(np.zeros(10, np.int16), AUDIO_RATE, 0.0)
    c = AudioChunk(np.zeros((960, 2), np.int16), AUDIO_RATE, 0.06)
    assert (c.frames, c.channels, c.duration_s) == (960, 2, pytest.approx(0.02))
    assert c.stamped(7).t_capture == 7 and c.t_capture == 0
