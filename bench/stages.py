"""Each model alone: the style teacher and the shipped student, the interpolator (livefx's
default and RIFE v4.6), the action classifier (livefx's default and VideoMAE-base), at
each frame size, interleaved round by round in one process.

Speed does not depend on the weights, so the published architectures without published
weights here (the teacher when ../shared is absent, v4.6, VideoMAE-base) run with random
weights, and their rows say so.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch

from livefx.models.action import load_action_model
from livefx.models.registry import DEFAULT_ACTIONS, DEFAULT_RIFE, resolve_style
from livefx.models.rife import IFNet, load_ifnet
from livefx.models.rife.dis_stage import DisFlowStage
from livefx.models.rife.stage import FlowStage
from livefx.models.stylize import StyleStage, TransformerNet, load_style

from .measure import PeakMemory, percentile_summary, time_interleaved


@dataclass
class Subject:
    """One model under test: how to build a call on an input of a size, and what its
    output rate means (``frames_per_call``: 2 for a 2x interpolator)."""

    name: str
    make_call: Callable[[int, int], Callable[[], object]]
    frames_per_call: int = 1
    #: Clip models take a fixed-size input: timed once, not per frame size.
    fixed_input: str | None = None


def frame_subjects(device: torch.device, dtype: torch.dtype, backend: str) -> list[Subject]:
    def image(h: int, w: int) -> torch.Tensor:
        return torch.rand(1, 3, h, w, device=device, dtype=dtype)

    student_net, student_range = load_style(resolve_style("default"))
    teacher = StyleStage(TransformerNet(), device, dtype, "teacher", 255.0, backend)
    student = StyleStage(student_net, device, dtype, "student", student_range, backend)
    # accelerate() makes CUDA models channels_last; on the CPU this copy tells whether it would pay.
    nhwc_net = copy.deepcopy(student_net).to(memory_format=torch.channels_last)
    student_nhwc = StyleStage(nhwc_net, device, dtype, "student", student_range, backend)
    rife_default = FlowStage(load_ifnet(DEFAULT_RIFE), device, dtype, backend=backend)
    rife_v46 = FlowStage(IFNet(), device, dtype, backend=backend, label="v4.6")

    def style(stage: StyleStage) -> Callable[[int, int], Callable[[], object]]:
        def make(h: int, w: int) -> Callable[[], object]:
            x = image(h, w)
            return lambda: stage(x)

        return make

    def flow(stage: FlowStage | DisFlowStage, scale: float = 1.0) -> Callable[[int, int], Callable[[], object]]:
        def make(h: int, w: int) -> Callable[[], object]:
            a = image(h, w)
            b = torch.roll(a, (2, 3), (2, 3))  # a small motion: DIS's cost depends on content
            return lambda: stage(a, b, 0.5, scale)

        return make

    def channels_last(stage: StyleStage) -> Callable[[int, int], Callable[[], object]]:
        def make(h: int, w: int) -> Callable[[], object]:
            x = image(h, w).contiguous(memory_format=torch.channels_last)
            return lambda: stage(x)

        return make

    return [
        Subject("style teacher (fast-neural-style, random weights)", style(teacher)),
        Subject("style student (shipped default)", style(student)),
        *([Subject("style student, channels_last (CPU)", channels_last(student_nhwc))] if device.type == "cpu" else []),
        Subject("IFNet livefx default, 2x", flow(rife_default), frames_per_call=2),
        Subject("IFNet livefx default, 2x, flow at half size", flow(rife_default, 0.5), frames_per_call=2),
        Subject("IFNet RIFE v4.6 (random weights), 2x", flow(rife_v46), frames_per_call=2),
        Subject("OpenCV DIS fast (the CPU default), 2x", flow(DisFlowStage("dis-fast")), frames_per_call=2),
    ]


def clip_subjects(device: torch.device, dtype: torch.dtype, base: bool) -> list[Subject]:
    """The action classifiers on one clip (VideoMAE-base only when ``base``: ~2 s a clip on a CPU)."""
    small = load_action_model(DEFAULT_ACTIONS)
    models = [(f"VideoMAE livefx default ({small.num_frames}x{small.preprocessing.crop[0]}^2)", small.model)]
    sizes = [(small.num_frames, small.preprocessing.crop[0])]
    if base:
        from transformers import VideoMAEConfig, VideoMAEForVideoClassification

        torch.manual_seed(0)
        models.append(
            ("VideoMAE-base (random weights)", VideoMAEForVideoClassification(VideoMAEConfig(num_labels=400)))
        )
        sizes.append((16, 224))
    subjects = []
    for (name, net), (frames, side) in zip(models, sizes):
        net = net.to(device=device, dtype=dtype).eval()
        clip = torch.rand(1, frames, 3, side, side, device=device, dtype=dtype)

        def make(h: int, w: int, net=net, clip=clip) -> Callable[[], object]:
            return lambda: net(pixel_values=clip)

        subjects.append(Subject(name, make, fixed_input=f"{frames}x{side}x{side}"))
    return subjects


def run_stages(
    device: torch.device, dtype: torch.dtype, backend: str, sizes: list[tuple[int, int]], runs: int, base: bool
) -> dict:
    """The ``stages`` scenario: a row per model and size (median, p95, p99, fps)."""
    rows = []
    with PeakMemory(device) as peak, torch.inference_mode():
        subjects = frame_subjects(device, dtype, backend)
        for w, h in sizes:
            calls = {s.name: s.make_call(h, w) for s in subjects}
            for s in subjects:
                print(f"  stages: {s.name} at {w}x{h} ...", flush=True)
            samples = time_interleaved(calls, runs=runs, device=device)
            rows += [_row(s, f"{w}x{h}", samples[s.name]) for s in subjects]
        clips = clip_subjects(device, dtype, base)
        samples = time_interleaved({s.name: s.make_call(0, 0) for s in clips}, runs=runs, device=device)
        rows += [_row(s, s.fixed_input or "", samples[s.name]) for s in clips]
    return {"rows": rows, **peak.as_dict()}


def _row(subject: Subject, size: str, samples: list[float]) -> dict:
    stats = percentile_summary(samples)
    return {
        "model": subject.name,
        "size": size,
        **stats,
        "calls_per_s": round(1000 / stats["median_ms"], 1) if stats["median_ms"] else None,
        "output_fps": round(subject.frames_per_call * 1000 / stats["median_ms"], 1) if stats["median_ms"] else None,
    }


def stages_table(result: dict) -> list[str]:
    lines = [
        "| model | input | median ms | p95 ms | output fps |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['model']} | {r['size']} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['output_fps']} |"
        for r in result["rows"]
    ]
    return lines
