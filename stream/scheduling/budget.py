"""Per-frame latency budget: learn what each stage costs, plan what fits.

Each frame must reach the sinks by ``t_capture + budget_ms``. The planner walks a
ladder from the full chain down to pass-through and picks, per frame, the best rung
whose predicted cost fits the time left. It steps down at once when a rung stops
fitting and steps up only after a run of frames with clear headroom (hysteresis), so
the output does not flap between looks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from enum import Enum

from ..errors import UsageError
from .cost import CostModel

#: Pseudo-stage for the host<->device conversion every non-pass-through frame pays.
IO_STAGE = "io"

#: The work of a frame that shows the last styled frame moved by the motion (``Rung.every``;
#: stream.stages.carry). Named here, where the planner prices it.
CARRY_STAGE = "carry"


#: A rung goes up when it fits this share of the frame interval (keep-up hysteresis).
KEEP_UP_MARGIN = 0.95

#: Frames a probe of the rung above runs: a model's first run at a new input size is no fair
#: sample (the chain does not learn from it, see ``StageChain``), the second is.
PROBE_FRAMES = 2


def cost_key(stage: str, steps: int | None = None) -> str:
    """The cost model's name for ``stage`` run with ``steps`` denoising steps (plain name: no steps)."""
    return f"{stage}@{steps}" if steps else stage


#: The longest budget, in ms: a minute, which offline-like uses (every frame of a file) take
#: as "no deadline".
MAX_BUDGET_MS = 60_000.0


def check_budget_ms(ms: float, what: str = "budget") -> float:
    """``ms`` as a float when it is a budget (the command line, the page, a control command,
    the engine itself); a one-line UsageError if not."""
    if not 0 < ms <= MAX_BUDGET_MS:
        raise UsageError(f"{what} {ms:g}: must be above 0 and at most {MAX_BUDGET_MS:g} ms")
    return float(ms)


class Budget:
    """The per-frame latency budget: the one place it is stored, changed and checked. The
    worker changes it between frames; other threads (stats) only read ``ms``."""

    def __init__(self, ms: float) -> None:
        self.ms = check_budget_ms(ms)

    def set(self, ms: float) -> None:
        self.ms = check_budget_ms(ms)

    def remaining_ms(self, t_capture_ns: int, now_ns: int) -> float:
        """What is left of the budget of a frame captured at ``t_capture_ns``."""
        return self.ms - (now_ns - t_capture_ns) / 1e6

    def fits(self, cost_ms: float) -> bool:
        """Whether work of ``cost_ms`` fits a whole budget."""
        return cost_ms <= self.ms

    def missed(self, latency_ms: float) -> bool:
        """Whether a frame shown ``latency_ms`` after capture missed its deadline."""
        return latency_ms > self.ms


class OnLate(Enum):
    """What a frame gets when even the cheapest rung misses the budget."""

    BEST_EFFORT = "best-effort"  # process it at the cheapest rung anyway: late, counted
    HOLD = "hold"  # show the last processed frame again
    PASSTHROUGH = "passthrough"  # send the raw frame


class StageKind(Enum):
    REQUIRED = "required"  # the effect itself; may run at a lower scale
    OPTIONAL = "optional"  # may be skipped for a frame (e.g. interpolation)
    DEFERRABLE = "deferrable"  # runs beside the frame path; may be postponed (e.g. actions)


@dataclass(frozen=True)
class StageSpec:
    name: str
    kind: StageKind = StageKind.REQUIRED
    scalable: bool = True
    #: Fraction of frames the stage runs on (a deferrable stage run every k-th frame: 1/k);
    #: its cost is charged to each frame in that proportion.
    share: float = 1.0
    #: An optional stage that can also run at this lower internal scale (e.g. optical flow
    #: at half resolution, upsampled): the planner tries that before dropping the stage.
    #: 1.0: no cheaper variant worth taking, but the stage keeps running as is while the
    #: effect scales down (a flow cheap at full size).
    reduced: float | None = None
    #: A required stage that runs in steps (diffusion): the step counts it can run, best
    #: first. The planner lowers the count per frame before it lowers the scale.
    steps: tuple[int, ...] = ()
    #: Names of ``steps`` where they are forms of the model, not step counts (a style's full
    #: and light students): the rungs that lower them are named after them (``light``).
    step_names: tuple[str, ...] = ()

    def step_name(self, count: int) -> str:
        """``count``'s name in rung names: the form's name, or ``count`` itself."""
        return self.step_names[self.steps.index(count)] if self.step_names else str(count)


