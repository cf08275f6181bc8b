"""The default run in real time: drops, latency and planner decisions with and without the style.

    python -m bench.default_run [--size 320x240] [--fps 30] [--frames 300]

Runs ``livefx run --source synthetic --sink null`` (real time, default budget) once with
``--style none`` and once with the default shipped style, one after the other in this
process, and tabulates what each run's ``--stats`` file says. Writes
bench/results/default-run-<device>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from livefx.models.registry import DEFAULT_STYLE
from livefx.stream.cli.main import main as livefx

from .common import machine, write_results


def run(style: str, size: str, fps: int, frames: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        stats_path = Path(tmp) / "s.json"
        args = ["run", "--source", "synthetic", "--sink", "null", "--size", size, "--fps", str(fps)]
        args += ["--frames", str(frames), "--style", style, "--stats", str(stats_path), *extra]
        if livefx(args) != 0:
            raise SystemExit(f"livefx {' '.join(args)} failed")
        return json.loads(stats_path.read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--frames", type=int, default=300)
    args, extra = ap.parse_known_args(argv)

    rows = []
    for style in ["none", DEFAULT_STYLE]:
        s = run(style, args.size, args.fps, args.frames, extra)
        rows.append(
            {
                "style": style,
                "frames_in": s["frames_in"],
                "frames_dropped": s["frames_dropped"],
                "dropped_pct": round(100 * s["frames_dropped"] / max(1, s["frames_in"]), 1),
                "latency_p50_ms": s["latency_ms"]["p50"],
                "latency_p95_ms": s["latency_ms"]["p95"],
                "stylize_p95_ms": s["stages"].get("stylize", {}).get("p95"),
                "decisions": s["decisions"],
            }
        )
        print(rows[-1], flush=True)
    lines = [
        f"`livefx run --source synthetic --size {args.size} --fps {args.fps} --frames {args.frames} --sink null`"
        + (f" `{' '.join(extra)}`" if extra else ""),
        "",
        "| style | frames in | dropped | latency p50 / p95 ms | stylize p95 ms | planner decisions |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['style']} | {r['frames_in']} | {r['frames_dropped']} ({r['dropped_pct']}%) |"
        f" {r['latency_p50_ms']:.0f} / {r['latency_p95_ms']:.0f} | {r['stylize_p95_ms'] or '-'} |"
        f" {', '.join(f'{k} {v}' for k, v in r['decisions'].items())} |"
        for r in rows
    ]
    tag = "cuda" if torch.cuda.is_available() else "cpu"
    write_results(f"default-run-{tag}", {"machine": machine(), "args": vars(args), "rows": rows}, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
