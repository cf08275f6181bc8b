"""How many CPU threads a worker's models use, chosen between frames from the worker's own timings.

On a laptop other programs (a call app, OBS, the browser decoding our stream) take cores at
will. A model run on as many threads as there are cores then waits, at each of its parallel
steps, for the thread the busy program preempted: measured on 2 cores with one busy process,
the style took ~820 ms instead of ~42 ms on 2 OpenMP threads, 68-72 ms on one (issue 30). On
an idle machine the opposite holds. Neither is known in advance, and it changes while a stream
runs, so the worker measures: it keeps a window of its model cost per pixel at the thread count
in use, and now and then tries a neighbouring count for a few frames, keeping whichever is
cheaper. A trial that starts far worse than the incumbent ends after one frame (the 20x
collapse is never paid twice in a row), and a losing trial waits twice as long for the next.
A sudden rise of the incumbent's cost (a program started) starts a trial at once. A trial of
more threads waits until a core has been free for them (``idle_cores``): on two cores full with
the page and the server's codecs it only cost frames (bench/NOTES.md, section 22).
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from livefx.models.openvino_runtime import thread_levels
from livefx.models.stage import MOTION_STAGE, STYLE_STAGE

from .core_share import CoreShares
from .idle_cores import IdleCores

#: Idle cores (averaged since the last trial) a trial of one more thread asks for.
IDLE_FOR_ONE_MORE = 0.5


class ThreadTuner:
    """Not thread-safe: the worker thread owns it. Feed ``observe`` the cost (any unit per
    pixel; lower is better) of each frame's model work run at ``current`` threads."""

    def __init__(
        self,
        levels: Sequence[int],
        *,
        first_trial_after: int = 5,
        explore_every: int = 120,
        max_explore_every: int = 1920,
        trial_frames: int = 3,
        window: int = 9,
        margin: float = 0.9,
        abort_factor: float = 2.0,
        surge_factor: float = 1.6,
        idle_cores: Callable[[], float | None] | None = None,
        start: int | None = None,
    ) -> None:
        self.levels = tuple(sorted(set(levels))) or (1,)
        #: The count the first frames run at (default: the most).
        self.current = start if start in self.levels else self.levels[-1]
        self._base_every = explore_every
        # The first trial comes early: a machine busy from the start must not wait 120 frames
        # (at two seconds a frame in torch's collapse) for its first cheaper try.
        self._every = first_trial_after
        self._max_every = max_explore_every
        self._trial_frames = trial_frames
        self._margin = margin
        self._abort = abort_factor
        self._surge = surge_factor
        #: The machine's idle cores since the last call (None: unknown); see ``IdleCores``.
        self._idle_cores = idle_cores
        #: Trials of more threads passed over for want of an idle core.
        self.passed_over = 0
        self._look_at_idle()  # the first trial asks about the time since the start
        self._recent: deque[float] = deque(maxlen=window)
        #: The incumbent's typical cost when it was last confirmed (surges are measured against it).
        self._baseline: float | None = None
        self._since_trial = 0
        self._incumbent: int | None = None  # set while a trial runs
        self._trial: list[float] = []
        self._next_direction = -1  # try fewer threads first: that is what load calls for
        #: (frames seen, from, to) of each switch, for logs and tests.
        self.switches: list[tuple[int, int, int]] = []
        self._frames = 0

    @property
    def trying(self) -> bool:
        return self._incumbent is not None

    def observe(self, cost: float) -> None:
        self._frames += 1
        if self._incumbent is not None:
            self._observe_trial(cost)
            return
        self._recent.append(cost)
        self._since_trial += 1
        typical = statistics.median(self._recent)
        if self._baseline is None and len(self._recent) >= 3:
            self._baseline = typical
        surged = (
            self._baseline is not None
            and len(self._recent) >= 3
            and statistics.median(list(self._recent)[-3:]) > self._surge * self._baseline
        )
        if len(self.levels) > 1 and len(self._recent) >= 3 and (surged or self._since_trial >= self._every):
            self._start_trial()

    def new_work(self) -> None:
        """The frames' work changed kind (another form of the model, e.g. the full student after
        the light one): costs per pixel of the old kind say nothing of the new, so the window
        starts again (a running trial ends without a verdict)."""
        if self._incumbent is not None:
            self.current = self._incumbent
            self._incumbent = None
            self._trial = []
        self._recent.clear()
        self._baseline = None

    def _neighbour(self) -> int:
        index = self.levels.index(self.current)
        for direction in (self._next_direction, -self._next_direction):
            if 0 <= index + direction < len(self.levels):
                self._next_direction = -direction  # alternate where both exist
                return self.levels[index + direction]
        return self.current

    def _start_trial(self) -> None:
        neighbour = self._neighbour()
        if neighbour > self.current:
            # Up: straight to the most threads the idle cores had room for (a worker starts at
            # the fewest: on an idle many-core machine the first trial takes it all the way).
            neighbour = self._most_with_room(neighbour)
        if neighbour is None:
            # Like a lost trial, without paying for it: wait longer before asking again.
            self.passed_over += 1
            self._back_off()
            self._since_trial = 0
            self._look_at_idle()
            return
        self._incumbent = self.current
        self.current = neighbour
        self._trial = []

    def _most_with_room(self, above: int) -> int | None:
        """The most threads from ``above`` up that the machine's idle cores since the last look
        had room for (unknown: ``above``, the next level); None: not even ``above``."""
        idle = self._idle_cores() if self._idle_cores is not None else None
        if idle is None:
            return above
        fits = [n for n in self.levels if n >= above and idle >= IDLE_FOR_ONE_MORE * (n - self.current)]
        return max(fits, default=None)

    def _observe_trial(self, cost: float) -> None:
        assert self._incumbent is not None
        incumbent_cost = statistics.median(self._recent)
        self._trial.append(cost)
        if len(self._trial) == 1 and cost > self._abort * incumbent_cost:
            self._end_trial(won=False)
        elif len(self._trial) >= self._trial_frames:
            self._end_trial(won=statistics.median(self._trial) < self._margin * incumbent_cost)

    def _end_trial(self, won: bool) -> None:
        assert self._incumbent is not None
        if won:
            self.switches.append((self._frames, self._incumbent, self.current))
            self._recent.clear()
            self._recent.extend(self._trial)
            self._baseline = statistics.median(self._trial)
            self._every = self._base_every
        else:
            self.current = self._incumbent
            self._back_off()
        self._incumbent = None
        self._trial = []
        self._since_trial = 0
        self._look_at_idle()

    def _back_off(self) -> None:
        """No change of count: the next trial waits twice as long, and the incumbent's cost now
        is the one to hold it to (load may have come to stay)."""
        self._every = min(self._max_every, max(self._base_every, self._every * 2))
        self._baseline = statistics.median(self._recent)

    def _look_at_idle(self) -> None:
        """Start the idle reading's window here (the next trial asks about the time since)."""
        if self._idle_cores is not None:
            self._idle_cores()