@dataclass(frozen=True)
class Rung:
    """One step of the degrade ladder."""

    name: str
    scale: float = 1.0
    run: tuple[str, ...] = ()
    schedule: tuple[str, ...] = ()
    scalable: frozenset[str] = field(default_factory=frozenset)
    #: Repeat the last processed frame; ``run`` is what to do when there is none yet.
    hold: bool = False
    #: (stage, internal scale) for the optional stages this rung runs reduced.
    reduced: tuple[tuple[str, float], ...] = ()
    #: The last rung, taken only when no other is on time (see OnLate).
    on_late: bool = False
    #: (stage, step count) for the stages that run in steps.
    steps: tuple[tuple[str, int], ...] = ()
    #: The effect runs on one frame in ``every``; the frames between carry the last styled
    #: frame along the motion (``CARRY_STAGE``). 1: every frame.
    every: int = 1

    @property
    def passthrough(self) -> bool:
        return not self.run

    def pixels_for(self, name: str, pixels: int) -> int:
        """The pixel count ``name`` works on in this rung, for a frame of ``pixels``."""
        factor = self.scale if name in self.scalable else dict(self.reduced).get(name, 1.0)
        return int(pixels * factor * factor)

    def cost_key(self, name: str) -> str:
        """The cost model's name for ``name`` in this rung (with its step count)."""
        return cost_key(name, dict(self.steps).get(name))


@dataclass(frozen=True)
class Plan:
    """What the worker does with one frame, and why."""

    decision: str
    scale: float
    run: tuple[str, ...]
    schedule: tuple[str, ...]
    predicted_ms: float
    remaining_ms: float
    hold: bool = False
    reduced: tuple[tuple[str, float], ...] = ()
    #: (stage, step count) for the stages that run in steps.
    steps: tuple[tuple[str, int], ...] = ()
    #: A try of the rung above the one held (costs go stale under load), not the planner's level.
    probe: bool = False
    #: The effect runs on one frame in ``every`` (``Rung.every``).
    every: int = 1

    @property
    def passthrough(self) -> bool:
        return not self.run


def level_name(stepped: list[StageSpec], counts: tuple[tuple[str, int], ...]) -> str:
    """A rung's name for these step counts: ``steps_4`` (diffusion), or the forms' names (``light``)."""
    names = [spec.step_name(count) for spec, (_, count) in zip(stepped, counts)]
    return "_".join(names) if all(spec.step_names for spec in stepped) else f"steps_{'_'.join(names)}"


