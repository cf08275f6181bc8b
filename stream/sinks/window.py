"""An OpenCV preview window (needs a display and OpenCV built with GUI support) that takes
keys: each is a live command (``scheduling/commands.py``), handed to ``commands`` (never run on
this sink's thread), or the quit key."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from concurrent.futures import Future

import cv2

from ..errors import SinkError
from ..frame import Frame
from .base import Sink

log = logging.getLogger("livefx")

#: What ``key_command`` returns for the keys that stop the run.
QUIT = "quit"

#: Keys and the commands they send; 1-9 pick styles by number (``key_command``).
KEYS = {
    "+": "mix +0.1",
    "=": "mix +0.1",  # + without shift on most layouts
    "-": "mix -0.1",
    "e": "effect toggle",
    "m": "mirror toggle",
    "n": "next",
    "p": "prev",
    "q": QUIT,
    "\x1b": QUIT,  # Esc
}


def key_command(key: int) -> str | None:
    """The command for a key ``cv2.waitKey`` returned (-1: none; modifier bits ignored)."""
    if key < 0:
        return None
    char = chr(key & 0xFF)
    if char in "123456789":
        return f"style {char}"
    return KEYS.get(char)


class WindowSink(Sink):
    spec = "window"

    def __init__(self, title: str = "livefx") -> None:
        self.title = title
        self._open = False
        #: Where key commands go (the run's ``CommandRunner.run``; None: keys do nothing).
        self.commands: Callable[[str], Future] | None = None
        #: Called on the quit key (q or Esc).
        self.on_quit: Callable[[], None] | None = None

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
        self.press(cv2.waitKey(1))

    def press(self, key: int) -> None:
        """Act on one key: hand its command on (the reply is logged when it comes) or quit."""
        command = key_command(key)
        if command == QUIT and self.on_quit is not None:
            self.on_quit()
        elif command is not None and command != QUIT and self.commands is not None:
            self.commands(command).add_done_callback(lambda f: _log_reply(command, f))

    def close(self) -> None:
        if self._open:
            cv2.destroyWindow(self.title)
            self._open = False


def _log_reply(command: str, future: Future) -> None:
    try:
        log.info("window: %s: %s", command, future.result())
    except Exception as exc:  # noqa: BLE001 - a refused command is a line in the log, the window goes on
        log.warning("window: %s: %s", command, exc)
