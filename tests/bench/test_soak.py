"""The soak's verdict. The soak itself (a real `livefx serve`, one WebRTC client, minutes of
streaming; nothing may leak) is a bench, `python -m bench.soak` (results in
bench/results/soak-cpu.md): two real minutes of it do not belong in every CI run (issue 32)."""

import pytest

from livefx.bench.soak import verdict


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