def build_ladder(
    stages: list[StageSpec], scales: tuple[float, ...], on_late: OnLate = OnLate.BEST_EFFORT, carry: int = 1
) -> list[Rung]:
    """Rungs from best to cheapest; rungs that would do the same work are left out.

    Deferrable work goes first, then denoising steps (``StageSpec.steps``: every later rung
    runs the fewest). Optional stages that can run reduced (``StageSpec.reduced``)
    keep running, reduced, while the effect scales down, and are dropped only after that
    (interpolation halving the frame rate shows more than a softer style); other optional
    stages are dropped before the effect scales. The last rung is what ``on_late`` says a
    frame gets when nothing fits: with no required stage (no effect to lose) that is
    always the raw frame.

    ``carry`` > 1 (a chain that can carry frames, ``StageChain``; no motion stage): after the
    first scale's rungs, its cheapest one run on one frame in ``carry`` (``_every<carry>``), the
    frames between carried. Styled at 0.75 and carried beats styled at 0.5 on every frame
    (bench/NOTES.md, section 22), so it comes before the next scale down. Not at smaller
    scales: there it took frames from the rung above on every passing surge of load and kept
    no more frames (section 22)."""
    inline = tuple(s.name for s in stages if s.kind is not StageKind.DEFERRABLE)
    required = tuple(s.name for s in stages if s.kind is StageKind.REQUIRED)
    deferrable = tuple(s.name for s in stages if s.kind is StageKind.DEFERRABLE)
    scalable = frozenset(s.name for s in stages if s.scalable and s.kind is StageKind.REQUIRED)
    reducible = tuple((s.name, s.reduced) for s in stages if s.kind is StageKind.OPTIONAL and s.reduced)
    if not inline:
        return [Rung("full", schedule=deferrable), Rung("defer")] if deferrable else [Rung("full")]
    stepped = [s for s in stages if s.kind is StageKind.REQUIRED and s.steps]
    levels = max((len(s.steps) for s in stepped), default=1)

    def steps_at(level: int) -> tuple[tuple[str, int], ...]:
        return tuple((s.name, s.steps[min(level, len(s.steps) - 1)]) for s in stepped)

    best, fewest = steps_at(0), steps_at(levels - 1)
    # Forms of a model (a style's full and light students) hold their order at every scale: the
    # light student at 1.0 beats the full one at 0.75, which beats the light one at 0.75 (CARD.md).
    # Denoising steps are lowered at full scale only; scaled rungs run the fewest.
    forms = bool(stepped) and all(s.step_names for s in stepped)
    scaled_levels = [(level, steps_at(level)) for level in range(levels)] if forms else [(levels - 1, fewest)]

    def scaled_rungs(scale: float, run: tuple[str, ...], reduced: tuple = ()) -> list[Rung]:
        rungs: list[Rung] = [
            Rung(f"scale_{scale:g}" + (f"_{level_name(stepped, counts)}" if forms and level else ""), scale, run, (),
                 scalable, reduced=reduced, steps=counts)
            for level, counts in scaled_levels
        ]  # fmt: skip
        if carry > 1 and not reduced and scale == max(scales):
            cheapest = rungs[-1]
            rungs.append(replace(cheapest, name=f"{cheapest.name}_every{carry}", every=carry))
        return rungs

    ladder = [Rung("full", run=inline, schedule=deferrable, scalable=scalable, steps=best)]
    if deferrable:
        ladder.append(Rung("defer", run=inline, scalable=scalable, steps=best))
    for level in range(1, levels):
        counts = steps_at(level)
        ladder.append(Rung(level_name(stepped, counts), run=inline, scalable=scalable, steps=counts))
    scaled = [s for s in scales if scalable and required]
    if reducible:
        # Other optional stages go at the reduced rung; the reducible ones stay, reduced.
        names = {name for name, _ in reducible}
        kept = tuple(n for n in inline if n in required or n in names)
        if kept != inline or any(factor != 1.0 for _, factor in reducible):  # else: the rung above's work
            ladder.append(Rung("reduced", run=kept, scalable=scalable, reduced=reducible, steps=fewest))
        ladder += [rung for s in scaled for rung in scaled_rungs(s, kept, reducible)]
        ladder.append(Rung("skip", ladder[-1].scale, required, (), scalable, steps=fewest))
    else:
        if required != inline:
            ladder.append(Rung("skip", run=required, scalable=scalable, steps=fewest))
        ladder += [rung for s in scaled for rung in scaled_rungs(s, required)]
    cheapest = ladder[-1]
    if not required or on_late is OnLate.PASSTHROUGH:
        ladder.append(Rung("passthrough", on_late=True))
    else:
        hold = on_late is OnLate.HOLD
        name = "hold" if hold else "best_effort"
        ladder.append(
            Rung(name, cheapest.scale, cheapest.run, (), cheapest.scalable, hold, cheapest.reduced, True, fewest)
        )
    return ladder


