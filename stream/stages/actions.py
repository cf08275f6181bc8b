"""Action labels beside the frame path: clips from the input ring, a low-priority thread.

The worker asks for a classification every ``every_frames`` frames, and only when the
budget planner schedules the deferrable ``actions`` stage (it drops it first when time
is short). The classifier thread then takes the newest clip from the ring's window
(``num_frames`` frames, stride chosen from the input rate to match the model's training),
smooths the class probabilities over time, and hands a ``LabelEvent`` to its listeners.
A request while a run is still going is refused and counted: never a queue.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from livefx.models.accel import calls_to_decide
from livefx.models.action.classifier import accelerate_classifier
from livefx.models.action.load import ActionModel
from livefx.models.stage import cheapest_run_ms, set_runtime_threads

from ..scheduling.budget import StageKind, StageSpec
from ..scheduling.own_thread import run_on_own_thread
from ..scheduling.ring import Ring

log = logging.getLogger("livefx.actions")

ACTIONS_STAGE = "actions"


@dataclass(frozen=True)
class ActionsConfig:
    every_frames: int = 8
    top_k: int = 3
    #: Weight of the previous smoothed probabilities in the EMA (0: no smoothing).
    smoothing: float = 0.6
    #: The minimum rate: a run the planner kept deferring goes ahead once this long has passed
    #: since the last one (a clip costs ~13 ms on a CPU, on a low-priority thread beside the
    #: frame path), so a user who asked for labels gets them on a busy machine too. 0: none.
    max_interval_s: float = 2.0

    def __post_init__(self) -> None:
        if self.every_frames < 1 or self.top_k < 1 or not 0 <= self.smoothing < 1 or self.max_interval_s < 0:
            raise ValueError(f"bad actions config {self}")

    @property
    def spec(self) -> StageSpec:
        return StageSpec(ACTIONS_STAGE, StageKind.DEFERRABLE, scalable=False, share=1 / self.every_frames)


@dataclass(frozen=True)
class LabelEvent:
    """One label update: media time of the clip's last frame, the clip's span, top-k labels."""

    t: float
    span: tuple[float, float]
    labels: list[tuple[str, float]]

    def to_json(self) -> dict:
        return {
            "t": round(self.t, 4),
            "span": [round(self.span[0], 4), round(self.span[1], 4)],
            "labels": [{"label": name, "score": round(score, 4)} for name, score in self.labels],
        }

    def score(self, label: str) -> float:
        return next((s for name, s in self.labels if name == label), 0.0)


@dataclass
class ActionCounters:
    runs: int = 0
    refused_busy: int = 0
    short_window: int = 0
    errors: int = 0
    #: Frames on which a run was due but the planner had no time for it.
    deferred: int = 0
    #: Runs started by the minimum rate although the planner deferred them.
    forced: int = 0
    ms: list[float] = field(default_factory=list)


class ActionStage(threading.Thread):
    """Classifies the newest clip when asked; never blocks the caller."""

    def __init__(
        self,
        model: ActionModel,
        ring: Ring,
        device: torch.device,
        dtype: torch.dtype,
        fps: float,
        config: ActionsConfig | None = None,
        *,
        synchronous: bool = False,
        backend: str = "eager",
        precision: str = "auto",
    ) -> None:
        """``synchronous`` (offline rendering, ``--no-realtime``): the worker waits for each run
        it asks for, so which clips get labels does not depend on the machine's speed.
        ``backend``/``precision``: the run's ``--backend``/``--precision`` (``models.accel``)."""
        super().__init__(name="livefx-actions", daemon=True)
        self.synchronous = synchronous
        self.model = model
        self.net = model.model.to(device=device, dtype=dtype).eval()
        #: Pixel values -> logits, in the runtime chosen for ``backend`` (``accel`` says which).
        self.run_model, self.accel = accelerate_classifier(self.net, device, dtype, backend, precision)
        # One thread for a runtime that keeps its own (OpenVINO): it then runs on the niced
        # calling thread alone; with two, half the work ran on a helper thread at normal priority,
        # beside the frame path. torch's OpenMP team is made by the niced thread, so it inherits.
        set_runtime_threads(self.run_model, 1)
        self.ring = ring
        self.device, self.dtype = device, dtype
        self.config = config or ActionsConfig()
        self.stride = model.stride_for(fps)
        self.window = self.stride * (model.num_frames - 1) + 1
        self.listeners: list[Callable[[LabelEvent], None]] = []
        self.counters = ActionCounters()
        self.latest: LabelEvent | None = None
        self._probs: np.ndarray | None = None
        self._wake = threading.Event()
        self._busy = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stopping = threading.Event()
        self._frames_since_request = 0
        self._last_request_ns: int | None = None
        self._runs_reported = 0
        self._stream = torch.cuda.Stream(device) if device.type == "cuda" else None

    @property
    def spec(self) -> StageSpec:
        """Side work (``scheduling.side_work``): DEFERRABLE, every ``config.every_frames``."""
        return self.config.spec

    def request(self) -> bool:
        """Ask for a run on the newest clip; False (and counted) while one is running."""
        if self._busy.is_set():
            self.counters.refused_busy += 1
            return False
        self._idle.clear()
        self._busy.set()
        self._wake.set()
        return True

    def on_frame(self, scheduled: bool, now_ns: int | None = None) -> None:
        """The worker's call, once per frame: every ``every_frames`` frames ask for a run if
        the planner scheduled the stage on this frame (``scheduled``) or the minimum rate says
        it is overdue at ``now_ns`` (the worker's monotonic clock), else defer it (counted)."""
        self._frames_since_request += 1
        if now_ns is not None and self._last_request_ns is None:
            self._last_request_ns = now_ns  # the minimum rate counts from the first frame
        if self._frames_since_request < self.config.every_frames:
            return
        overdue = (
            self.config.max_interval_s > 0
            and now_ns is not None
            and self._last_request_ns is not None
            and now_ns - self._last_request_ns >= self.config.max_interval_s * 1e9
        )
        if (scheduled or overdue) and self.request():
            self.counters.forced += not scheduled
            self._frames_since_request = 0
            self._last_request_ns = now_ns
            while self.synchronous and not self._idle.wait(0.5):
                if self._stopping.is_set() or not self.is_alive():
                    break
        else:
            self.counters.deferred += 1

    def new_cost_ms(self) -> float | None:
        """The newest run's cost, once per finished run (None if none finished since the
        last call): what the worker feeds the planner's cost model."""
        runs, ms = self.counters.runs, self.counters.ms
        if runs == self._runs_reported or not ms:
            return None
        self._runs_reported = runs
        return ms[-1]

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    @torch.inference_mode()
    def warmup(self, height: int, width: int) -> float:
        """One classification of a blank clip at this frame size; its cost in ms. A backend
        measured against eager (``--backend auto`` on a CPU) is chosen first."""
        frames = [np.full((height, width, 3), 128, np.uint8)] * self.model.num_frames
        for _ in range(calls_to_decide(self.run_model)):
            self._infer(frames)
        return cheapest_run_ms(lambda: self._infer(frames), self.device, runs=2)

    def run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            if self._stopping.is_set():
                break
            if not self._busy.is_set():
                continue
            try:
                self._classify()
            except Exception:  # noqa: BLE001 - labels are optional; the stream goes on
                self.counters.errors += 1
                if self.counters.errors == 1 or self.counters.errors % 100 == 0:
                    log.exception("action classification failed")
            finally:
                self._busy.clear()
                self._idle.set()

    @torch.inference_mode()
    def _infer_low_priority(self, frames: list[np.ndarray]) -> np.ndarray:
        """``_infer`` at a lower CPU priority (10 more nice for this thread only, on Linux; more
        than the process's own when it runs niced), so the frame path wins the CPU. Runs on a
        thread of its own (``own_thread``)."""
        with contextlib.suppress(Exception):
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + 10))
        return self._infer(frames)

    def _classify(self) -> None:
        frames = self.ring.window(self.window)
        if len(frames) < self.window:
            self.counters.short_window += 1
            return
        clip = frames[:: self.stride]
        t0 = time.perf_counter()
        probs = run_on_own_thread(lambda: self._infer_low_priority([f.image for f in clip]), "livefx-classify")
        self.counters.ms.append((time.perf_counter() - t0) * 1e3)
        del self.counters.ms[:-256]
        self.counters.runs += 1
        a = self.config.smoothing
        self._probs = probs if self._probs is None else a * self._probs + (1 - a) * probs
        top = np.argsort(self._probs)[::-1][: self.config.top_k]
        event = LabelEvent(
            t=clip[-1].time_s,
            span=(clip[0].time_s, clip[-1].time_s),
            labels=[(self.model.labels[i], float(self._probs[i])) for i in top],
        )
        self.latest = event
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - one bad listener must not silence the others
                log.exception("label listener failed")

    def _infer(self, images: list[np.ndarray]) -> np.ndarray:
        stream = torch.cuda.stream(self._stream) if self._stream is not None else contextlib.nullcontext()
        with stream:
            x = self.model.preprocessing(images, self.device, self.dtype)
            logits = self.run_model(x)[0].float()
            probs = torch.softmax(logits, -1).cpu().numpy()
        return probs

    def snapshot(self) -> dict:
        c = self.counters
        ms = np.percentile(c.ms, [50, 95]).round(2).tolist() if c.ms else [0.0, 0.0]
        return {
            "model": self.model.name,
            "stride": self.stride,
            "runs": c.runs,
            "refused_busy": c.refused_busy,
            "short_window": c.short_window,
            "errors": c.errors,
            "deferred": c.deferred,
            "forced": c.forced,
            "ms": {"p50": ms[0], "p95": ms[1]},
            "latest": self.latest.to_json() if self.latest else None,
        }


class LabelLog:
    """``--events PATH.jsonl``: one JSON object per label update, flushed as it comes."""

    def __init__(self, path) -> None:
        self.path = path
        self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._lock = threading.Lock()
        self.written = 0

    def __call__(self, event: LabelEvent) -> None:
        with self._lock:
            if self._file.closed:
                return
            self._file.write(json.dumps(event.to_json()) + "\n")
            self._file.flush()
            self.written += 1

    def close(self) -> None:
        with self._lock:
            self._file.close()
