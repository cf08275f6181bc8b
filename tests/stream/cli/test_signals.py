"""A stop signal while models load ends the start at once, cleanly, with a word."""

import signal
import subprocess
import sys

from livefx.stream.cli.signals import handling_stop_signals

#: Run in a fresh interpreter: a SIGTERM that found no handler (the bug this guards against)
#: then fails one test with its output instead of killing a test worker.
_SIGTERM_IN_THE_BLOCK = """
import os, signal
from livefx.stream.cli.signals import StoppedDuringStartup, stop_during_startup
before = signal.getsignal(signal.SIGTERM)
try:
    with stop_during_startup():
        os.kill(os.getpid(), signal.SIGTERM)
    print("not stopped")
except StoppedDuringStartup as exc:
    print(exc)
print("restored" if signal.getsignal(signal.SIGTERM) is before else "not restored")
"""


def test_sigterm_inside_the_block_raises_and_the_old_handler_comes_back():
    proc = subprocess.run([sys.executable, "-c", _SIGTERM_IN_THE_BLOCK], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.splitlines() == [
        "stopped by SIGTERM while starting; nothing was written",
        "restored",
    ], proc.stdout


def test_a_sighup_ignored_at_start_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with handling_stop_signals(lambda *_: None):
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


_STOPPED_WHILE_WARMING_UP = """
import os, signal, sys
from livefx.stream.cli.main import main
from livefx.stream.pipeline import Pipeline

def open_then_get_stopped(self):
    os.kill(os.getpid(), signal.SIGTERM)  # what a service manager sends during a slow start
    raise AssertionError("the signal did not stop the start")

Pipeline.open = open_then_get_stopped
out, stats = sys.argv[1:3]
sys.exit(main(["run", "--source", "synthetic", "--sink", "file:" + out, "--stats", stats, "--frames", "5"]))
"""


def test_run_stopped_while_its_models_warm_up_exits_143_and_writes_nothing(tmp_path):
    out, stats = tmp_path / "o.mp4", tmp_path / "s.json"
    proc = subprocess.run(
        [sys.executable, "-c", _STOPPED_WHILE_WARMING_UP, str(out), str(stats)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 143, proc.stderr[-2000:]
    assert "stopped by SIGTERM while starting; nothing was written" in proc.stderr
    assert not out.exists() and not stats.exists()
