"""A style shipped with a light student beside it: the planner's two forms of one style."""

from __future__ import annotations

import torch

from livefx.models.compact import CompactConfig
from livefx.models.stylize import FULL_FORM, LIGHT_FORM
from livefx.stream.device import FrameConverter
from livefx.stream.pipeline import Pipeline, PipelineConfig
from livefx.stream.sources.synthetic import SyntheticSource
from livefx.stream.stages.style import style_spec, style_stages

from ...models.test_stylize import write_compact
from ..helpers import Collect

CONVERTER = FrameConverter(torch.device("cpu"), torch.float32)


def two_forms(tmp_path):
    path = tmp_path / "ink.safetensors"
    write_compact(path, CompactConfig(rank=8, width=12), seed=0)
    write_compact(tmp_path / "light" / path.name, CompactConfig(rank=4, width=8, ends="light"), seed=1)
    return path


def test_the_planner_sees_a_style_with_a_light_student_as_two_named_forms(tmp_path):
    path = tmp_path / "plain.safetensors"
    write_compact(path, CompactConfig(rank=8, width=12), seed=0)
    assert style_spec(path).steps == ()
    spec = style_spec(two_forms(tmp_path))
    assert spec.steps == (FULL_FORM, LIGHT_FORM) and spec.step_names == ("full", "light")


def test_a_budget_nothing_meets_runs_the_light_student_and_names_both_engines(tmp_path):
    sink = Collect()
    p = Pipeline(
        SyntheticSource(64, 48, fps=30),
        [sink],
        style_stages(two_forms(tmp_path), CONVERTER, "eager"),
        CONVERTER,
        PipelineConfig(backend="eager", max_frames=20, budget_ms=0.001),
    )
    p.open()
    p.run(log_every_s=0)
    stats = p.snapshot()
    assert stats["frames_out"] == len(sink.frames) > 0
    assert set(stats["decisions"]) == {"best_effort"}
    assert "steps" not in stats  # forms are not denoising steps
    assert set(stats["engine"]) == {"stylize", "stylize_light"}
