"""Side work (DEFERRABLE stages): the worker gives each a turn after every frame by contract,
whatever it computes, and its costs reach the planner under its own name."""

import numpy as np
import torch

from livefx.stream.device import FrameConverter
from livefx.stream.frame import Frame
from livefx.stream.scheduling.budget import BudgetPlanner, StageKind, StageSpec
from livefx.stream.scheduling.chain import BoundStage
from livefx.stream.scheduling.ring import Ring
from livefx.stream.scheduling.worker import Worker
from livefx.stream.stats import RunStats

from ..helpers import CPU, SlowInvert


class CountingSideWork:
    """Asks for a turn every second frame; reports a 7 ms run after each scheduled one."""

    def __init__(self) -> None:
        self.turns: list[bool] = []
        self._finished: float | None = None

    @property
    def spec(self) -> StageSpec:
        return StageSpec("counter", StageKind.DEFERRABLE, scalable=False, share=0.5)

    def new_cost_ms(self) -> float | None:
        cost, self._finished = self._finished, None
        return cost

    def on_frame(self, scheduled: bool, now_ns: int) -> None:
        self.turns.append(scheduled)
        if scheduled:
            self._finished = 7.0


def test_the_worker_gives_side_work_a_turn_per_frame_and_its_costs_reach_the_planner():
    stage, work = SlowInvert(0), CountingSideWork()
    spec = StageSpec(stage.name)
    planner = BudgetPlanner([spec, work.spec], 60_000.0)
    frames_in, frames_out = Ring(8, lossless=True), Ring(8, lossless=True)
    worker = Worker(
        frames_in,
        frames_out,
        [BoundStage(spec, stage)],
        planner,
        RunStats(planner.budget, "cpu"),
        FrameConverter(CPU, torch.float32),
        realtime=False,
        side_work=[work],
        threads=1,
    )
    image = np.zeros((8, 8, 3), np.uint8)
    for seq in range(4):
        frames_in.push(Frame(seq, seq, seq, image))
    frames_in.close()
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive() and worker.error is None
    assert len(work.turns) == 4  # one turn per frame, offline: scheduled as the full rung says
    assert all(work.turns)
    assert planner.cost.predict("counter", 64) == 7.0
