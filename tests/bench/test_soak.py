"""The 2-minute soak: a real `livefx serve` and one WebRTC client; nothing may leak."""

import json

import pytest

from livefx.bench.soak import main, verdict


def test_two_minutes_of_streaming_leak_no_memory_threads_or_descriptors(tmp_path):
    out = tmp_path / "soak"
    assert main(["--minutes", "2", "--warmup-s", "40", "--every-s", "2", "--out", str(out)]) == 0
    doc = json.loads(out.with_suffix(".json").read_text())
    v = doc["verdict"]
    assert v["frames_back"] > 0 and not doc["samples"][-1]["errors"]
    assert v["rss_growth"] < 0.05, v
    assert abs(v["threads_drift"]) <= 1 and abs(v["fds_drift"]) <= 2, v


def test_the_verdict_measures_growth_after_the_warm_up_only():
    samples = [
        {"t": t, "rss_mb": 100 + (50 if t < 10 else t / 10), "threads": 9, "fds": 12, "frames_back": t}
        for t in range(0, 90, 2)
    ]
    v = verdict(samples, warmup_s=10)
    assert v["rss_mb_after_warmup"] == pytest.approx(101.5, abs=0.6)
    assert 0.05 < v["rss_growth"] < 0.09  # 0.1 MB/s: a slow leak the test above would catch
    assert v["threads_drift"] == 0 and v["fds_drift"] == 0
    with pytest.raises(ValueError, match="run longer"):
        verdict(samples[:6], warmup_s=10)
