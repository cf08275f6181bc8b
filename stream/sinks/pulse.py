"""The PulseAudio commands a virtual microphone needs (``audio/pulse.py``), raising SinkError."""

from __future__ import annotations

from ..audio import pulse as shared
from ..errors import SinkError

#: A command that waits longer than this (s) is taken as a server that does not answer.
TIMEOUT_S = shared.TIMEOUT_S


def check_server(spec: str) -> None:
    """Raise one readable SinkError unless ``pactl`` and ``pacat`` exist and a server answers."""
    shared.check_server(spec, ("pactl", "pacat"), SinkError)


def pactl(spec: str, *args: str) -> str:
    """Run ``pactl ARGS``; its output, or a SinkError naming the command."""
    return shared.pactl(spec, *args, error=SinkError)


def names(spec: str, kind: str) -> set[str]:
    """The names of the server's ``sinks`` or ``sources``."""
    return set(shared.short_list(spec, kind, SinkError))


def load_module(spec: str, module: str, *args: str) -> int:
    """Load ``module`` with ``args``; its index (to unload it)."""
    return int(pactl(spec, "load-module", module, *args).strip())


def unload_module(spec: str, index: int) -> None:
    pactl(spec, "unload-module", str(index))
