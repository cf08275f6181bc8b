"""Interpolation on held-out real video at half its frame rate, at each flow size.

    python -m livefx.models.train.halfrate [--rife PATH [PATH ...]] [--scales 1 0.5 0.25]
                                           [--max-width 320] [--out FILE]

Every held-out frame i+1 is the truth between frames i and i+2 (each at its clip's own
size: bikes 640x272, bigbuckbunny 1280x720, carphone 176x144; or shrunk to ``--max-width``):
the tails of bikes and bigbuckbunny after the frames training reads, and all of carphone
(never read). Pairs across a scene cut are left out (no right answer; livefx holds them).
Methods, in one run: linear blend, OpenCV DIS flow with bidirectional warping (medium
preset with bilinear and with bicubic sampling, and the fast preset a DIS-initialised IFNet
starts from), DIS fast as the engine runs it on a CPU (``--flow auto``), each ``--rife``
IFNet with its motion found at each ``--scales`` fraction of the frame (the engine's
``flow_scale``) and applied to the full-size frames, and a ceiling (the motion found from
the true in-between frame). Writes bench/results/interp-halfrate-cpu.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from ..cuts import CutDetector
from ..registry import DEFAULT_RIFE
from ..rife import load_ifnet
from ..rife.dis import dis_for
from ..rife.dis_stage import DisFlowStage
from ..rife.stage import FlowStage, auto_flow_scale, blend_with
from .common import to_image, to_tensor
from .data import HELD_OUT_CLIP, TRAIN_CLIPS, clip_frames
from .metrics import psnr
from .train_rife import back_warp, dis_flow, linear_blend

CPU = torch.device("cpu")
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "interp-halfrate-cpu.md"


def half_rate_triplets(max_width: int | None = None) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(clip, frame i, truth i+1, frame i+2) for held-out frames, scene cuts left out; clips
    wider than ``max_width`` shrunk to it (area averaging, even height)."""
    cut = CutDetector()
    out = []
    for clip, (_, start, _) in TRAIN_CLIPS.items():
        frames = clip_frames(clip)[start:]
        out += [(clip, *frames[i : i + 3]) for i in range(len(frames) - 2)]
    frames = clip_frames(HELD_OUT_CLIP)
    out += [(HELD_OUT_CLIP, *frames[i : i + 3]) for i in range(0, len(frames) - 2, 2)]
    out = [t for t in out if not cut(to_tensor(t[1], CPU), to_tensor(t[3], CPU))]
    return [(clip, *(fit_width(f, max_width) for f in frames)) for clip, *frames in out]


def fit_width(frame: np.ndarray, max_width: int | None) -> np.ndarray:
    h, w = frame.shape[:2]
    if max_width is None or w <= max_width:
        return frame
    size = (max_width, 2 * round(h * max_width / w / 2))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def ceiling(f0: np.ndarray, truth: np.ndarray, f1: np.ndarray) -> np.ndarray:
    """What two-frame warping reaches when the motion to time t is known: DIS (medium) from
    the true in-between frame to each input, both warped there (bicubic) and averaged."""
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (f0, truth, f1)]
    dis = dis_for("dis-medium")
    w0 = back_warp(f0, dis.calc(gray[1], gray[0], None), cv2.INTER_CUBIC)
    w1 = back_warp(f1, dis.calc(gray[1], gray[2], None), cv2.INTER_CUBIC)
    return ((w0 + w1) / 2).clip(0, 255).round().astype(np.uint8)


def engine_method(stage: FlowStage):
    """The in-between frame the engine makes from two input frames: flow size from the frame,
    then the motion probe (``FlowStage.probe_scale``), the full-size frames moved."""

    def run(f0: np.ndarray, f1: np.ndarray, t: float) -> np.ndarray:
        x0, x1 = to_tensor(f0, CPU), to_tensor(f1, CPU)
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


