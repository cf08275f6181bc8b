"""A sink that discards frames (benchmarks, dry runs)."""

from __future__ import annotations

from ..frame import Frame
from .base import Sink


class NullSink(Sink):
    spec = "null"

    def open(self, width: int, height: int, fps: float) -> None:
        pass

    def write(self, frame: Frame) -> None:
        pass
