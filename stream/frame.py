"""The one frame type every stage speaks."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

#: Time base of ``Frame.pts`` unless a source says otherwise (the usual 90 kHz video clock).
DEFAULT_TIME_BASE = Fraction(1, 90_000)


def now_ns() -> int:
    """Monotonic clock used for every capture and latency timestamp."""
    return time.monotonic_ns()


@dataclass(frozen=True)
class Frame:
    """One video frame on the host.

    ``image`` is HxWx3 uint8 RGB. ``t_capture`` is ``now_ns()`` when the frame entered
    livefx; latency is always measured from it. ``pts`` counts ``time_base`` units.
    """

    seq: int
    t_capture: int
    pts: int
    image: np.ndarray
    time_base: Fraction = DEFAULT_TIME_BASE
    #: Live sinks show this frame no sooner than this long after the previous one
    #: (set on frames that follow an in-between frame, so 2x output is evenly spaced).
    gap_ns: int = 0

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.width, self.height

    @property
    def time_s(self) -> float:
        """Presentation time in seconds."""
        return float(self.pts * self.time_base)

    def with_image(self, image: np.ndarray) -> Frame:
        """Same identity and timing, new pixels (the result of processing)."""
        return replace(self, image=image)


def check_image(image: np.ndarray) -> None:
    """Raise ValueError unless ``image`` is an HxWx3 uint8 array."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got dtype={image.dtype} shape={image.shape}")
