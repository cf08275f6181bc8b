"""Interpolation on held-out real video at half its frame rate, at each flow size.

    python -m livefx.models.train.halfrate [--rife PATH] [--scales 1 0.5 0.25]

Every held-out frame i+1 is the truth between frames i and i+2 (each at its clip's own
size: bikes 640x272, bigbuckbunny 1280x720, carphone 176x144): the tails of bikes and
bigbuckbunny after the frames training reads, and all of carphone (never read). Pairs
across a scene cut are left out (no right answer; livefx holds them). Methods, in one
run: linear blend, OpenCV DIS flow with bidirectional warping, and the IFNet with its
motion found at each ``--scales`` fraction of the frame (the engine's ``flow_scale``)
and applied to the full-size frames. Writes bench/results/interp-halfrate-cpu.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from livefx.models.cuts import CutDetector
from livefx.models.registry import DEFAULT_RIFE
from livefx.models.rife import load_ifnet
from livefx.models.rife.stage import FlowStage, auto_flow_scale, blend_with
from livefx.models.train.common import to_image, to_tensor
from livefx.models.train.data import HELD_OUT_CLIP, TRAIN_CLIPS, clip_frames
from livefx.models.train.metrics import psnr
from livefx.models.train.train_rife import dis_flow, linear_blend

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "interp-halfrate-cpu.md"


def half_rate_triplets() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(clip, frame i, truth i+1, frame i+2) for held-out frames, scene cuts left out."""
    cut = CutDetector()
    out = []
    for clip, (_, start, _) in TRAIN_CLIPS.items():
        frames = clip_frames(clip)[start:]
        out += [(clip, *frames[i : i + 3]) for i in range(len(frames) - 2)]
    frames = clip_frames(HELD_OUT_CLIP)
    out += [(HELD_OUT_CLIP, *frames[i : i + 3]) for i in range(0, len(frames) - 2, 2)]
    cpu = torch.device("cpu")
    return [t for t in out if not cut(to_tensor(t[1], cpu), to_tensor(t[3], cpu))]


def engine_method(stage: FlowStage):
    """The in-between frame the engine makes from two input frames: flow size from the frame,
    then the motion probe (``FlowStage.probe_scale``), the full-size frames moved."""
    cpu = torch.device("cpu")

    def run(f0: np.ndarray, f1: np.ndarray, t: float) -> np.ndarray:
        x0, x1 = to_tensor(f0, cpu), to_tensor(f1, cpu)
        _, passes = stage.passes(x0, x1, [t], auto_flow_scale(*f0.shape[:2]))
        return to_image(blend_with(passes[t], x0, x1).clamp(0, 1))

    return run


def largest_motion(triplets: list, count: int) -> list:
    """The ``count`` triplets whose outer frames are furthest apart (90th percentile of the
    OpenCV DIS flow between them)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def motion(tri) -> float:
        g0, g1 = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (tri[1], tri[3]))
        return float(np.quantile(np.linalg.norm(dis.calc(g0, g1, None), axis=-1), 0.9))

    return sorted(triplets, key=motion)[-count:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rife", type=Path, default=DEFAULT_RIFE)
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.5, 0.25])
    args = ap.parse_args(argv)
    cpu = torch.device("cpu")
    stage = FlowStage(load_ifnet(args.rife), cpu, torch.float32, backend="eager")

    def ifnet(scale: float | None):
        def run(f0: np.ndarray, f1: np.ndarray, t: float) -> np.ndarray:
            size = scale or auto_flow_scale(*f0.shape[:2])
            return to_image(stage(to_tensor(f0, cpu), to_tensor(f1, cpu), t, size).frame)

        return run

    methods = {"linear blend": linear_blend, "OpenCV DIS flow, bidirectional warp": dis_flow}
    methods |= {f"livefx IFNet ({args.rife.stem}), flow at {s:g} of the frame": ifnet(s) for s in args.scales}
    methods[f"livefx IFNet ({args.rife.stem}), flow size from the frame"] = ifnet(None)
    methods[f"livefx IFNet ({args.rife.stem}), flow size from the frame and a motion probe (what the engine does)"] = (
        engine_method(stage)
    )
    triplets = half_rate_triplets()
    clips = sorted({t[0] for t in triplets})
    scores: dict[str, dict[str, list[float]]] = {m: {c: [] for c in clips} for m in methods}
    with torch.inference_mode():
        for clip, f0, truth, f1 in triplets:
            for name, method in methods.items():
                scores[name][clip].append(psnr(to_tensor(method(f0, f1, 0.5), cpu), to_tensor(truth, cpu)))
    counts = {c: len(scores["linear blend"][c]) for c in clips}
    lines = [
        "# Interpolation at half the frame rate, held-out real video",
        "",
        f"`python -m livefx.models.train.halfrate` ({sum(counts.values())} dropped frames, scene cuts left out;"
        " PSNR of the made frame against the dropped one, mean over the frames, dB).",
        "",
        "| method | all | " + " | ".join(f"{c} ({counts[c]})" for c in clips) + " |",
        "|---|---|" + "---|" * len(clips),
    ]
    for name, per_clip in scores.items():
        everything = [v for c in clips for v in per_clip[c]]
        cells = " | ".join(f"{np.mean(per_clip[c]):.2f}" for c in clips)
        lines.append(f"| {name} | {np.mean(everything):.2f} | {cells} |")
    text = "\n".join(lines) + "\n"
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
