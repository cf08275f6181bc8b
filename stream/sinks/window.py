"""An OpenCV preview window (needs a display and OpenCV built with GUI support)."""

from __future__ import annotations

import os
import sys

import cv2

from ..errors import SinkError
from ..frame import Frame
from .base import Sink


class WindowSink(Sink):
    spec = "window"

    def __init__(self, title: str = "livefx") -> None:
        self.title = title
        self._open = False

    def open(self, width: int, height: int, fps: float) -> None:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            # OpenCV's Qt backend aborts the whole process without a display: check first.
            raise SinkError(
                "window: no display (DISPLAY is not set); run it on a desktop, or use --sink virtualcam or file:PATH"
            )
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
            cv2.resizeWindow(self.title, width, height)
        except cv2.error as exc:
            reason = str(exc).strip().splitlines()[-1][:160]
            raise SinkError(
                f"window: cannot open a preview window ({reason}); run it on a desktop"
                " (DISPLAY set) with opencv-python, or use --sink virtualcam or file:PATH"
            ) from None
        self._open = True

    def write(self, frame: Frame) -> None:
        cv2.imshow(self.title, cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
        cv2.waitKey(1)

    def close(self) -> None:
        if self._open:
            cv2.destroyWindow(self.title)
            self._open = False
