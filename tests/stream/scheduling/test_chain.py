"""One frame through its plan: scaling on the host (uint8, OpenCV) on a CPU, on tensors otherwise."""

import numpy as np
import torch

from livefx.models.rife.dis_stage import DisFlowStage
from livefx.stream.device import FrameConverter
from livefx.stream.frame import Frame
from livefx.stream.scheduling.budget import BudgetPlanner, Plan, StageSpec
from livefx.stream.scheduling.chain import BoundStage, StageChain
from livefx.stream.scheduling.control import StageSwap
from livefx.stream.stages.motion import MotionConfig, MotionStage
from livefx.stream.stats import RunStats

from ..helpers import CPU, SlowInvert, shifted, texture


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


def every2(scale: float = 0.5) -> Plan:
    return Plan(f"scale_{scale}_every2", scale, ("slow",), (), 0.0, 100.0, every=2)


def test_a_plan_styling_one_frame_in_two_carries_the_styled_frame_to_the_next():
    c = chain()
    learned = []
    observe = c.planner.cost.observe
    c.planner.cost.observe = lambda key, pixels, ms: (learned.append(key), observe(key, pixels, ms))
    source = texture(240, 320, 0)
    moves = [shifted(source, 2 * i, i) for i in range(4)]
    out = [c.process(Frame(i, 0, 0, image), every2(1.0)) for i, image in enumerate(moves)]
    assert [set(o.stage_ms) for o in out] == [{"slow", "io"}, {"carry"}, {"slow", "io"}, {"carry"}]
    inner = (slice(16, -16), slice(16, -16))
    truth = 255 - moves[1]  # the effect (inversion) of the carried frame's own input
    assert np.abs(out[1].image[inner].astype(int) - truth[inner]).mean() < 4
    assert np.abs(out[0].image[inner].astype(int) - truth[inner]).mean() > 8  # what holding would show
    assert learned.count("carry") == 2


def test_a_carry_refused_styles_the_frame_and_prices_the_carry_as_that():
    c = chain()
    c.process(Frame(0, 0, 0, texture(240, 320, 0)), every2())
    learned = {}
    observe = c.planner.cost.observe
    c.planner.cost.observe = lambda key, pixels, ms: (learned.__setitem__(key, ms), observe(key, pixels, ms))
    cut = c.process(Frame(1, 0, 0, texture(240, 320, 5)), every2())  # another scene
    assert {"slow", "io", "carry"} <= set(cut.stage_ms) and c.carry.refused == 1
    assert learned["carry"] >= cut.stage_ms["slow"] + cut.stage_ms["carry"]
    # The styled cut is the new key frame: the next frame is carried from it.
    assert set(c.process(Frame(2, 0, 0, texture(240, 320, 5)), every2()).stage_ms) == {"carry"}


def test_a_new_style_or_a_passed_through_frame_is_never_carried_across():
    c = chain()
    image = texture(240, 320, 0)
    c.process(Frame(0, 0, 0, image), every2())
    c.process(Frame(1, 0, 0, image), Plan("passthrough", 1.0, (), (), 0.0, 100.0))
    assert "slow" in c.process(Frame(2, 0, 0, image), every2()).stage_ms
    c.install(StageSwap(StageSpec("slow"), SlowInvert(0), {}))  # a style switch
    assert "slow" in c.process(Frame(3, 0, 0, image), every2()).stage_ms
