"""Errors a user can act on, shared by the models and the engine (which re-exports them).

A message names the thing and the fix. Errors about one setting (a style, a backend, ...) carry
its name in ``setting``: ``str(exc)`` reads "style foo: unknown style ...", and the CLI shows
the flag instead (``for_cli``: "--style foo: ..."), so the browser never sees a CLI flag.
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class LivefxError(Exception):
    """An expected failure with a message that names the thing and the fix."""

    exit_code = 1

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.setting = setting

    def __str__(self) -> str:
        return f"{self.setting} {self.message}" if self.setting else self.message

    def for_cli(self) -> str:
        """The message with the setting written as its command-line flag."""
        return f"--{self.setting} {self.message}" if self.setting else self.message


class UsageError(LivefxError):
    """A bad setting (unknown style, odd size, ...)."""

    exit_code = 2


class WeightsError(LivefxError):
    """A weights file that is missing, unreadable or not the expected model."""


def one_line(exc: BaseException, limit: int = 160) -> str:
    """A library's exception as a short clause for our messages: escape codes removed, the
    first line, cut at a word boundary (never mid-word) when longer than ``limit``."""
    text = _ANSI.sub("", str(exc)).strip()
    line = next((part.strip() for part in text.splitlines() if part.strip()), type(exc).__name__)
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0].rstrip(" ,;:(") + " ..."
