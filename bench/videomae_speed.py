"""VideoMAE-base (16 x 224 x 224, random weights) and the embedded small model: one clip's
classification time, eager and torch.compile.

    python -m bench.videomae_speed [--runs 5] [--no-compile]

Speed does not depend on the weights. Preprocessing of 16 frames at 640x480 is timed
separately. Writes bench/results/videomae-speed-<device>.{json,md}.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from livefx.models.action import ClipPreprocessing, load_action_model
from livefx.models.registry import DEFAULT_ACTIONS

from .common import machine, time_ms, write_results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args(argv)
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    dtype = torch.float16 if cuda else torch.float32
    torch.manual_seed(0)
    base = VideoMAEForVideoClassification(VideoMAEConfig(num_labels=400)).eval()  # the Kinetics-400 shape
    models = {"VideoMAE-base 16x224x224 (random)": (base, 224, 16)}
    if (DEFAULT_ACTIONS / "config.json").is_file():
        small = load_action_model(DEFAULT_ACTIONS)
        models[f"livefx default {small.num_frames}x{small.preprocessing.crop[0]}^2"] = (
            small.model,
            small.preprocessing.crop[0],
            small.num_frames,
        )
    rows = []
    for name, (net, size, frames) in models.items():
        net = net.to(device=device, dtype=dtype)
        x = torch.rand(1, frames, 3, size, size, device=device, dtype=dtype)
        for backend in ["eager"] + ([] if args.no_compile else ["compile"]):
            run = net if backend == "eager" else torch.compile(net, dynamic=False)
            with torch.inference_mode():
                t0 = time.perf_counter()
                run(pixel_values=x)
                first = time.perf_counter() - t0
                timing = time_ms(lambda: run(pixel_values=x), warmup=1, runs=args.runs, device=device)  # noqa: B023
            rows.append(
                {
                    "model": name,
                    "params": sum(p.numel() for p in net.parameters()),
                    "backend": backend,
                    "dtype": str(dtype).removeprefix("torch."),
                    "first_call_s": round(first, 2),
                    **timing,
                }
            )
            print(rows[-1], flush=True)
    frames = [np.random.default_rng(i).integers(0, 255, (480, 640, 3), np.uint8) for i in range(16)]
    prep = ClipPreprocessing()
    prep_ms = time_ms(lambda: prep(frames, device, dtype), runs=args.runs, device=device)
    lines = [
        "| model | params | backend | dtype | median ms | p90 ms | first call s |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['model']} | {r['params'] / 1e6:.1f} M | {r['backend']} | {r['dtype']} | {r['median_ms']} | {r['p90_ms']}"
        f" | {r['first_call_s']} |"
        for r in rows
    ]
    lines += ["", f"Preprocessing 16 frames 640x480 -> 224x224 on the device: {prep_ms['median_ms']} ms (median)"]
    write_results(
        f"videomae-speed-{'cuda' if cuda else 'cpu'}",
        {"machine": machine(), "rows": rows, "preprocess_16x640x480_ms": prep_ms},
        "\n".join(lines),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
