"""The worker thread: newest frame in, planned stages, processed frame out.

At most one frame is in flight; frames that arrive while it works are overwritten in
the ring and counted as dropped, never queued behind slow work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import torch

from livefx.models.stage import Stage

from ..device import FrameConverter
from ..errors import LivefxError
from ..frame import Frame, now_ns
from ..sources.arrival import ArrivalInterval
from ..stages.motion import MotionStage
from ..stages.post import OutputLook, PostStep, Processed
from ..stats import FrameRecord, RunStats
from .budget import BudgetPlanner, Plan
from .chain import BoundStage, StageChain
from .control import ConfigureStage, Control, ControlQueue, SetBudget, SetLook, SetMotion, StageSwap
from .core_share import CPU_SHARES
from .emit import emit
from .ring import ReadPolicy, Ring, RingClosed
from .side_work import SideWork
from .thread_tuner import CpuThreads, ThreadTuner

log = logging.getLogger("livefx.worker")


class Worker(threading.Thread):
    """Owns the models for one device: the loop (newest frame, plan, ``chain``, post steps,
    emission, stats), the live changes between frames, the classifier's requests.
    ``realtime=False`` processes every frame in order."""

    def __init__(
        self,
        frames_in: Ring,
        frames_out: Ring,
        stages: list[BoundStage],
        planner: BudgetPlanner,
        stats: RunStats,
        converter: FrameConverter,
        *,
        realtime: bool = True,
        motion: MotionStage | None = None,
        side_work: Sequence[SideWork] = (),
        controls: ControlQueue | None = None,
        post: Sequence[PostStep] = (),
        clock: Callable[[], int] = now_ns,
        measure_arrival: bool = False,
        threads: int | None = None,
    ) -> None:
        super().__init__(name="livefx-worker", daemon=True)
        self.frames_out = frames_out
        #: What a frame goes through; which stages, changed between frames.
        self.chain = StageChain(stages, planner, stats, converter, motion)
        self.planner = planner
        self.stats = stats
        self.converter = converter
        self.realtime = realtime
        #: Monotonic ns for planning and latency (the capture thread stamps frames with the same).
        self.clock = clock
        self.reader = frames_in.reader(ReadPolicy.NEWEST if realtime else ReadPolicy.IN_ORDER)
        #: A self-paced source's measured frame interval, which replaces its declared one
        #: in the planner (``measure_arrival``; real time only).
        self.arrival = ArrivalInterval() if measure_arrival and realtime else None
        self.error: BaseException | None = None
        #: Live changes from other threads, applied here between frames (the only way in).
        self.controls = controls if controls is not None else ControlQueue()
        #: After the models, before emission, in order.
        self.post: list[PostStep] = list(post)
        self._last_out: Frame | None = None
        #: Stages beside the frame path (DEFERRABLE specs among the planner's stages, e.g. the
        #: action classifier): each gets a turn after every frame (``side_work``).
        self.side_work = list(side_work)
        self._stop_event = threading.Event()
        #: On a CPU device: this worker's share of the cores (core_share), tuned to the load.
        self._core_shares = CPU_SHARES if converter.device.type == "cpu" else None
        fixed = ThreadTuner((threads,)) if threads else None  # ``threads``: fixed, not tuned
        self.cpu_threads = CpuThreads(CPU_SHARES, fixed) if self._core_shares is not None else None

    @property
    def stages(self) -> dict[str, Stage]:
        """The model stages running now, by name."""
        return self.chain.stages

    @property
    def swaps(self) -> int:
        return self.chain.swaps

    @property
    def stage_errors(self) -> int:
        return self.chain.failures.count

    @property
    def last_stage_error(self) -> str | None:
        """The latest failure, "stage: reason" (None: none yet)."""
        return self.chain.failures.last

    @property
    def disabled_stages(self) -> list[str]:
        """Stages turned off after failing DISABLE_AFTER frames in a row (e.g. out of GPU memory)."""
        return self.chain.failures.disabled

    def counters(self) -> dict[str, object]:
        """The worker's counters for the stats document (frames dropped, stage failures)."""
        reader = self.reader
        return {
            "frames_dropped": reader.skipped + (reader.unread if not self.is_alive() else 0),
            "stage_errors": self.stage_errors,
            "last_stage_error": self.last_stage_error,
            "disabled_stages": list(self.disabled_stages),
        }

    def stop(self) -> None:
        self._stop_event.set()

    def _apply(self, message: Control) -> None:
        """One live change, between two frames (worker thread only)."""
        if isinstance(message, StageSwap):
            self.chain.install(message)
        elif isinstance(message, SetBudget):
            self.planner.budget.set(message.ms)  # the stats read the same Budget
        elif isinstance(message, SetMotion):
            self.chain.set_motion(message.on)
        elif isinstance(message, ConfigureStage):
            self.chain.configure(message.stage, message.change)
        elif isinstance(message, SetLook):
            look = next((step for step in self.post if isinstance(step, OutputLook)), None)
            if look is None:
                raise LivefxError("this stream has no output mix or mirror to change")
            look.change(message)
            self.stats.update(output=look.settings())
        else:
            raise TypeError(f"not a control message: {message!r}")

    def run(self) -> None:
        if self._core_shares is not None:
            self._core_shares.join()
        try:
            with torch.inference_mode():
                self._loop()
        except BaseException as exc:  # noqa: BLE001 - reported by the pipeline
            self.error = exc
            log.exception("worker failed")
        finally:
            if self._core_shares is not None:
                self._core_shares.leave()
            self.controls.close("the stream ended before the change could be applied")
            self.reader.close()
            self.frames_out.close()

    def _loop(self) -> None:
        while not self._stop_event.is_set():
            if self.cpu_threads is not None:  # streams started or stopped beside this one, or load came
                self.cpu_threads.before_frame(self.chain.models())
            self.controls.drain(self._apply)
            try:
                frame = self.reader.get(timeout=0.1)
            except RingClosed:
                return
            if frame is None:
                continue
            self._observe_arrival(frame)
            plan = self._plan(frame)
            result = self.chain.process(frame, plan)
            if self.cpu_threads is not None:
                pixels = frame.width * frame.height
                self.cpu_threads.after_frame(result.stage_ms, pixels, plan.scale, plan.steps, plan.probe)
            for step in self.post:
                result = step(frame, result)
            try:
                self._emit(frame, result)
            except RingClosed:
                return
            self._after_frame(frame, plan, result)

    def _after_frame(self, frame: Frame, plan: Plan, result: Processed) -> None:
        """Each side work's turn (its cost, a run if scheduled), then the frame's record."""
        for work in self.side_work:
            name = work.spec.name
            cost_ms = work.new_cost_ms()
            if cost_ms is not None:
                self.planner.cost.observe(name, frame.width * frame.height, cost_ms)
            work.on_frame(name in plan.schedule, self.clock())
        latency_ms = (self.clock() - frame.t_capture) / 1e6
        self.stats.record(
            FrameRecord(
                seq=frame.seq,
                decision=plan.decision,
                latency_ms=latency_ms,
                # A held frame shows old content: this frame's own missed its deadline.
                missed_deadline=plan.hold or self.planner.budget.missed(latency_ms),
                scale=plan.scale,
                stage_ms=result.stage_ms,
                steps=result.steps,
            )
        )

    def _observe_arrival(self, frame: Frame) -> None:
        if self.arrival is None:
            return
        interval_ms = self.arrival.observe(frame.seq, frame.t_capture)
        if interval_ms is not None:
            self.planner.frame_interval_ms = interval_ms
            self.stats.update(source_fps=1000.0 / interval_ms)

    def _emit(self, frame: Frame, result: Processed) -> None:
        """Push the in-between frames (pts evenly between the last output and this frame),
        then the frame itself."""
        emission = emit(self._last_out, frame, result.image, result.between, self.chain.output_factor)
        if emission.inherent_wait_ms is not None:
            self.stats.record_motion(emission.interpolated, emission.held, emission.inherent_wait_ms)
        for out in emission.frames:
            self.frames_out.push(out)
        self._last_out = out

    def _plan(self, frame: Frame) -> Plan:
        pixels = frame.width * frame.height
        if self.realtime:
            return self.planner.plan(pixels, frame.t_capture, self.clock())
        rung = self.planner.ladder[0]  # offline rendering: always the full chain
        return Plan(rung.name, rung.scale, rung.run, rung.schedule, 0.0, float("inf"), steps=rung.steps)