class CpuThreads:
    """A CPU worker's thread count: its share of the cores (``core_share``: streams side by
    side) capped by its ``ThreadTuner``; applied between frames to its OpenMP team and to
    every model that fixes its threads when compiled (``models.stage.set_runtime_threads``)."""

    def __init__(self, shares: CoreShares, tuner: ThreadTuner | None = None) -> None:
        self._shares = shares
        #: Made on the first frame: the core count is read when the worker has joined the shares.
        self.tuner = tuner
        self._openmp: int | None = None
        self.applied: int | None = None
        self._work: object = None

    def before_frame(self, models: Iterable[object]) -> int:
        """Apply the count for the next frame to OpenMP and ``models``; returns it."""
        if self.tuner is None:
            # From the fewest threads up, and up only where a core sat idle: a machine already
            # busy (the page's browser, a call app) never pays for threads it has no core for.
            levels = thread_levels(self._shares.cores)
            self.tuner = ThreadTuner(levels, idle_cores=IdleCores().since_last, start=min(levels))
        threads = max(1, min(self.tuner.current, self._shares.share()))
        self._openmp = self._shares.apply(self._openmp, cap=threads)
        if threads != self.applied:
            for model in models:
                set_threads = getattr(model, "set_threads", None)
                if set_threads is not None:
                    set_threads(threads)
            self.applied = threads
        return threads

    def after_frame(
        self, stage_ms: dict[str, float], pixels: int, scale: float, work: object = None, probe: bool = False
    ) -> None:
        """Learn from the frame's model time: the effect's ms per pixel it worked on, else the
        motion stage's per frame pixel (frames where no model ran teach nothing). ``work``: what
        kind of work the frame's models did (the plan's forms); a change starts the tuner's
        window again. ``probe``: the planner's try of a dearer rung, not learned from (its cost
        per pixel, e.g. the full student's among light ones, read as a surge of load)."""
        if self.tuner is None or probe:
            return
        if self.tuner.current != self.applied:
            return  # the share capped the tuner's count: these timings are not of its count
        if work != self._work:
            if self._work is not None:
                self.tuner.new_work()
            self._work = work
        if STYLE_STAGE in stage_ms:
            self.tuner.observe(stage_ms[STYLE_STAGE] / max(1.0, pixels * scale * scale))
        elif MOTION_STAGE in stage_ms:
            self.tuner.observe(stage_ms[MOTION_STAGE] / max(1, pixels))
