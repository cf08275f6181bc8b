"""Threads that follow the load: the engine's tuned thread count against a fixed one, beside a
busy process (what a call app, OBS or a game does to a laptop).

    python -m bench.threads [--runs 2] [--frames 240] [--size 320x240]

Each run is a real `livefx run --source synthetic` (30 fps, default style) with one process
spinning on a core; per backend (torch eager, and auto: OpenVINO where it is faster) the tuned
default and `--threads N` (N = all of torch's threads, what ran before the tuner), interleaved.
Writes bench/results/threads-cpu.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from .backends import busy_process
from .common import machine, write_results


def one_run(backend: str, threads: int | None, frames: int, size: str) -> dict:
    stats = Path(tempfile.mkdtemp()) / "s.json"
    argv = [sys.executable, "-m", "livefx.stream", "run", "--source", "synthetic", "--size", size, "--fps", "30"]
    argv += ["--frames", str(frames), "--backend", backend, "--stats", str(stats), "-q"]
    argv += ["--threads", str(threads)] if threads else []
    subprocess.run(argv, check=True, capture_output=True, timeout=600)
    doc = json.loads(stats.read_text())
    return {
        "frames_out": doc["frames_out"],
        "frames_dropped": doc["frames_dropped"],
        "latency_p50_ms": doc["latency_ms"]["p50"],
        "latency_p95_ms": doc["latency_ms"]["p95"],
        "decisions": doc["decisions"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--frames", type=int, default=240)
    ap.add_argument("--size", default="320x240")
    args = ap.parse_args(argv)
    cores = torch.get_num_threads()
    settings = [(b, t) for b in ("eager", "auto") for t in (None, cores)]
    runs: dict[str, list[dict]] = {}
    with busy_process(True):
        for _ in range(args.runs):
            for backend, threads in settings:
                name = f"--backend {backend} " + (f"--threads {threads}" if threads else "(tuned)")
                runs.setdefault(name, []).append(one_run(backend, threads, args.frames, args.size))
                print(name, runs[name][-1], flush=True)
    lines = [
        f"`python -m bench.threads --runs {args.runs} --frames {args.frames} --size {args.size}`, one busy"
        f" process beside each run; medians over runs ({cores} torch threads).",
        "",
        "| setting | frames out (of the input) | dropped | latency p50 ms | latency p95 ms |",
        "|---|---|---|---|---|",
    ]
    for name, results in runs.items():

        def med(key: str, results: list[dict] = results) -> float:
            return round(statistics.median(r[key] for r in results), 1)

        lines.append(
            f"| {name} | {med('frames_out')} | {med('frames_dropped')} | {med('latency_p50_ms')} |"
            f" {med('latency_p95_ms')} |"
        )
    write_results("threads-cpu", {"machine": machine(), "args": vars(args), "runs": runs}, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
