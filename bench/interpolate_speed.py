"""RIFE interpolation cost: the embedded livefx IFNet vs the full v4.6 IFNet, at 320x240,
640x480 and 1280x720, eager (and torch.compile unless --no-compile).

    python -m bench.interpolate_speed [--runs 10]

One in-between frame per call (the 2x case), through the same ``FlowStage`` the live
pipeline uses (padding, accelerate). The v4.6 network has random weights: speed does not
depend on them. Writes bench/results/interpolate-speed-<device>.{json,md}.
"""

from __future__ import annotations

import argparse
import time

import torch

from livefx.models.registry import DEFAULT_RIFE
from livefx.models.rife import IFNet, load_ifnet
from livefx.models.rife.stage import FlowStage
from livefx.models.train.train_rife import count_ifnet_macs

from .common import machine, time_ms, write_results

SIZES = [(320, 240), (640, 480), (1280, 720)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    args = ap.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    dtype = torch.float16 if cuda else torch.float32
    models = {"livefx default": load_ifnet(DEFAULT_RIFE), "RIFE v4.6 (random weights)": IFNet().eval()}
    backends = ["eager"] + ([] if args.no_compile else ["compile"])
    rows = []
    for name, net in models.items():
        for backend in backends:
            stage = FlowStage(net, device, dtype, backend=backend)
            for w, h in SIZES:
                x0 = torch.rand(1, 3, h, w, device=device, dtype=dtype)
                x1 = x0.roll(4, -1)
                t0 = time.perf_counter()
                stage(x0, x1, 0.5)  # first call: compiles this shape
                first_s = time.perf_counter() - t0
                timing = time_ms(lambda: stage(x0, x1, 0.5), runs=args.runs, device=device)  # noqa: B023
                rows.append(
                    {
                        "model": name,
                        "params": sum(p.numel() for p in net.parameters()),
                        "backend": stage.accel.describe(),
                        "size": f"{w}x{h}",
                        "gmacs": round(count_ifnet_macs(net, h, w) / 1e9, 2),
                        "first_call_s": round(first_s, 2),
                        **timing,
                    }
                )
                print(rows[-1], flush=True)

    def median(model: str, backend: str, size: str) -> float:
        return next(
            r["median_ms"]
            for r in rows
            if r["model"] == model and r["backend"].startswith(backend) and r["size"] == size
        )

    lines = [
        "| model | params | backend | size | GMACs | median ms | p90 ms | first call s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['model']} | {r['params'] / 1e6:.2f} M | {r['backend']} | {r['size']} | {r['gmacs']} | {r['median_ms']}"
        f" | {r['p90_ms']} | {r['first_call_s']} |"
        for r in rows
    ]
    lines += ["", "| size | default over v4.6 (eager) | compile over eager (default) |", "|---|---|---|"]
    ratios = {}
    small, full = list(models)
    for w, h in SIZES:
        size = f"{w}x{h}"
        speedup = median(full, "eager", size) / median(small, "eager", size)
        compiled = median(small, "eager", size) / median(small, "compile", size) if "compile" in backends else None
        ratios[size] = {"default_over_v4_6": round(speedup, 2), "compile_over_eager": compiled and round(compiled, 2)}
        lines.append(f"| {size} | {speedup:.1f}x | {f'{compiled:.2f}x' if compiled else '-'} |")
    write_results(
        f"interpolate-speed-{'cuda' if cuda else 'cpu'}",
        {"machine": machine(), "rows": rows, "ratios": ratios},
        "\n".join(lines),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