def engine_dis_method(preset: str):
    """The in-between frame ``livefx run --flow auto`` makes on a CPU: ``DisFlowStage`` at
    the flow size from the frame (its finest DIS level from that size), full-size frames moved."""
    stage = DisFlowStage(preset)

    def run(f0: np.ndarray, f1: np.ndarray, t: float) -> np.ndarray:
        return to_image(stage(to_tensor(f0, CPU), to_tensor(f1, CPU), t, auto_flow_scale(*f0.shape[:2])).frame)

    return run


def dis_fast_flow(f0: np.ndarray, f1: np.ndarray, t: float) -> np.ndarray:
    """``dis_flow`` with DIS's fast preset: the starting flow of livefx's DIS-initialised IFNet."""
    return dis_flow(f0, f1, t, "dis-fast")


def dis_bicubic_flow(f0: np.ndarray, f1: np.ndarray, t: float) -> np.ndarray:
    """``dis_flow`` (medium preset) with bicubic sampling, as livefx moves its output pixels."""
    return dis_flow(f0, f1, t, "dis-medium", cv2.INTER_CUBIC)


def model_methods(path: Path, scales: list[float]) -> dict:
    """The IFNet in ``path`` with its motion found at each fraction of the frame in ``scales``,
    at the size ``auto_flow_scale`` picks, and as the engine runs it (plus the motion probe)."""
    stage = FlowStage(load_ifnet(path), CPU, torch.float32, backend="eager")

    def at(scale: float | None):
        def run(f0: np.ndarray, f1: np.ndarray, t: float) -> np.ndarray:
            size = scale or auto_flow_scale(*f0.shape[:2])
            return to_image(stage(to_tensor(f0, CPU), to_tensor(f1, CPU), t, size).frame)

        return run

    name = f"livefx IFNet ({path.stem})"
    methods = {f"{name}, flow at {s:g} of the frame": at(s) for s in scales}
    methods[f"{name}, flow size from the frame"] = at(None)
    methods[f"{name}, flow size from the frame and a motion probe (what the engine does)"] = engine_method(stage)
    return methods


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rife", type=Path, nargs="+", default=[DEFAULT_RIFE], help="interpolators to score")
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.5, 0.25])
    ap.add_argument("--max-width", type=int, help="shrink wider clips to this width first (e.g. 320: the README job)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="markdown table to write")
    args = ap.parse_args(argv)
    methods = {
        "linear blend": linear_blend,
        "OpenCV DIS flow, bidirectional warp": dis_flow,
        "OpenCV DIS flow, bidirectional warp, bicubic sampling": dis_bicubic_flow,
        "OpenCV DIS flow (fast preset), bidirectional warp": dis_fast_flow,
        "livefx DIS fast as the engine runs it on a CPU (--flow auto)": engine_dis_method("dis-fast"),
    }
    for path in args.rife:
        methods |= model_methods(path, args.scales)
    triplets = half_rate_triplets(args.max_width)
    clips = sorted({t[0] for t in triplets})
    ceiling_name = "ceiling: DIS from the true in-between frame to each input, bicubic, even blend"
    scores: dict[str, dict[str, list[float]]] = {m: {c: [] for c in clips} for m in [*methods, ceiling_name]}
    with torch.inference_mode():
        for clip, f0, truth, f1 in triplets:
            made = {name: method(f0, f1, 0.5) for name, method in methods.items()}
            made[ceiling_name] = ceiling(f0, truth, f1)
            for name, frame in made.items():
                scores[name][clip].append(psnr(to_tensor(frame, CPU), to_tensor(truth, CPU)))
    counts = {c: len(scores["linear blend"][c]) for c in clips}
    sizes = ", ".join(sorted({f"{t[1].shape[1]}x{t[1].shape[0]}" for t in triplets}))
    command = "python -m livefx.models.train.halfrate" + (f" --max-width {args.max_width}" if args.max_width else "")
    lines = [
        "# Interpolation at half the frame rate, held-out real video",
        "",
        f"`{command}` ({sum(counts.values())} dropped frames at {sizes}, scene cuts left out;"
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
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
