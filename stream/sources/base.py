"""What every frame source provides."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Source(ABC):
    """A blocking producer of RGB frames, read from one capture thread.

    ``open`` raises SourceError with a readable message; ``read`` returns
    ``(image, time_s)`` or None at the end of the stream.
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

    def close(self) -> None:
        """Free the device or file. Safe to call twice."""

    def interrupt(self) -> None:
        """Ask a blocked or retrying ``read`` to give up soon (called from another thread)."""

    @property
    @abstractmethod
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames ``read`` returns; valid after ``open``."""
