"""Frame sinks and the ``--sink`` spec parser."""

from __future__ import annotations

from ..errors import UsageError
from .base import Sink
from .file import FileSink
from .null import NullSink
from .virtualcam import VirtualCamSink
from .virtualmic import VirtualMicSink
from .window import WindowSink

SINK_HELP = "null | file:PATH.{mp4,mkv,y4m} | virtualcam[:DEVICE] | virtualmic[:NAME] | window"


def make_sink(spec: str, *, overwrite: bool = False) -> Sink:
    """Build the sink named by ``spec`` (opened later, on the first frame). A ``file:`` sink
    refuses an existing file unless ``overwrite`` (``--overwrite``)."""
    kind, _, arg = spec.partition(":")
    if kind == "null" and not arg:
        return NullSink()
    if kind == "file" and arg:
        return FileSink(arg, overwrite=overwrite)
    if kind == "virtualcam":
        return VirtualCamSink(arg or None)
    if kind == "virtualmic":
        return VirtualMicSink(arg or None)
    if kind == "window" and not arg:
        return WindowSink()
    raise UsageError(f"--sink {spec}: unknown sink; use {SINK_HELP}")


__all__ = ["Sink", "NullSink", "FileSink", "VirtualCamSink", "VirtualMicSink", "WindowSink", "make_sink", "SINK_HELP"]
