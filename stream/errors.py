"""Errors a user can act on. The CLI prints them as one line, without a traceback.

The base classes live in ``livefx.models.errors`` (the models raise them too and never import
the engine); the engine's own failures are added here.
"""

from livefx.models.errors import LivefxError, UsageError, WeightsError

__all__ = ["LivefxError", "SinkError", "SourceError", "UsageError", "WeightsError"]


class SourceError(LivefxError):
    """A source that cannot be opened or read."""


class SinkError(LivefxError):
    """A sink that cannot be opened or written."""
