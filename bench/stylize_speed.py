"""Teacher vs student, eager vs torch.compile, at 320x240, 640x480 and 1280x720.

    python -m bench.stylize_speed [--style candy] [--runs 10]

Both networks run in the same process, on the same inputs, one after the other; the
table reports medians and the ratios that matter (student speed-up over the teacher,
compile over eager). Weights do not change the speed; the shipped student is used when
present. Writes bench/results/stylize-speed-<device>.{json,md}.
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.common import machine, time_ms, write_results
from models.accel import accelerate
from models.registry import EMBEDDED_DIR
from models.student import StudentNet, count_macs, is_student_file, load_student
from models.stylize import TransformerNet

SIZES = [(320, 240), (640, 480), (1280, 720)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--style", default="candy", help="embedded student to time (random init if absent)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    args = ap.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    path = EMBEDDED_DIR / f"{args.style}.safetensors"
    shipped = is_student_file(path)
    student = load_student(path) if shipped else StudentNet().eval().fuse()
    student_weights = path.name if shipped else "random init (no shipped student yet; speed does not depend on weights)"
    models = {"teacher": (TransformerNet().eval(), 255.0), "student": (student, 1.0)}
    backends = ["eager"] + ([] if args.no_compile else ["compile"])
    rows = []
    for name, (net, value_range) in models.items():
        for backend in backends:
            run, report = accelerate(net, device, backend=backend)
            for w, h in SIZES:
                x = torch.rand(1, 3, h, w, device=device, dtype=torch.float16 if cuda else torch.float32)
                x = x * value_range
                t0 = time.perf_counter()
                with torch.inference_mode():
                    run(x)  # first call: compiles this shape
                first_s = time.perf_counter() - t0
                with torch.inference_mode():
                    timing = time_ms(lambda: run(x), runs=args.runs, sync=cuda)  # noqa: B023
                rows.append(
                    {
                        "model": name,
                        "backend": report.describe(),
                        "size": f"{w}x{h}",
                        "gmacs": round(count_macs(net, h, w) / 1e9, 2),
                        "first_call_s": round(first_s, 2),
                        **timing,
                    }
                )
                print(rows[-1], flush=True)

    def median(model, backend_prefix, size):
        return next(
            r["median_ms"]
            for r in rows
            if r["model"] == model and r["backend"].startswith(backend_prefix) and r["size"] == size
        )

    lines = ["| model | backend | size | GMACs | median ms | p90 ms | first call s |", "|---|---|---|---|---|---|---|"]
    lines += [
        f"| {r['model']} | {r['backend']} | {r['size']} | {r['gmacs']} | {r['median_ms']} | {r['p90_ms']} |"
        f" {r['first_call_s']} |"
        for r in rows
    ]
    lines += ["", "| size | student speed-up over teacher (eager) | compile over eager (student) |", "|---|---|---|"]
    ratios = {}
    for w, h in SIZES:
        size = f"{w}x{h}"
        speedup = median("teacher", "eager", size) / median("student", "eager", size)
        compiled = (
            median("student", "eager", size) / median("student", "compile", size) if "compile" in backends else None
        )
        ratios[size] = {
            "student_over_teacher": round(speedup, 2),
            "compile_over_eager": round(compiled, 2) if compiled else None,
        }
        lines.append(f"| {size} | {speedup:.1f}x | {f'{compiled:.2f}x' if compiled else '-'} |")
    tag = "cuda" if cuda else "cpu"
    write_results(
        f"stylize-speed-{tag}",
        {"machine": machine(), "student_weights": student_weights, "rows": rows, "ratios": ratios},
        "\n".join(lines),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
