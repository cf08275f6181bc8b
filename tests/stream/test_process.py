"""Process-wide set-up happens once."""

import gc

from livefx.stream import process


def test_the_startup_heap_is_frozen_once_per_process(monkeypatch):
    calls = []
    monkeypatch.setattr(process, "_frozen", False)
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append("collect") or 0)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    assert process.freeze_startup_heap() is True
    assert process.freeze_startup_heap() is False
    assert calls == ["collect", "freeze"]
