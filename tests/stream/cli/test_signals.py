"""A stop signal while models load ends the start at once, cleanly, with a word."""

import os
import signal

import pytest

from livefx.stream.cli.main import main
from livefx.stream.cli.signals import StoppedDuringStartup, handling_stop_signals, stop_during_startup
from livefx.stream.pipeline import Pipeline


def test_sigterm_inside_the_block_raises_and_the_old_handler_comes_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(StoppedDuringStartup, match="stopped by SIGTERM while starting"), stop_during_startup():
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_sighup_ignored_at_start_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with handling_stop_signals(lambda *_: None):
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_run_stopped_while_its_models_warm_up_exits_143_and_writes_nothing(tmp_path, monkeypatch, capsys):
    def open_then_get_stopped(self):
        os.kill(os.getpid(), signal.SIGTERM)  # what a service manager sends during a slow start
        raise AssertionError("the signal did not stop the start")

    monkeypatch.setattr(Pipeline, "open", open_then_get_stopped)
    out, stats = tmp_path / "o.mp4", tmp_path / "s.json"
    code = main(["run", "--source", "synthetic", "--sink", f"file:{out}", "--stats", str(stats), "--frames", "5"])
    assert code == 143
    assert "stopped by SIGTERM while starting; nothing was written" in capsys.readouterr().err
    assert not out.exists() and not stats.exists()
