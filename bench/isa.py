"""int8 where a CPU has VNNI but no bf16 units (most laptops), emulated on this CPU.

    python -m bench.isa [--runs 15] [--size 640x480] [--threads 2] [--isas AVX512_CORE_VNNI AVX2_VNNI AVX2]

No such CPU is here, so each row runs in a fresh process with oneDNN held to that instruction
set (``ONEDNN_MAX_CPU_ISA``: OpenVINO's CPU plugin builds its kernels through oneDNN) and the
engine told the CPU has no bf16 (``cpu_has_bf16``; what a real CPU without it reports). It is
an emulation: the arithmetic is that ISA's, the caches, clocks and memory are this machine's.
Each row: the shipped default style at the size in OpenVINO fp32 and int8 (the engine's recipe,
``models.int8``, checked against fp32 on drawn scenes: ``picture_db``) interleaved round by
round, median ms; and what ``--backend auto --precision auto`` then picks, through the
engine's own ``accelerate``. ``native``: this CPU as it is (AMX and bf16 here).
Writes bench/results/isa-cpu.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ISAS = ["native", "AVX512_CORE_VNNI", "AVX2_VNNI", "AVX2"]


def one(isa: str, runs: int, size: str, threads: int) -> dict:
    """This process's row (its ISA already set in the environment)."""
    from unittest import mock

    import torch

    import livefx.models.openvino_runtime as ovr
    from livefx.models.accel import accelerate, calls_to_decide
    from livefx.models.registry import resolve_style
    from livefx.models.stylize import load_style

    from .backends import time_forms

    torch.set_num_threads(threads)
    width, height = (int(v) for v in size.split("x"))
    net, scale = load_style(resolve_style("default"))
    x = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0)) * scale
    patch = mock.patch.object(ovr, "cpu_has_bf16", lambda: False) if isa != "native" else mock.MagicMock()
    with patch:
        forms = {p: ovr.OpenVinoModel(net, p, (threads,), cache=False, rgb_scale=scale) for p in ("fp32", "int8")}
        samples = time_forms(forms, x, runs)
        run, report = accelerate(net, torch.device("cpu"), backend="auto", precision="auto", rgb_scale=scale)
        with torch.inference_mode():
            for _ in range(calls_to_decide(run) + 1):
                run(x)
    return {
        "isa": isa,
        "cpu_has_bf16": ovr.cpu_has_bf16() if isa == "native" else False,
        "fp32_ms": round(statistics.median(samples["fp32"]), 1),
        "int8_ms": round(statistics.median(samples["int8"]), 1),
        "int8_speedup": round(statistics.median(samples["fp32"]) / statistics.median(samples["int8"]), 2),
        "int8_picture_db": round(forms["int8"].picture_db, 1),
        "auto_picks": report.describe(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--size", default="640x480", metavar="WxH")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--isas", nargs="+", default=ISAS, help=f"rows (default: {' '.join(ISAS)})")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # a row, in its own process
    args = ap.parse_args(argv)
    if args.one:
        print("ROW " + json.dumps(one(args.one, args.runs, args.size, args.threads)), flush=True)
        return 0
    from .common import machine, write_results

    rows = []
    for isa in args.isas:
        with tempfile.TemporaryDirectory(prefix="livefx-isa-") as cache:  # no blob compiled for another ISA
            env = {**os.environ, "LIVEFX_CACHE_DIR": cache}
            if isa != "native":
                env["ONEDNN_MAX_CPU_ISA"] = isa
            cmd = [sys.executable, "-m", "bench.isa", "--one", isa, "--runs", str(args.runs), "--size", args.size]
            out = subprocess.run([*cmd, "--threads", str(args.threads)], env=env, capture_output=True, text=True)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("ROW ")), None)
        if line is None:
            raise SystemExit(f"{isa}: no row\n{out.stderr[-3000:]}")
        rows.append(json.loads(line[4:]))
        print(rows[-1], flush=True)
    header = "| ISA (emulated) | bf16 units | OpenVINO fp32 ms | int8 ms | int8 speed-up | int8 check dB | auto picks |"
    lines = [header, "|---|---|---|---|---|---|---|"]
    lines += [
        f"| {r['isa']} | {'yes' if r['cpu_has_bf16'] else 'no'} | {r['fp32_ms']} | {r['int8_ms']} |"
        f" {r['int8_speedup']}x | {r['int8_picture_db']} | {r['auto_picks']} |"
        for r in rows
    ]
    text = (
        f"`python -m bench.isa --runs {args.runs} --size {args.size} --threads {args.threads}`"
        " (default style; other ISAs emulated through ONEDNN_MAX_CPU_ISA, see the module doc)\n\n" + "\n".join(lines)
    )
    write_results("isa-cpu", {"machine": machine(), "size": args.size, "threads": args.threads, "rows": rows}, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
