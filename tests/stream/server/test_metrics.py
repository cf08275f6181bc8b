"""``GET /metrics``: Prometheus text from a real server, summed over its sessions."""

import asyncio
import urllib.error
import urllib.request

import torch
from prometheus_client.parser import text_string_to_metric_families

from livefx.stream.device import FrameConverter
from livefx.stream.server.app import LivefxServer
from livefx.stream.server.metrics import ServerMetrics, effect_ran, scale_label
from livefx.stream.server.session import SessionSettings
from livefx.stream.sources.synthetic import SyntheticSource
from livefx.stream.stats import FrameRecord, RunStats

from ..test_switching import student_file
from .test_app import with_server
from .test_sessions import Caller, wait_until


def get(url: str, cookie: str | None = None) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as {(name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(parsed: dict, name: str, **labels: str) -> float | None:
    return parsed.get((name, tuple(sorted(labels.items()))))


async def scrape(server: LivefxServer, query: str = "") -> dict:
    loop = asyncio.get_running_loop()
    status, ctype, text = await loop.run_in_executor(None, get, f"http://127.0.0.1:{server.port}/metrics{query}")
    assert status == 200 and ctype.startswith("text/plain"), (status, text)
    return samples(text)


def styled(seq: int, scale: float = 1.0, decision: str = "full", latency_ms: float = 40.0) -> FrameRecord:
    return FrameRecord(seq, decision, latency_ms, False, {"stylize": 25.0, "io": 4.0}, scale)


def test_which_frames_count_as_the_effect_running_and_scale_labels():
    assert effect_ran(styled(1))
    assert not effect_ran(FrameRecord(2, "passthrough", 1.0, False, {}, 1.0))
    assert not effect_ran(FrameRecord(3, "hold", 90.0, True, {}, 0.5))  # the old frame shown again
    assert not effect_ran(FrameRecord(4, "full", 9.0, False, {"io": 3.0, "interpolate": 5.0}))  # no effect stage
    # A frame between key frames shows the last styled one carried: the effect did not run on it.
    assert not effect_ran(FrameRecord(5, "scale_0.75_light_every2", 9.0, False, {"carry": 4.0}, 0.75))
    assert effect_ran(FrameRecord(6, "scale_0.75_light_every2", 9.0, False, {"carry": 4.0, "stylize": 30.0}, 0.75))
    assert [scale_label(s) for s in (1.0, 0.75, 0.5, 1)] == ["1.0", "0.75", "0.5", "1.0"]


def test_counters_reflect_the_records_and_survive_a_session_ending():
    async def check(server):
        metrics: ServerMetrics = server.metrics
        first, second = RunStats(100, "cpu"), RunStats(100, "cpu")
        first.engine["stylize"] = {"backend": "openvino", "precision": "bf16"}
        second.engine["interpolate"] = {"backend": "eager", "precision": "fp32"}
        metrics.attach(first)
        metrics.attach(second)
        for seq in range(6):
            first.record(styled(seq))
        for seq in range(3):
            first.record(styled(10 + seq, 0.75, "scale_0.75", latency_ms=150.0))
        first.record(FrameRecord(20, "passthrough", 2.0, False, {}, 1.0))
        first.record_motion(interpolated=2, held=0, wait_ms=10.0)  # in-between frames are frames out
        second.record(styled(0, 0.5, "scale_0.5"))
        first.frames_in, first.frames_dropped = 14, 3
        second.frames_in = 2
        live = await scrape(server)

        # The first session ends with more frames counted by its pipeline than last seen.
        first.frames_in, first.frames_dropped = 15, 4
        metrics.detach(first)
        first.record(styled(99))  # after detaching: no longer counted
        first.frames_in = 1000
        ended = await scrape(server)
        return live, ended

    live, ended = asyncio.run(with_server(check))
    assert value(live, "livefx_frames_in_total") == 16
    assert value(live, "livefx_frames_out_total") == 10 + 2 + 1
    assert value(live, "livefx_frames_dropped_total") == 3
    assert value(live, "livefx_plan_decisions_total", plan="full") == 6
    assert value(live, "livefx_plan_decisions_total", plan="scale_0.75") == 3
    assert value(live, "livefx_plan_decisions_total", plan="scale_0.5") == 1
    assert value(live, "livefx_plan_decisions_total", plan="passthrough") == 1
    assert value(live, "livefx_effect_scale_total", scale="1.0") == 6  # the passthrough frame ran no effect
    assert value(live, "livefx_effect_scale_total", scale="0.75") == 3
    assert value(live, "livefx_effect_scale_total", scale="0.5") == 1
    assert value(live, "livefx_engine_info", model="stylize", backend="openvino", precision="bf16") == 1
    assert value(live, "livefx_engine_info", model="interpolate", backend="eager", precision="fp32") == 1
    assert value(live, "livefx_latency_seconds_count") == 11
    assert value(live, "livefx_latency_seconds_bucket", le="0.05") == 6 + 1 + 1  # 40 ms x7, 2 ms x1
    assert value(live, "livefx_latency_seconds_bucket", le="0.15") == 11
    assert value(live, "livefx_stage_seconds_count", stage="stylize") == 10
    assert abs(value(live, "livefx_stage_seconds_sum", stage="stylize") - 0.25) < 1e-9
    assert value(live, "livefx_stage_seconds_count", stage="io") == 10
    assert value(live, "livefx_sessions") == 0

    # Counters keep what the ended session counted (its last numbers included); its model is gone.
    assert value(ended, "livefx_frames_in_total") == 17
    assert value(ended, "livefx_frames_dropped_total") == 4
    assert value(ended, "livefx_frames_out_total") == 13
    assert value(ended, "livefx_plan_decisions_total", plan="full") == 6
    assert value(ended, "livefx_effect_scale_total", scale="1.0") == 6
    assert value(ended, "livefx_engine_info", model="stylize", backend="openvino", precision="bf16") is None
    assert value(ended, "livefx_engine_info", model="interpolate", backend="eager", precision="fp32") == 1


def test_metrics_need_the_token_when_one_is_set():
    async def check(server):
        base = f"http://127.0.0.1:{server.port}/metrics"
        loop = asyncio.get_running_loop()
        bare = await loop.run_in_executor(None, get, base)
        wrong = await loop.run_in_executor(None, get, base + "?token=nope")
        by_query = await loop.run_in_executor(None, get, base + "?token=t0k")
        by_cookie = await loop.run_in_executor(None, get, base, "livefx_token=t0k")
        return bare, wrong, by_query, by_cookie

    bare, wrong, by_query, by_cookie = asyncio.run(with_server(check, token="t0k"))
    assert bare[0] == 403 and wrong[0] == 403 and "livefx_" not in bare[2]
    assert by_query[0] == 200 and by_cookie[0] == 200
    assert "livefx_frames_in_total" in by_query[2]


def test_each_server_has_its_own_registry():
    one, two = ServerMetrics(), ServerMetrics()
    stats = RunStats(100, "cpu")
    one.attach(stats)
    stats.record(styled(1))
    assert value(samples(one.render().decode()), "livefx_frames_out_total") == 1
    assert value(samples(two.render().decode()), "livefx_frames_out_total") == 0


def test_a_real_session_is_counted_and_its_counts_stay_after_it_leaves(tmp_path):
    settings = SessionSettings(
        FrameConverter(torch.device("cpu"), torch.float32),
        student_file(tmp_path / "style.safetensors", 3),
        budget_ms=1000,
        size=(96, 72),
        backend="eager",
        metrics_every_s=0.2,
    )

    async def check(server):
        caller = Caller(server.port)
        await caller.join()
        await caller.frames_beyond(10)
        during = await scrape(server)
        await caller.leave()
        await wait_until(lambda: not server.sessions, "the session was not freed")
        after = await scrape(server)
        return during, after

    during, after = asyncio.run(with_server(check, session_settings=settings))
    assert value(during, "livefx_sessions") == 1 and value(after, "livefx_sessions") == 0
    assert value(during, "livefx_frames_out_total") >= 10
    for name in ("livefx_frames_in_total", "livefx_frames_out_total", "livefx_frames_dropped_total"):
        assert value(after, name) >= value(during, name), name
    assert value(after, "livefx_frames_in_total") >= value(after, "livefx_frames_out_total") > 0
    effect = sum(v for (name, _), v in after.items() if name == "livefx_effect_scale_total")
    decisions = sum(v for (name, _), v in after.items() if name == "livefx_plan_decisions_total")
    assert 0 < effect <= decisions == value(after, "livefx_latency_seconds_count")
    assert value(after, "livefx_stage_seconds_count", stage="stylize") == effect


def test_the_broadcast_hub_is_counted_without_viewers():
    settings = SessionSettings(FrameConverter(torch.device("cpu"), torch.float32), None, size=(96, 72), backend="eager")

    async def check(server):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:
            parsed = await scrape(server)
            if value(parsed, "livefx_frames_in_total") >= 5 and value(parsed, "livefx_frames_out_total") >= 5:
                return parsed
            assert loop.time() < deadline, parsed
            await asyncio.sleep(0.2)

    parsed = asyncio.run(with_server(check, session_settings=settings, source=SyntheticSource(96, 72, fps=30)))
    assert value(parsed, "livefx_sessions") == 0
    assert value(parsed, "livefx_plan_decisions_total", plan="full") >= 5


def test_a_failing_observer_never_stops_the_records():
    stats, seen = RunStats(100, "cpu"), []

    def broken(record):
        raise RuntimeError("bug")

    stats.add_observer(broken)
    stats.add_observer(seen.append)
    stats.record(styled(1))
    stats.record(styled(2))
    assert stats.frames_out == 2 and [r.seq for r in seen] == [1, 2]
    stats.remove_observer(seen.append)
    stats.record(styled(3))
    assert len(seen) == 2
