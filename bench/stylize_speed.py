"""Teachers vs the shipped compact styles at 320x240, 640x480 and 1280x720, in one run.

    python -m bench.stylize_speed [--runs 7] [--sizes 640x480] [--compile] [--frontier]

Every model runs in the same process on the same input, interleaved round by round (one
call of each per round) so that a busy machine slows all of them alike; the table reports
medians and each student's speed-up over the teacher. ``--frontier`` adds the other
CompactStyleNet sizes of the quality/speed frontier with random weights (speed does not
depend on the weights). Writes bench/results/stylize-speed-<device>.{json,md}.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from livefx.models.accel import accelerate
from livefx.models.compact import CompactConfig, CompactStyleNet, is_compact_file, load_compact
from livefx.models.registry import EMBEDDED_STYLES_DIR
from livefx.models.student import count_macs
from livefx.models.stylize import TransformerNet

from .common import machine, write_results

SIZES = ["320x240", "640x480", "1280x720"]
FRONTIER = [CompactConfig(rank=16, width=24), CompactConfig(rank=24, width=32), CompactConfig(rank=32, width=32)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7, help="timed rounds per size (after one warm-up round)")
    ap.add_argument("--sizes", nargs="+", default=SIZES, metavar="WxH")
    ap.add_argument("--compile", action="store_true", help="use torch.compile (default: eager, as on a CPU)")
    ap.add_argument("--frontier", action="store_true", help="also time the frontier sizes (random weights)")
    args = ap.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    nets: dict[str, tuple[torch.nn.Module, float]] = {"teacher": (TransformerNet().eval(), 255.0)}
    for path in sorted(EMBEDDED_STYLES_DIR.glob("*.safetensors")):
        if is_compact_file(path):
            nets[f"{path.stem} (shipped)"] = (load_compact(path), 1.0)
    if args.frontier:
        for cfg in FRONTIER:
            nets[f"compact r{cfg.rank} w{cfg.width}"] = (CompactStyleNet(cfg).eval(), 1.0)
    backend = "compile" if args.compile else "eager"
    runners = {name: (accelerate(net, device, backend=backend), scale) for name, (net, scale) in nets.items()}

    rows, ratios = [], {}
    for size in args.sizes:
        w, h = (int(v) for v in size.split("x"))
        x = torch.rand(1, 3, h, w, device=device, dtype=torch.float16 if cuda else torch.float32)
        samples: dict[str, list[float]] = {name: [] for name in runners}
        with torch.inference_mode():
            for round_ in range(args.runs + 1):
                for name, ((run, _), scale) in runners.items():
                    if cuda:
                        torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    run(x * scale)
                    if cuda:
                        torch.cuda.synchronize()
                    if round_:  # round 0 warms up (and compiles)
                        samples[name].append((time.perf_counter() - t0) * 1e3)
        teacher_ms = statistics.median(samples["teacher"])
        for name, times in samples.items():
            med = statistics.median(times)
            rows.append(
                {
                    "model": name,
                    "backend": runners[name][0][1].describe(),
                    "size": size,
                    "gmacs": round(count_macs(nets[name][0], h, w) / 1e9, 2),
                    "median_ms": round(med, 1),
                    "max_ms": round(max(times), 1),
                    "speedup_over_teacher": round(teacher_ms / med, 2),
                }
            )
            print(rows[-1], flush=True)
        ratios[size] = {r["model"]: r["speedup_over_teacher"] for r in rows if r["size"] == size}

    lines = [
        "| model | backend | size | GMACs | median ms | max ms | speed-up over teacher |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['model']} | {r['backend']} | {r['size']} | {r['gmacs']} | {r['median_ms']} | {r['max_ms']} |"
        f" {r['speedup_over_teacher']:.1f}x |"
        for r in rows
    ]
    write_results(
        f"stylize-speed-{'cuda' if cuda else 'cpu'}",
        {"machine": machine(), "runs": args.runs, "rows": rows, "ratios": ratios},
        "\n".join(lines),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
