"""RunStats: written from several threads (worker, warm-up, scrapes), read whole."""

import threading

import pytest

from livefx.stream.stats import FrameRecord, RunStats


def test_fields_written_while_snapshots_are_taken_never_tear_a_snapshot():
    stats = RunStats(100.0, "cpu")
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            stats.add_warmup(f"stage{i % 50}", 0.01, {"backend": "openvino", "precision": "bf16"})
            stats.update(frames_in=i, sinks={f"s{j}": {"written": j} for j in range(i % 7)})
            stats.record(FrameRecord(i, "full", 10.0, False, {f"stage{i % 30}": 1.0}))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(300):
            doc = stats.snapshot()
            assert len(doc["sinks"]) < 7
    except BaseException as exc:  # noqa: BLE001 - reported below, after the writer stops
        errors.append(exc)
    finally:
        stop.set()
        thread.join()
    assert not errors
    doc = stats.snapshot()
    assert doc["engine"]["stage1"] == {"backend": "openvino", "precision": "bf16"}
    assert doc["warmup_s"]["stage1"] > 0


def test_update_refuses_a_field_that_does_not_exist():
    with pytest.raises(AttributeError, match="no field 'frames_inn'"):
        RunStats(100.0, "cpu").update(frames_inn=3)
