"""Carried frames against a smaller scale: what the planner's ``_every2`` rungs show.

    python -m bench.carry [--frames 40] [--size 640x480]

When the light student does not keep up at 0.75 scale on a CPU, the planner can either run it
at 0.5 on every frame, or at 0.75 on one frame in two with the frames between carried (the
last styled frame moved along the motion between the inputs: ``stream.stages.carry``). Each
form is scored against the light student at full scale (what the light form gives when it
can afford every pixel), mean PSNR over consecutive frames of each real clip, by the engine's
own code (``scaled_on_host`` for the scales, ``FrameCarry`` for the carry):

- styled at 0.5 on every frame (the rung it replaces) and at 0.75 on every frame (its ceiling);
- every other frame styled at 0.75, the others carried: all frames, and the frames between alone
  (carried, or styled at 0.75 where the carry refuses them: a cut, fast motion);
- the trivial baseline for the carried frames: the key frame shown again (held).

carphone is the styles' held-out clip; bikes (fast motion, cuts) and bigbuckbunny are in the
students' training pictures (every other frame) and are here for their motion. Also the carry's
time per frame. Writes bench/results/carry-cpu.{json,md}.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from livefx.models.registry import available_styles
from livefx.models.stylize import light_variant, load_style
from livefx.models.train.data import clip_frames
from livefx.stream.device import FrameConverter
from livefx.stream.scheduling.chain import scaled_on_host
from livefx.stream.sources.fit import fit_image
from livefx.stream.stages.carry import FrameCarry

from .common import machine, write_results

#: (clip, first frame) of the consecutive runs measured: bikes twice, a fast pan and a slower part.
CLIPS = [("carphone_pristine.mp4", 0), ("bikes.mp4", 60), ("bikes.mp4", 120), ("bigbuckbunny.mp4", 30)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * float(np.log10(255.0**2 / max(mse, 1e-12)))


def measure(net: torch.nn.Module, scale: float, frames: list[np.ndarray]) -> dict:
    """The forms' PSNR against the full-scale output over ``frames`` (consecutive), and carry ms."""
    converter = FrameConverter(torch.device("cpu"), torch.float32)

    def run(x: torch.Tensor) -> torch.Tensor:
        return (net(x * scale) / scale).clamp(0, 1)

    with torch.inference_mode():
        full = [scaled_on_host(f, 1.0, run, converter) for f in frames]
        half = [scaled_on_host(f, 0.5, run, converter) for f in frames]
        three = [scaled_on_host(f, 0.75, run, converter) for f in frames]
    carry = FrameCarry()
    carried, held, every2, times = [], [], [], []
    for i, frame in enumerate(frames):
        if i % 2 == 0:
            carry.remember(frame, three[i])
            every2.append(psnr(three[i], full[i]))
            continue
        t0 = time.perf_counter()
        out = carry.carry(frame)
        times.append((time.perf_counter() - t0) * 1e3)
        out = three[i] if out is None else out  # refused: the engine styles that frame
        carried.append(psnr(out, full[i]))
        every2.append(carried[-1])
        held.append(psnr(three[i - 1], full[i]))
    mean = lambda values: round(float(np.mean(values)), 2)  # noqa: E731
    return {
        "styled_0.5_db": mean([psnr(h, f) for h, f in zip(half, full)]),
        "styled_0.75_db": mean([psnr(t, f) for t, f in zip(three, full)]),
        "every2_0.75_db": mean(every2),
        "carried_only_db": mean(carried),
        "held_only_db": mean(held),
        "styled_0.5_on_those_db": mean([psnr(half[i], full[i]) for i in range(1, len(frames), 2)]),
        "refused": carry.refused,
        "carry_ms": round(statistics.median(times), 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=40, help="consecutive frames per clip")
    ap.add_argument("--size", default="640x480", metavar="WxH")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    torch.set_num_threads(1)
    clips = {
        f"{clip} from {start}": [
            fit_image(f, (width, height), "crop") for f in clip_frames(clip)[start : start + args.frames]
        ]
        for clip, start in CLIPS
    }
    rows = []
    for name, path in available_styles().items():
        light = light_variant(path)
        if light is None:
            continue
        net, scale = load_style(light)
        net.eval()
        for clip, frames in clips.items():
            rows.append({"style": f"{name} (light)", "clip": clip, **measure(net, scale, frames)})
            print(rows[-1], flush=True)
    header = (
        "| style | clip | styled 0.5 | styled 0.75 | 0.75 every 2nd, carried between | the frames between"
        " | held (baseline) | 0.5 on those frames | refused (styled) | carry ms |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    table = header + "\n".join(
        f"| {r['style']} | {r['clip']} | {r['styled_0.5_db']} | {r['styled_0.75_db']} | {r['every2_0.75_db']}"
        f" | {r['carried_only_db']} | {r['held_only_db']} | {r['styled_0.5_on_those_db']} | {r['refused']}"
        f" | {r['carry_ms']} |"
        for r in rows
    )
    table = (
        f"PSNR (dB) against the light student at full scale, {args.frames} consecutive frames per clip at"
        f" {width}x{height}, torch fp32, one thread.\n\n{table}"
    )
    write_results("carry-cpu", {"machine": machine(), "size": args.size, "frames": args.frames, "rows": rows}, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
