"""A diffusion style in the engine: loaded from ``--style sd:PATH``, its step count chosen per frame
by the planner and counted, and its prompt changed under a running worker without a stall."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import torch

from livefx.models.diffusion.stage import DiffusionOptions, DiffusionStage, DiffusionStyle
from livefx.models.registry import DEFAULT_STYLE
from livefx.models.stage import STYLE_STAGE
from livefx.stream.device import FrameConverter
from livefx.stream.errors import LivefxError, UsageError
from livefx.stream.pipeline import Pipeline, PipelineConfig
from livefx.stream.sources.synthetic import SyntheticSource
from livefx.stream.stages.style import load_style, pick_style, style_spec, style_stages
from tests.diffusion_folders import diffusers_or_skip

from ..helpers import Collect

diffusers_or_skip()

CONVERTER = FrameConverter(torch.device("cpu"), torch.float32)


def diffusion_style(tiny_sd, **options) -> DiffusionStyle:
    style = load_style(f"sd:{tiny_sd[0]}", CONVERTER, DiffusionOptions(**options))
    assert isinstance(style, DiffusionStyle)
    return style


def style_pipeline(style: DiffusionStyle, sink: Collect, fps: float, **config) -> Pipeline:
    """A synthetic 64x48 source through ``style`` into ``sink``, opened (warmed up)."""
    p = Pipeline(
        SyntheticSource(64, 48, fps=fps),
        [sink],
        style_stages(style, CONVERTER, "eager"),
        CONVERTER,
        PipelineConfig(backend="eager", **config),
    )
    p.open()
    return p


def run(style: DiffusionStyle, frames: int, **config) -> tuple[Pipeline, Collect]:
    sink = Collect()
    p = style_pipeline(style, sink, 30, max_frames=frames, **config)
    p.run(log_every_s=0)
    return p, sink


def test_sd_specs_load_a_shared_model_and_other_specs_name_style_networks(tiny_sd):
    style = diffusion_style(tiny_sd, prompt="a fox", steps=(2, 1))
    assert style.name == f"sd:{tiny_sd[0].name}"
    assert style_spec(style).steps == (2, 1)
    assert style_spec(DiffusionStyle(style.model, DiffusionOptions(steps=(3, 1), stream_batch=True))).steps == (3,)
    first, second = style.build_stage("eager"), style.build_stage("eager")
    assert first.model is second.model and first is not second  # weights shared, stream state not
    assert load_style("none", CONVERTER) is None


def test_one_resolver_picks_names_paths_and_the_loaded_diffusion_model(tiny_sd):
    """Issue 32: the page, label rules and control commands all resolve through ``pick_style``."""
    loaded = diffusion_style(tiny_sd)
    assert pick_style(loaded.name, loaded) is loaded  # by its name, never loaded twice
    assert pick_style("none", loaded) is None
    assert pick_style("default").stem == DEFAULT_STYLE
    with pytest.raises(UsageError, match="unknown style"):
        pick_style("no-such-style", loaded)
    with pytest.raises(UsageError, match="loads only at start"):
        pick_style(f"sd:{tiny_sd[0]}")  # another diffusion model mid-stream: refused, not loaded


def test_a_budget_nothing_meets_runs_the_fewest_steps_and_counts_them(tiny_sd):
    p, sink = run(diffusion_style(tiny_sd, prompt="a fox", steps=(4, 2, 1)), 30, budget_ms=0.001)
    stats = p.snapshot()
    assert stats["frames_out"] == len(sink.frames) > 0, stats
    assert stats["steps"] == {"1": stats["frames_out"]}
    assert set(stats["decisions"]) == {"best_effort"}
    assert stats["diffusion"]["prompt"] == "a fox" and stats["diffusion"]["step_choices"] == [4, 2, 1]


def test_offline_every_frame_gets_the_most_steps(tiny_sd):
    p, sink = run(diffusion_style(tiny_sd, steps=(3, 1)), 5, realtime=False)
    assert p.snapshot()["steps"] == {"3": 5} and len(sink.frames) == 5


def styled(stage: DiffusionStage, image: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    return (stage(x)[0].permute(1, 2, 0) * 255).round().numpy()


def test_a_prompt_change_under_a_running_worker_applies_between_frames_without_a_stall(tiny_sd, monkeypatch):
    style = diffusion_style(tiny_sd, prompt="the red fox", strength=0.5, steps=(1,))
    sink = Collect()
    # keep_up=False and a large budget: every frame at full scale, however busy the machine.
    p = style_pipeline(style, sink, 20, max_frames=100_000, budget_ms=10_000, keep_up=False)
    encoding, release = threading.Event(), threading.Event()
    real_encode = style.model.encode_prompt

    def encode_slowly(prompt: str) -> torch.Tensor:
        encoding.set()
        release.wait(120)  # a large text encoder: held until the test has seen frames go on
        return real_encode(prompt)

    def wait_for_frames(count: int, what: str) -> None:
        deadline = time.monotonic() + 120
        while len(sink.frames) < count:
            assert time.monotonic() < deadline and runner.is_alive(), what
            time.sleep(0.05)

    runner = threading.Thread(target=p.run, kwargs={"log_every_s": 0})
    runner.start()
    try:
        wait_for_frames(3, "the stream never started")
        monkeypatch.setattr(style.model, "encode_prompt", encode_slowly)
        change = p.set_prompt("a blue whale", strength=0.9)
        assert encoding.wait(30)
        # While the prompt is being encoded the frames go on: no stall, whatever the speed.
        wait_for_frames(len(sink.frames) + 3, "the stream stalled while the prompt was encoded")
        release.set()
        change.result(timeout=60)
        wait_for_frames(len(sink.frames) + 3, "no frames after the prompt change")
    finally:
        release.set()
        p.stop()
        runner.join(30)
    assert p.snapshot()["diffusion"]["prompt"] == "a blue whale"

    fox = DiffusionStage(style.model, DiffusionOptions(prompt="the red fox", strength=0.5, steps=(1,)), backend="eager")
    whale = DiffusionStage(
        style.model, DiffusionOptions(prompt="a blue whale", strength=0.9, steps=(1,)), backend="eager"
    )
    source = SyntheticSource(64, 48, fps=20)
    source.open()
    inputs = [source.read()[0] for _ in range(sink.frames[-1].seq + 1)]
    kinds = []
    for frame in sink.frames:
        original = inputs[frame.seq]
        if np.abs(frame.image - styled(fox, original)).max() <= 1:
            kinds.append("fox")
        elif np.abs(frame.image - styled(whale, original)).max() <= 1:
            kinds.append("whale")
        else:
            kinds.append("neither")
    assert "neither" not in kinds, "every frame is one prompt's, never a mix"
    assert kinds[0] == "fox" and kinds[-1] == "whale"
    assert "fox" not in kinds[kinds.index("whale") :], "once the new prompt is in, the old one never returns"


def test_prompt_edits_that_wait_merge_and_only_the_latest_text_is_encoded(tiny_sd, monkeypatch):
    style = diffusion_style(tiny_sd, prompt="the red fox", strength=0.5, seed=1, steps=(1,))
    sink = Collect()
    p = style_pipeline(style, sink, 20, max_frames=100_000, budget_ms=10_000, keep_up=False)
    encoding, release, encoded = threading.Event(), threading.Event(), []
    real_encode = style.model.encode_prompt

    def encode_recorded(prompt: str) -> torch.Tensor:
        encoded.append(prompt)
        encoding.set()
        release.wait(120)  # the first edit's encode holds the helper thread while more arrive
        return real_encode(prompt)

    monkeypatch.setattr(style.model, "encode_prompt", encode_recorded)
    runner = threading.Thread(target=p.run, kwargs={"log_every_s": 0})
    runner.start()
    try:
        first = p.set_prompt("a blue whale")
        assert encoding.wait(60)
        typed = [p.set_prompt("a green frog", strength=0.7), p.set_prompt("a grey owl"), p.set_prompt(seed=5)]
        bad = p.set_prompt("a cat", strength=2.0)
        with pytest.raises(LivefxError, match="strength"):
            bad.result(timeout=10)  # refused alone: the edits waiting are untouched
        release.set()
        for change in (first, *typed):
            change.result(timeout=60)
    finally:
        release.set()
        p.stop()
        runner.join(30)
    assert encoded == ["a blue whale", "a grey owl"]  # the frog was never encoded
    state = p.snapshot()["diffusion"]
    assert (state["prompt"], state["strength"], state["seed"]) == ("a grey owl", 0.7, 5)


def test_switching_back_to_the_diffusion_style_resumes_the_prompt_set_live(tiny_sd):
    style = diffusion_style(tiny_sd, prompt="the red fox", strength=0.5, steps=(1,))
    p = style_pipeline(style, Collect(), 20, max_frames=100_000, budget_ms=10_000, keep_up=False)
    runner = threading.Thread(target=p.run, kwargs={"log_every_s": 0})
    runner.start()
    try:
        p.set_prompt("a blue whale", strength=0.9, seed=7).result(timeout=60)
        p.switch_style(None).result(timeout=60)
        assert "diffusion" not in p.snapshot()
        p.switch_style(style).result(timeout=60)  # the style as the server started it
    finally:
        p.stop()
        runner.join(30)
    state = p.snapshot()["diffusion"]
    assert (state["prompt"], state["strength"], state["seed"]) == ("a blue whale", 0.9, 7)


def test_a_prompt_for_a_style_without_one_is_refused(tmp_path):
    p = Pipeline(SyntheticSource(64, 48), [Collect()], [], CONVERTER, PipelineConfig(max_frames=1))
    with pytest.raises(LivefxError, match="takes no prompt"):
        p.set_prompt("a fox").result(timeout=10)
    assert p.style_stage() is None
    assert STYLE_STAGE == "stylize"


def run_frames(tmp_path, clip, name: str, *extra: str) -> tuple[list[np.ndarray], dict]:
    """``livefx run`` on ``clip`` offline at full scale: its frames and its stats' style engine."""
    import av

    from ..cli.test_cli import livefx

    out, stats = tmp_path / f"{name}.y4m", tmp_path / f"{name}.json"
    proc = livefx(
        "run", "--source", f"file:{clip}", "--no-realtime", "--frames", "6", "--size", "320x180",
        "--sink", f"file:{out}", "--stats", str(stats), *extra,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24").astype(np.float64) for f in container.decode(video=0)]
    return frames, json.loads(stats.read_text())["engine"]["stylize"]


def assert_within_32_db(frames: list[np.ndarray], reference: list[np.ndarray]) -> None:
    assert len(frames) == len(reference) == 6
    for a, b in zip(frames, reference):
        psnr = 10 * np.log10(255.0**2 / max(np.mean((a - b) ** 2), 1e-9))
        assert psnr >= 32.0, psnr


@pytest.mark.slow
def test_the_default_run_uses_a_cpu_runtime_with_the_picture_of_eager_fp32(tmp_path, real_clip):
    """Issue 30: ``livefx run`` with the default backend names a CPU runtime other than eager in
    its stats' ``engine``, and its pictures stay within 32 dB PSNR of eager fp32 (offline, full scale)."""
    from livefx.models.openvino_runtime import openvino_problem

    if openvino_problem() is not None:
        pytest.skip(openvino_problem())
    frames, engine = run_frames(tmp_path, real_clip, "default")
    eager, eager_engine = run_frames(tmp_path, real_clip, "eager", "--backend", "eager", "--precision", "fp32")
    assert engine["backend"] not in ("eager", "compile")
    assert eager_engine == {"backend": "eager", "precision": "fp32"}
    assert_within_32_db(frames, eager)


@pytest.mark.slow
def test_an_int8_run_says_int8_and_the_default_style_holds_the_picture(tmp_path, real_clip, monkeypatch):
    """``--precision int8``: the stats' engine says int8, and the shipped default style (35 dB on
    the held-out clip, ``python -m bench.int8``) stays within 32 dB of eager fp32."""
    from livefx.models.int8 import nncf_problem
    from livefx.models.openvino_runtime import openvino_problem

    if openvino_problem() is not None or nncf_problem() is not None:
        pytest.skip(openvino_problem() or f"int8: {nncf_problem()}")
    monkeypatch.setenv("LIVEFX_CACHE_DIR", str(tmp_path / "cache"))  # quantized here, not read from a cache
    frames, engine = run_frames(tmp_path, real_clip, "int8", "--precision", "int8")
    eager, _ = run_frames(tmp_path, real_clip, "eager", "--backend", "eager", "--precision", "fp32")
    assert engine == {"backend": "openvino", "precision": "int8"}
    assert_within_32_db(frames, eager)
