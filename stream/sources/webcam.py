"""Local cameras through OpenCV, with reconnection when the device goes away."""

from __future__ import annotations

import logging
import threading
import time

import cv2
import numpy as np

from ..errors import SourceError
from .base import Source

log = logging.getLogger("livefx.source")


class WebcamSource(Source):
    """``webcam[:N]``. A camera that disappears mid-stream is reopened with backoff
    (0.25 s doubling to ``max_backoff_s``) until it returns or the run stops."""

    self_paced = True

    def __init__(
        self,
        index: int = 0,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        max_backoff_s: float = 4.0,
    ) -> None:
        self.index = index
        self.spec = f"webcam:{index}"
        self._want = (width, height, fps)
        self.fps = fps or 30.0
        self.max_backoff_s = max_backoff_s
        self._cap: cv2.VideoCapture | None = None
        self._size = (width or 0, height or 0)
        self._stop = threading.Event()
        self._t0 = 0.0
        self.reconnects = 0
        self._pending: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def _try_open(self) -> cv2.VideoCapture | None:
        cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            return None
        width, height, fps = self._want
        if width and height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            cap.set(cv2.CAP_PROP_FPS, fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # we want the newest frame, not a backlog
        return cap

    def open(self) -> None:
        self._cap = self._try_open()
        if self._cap is None:
            raise SourceError(
                f"{self.spec}: cannot open camera {self.index} (/dev/video{self.index} on Linux);"
                " check it is connected and not in use, or pick another with webcam:N"
            )
        ok, frame = self._cap.read()
        if not ok or frame is None:
            self.close()
            raise SourceError(f"{self.spec}: camera {self.index} opened but gives no frames; is it in use?")
        self._pending = frame
        self._size = (frame.shape[1], frame.shape[0])
        self.fps = self._cap.get(cv2.CAP_PROP_FPS) or self.fps
        self._t0 = time.monotonic()

    def read(self) -> tuple[np.ndarray, float] | None:
        frame, self._pending = self._pending, None
        while frame is None:
            if self._stop.is_set():
                return None
            ok, frame = (False, None) if self._cap is None else self._cap.read()
            if not ok or frame is None:
                frame = None
                self._reconnect()
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), time.monotonic() - self._t0

    def _reconnect(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        delay = 0.25
        log.warning("%s: camera stopped giving frames; reconnecting", self.spec)
        while not self._stop.is_set():
            self._cap = self._try_open()
            if self._cap is not None:
                self.reconnects += 1
                log.warning("%s: camera is back", self.spec)
                return
            log.warning("%s: camera still unavailable; retrying in %.2g s", self.spec, delay)
            self._stop.wait(delay)
            delay = min(delay * 2, self.max_backoff_s)

    def interrupt(self) -> None:
        self._stop.set()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
