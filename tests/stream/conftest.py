"""Fixtures for the engine's tests: clips with sound (flashes and beeps at known instants)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from livefx.bench.av_sync import DEFAULT_EVENTS, write_flash_beep_clip


@pytest.fixture(scope="session")
def flash_beep_clip(tmp_path_factory) -> Callable[..., Path]:
    """``make(suffix, seconds)``: a clip of dark frames with a one-frame flash and a 1 kHz beep
    at the same instants (``bench.av_sync``), 320x240 at 30 fps, 48 kHz stereo; made once."""
    made: dict[tuple[str, float], Path] = {}

    def make(suffix: str = ".mp4", seconds: float = 6.0) -> Path:
        if (suffix, seconds) not in made:
            path = tmp_path_factory.mktemp("clips") / f"flash-beep-{seconds:g}s{suffix}"
            events = tuple(t for t in DEFAULT_EVENTS if t < seconds - 0.2)
            write_flash_beep_clip(path, seconds, events=events)
            made[suffix, seconds] = path
        return made[suffix, seconds]

    return make


@pytest.fixture
def pulse_server(monkeypatch):
    """A private PulseAudio daemon that only this test talks to (``pulse_daemon.py``)."""
    from .pulse_daemon import private_pulseaudio

    with private_pulseaudio(monkeypatch) as home:
        yield home
