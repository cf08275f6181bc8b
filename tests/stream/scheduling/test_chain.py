"""One frame through its plan: scaling on the host (uint8, OpenCV) on a CPU, on tensors otherwise."""

import numpy as np
import torch

from livefx.models.rife.dis_stage import DisFlowStage
from livefx.stream.device import FrameConverter
from livefx.stream.frame import Frame
from livefx.stream.scheduling.budget import BudgetPlanner, Plan, StageSpec
from livefx.stream.scheduling.chain import BoundStage, StageChain
from livefx.stream.stages.motion import MotionConfig, MotionStage
from livefx.stream.stats import RunStats

from ..helpers import CPU, SlowInvert


def chain(motion: MotionStage | None = None) -> StageChain:
    stage = SlowInvert(0)
    spec = StageSpec(stage.name)
    planner = BudgetPlanner([spec], 100.0)
    converter = FrameConverter(CPU, torch.float32)
    return StageChain([BoundStage(spec, stage)], planner, RunStats(100.0, "cpu"), converter, motion)


def plan(scale: float) -> Plan:
    return Plan(f"scale_{scale}", scale, ("slow",), (), 0.0, 100.0)


def smooth_image(h: int = 48, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, (x + y) * 255 // (w + h)], -1).astype(np.uint8)


def test_on_a_cpu_without_motion_the_plan_scales_the_uint8_image_and_comes_back_to_size():
    c = chain()
    assert c._scales_on_host()
    image = smooth_image()
    out = c.process(Frame(0, 0, 0, image), plan(0.5))
    assert out.image.shape == image.shape and out.image.dtype == np.uint8
    # Inverted, with only the resampling's softening: within a few levels on a smooth picture.
    assert np.abs(out.image.astype(int) - (255 - image.astype(int))).mean() < 3
    assert set(out.stage_ms) == {"slow", "io"}
    full = c.process(Frame(1, 0, 0, image), plan(1.0))
    assert np.array_equal(full.image, 255 - image)  # full scale: no resampling at all


def test_with_motion_in_use_the_tensor_path_runs_and_both_paths_agree():
    motion = MotionStage(DisFlowStage("dis-fast"), MotionConfig(factor=1, stabilize=True))
    c = chain(motion)
    assert not c._scales_on_host()
    c.set_motion(False)
    assert c._scales_on_host()  # motion off: nothing needs the full-size tensors
    c.set_motion(True)
    image = smooth_image()
    tensor_path = c.process(Frame(0, 0, 0, image), plan(0.5)).image
    host_path = chain().process(Frame(0, 0, 0, image), plan(0.5)).image
    assert np.abs(tensor_path.astype(int) - host_path.astype(int)).mean() < 3


def test_a_stages_first_run_at_a_new_size_teaches_the_planner_only_a_size_it_never_saw():
    c = chain()
    learned = []
    observe = c.planner.cost.observe
    c.planner.cost.observe = lambda key, pixels, ms: (learned.append((key, pixels)), observe(key, pixels, ms))
    image = smooth_image()
    for i, scale in enumerate([1.0, 1.0, 0.5, 0.5, 1.0, 1.0]):
        c.process(Frame(i, 0, 0, image), plan(scale))
    full, half = ("slow", 64 * 48), ("slow", 32 * 24)
    # back at full size, the first run sets that size up again: not a fair sample of its cost
    assert [k for k in learned if k[0] == "slow"] == [full, full, half, half, full]
