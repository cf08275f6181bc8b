"""What every frame source provides."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..audio.chunk import AudioChunk


class Source(ABC):
    """A blocking producer of RGB frames, read from one capture thread.

    ``open`` raises SourceError with a readable message; ``read`` returns
    ``(image, time_s)`` or None at the end of the stream. A source with sound
    (``has_audio``) hands the chunks it decoded along the way to ``take_audio``, timed on
    the same clock as the frames.
    """

    #: Shown in logs and errors, e.g. ``file:clip.mp4``.
    spec: str = "source"
    #: Nominal frame rate.
    fps: float = 30.0
    #: True when reading blocks until the device has a new frame (cameras); False when
    #: the capture thread must pace reads to ``fps`` itself in real time.
    self_paced: bool = False

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def read(self) -> tuple[np.ndarray, float] | None: ...

    @property
    def has_audio(self) -> bool:
        """True when ``take_audio`` yields sound (valid after ``open``)."""
        return False

    @property
    def audio_channels(self) -> int:
        """Channels of the chunks ``take_audio`` returns (0: no audio)."""
        return 0

    @property
    def audio_dropped(self) -> int:
        """Decoded audio lost before the capture thread took it (a file whose sound lies far
        ahead of its pictures)."""
        return 0

    def take_audio(self) -> list[AudioChunk]:
        """The audio decoded since the last call, oldest first, not yet stamped
        (``t_capture`` 0); called by the capture thread after each ``read``."""
        return []

    def close(self) -> None:
        """Free the device or file. Safe to call twice."""

    def interrupt(self) -> None:
        """Ask a blocked or retrying ``read`` to give up soon (called from another thread)."""

    @property
    @abstractmethod
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames ``read`` returns; valid after ``open``."""
