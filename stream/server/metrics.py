"""``GET /metrics``: the server's counters in Prometheus text format, summed over every
session (and the broadcast hub) since the server started.

Each pipeline's ``RunStats`` is attached while it runs: its frame records reach
``ServerMetrics.observe`` on the worker thread (plan decisions, the scale the effect ran
at, latency and stage histograms). Frames in, out and dropped are absolute numbers on the
``RunStats`` (the pipeline fills them in); they become counter increments by remembering
the last value seen per ``RunStats``, so a counter never goes down when a session ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from livefx.models.stage import MOTION_STAGE

from ..scheduling.budget import CARRY_STAGE, IO_STAGE
from ..stats import FrameRecord, RunStats

log = logging.getLogger("livefx.server")

CONTENT_TYPE = CONTENT_TYPE_LATEST

#: Capture-to-send latency, seconds: a 30 fps frame interval up to a stalled CPU.
LATENCY_BUCKETS = (0.01, 0.02, 0.033, 0.05, 0.075, 0.1, 0.12, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)
#: One stage's time for one frame, seconds.
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.033, 0.05, 0.075, 0.1, 0.15, 0.2, 0.5, 1.0, 2.0)
#: Stages that are not the effect: a frame with only these ran no effect.
NOT_EFFECT = frozenset({IO_STAGE, MOTION_STAGE, CARRY_STAGE})
#: The absolute ``RunStats`` numbers turned into counters.
FRAME_COUNTS = ("frames_in", "frames_out", "frames_dropped")


def scale_label(scale: float) -> str:
    """``1.0``, ``0.75``, ``0.5``: the scale as a label value."""
    return str(round(float(scale), 4))


def effect_ran(record: FrameRecord) -> bool:
    """Whether an effect stage ran on this frame (not passed through, held, or failed)."""
    return any(name not in NOT_EFFECT for name in record.stage_ms)


class _Attached:
    """One attached ``RunStats``: its refresh hook and the frame counts already counted."""

    def __init__(self, refresh: Callable[[], object] | None) -> None:
        self.refresh = refresh
        self.seen = dict.fromkeys(FRAME_COUNTS, 0)


class ServerMetrics:
    """A per-server registry (never the global one: one process may run many servers)."""

    def __init__(self, sessions: Callable[[], int] = lambda: 0) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._attached: dict[RunStats, _Attached] = {}
        r = self.registry
        self.frames = {
            "frames_in": Counter("livefx_frames_in", "Frames the pipelines took in.", registry=r),
            "frames_out": Counter(
                "livefx_frames_out", "Frames the pipelines sent out (in-between frames included).", registry=r
            ),
            "frames_dropped": Counter("livefx_frames_dropped", "Frames dropped before processing.", registry=r),
        }
        self.decisions = Counter(
            "livefx_plan_decisions", "Frames by the plan (rung) the budget planner chose.", ["plan"], registry=r
        )
        self.effect_scale = Counter(
            "livefx_effect_scale",
            "Frames by the scale the effect actually ran at (frames with no effect run are not counted).",
            ["scale"],
            registry=r,
        )
        self.latency = Histogram(
            "livefx_latency_seconds",
            "Capture-to-send latency of processed frames.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stages = Histogram(
            "livefx_stage_seconds", "Time per frame in each stage.", ["stage"], buckets=STAGE_BUCKETS, registry=r
        )
        self.sessions = Gauge("livefx_sessions", "Live sessions (websocket clients).", registry=r)
        self.sessions.set_function(lambda: float(sessions()))
        r.register(_EngineCollector(self))

    # -- feeding -----------------------------------------------------------------------

    def attach(self, stats: RunStats, refresh: Callable[[], object] | None = None) -> None:
        """Count ``stats`` from now on. ``refresh``: brings its absolute numbers up to date
        (e.g. ``Pipeline.snapshot``); called off the event loop, before each scrape."""
        with self._lock:
            if stats in self._attached:
                return
            self._attached[stats] = _Attached(refresh)
        stats.add_observer(self.observe)

    def detach(self, stats: RunStats) -> None:
        """The pipeline ended: count its last numbers and let it go (its counts stay)."""
        stats.remove_observer(self.observe)
        with self._lock:
            attached = self._attached.get(stats)
        if attached is None:
            return
        _refresh(attached)
        with self._lock:
            self._sync(stats, attached)
            self._attached.pop(stats, None)

    def observe(self, record: FrameRecord) -> None:
        """One frame record (on the worker thread: a few locked increments)."""
        self.decisions.labels(plan=record.decision).inc()
        if effect_ran(record):
            self.effect_scale.labels(scale=scale_label(record.scale)).inc()
        self.latency.observe(max(record.latency_ms, 0.0) / 1e3)
        for stage, ms in record.stage_ms.items():
            self.stages.labels(stage=stage).observe(max(ms, 0.0) / 1e3)

    # -- reading -----------------------------------------------------------------------

    def refresh(self) -> None:
        """Bring every attached pipeline's absolute numbers up to date (off the event loop)."""
        with self._lock:
            attached = list(self._attached.values())
        for one in attached:
            _refresh(one)

    def render(self) -> bytes:
        """The Prometheus text exposition (cheap: fine on the event loop)."""
        with self._lock:
            for stats, attached in self._attached.items():
                self._sync(stats, attached)
        return generate_latest(self.registry)

    def live_stats(self) -> list[RunStats]:
        with self._lock:
            return list(self._attached)

    def _sync(self, stats: RunStats, attached: _Attached) -> None:
        """Count what ``stats`` gained since last seen (holding ``_lock``). A number that
        went down (a counter the pipeline replaced) is taken as the new base."""
        for name in FRAME_COUNTS:
            now = int(getattr(stats, name))
            gained = now - attached.seen[name]
            if gained > 0:
                self.frames[name].inc(gained)
            attached.seen[name] = now


def _refresh(attached: _Attached) -> None:
    if attached.refresh is None:
        return
    try:
        attached.refresh()
    except Exception:  # noqa: BLE001 - metrics must never break the stream or the scrape
        log.debug("refreshing a pipeline's numbers for /metrics failed", exc_info=True)


class _EngineCollector(Collector):
    """``livefx_engine_info{model,backend,precision} 1`` per model loaded in a live pipeline."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list:
        return [self._family()]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        seen: set[tuple[str, str, str]] = set()
        for stats in self.metrics.live_stats():
            for model, engine in list(stats.engine.items()):  # set on another thread: copy first
                labels = (str(model), str(engine.get("backend", "")), str(engine.get("precision", "")))
                if labels not in seen:
                    seen.add(labels)
                    family.add_metric(list(labels), 1.0)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "livefx_engine_info",
            "Each loaded model's runtime (value 1).",
            labels=["model", "backend", "precision"],
        )
