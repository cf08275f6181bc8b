"""PulseAudio through its command-line tools (``pactl``, ``pacat``, ``parec``; PipeWire's
pipewire-pulse answers the same commands), shared by the virtual microphone and ``--mic``.
Each call names the ``spec`` it serves and the error class its side raises."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable

from ..errors import LivefxError

#: A command that waits longer than this (s) is taken as a server that does not answer.
TIMEOUT_S = 10.0


def check_server(spec: str, tools: Iterable[str], error: type[LivefxError]) -> None:
    """Raise one readable ``error`` unless ``tools`` exist and a server answers ``pactl info``."""
    tools = list(tools)
    for tool in tools:
        if shutil.which(tool) is None:
            raise error(
                f"{spec}: {tool} not found; install pulseaudio-utils ({', '.join(tools)}) and a sound server:"
                " pulseaudio, or PipeWire's pipewire-pulse"
            )
    try:
        done = subprocess.run(["pactl", "info"], capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        done = None
    if done is None or done.returncode != 0:
        reason = first_line(done.stderr if done is not None else "") or "no answer"
        raise error(
            f"{spec}: no PulseAudio server answers ({reason}); start one: pulseaudio --start,"
            " or systemctl --user start pipewire-pulse"
        )


def pactl(spec: str, *args: str, error: type[LivefxError]) -> str:
    """Run ``pactl ARGS``; its output, or an ``error`` naming the command."""
    try:
        done = subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise error(f"{spec}: pactl {' '.join(args)}: the sound server did not answer in {TIMEOUT_S:.0f} s") from None
    if done.returncode != 0:
        raise error(f"{spec}: pactl {' '.join(args)} failed: {first_line(done.stderr) or done.returncode}")
    return done.stdout


def short_list(spec: str, kind: str, error: type[LivefxError]) -> dict[str, list[str]]:
    """``pactl list short KIND`` (sinks, sources, ...): name -> the row's other columns."""
    rows = [row.split("\t") for row in pactl(spec, "list", "short", kind, error=error).splitlines()]
    return {row[1]: row[2:] for row in rows if len(row) >= 2}


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""
