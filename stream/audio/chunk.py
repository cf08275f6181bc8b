"""The one audio type every part speaks."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

#: The rate of all audio inside livefx and of everything that leaves it (Hz).
AUDIO_RATE = 48_000


@dataclass(frozen=True)
class AudioChunk:
    """A run of samples from one source.

    ``samples`` is int16, shaped (n, channels), interleaved. ``time_s`` is the media time of
    the first sample, on the clock of the same source's ``Frame.time_s``. ``t_capture`` is
    ``now_ns()`` when the first sample entered livefx, from the mapping the capture thread
    uses for frames (0 until the capture thread stamps it).
    """

    samples: np.ndarray
    rate: int
    time_s: float
    t_capture: int = 0

    def __post_init__(self) -> None:
        check_samples(self.samples)

    @property
    def frames(self) -> int:
        """Samples per channel."""
        return int(self.samples.shape[0])

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate

    def stamped(self, t_capture: int) -> AudioChunk:
        """The same samples with their capture stamp."""
        return replace(self, t_capture=t_capture)


def check_samples(samples: np.ndarray) -> None:
    """Raise ValueError unless ``samples`` is an (n, channels) int16 array."""
    if samples.dtype != np.int16 or samples.ndim != 2 or samples.shape[1] < 1:
        raise ValueError(f"expected (n, channels) int16 samples, got dtype={samples.dtype} shape={samples.shape}")
