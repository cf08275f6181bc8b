"""What every sink provides."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

import cv2
import numpy as np

from ..audio.chunk import AudioChunk
from ..frame import Frame

log = logging.getLogger("livefx.sink")


class Sink(ABC):
    """A consumer of processed frames, driven from its own thread.

    ``open`` is called with the first frame's size; later frames may differ in size
    (the source changed resolution) and a sink with a fixed size adapts them.
    """

    spec: str = "sink"
    #: True for recorders, which want every frame in order (skipping only what they fall
    #: too far behind on); False for live outputs, which want the newest frame.
    in_order: bool = False
    #: True for sinks that keep the source's sound beside the frames (``write_audio``); the
    #: others write pictures only, and the run says so once.
    holds_audio: bool = False

    @abstractmethod
    def open(self, width: int, height: int, fps: float) -> None: ...

    @abstractmethod
    def write(self, frame: Frame) -> None: ...

    def expect_audio(self, rate: int, channels: int) -> None:
        """Before ``open``, on a sink that holds audio: the source has sound in this format."""

    def write_audio(self, chunk: AudioChunk) -> None:
        """One chunk of the source's sound, timed on the frames' clock, from the same thread
        as ``write`` and only after the first frame (a sink that holds audio overrides it)."""

    def close(self) -> None:
        """Flush and free. Safe to call twice, and after a failed ``open``."""


class FixedSize:
    """Fits frames to the size a sink opened with, warning once when the size changes."""

    def __init__(self, spec: str, width: int, height: int) -> None:
        self.spec = spec
        self.size = (width, height)
        self._warned = False

    def fit(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        if (w, h) == self.size:
            return image
        if not self._warned:
            log.warning(
                "%s: frames changed size to %dx%d mid-stream; scaling them to %dx%d",
                self.spec,
                w,
                h,
                *self.size,
            )
            self._warned = True
        return cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
