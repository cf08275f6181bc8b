"""The numpy audio level gives aiortc's own values."""

import fractions

import av
import numpy as np
from aiortc import rtp

from livefx.stream.server.audio_level import audio_level_dbov, install


def frame(samples: np.ndarray, layout: str) -> av.AudioFrame:
    f = av.AudioFrame.from_ndarray(samples.astype(np.int16).reshape(1, -1), format="s16", layout=layout)
    f.sample_rate, f.pts, f.time_base = 48_000, 0, fractions.Fraction(1, 48_000)
    return f


def test_the_numpy_level_equals_aiortcs_python_loop():
    original = rtp.compute_audio_level_dbov
    rng = np.random.default_rng(0)
    cases = [np.zeros(960), np.full(1920, 32767), rng.integers(-300, 300, 1920), rng.integers(-20000, 20000, 960)]
    for samples in cases:
        layout = "stereo" if len(samples) == 1920 else "mono"
        assert audio_level_dbov(frame(samples, layout)) == original(frame(samples, layout))


def test_install_replaces_the_function_aiortcs_senders_call():
    original = rtp.compute_audio_level_dbov
    try:
        install()
        assert rtp.compute_audio_level_dbov is audio_level_dbov
    finally:
        rtp.compute_audio_level_dbov = original
