"""The PulseAudio commands a virtual microphone needs, through ``pactl`` (PipeWire's
pipewire-pulse answers the same commands)."""

from __future__ import annotations

import shutil
import subprocess

from ..errors import SinkError

#: A command that waits longer than this (s) is taken as a server that does not answer.
TIMEOUT_S = 10.0


def check_server(spec: str) -> None:
    """Raise one readable SinkError unless ``pactl`` and ``pacat`` exist and a server answers."""
    for tool in ("pactl", "pacat"):
        if shutil.which(tool) is None:
            raise SinkError(
                f"{spec}: {tool} not found; install pulseaudio-utils (pactl, pacat) and a sound server:"
                " pulseaudio, or PipeWire's pipewire-pulse"
            )
    try:
        done = subprocess.run(["pactl", "info"], capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        done = None
    if done is None or done.returncode != 0:
        reason = _first_line(done.stderr if done is not None else "") or "no answer"
        raise SinkError(
            f"{spec}: no PulseAudio server answers ({reason}); start one: pulseaudio --start,"
            " or systemctl --user start pipewire-pulse"
        )


def pactl(spec: str, *args: str) -> str:
    """Run ``pactl ARGS``; its output, or a SinkError naming the command."""
    try:
        done = subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SinkError(
            f"{spec}: pactl {' '.join(args)}: the sound server did not answer in {TIMEOUT_S:.0f} s"
        ) from None
    if done.returncode != 0:
        raise SinkError(f"{spec}: pactl {' '.join(args)} failed: {_first_line(done.stderr) or done.returncode}")
    return done.stdout


def names(spec: str, kind: str) -> set[str]:
    """The names of the server's ``sinks`` or ``sources``."""
    rows = pactl(spec, "list", "short", kind).splitlines()
    return {row.split("\t")[1] for row in rows if row.count("\t") >= 1}


def load_module(spec: str, module: str, *args: str) -> int:
    """Load ``module`` with ``args``; its index (to unload it)."""
    return int(pactl(spec, "load-module", module, *args).strip())


def unload_module(spec: str, index: int) -> None:
    pactl(spec, "unload-module", str(index))


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""