class BudgetPlanner:
    """Chooses a rung per frame. Not thread-safe: the worker thread owns it."""

    def __init__(
        self,
        stages: list[StageSpec],
        budget: Budget | float,
        *,
        scales: tuple[float, ...] = (0.75, 0.5),
        upgrade_after: int = 15,
        upgrade_margin: float = 0.8,
        probe_every_s: float = 2.0,
        cost: CostModel | None = None,
        on_late: OnLate = OnLate.BEST_EFFORT,
        carry: int = 1,
    ) -> None:
        #: Shared with the stats (``RunStats``): changed only through ``Budget.set``.
        self.budget = budget if isinstance(budget, Budget) else Budget(budget)
        self.on_late = on_late
        #: Rungs that style one frame in ``carry`` and carry it to the others (``build_ladder``).
        self.carry = carry
        #: The source's frame interval in real time (None: unknown, or offline): a rung
        #: slower than this drops frames, so the planner prefers one that keeps up.
        #: Declared by the source; for a browser or webcam, measured as frames arrive.
        self.frame_interval_ms: float | None = None
        self.scales = scales
        self.upgrade_after = upgrade_after
        self.upgrade_margin = upgrade_margin
        self.probe_every_ns = int(probe_every_s * 1e9)
        self.cost = cost or CostModel()
        self.decisions: Counter[str] = Counter()
        self.set_stages(stages)

    def set_stages(self, stages: list[StageSpec]) -> None:
        """New chain (e.g. style turned on/off): start again from the full rung."""
        self.ladder = build_ladder(stages, self.scales, self.on_late, self.carry)
        self._share = {s.name: s.share for s in stages}
        self._level = 0
        self._streak = 0
        self._last_probe_ns: int | None = None
        self._probe_left = 0

    @property
    def level(self) -> Rung:
        return self.ladder[self._level]

    def predict_ms(self, rung: Rung, pixels: int) -> float:
        """Predicted cost of ``rung``; stages never measured count as free (try, then learn)."""
        total = 0.0
        if not rung.passthrough:
            total += self.cost.predict(IO_STAGE, pixels) or 0.0
        for name in rung.run:
            total += self.cost.predict(rung.cost_key(name), rung.pixels_for(name, pixels)) or 0.0
        if rung.every > 1:  # per frame on average: one styled, the others carried
            carried = self.cost.predict(CARRY_STAGE, pixels) or 0.0
            total = (total + (rung.every - 1) * carried) / rung.every
        for name in rung.schedule:  # runs beside the frame path, every 1/share frames
            total += (self.cost.predict(name, pixels) or 0.0) * self._share.get(name, 1.0)
        return total

    def best_fitting(self, pixels: int) -> Rung:
        """The best rung whose predicted cost fits the whole budget (no waiting); the last
        rung (the ``on_late`` one, where the ladder has it) when none does."""
        for rung in self.ladder:
            if not rung.on_late and self.budget.fits(self.predict_ms(rung, pixels)):
                return rung
        return self.ladder[-1]

    def plan(self, pixels: int, t_capture_ns: int, now_ns: int) -> Plan:
        """The plan for one frame of ``pixels`` captured at ``t_capture_ns``.

        A rung must fit the time left before the frame's deadline and, to keep up with
        the source, its frame interval (a plan slower than that drops the frames that
        arrive meanwhile). When no rung keeps up, the cheapest one that is still on time
        is taken; when none is on time, the on-late rung."""
        remaining = self.budget.remaining_ms(t_capture_ns, now_ns)
        deadline = min(remaining, self.frame_interval_ms) if self.frame_interval_ms else remaining
        costs = [self.predict_ms(r, pixels) for r in self.ladder]
        # Index of the on-late rung; past the end for ladders without one (no inline stage).
        late = len(costs) - 1 if self.ladder[-1].on_late else len(costs)
        cheapest = late - 1
        level = self._level
        # Going up needs clear headroom (hysteresis): a fifth of the time left, but only 5%
        # of a frame interval (a rung that keeps up keeps up; the streak guards the rest).
        headroom = remaining * self.upgrade_margin
        if self.frame_interval_ms:
            headroom = min(headroom, self.frame_interval_ms * KEEP_UP_MARGIN)
        if level == late and cheapest >= 0 and costs[cheapest] <= remaining:
            # The on-late rung is per frame, not a state: this frame is on time, so work.
            level = cheapest
            self._streak = 0
        if level < late and costs[level] > deadline:
            fits = [i for i in range(level, late) if costs[i] <= deadline]
            if fits:
                level = fits[0]
            else:  # nothing keeps up with the source: the cheapest rung if on time, else late
                level = cheapest if costs[cheapest] <= remaining or late == len(costs) else late
            self._streak = 0
        elif 0 < level < late and min(costs[:level]) <= headroom:
            # Up to the best rung with headroom, not one rung at a time: a ladder with a
            # model's forms at every scale would otherwise spend a streak on each rung.
            self._streak += 1
            if self._streak >= self.upgrade_after:
                level = next(i for i in range(level) if costs[i] <= headroom)
                self._streak = 0
        else:
            self._streak = 0
        if level != self._level:
            self._level = level
            self._last_probe_ns = now_ns
            self._probe_left = 0
        chosen = level
        if level > 0 and (self._probe_left or self._probe_due(now_ns)):
            # Costs learned under load go stale; now and then try the next rung up (PROBE_FRAMES).
            self._probe_left = (self._probe_left or PROBE_FRAMES) - 1
            chosen = level - 1
            self._last_probe_ns = now_ns
        rung = self.ladder[chosen]
        self.decisions[rung.name] += 1
        return Plan(
            rung.name,
            rung.scale,
            rung.run,
            rung.schedule,
            costs[chosen],
            remaining,
            rung.hold,
            rung.reduced,
            rung.steps,
            chosen != level,
            rung.every,
        )

    def _probe_due(self, now_ns: int) -> bool:
        if self._last_probe_ns is None:
            self._last_probe_ns = now_ns
            return False
        return now_ns - self._last_probe_ns >= self.probe_every_ns
