"""Errors a user can act on. The CLI prints them as one line, without a traceback."""


class LivefxError(Exception):
    """An expected failure with a message that names the thing and the fix."""

    exit_code = 1


class UsageError(LivefxError):
    """Bad command-line input (unknown sink, odd size, ...)."""

    exit_code = 2


class SourceError(LivefxError):
    """A source that cannot be opened or read."""


class SinkError(LivefxError):
    """A sink that cannot be opened or written."""


class WeightsError(LivefxError):
    """A weights file that is missing, unreadable or not the expected model."""
