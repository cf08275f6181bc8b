"""A private PulseAudio daemon for the tests that need a sound server (Debian's pulseaudio,
started in a temporary folder; only the test's own commands reach it, through PULSE_SERVER)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

WAIT_S = 20  # generous: a busy machine may start a daemon slowly


def pactl(*args: str) -> str:
    return subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=WAIT_S, check=True).stdout


@contextmanager
def private_pulseaudio(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Start the daemon (skip the test where pulseaudio or parec is absent); its folder."""
    if shutil.which("pulseaudio") is None or shutil.which("parec") is None:
        pytest.skip("pulseaudio is not installed (Debian: apt-get install pulseaudio pulseaudio-utils)")
    home = Path(tempfile.mkdtemp(prefix="pa", dir="/tmp"))  # short: a unix socket path has 107 bytes
    socket = home / "native"
    for name in ("PULSE_RUNTIME_PATH", "PULSE_STATE_PATH", "HOME"):
        monkeypatch.setenv(name, str(home))
    monkeypatch.setenv("PULSE_SERVER", f"unix:{socket}")
    daemon = subprocess.Popen(
        ["pulseaudio", "--daemonize=no", "-n", "--exit-idle-time=-1", "--disallow-exit", "--use-pid-file=no"]
        + ["--disable-shm=yes", f"--log-target=file:{home / 'pa.log'}"]
        + ["-L", f"module-native-protocol-unix auth-anonymous=1 socket={socket}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + WAIT_S
        while subprocess.run(["pactl", "info"], capture_output=True).returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                log = (home / "pa.log").read_text() if (home / "pa.log").exists() else ""
                pytest.fail(f"the private pulseaudio did not start: {log[-500:]}")
            time.sleep(0.05)
        yield home
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        shutil.rmtree(home, ignore_errors=True)
