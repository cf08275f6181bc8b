"""Live style switching: prepared off the hot path, swapped between two frames."""

import threading

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from livefx.models import stylize
from livefx.models.student import STUDENT_FORMAT, StudentConfig, StudentNet
from livefx.stream.sources.synthetic import SyntheticSource

from .helpers import Collect, pipeline, wait_until


def student_file(path, seed: int):
    torch.manual_seed(seed)
    net = StudentNet().eval().fuse()
    save_file(net.state_dict(), str(path), metadata={"format": STUDENT_FORMAT, **StudentConfig().to_metadata()})
    return path


@pytest.fixture
def styles(tmp_path):
    return student_file(tmp_path / "a.safetensors", 1), student_file(tmp_path / "b.safetensors", 2)


def styler(path):
    stage = stylize.build_style_stage(path, torch.device("cpu"), torch.float32, "eager")

    def apply(image):
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        return (stage(x)[0].permute(1, 2, 0) * 255).round().byte().numpy()

    return apply


def test_switch_under_a_running_worker_does_not_stall(styles, monkeypatch):
    a, b = styles
    loading, release = threading.Event(), threading.Event()
    real_load = stylize.load_style

    def load_slowly(path):
        loading.set()
        assert release.wait(60)  # a big model loading from a slow disk, held until the test says
        return real_load(path)

    sink = Collect(in_order=True)
    # keep_up=False and a budget no stage run exceeds: every frame at full scale (the styles
    # below are compared at full scale), however busy the machine.
    p = pipeline(
        SyntheticSource(64, 48, fps=40), [sink], None, budget_ms=60_000, max_frames=2000, backend="eager", keep_up=False
    )
    p.open()
    runner = threading.Thread(target=p.run, kwargs={"log_every_s": 0})
    runner.start()
    first = p.switch_style(a)
    first.result(timeout=20)
    monkeypatch.setattr(stylize, "load_style", load_slowly)
    second = p.switch_style(b)
    assert loading.wait(20)
    # Frames keep coming while the next style is loading: the worker does not wait for it,
    # whatever the machine's speed (the load ends only once 10 more frames are out).
    seen = len(sink.frames)
    wait_until(lambda: len(sink.frames) >= seen + 10, "10 frames during the load")
    assert not second.done()
    release.set()
    second.result(timeout=20)
    pushed_before_swap = p.frames_in.pushed  # seq numbers of the frames captured so far are below this
    wait_until(lambda: sink.frames and sink.frames[-1].seq >= pushed_before_swap, "a frame captured after the swap")
    p.stop()
    runner.join(30)
    assert p.worker.swaps == 2
    # Before the first switch frames pass through; later ones carry style a, then style b.
    expect_a, expect_b = styler(a), styler(b)
    by_style = {"none": 0, "a": 0, "b": 0}
    src = SyntheticSource(64, 48, fps=40)
    src.open()
    inputs = [src.read()[0] for _ in range(sink.frames[-1].seq + 1)]
    for f in sink.frames:
        original = inputs[f.seq]
        if np.array_equal(f.image, original):
            by_style["none"] += 1
        elif np.abs(f.image.astype(int) - expect_a(original)).max() <= 1:
            by_style["a"] += 1
        elif np.abs(f.image.astype(int) - expect_b(original)).max() <= 1:
            by_style["b"] += 1
    assert by_style["a"] > 0 and by_style["b"] > 0, (by_style, dict(p.stats.decisions))
    assert sum(by_style.values()) == len(sink.frames), "every frame is exactly one style, never a mix"
    # Once b is in, a never comes back.
    kinds = []
    for f in sink.frames:
        kinds.append("b" if np.abs(f.image.astype(int) - expect_b(inputs[f.seq])).max() <= 1 else "x")
    assert "x" not in kinds[kinds.index("b") :]


def test_switch_to_none_removes_the_stage(styles):
    a, _ = styles
    sink = Collect()
    # keep_up=False: every frame at full scale (the styles below are compared at full scale),
    # however busy the machine.
    p = pipeline(
        SyntheticSource(64, 48, fps=40), [sink], None, budget_ms=500, max_frames=2000, backend="eager", keep_up=False
    )
    p.open()
    runner = threading.Thread(target=p.run, kwargs={"log_every_s": 0})
    runner.start()
    p.switch_style(a).result(timeout=20)
    p.switch_style(None).result(timeout=20)
    p.stop()
    runner.join(30)
    assert p.worker.swaps == 2 and p.worker.stages == {}
    assert [r.name for r in p.planner.ladder] == ["full"]


def test_a_corrupt_weights_file_at_switch_time_keeps_the_old_style_and_says_why(styles, tmp_path):
    from livefx.models.errors import WeightsError

    a, _ = styles
    corrupt = tmp_path / "swapped.safetensors"
    corrupt.write_bytes(a.read_bytes()[:300])  # the file was replaced mid-copy
    sink = Collect(in_order=True)
    p = pipeline(SyntheticSource(64, 48, fps=40), [sink], None, budget_ms=500, max_frames=2000, keep_up=False)
    p.open()
    runner = threading.Thread(target=p.run, kwargs={"log_every_s": 0})
    runner.start()
    p.switch_style(a).result(timeout=20)
    failed = p.switch_style(corrupt)
    with pytest.raises(WeightsError, match="swapped.safetensors"):
        failed.result(timeout=20)
    seen = len(sink.frames)
    wait_until(lambda: len(sink.frames) >= seen + 5, "5 frames after the failed switch")
    p.stop()
    runner.join(30)
    assert p.worker.swaps == 1 and set(p.worker.stages) == {"stylize"}  # style a is still in
    expect_a = styler(a)
    src = SyntheticSource(64, 48, fps=40)
    src.open()
    inputs = [src.read()[0] for _ in range(sink.frames[-1].seq + 1)]
    later = sink.frames[seen:]
    assert later and all(np.abs(f.image.astype(int) - expect_a(inputs[f.seq])).max() <= 1 for f in later)
