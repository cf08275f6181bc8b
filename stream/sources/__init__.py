"""Frame sources and the ``--source`` spec parser."""

from __future__ import annotations

from ..errors import UsageError
from .base import Source
from .file import FileSource
from .synthetic import SyntheticSource
from .webcam import WebcamSource
from .with_mic import WithMicrophone, with_microphone

SOURCE_HELP = "synthetic | file:PATH | webcam[:N]"


def make_source(
    spec: str, size: tuple[int, int] | None, fps: float | None, loop: bool = False, mic: str | None = None
) -> Source:
    """Build the source named by ``spec`` (not opened yet); ``loop`` repeats a file; ``mic``
    (``--mic``) gives a live source a microphone's sound."""
    source = _make_source(spec, size, fps, loop)
    return with_microphone(source, mic) if mic is not None else source


def _make_source(spec: str, size: tuple[int, int] | None, fps: float | None, loop: bool) -> Source:
    kind, _, arg = spec.partition(":")
    if kind == "synthetic" and not arg:
        w, h = size or (640, 480)
        return SyntheticSource(w, h, fps or 30.0)
    if kind == "file" and arg:
        return FileSource(arg, loop=loop)
    if kind == "webcam":
        if arg and not arg.isdigit():
            raise UsageError(f"--source {spec}: camera index must be a number, e.g. webcam:0")
        w, h = size or (None, None)
        return WebcamSource(int(arg or 0), w, h, fps)
    raise UsageError(f"--source {spec}: unknown source; use {SOURCE_HELP}")


__all__ = [
    "Source",
    "FileSource",
    "SyntheticSource",
    "WebcamSource",
    "WithMicrophone",
    "make_source",
    "SOURCE_HELP",
]
