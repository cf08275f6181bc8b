"""Run statistics: what came in, what went out, what was dropped, and what it cost."""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .scheduling.budget import Budget
from .scheduling.degrade import MESSAGES, DegradeWatch

log = logging.getLogger("livefx.stats")

#: Samples kept per series; enough for stable p99, bounded so memory stays flat.
WINDOW = 4096


def percentiles(samples: deque[float] | list[float]) -> dict[str, float]:
    if not samples:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    p50, p95, p99 = np.percentile(np.fromiter(samples, float), [50, 95, 99])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "p99": round(float(p99), 3)}


@dataclass
class FrameRecord:
    """What happened to one frame on its way through the worker."""

    seq: int
    decision: str
    latency_ms: float
    missed_deadline: bool
    stage_ms: dict[str, float] = field(default_factory=dict)
    #: The processing scale the plan ran the effect at.
    scale: float = 1.0
    #: Denoising steps the plan ran the effect with (None: the effect has no steps).
    steps: int | None = None


class RunStats:
    """Thread-safe counters and bounded sample windows for one run."""

    def __init__(self, budget: Budget | float, device: str) -> None:
        #: The planner's own Budget (``Pipeline``): read here, never stored twice.
        self.budget = budget if isinstance(budget, Budget) else Budget(budget)
        self.device = device
        #: What frames get when even the cheapest plan misses the budget (``--on-late``).
        self.on_late = "best-effort"
        #: False for offline rendering (``--no-realtime``): nothing has a deadline then.
        self.realtime = True
        self._lock = threading.Lock()
        self.frames_out = 0
        self.deadline_misses = 0
        self._latency: deque[float] = deque(maxlen=WINDOW)
        self._stages: dict[str, deque[float]] = {}
        self._stage_counts: Counter[str] = Counter()
        self.decisions: Counter[str] = Counter()
        #: Frames per denoising step count (diffusion styles: the planner's choice per frame).
        self.steps: Counter[int] = Counter()
        #: A diffusion style's prompt, stream-batch lag and similar frames skipped (set by the pipeline).
        self.diffusion: dict | None = None
        self.recent: deque[FrameRecord] = deque(maxlen=256)
        #: The output's effect mix, effect switch and mirror (``stages.post.OutputLook``; set by the pipeline).
        self.output: dict[str, object] = {"mix": 1.0, "effect": True, "mirror": False}
        #: The rate a self-paced source (browser, webcam) measurably delivers (None: not measured).
        self.source_fps: float | None = None
        # Filled in by the pipeline from the ring readers and sinks.
        self.frames_in = 0
        self.frames_dropped = 0
        #: Frames a stage raised on (each passed through unprocessed).
        self.stage_errors = 0
        self.last_stage_error: str | None = None
        #: Stages turned off after failing many frames in a row.
        self.disabled_stages: list[str] = []
        self.sinks: dict[str, dict[str, int]] = {}
        #: Seconds spent warming up (and compiling) each stage before and during the run.
        self.warmup_s: dict[str, float] = {}
        # Interpolation: frames made, slots filled by holding the last frame (the planner
        # skipped the stage), and the wait it adds to real frames, apart from compute latency.
        self.frames_interpolated = 0
        self.interpolation_holds = 0
        self.interpolation_skips = 0
        #: Scene cuts found between input frames (their in-between slots were held).
        self.scene_cuts = 0
        self._interp_wait: deque[float] = deque(maxlen=WINDOW)
        #: Action classifier counters and the latest labels (filled in by the pipeline).
        self.actions: dict | None = None
        #: The sound's counters: chunks in, dropped, written per sink (None: no sound).
        self.audio: dict | None = None
        #: Each loaded model's runtime: {model: {"backend": ..., "precision": ...}} (set by the pipeline).
        self.engine: dict[str, dict[str, str]] = {}
        #: Quiet degradation, warned about once per kind (see ``stream/scheduling/degrade.py``).
        self.degrade = DegradeWatch()
        #: Called with each FrameRecord on the worker thread, after it is counted (e.g. the
        #: server's /metrics). A tuple, replaced whole, so ``record`` reads it without the lock.
        self._observers: tuple[Callable[[FrameRecord], None], ...] = ()

    def add_observer(self, observer: Callable[[FrameRecord], None]) -> None:
        with self._lock:
            self._observers = (*self._observers, observer)

    def remove_observer(self, observer: Callable[[FrameRecord], None]) -> None:
        with self._lock:
            self._observers = tuple(o for o in self._observers if o != observer)

    def record(self, rec: FrameRecord) -> None:
        with self._lock:
            self.frames_out += 1
            self.deadline_misses += rec.missed_deadline
            self._latency.append(rec.latency_ms)
            self.decisions[rec.decision] += 1
            if rec.steps is not None:
                self.steps[rec.steps] += 1
            self.degrade.observe_decision(rec.decision, rec.scale)
            for name, ms in rec.stage_ms.items():
                self._stages.setdefault(name, deque(maxlen=WINDOW)).append(ms)
                self._stage_counts[name] += 1
            self.recent.append(rec)
            observers = self._observers
        for observe in observers:  # outside the lock: an observer may read these stats
            try:
                observe(rec)
            except Exception:  # noqa: BLE001 - an observer's bug must not stop the stream
                log.exception("a frame-record observer failed; it is removed")
                self.remove_observer(observe)

    def record_motion(self, interpolated: int, held: int, wait_ms: float) -> None:
        """In-between frames pushed before one real frame: made (``interpolated``) or, when
        the stage was skipped, ``held`` copies of the last frame; and the inherent wait."""
        with self._lock:
            self.frames_out += interpolated + held
            self.frames_interpolated += interpolated
            self.interpolation_holds += held
            self.interpolation_skips += held > 0
            self.degrade.observe(held=held > 0 and interpolated == 0)
            self._interp_wait.append(wait_ms)

    def record_scene_cut(self) -> None:
        with self._lock:
            self.scene_cuts += 1

    def update(self, **fields: object) -> None:
        """Set counters owned elsewhere (rings, sinks, the worker) at once, under the lock, so a
        snapshot taken on another thread never sees half of them."""
        with self._lock:
            for name, value in fields.items():
                if not hasattr(self, name):
                    raise AttributeError(f"RunStats has no field {name!r}")
                setattr(self, name, value)

    def add_warmup(self, stage: str, seconds: float, engine: dict[str, str] | None = None) -> None:
        """Warm-up time spent on ``stage`` (added up over its sizes), and the runtime it got."""
        with self._lock:
            self.warmup_s[stage] = round(self.warmup_s.get(stage, 0.0) + seconds, 3)
            if engine is not None:
                self.engine[stage] = dict(engine)

    def add_engine(self, model: str, entry: dict[str, str]) -> None:
        """The runtime a model got, for a stage that runs several (a style's light student)."""
        with self._lock:
            self.engine[model] = dict(entry)

    def record_stage(self, name: str, ms: float) -> None:
        """A stage timed outside a frame record (warm-up is not recorded here)."""
        with self._lock:
            self._stages.setdefault(name, deque(maxlen=WINDOW)).append(ms)
            self._stage_counts[name] += 1

    def snapshot(self) -> dict:
        """The ``--stats`` JSON document."""
        with self._lock:
            stages = {
                name: {**_p50_p95(samples), "count": self._stage_counts[name]} for name, samples in self._stages.items()
            }
            return {
                "frames_in": self.frames_in,
                "frames_out": self.frames_out,
                "frames_dropped": self.frames_dropped,
                "deadline_misses": self.deadline_misses,
                "stage_errors": self.stage_errors,
                "last_stage_error": self.last_stage_error,
                "disabled_stages": list(self.disabled_stages),
                "budget_ms": self.budget.ms,
                "on_late": self.on_late,
                "output": dict(self.output),
                "device": self.device,
                "latency_ms": percentiles(self._latency),
                "stages": stages,
                "decisions": dict(self.decisions),
                "degraded": {kind: MESSAGES[kind] for kind in self.degrade.active()},
                "sinks": {k: dict(v) for k, v in self.sinks.items()},
                "warmup_s": dict(self.warmup_s),
                "engine": {k: dict(v) for k, v in self.engine.items()},
                **({"source_fps": round(self.source_fps, 1)} if self.source_fps is not None else {}),
                **self._interpolation(),
                **({"steps": {str(n): c for n, c in sorted(self.steps.items())}} if self.steps else {}),
                **({"diffusion": dict(self.diffusion)} if self.diffusion is not None else {}),
                **({"actions": self.actions} if self.actions is not None else {}),
                **({"audio": self.audio} if self.audio is not None else {}),
            }

    def _interpolation(self) -> dict:
        if not self._interp_wait:
            return {}
        return {
            "interpolation": {
                "frames_interpolated": self.frames_interpolated,
                "skips": self.interpolation_skips,
                "scene_cuts": self.scene_cuts,
                "held_frames": self.interpolation_holds,
                "inherent_wait_ms": percentiles(self._interp_wait),
            }
        }

    def log_line(self, since: dict | None, seconds: float) -> str:
        """A compact one-line summary; rates are over the last ``seconds``."""
        now = self.snapshot()
        prev = since or {"frames_in": 0, "frames_out": 0, "frames_dropped": 0}
        fps_in = (now["frames_in"] - prev["frames_in"]) / max(seconds, 1e-9)
        fps_out = (now["frames_out"] - prev["frames_out"]) / max(seconds, 1e-9)
        lat = now["latency_ms"]
        stage_txt = " ".join(f"{k} {v['p95']:.0f}" for k, v in now["stages"].items())
        total = sum(now["decisions"].values()) or 1
        plan_txt = " ".join(f"{k} {100 * v / total:.0f}%" for k, v in now["decisions"].items())
        # Offline (``realtime`` False, set by whoever runs the pipeline) nothing has a deadline:
        # "misses" would count nothing real.
        if self.realtime:
            deadline_txt = f"budget {now['budget_ms']:g}, misses {now['deadline_misses']}"
        else:
            deadline_txt = "offline: no deadlines"
        return (
            f"in {fps_in:.1f} fps, out {fps_out:.1f} fps | dropped {now['frames_dropped']}"
            f" | latency p50 {lat['p50']:.0f} p95 {lat['p95']:.0f} p99 {lat['p99']:.0f} ms"
            f" ({deadline_txt})"
            f" | stage p95 ms: {stage_txt or '-'} | plan: {plan_txt or '-'}"
        )


def _p50_p95(samples: deque[float]) -> dict[str, float]:
    p = percentiles(samples)
    return {"p50": p["p50"], "p95": p["p95"]}
