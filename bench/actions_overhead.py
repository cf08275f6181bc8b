"""What action labels cost the frame path: p95 latency with and without them, same run.

    python -m bench.actions_overhead [--seconds 20] [--rounds 2]

A 320x240, 30 fps synthetic stream through the style stage (the embedded default style
when one is shipped, otherwise a StudentNet with random weights: speed does not depend
on them), once without and once with the embedded action model, alternating for
``--rounds`` rounds so drift in machine load hits both alike. Reports frame-path latency
percentiles, drops, and how often the classifier ran. Writes
bench/results/actions-overhead-<device>.{json,md}.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from livefx.models.action import load_action_model
from livefx.models.registry import DEFAULT_ACTIONS, DEFAULT_STYLE, available_styles
from livefx.models.stage import STYLE_STAGE
from livefx.models.student import StudentNet
from livefx.models.stylize import StyleStage
from livefx.stream.device import FrameConverter
from livefx.stream.pipeline import Pipeline, PipelineConfig
from livefx.stream.process import freeze_startup_heap
from livefx.stream.scheduling.budget import StageSpec
from livefx.stream.scheduling.worker import BoundStage
from livefx.stream.sinks.null import NullSink
from livefx.stream.sources.synthetic import SyntheticSource
from livefx.stream.stages.actions import ActionsConfig
from livefx.stream.stages.style import style_stages

from .common import machine, write_results


def one_run(seconds: float, with_actions: bool, converter: FrameConverter, every: int) -> dict:
    style = available_styles().get(DEFAULT_STYLE)
    if style is not None:
        stages = style_stages(style, converter, "eager")
    else:
        student = StudentNet().eval().fuse()  # random weights: the speed of a shipped student
        stage = StyleStage(student, converter.device, converter.dtype, "student", value_range=1.0, backend="eager")
        stages = [BoundStage(StageSpec(STYLE_STAGE), stage)]
    model = load_action_model(DEFAULT_ACTIONS) if with_actions else None
    pipeline = Pipeline(
        SyntheticSource(320, 240, fps=30),
        [NullSink()],
        stages,
        converter,
        PipelineConfig(budget_ms=100, max_frames=int(seconds * 30)),
        None,
        model,
        ActionsConfig(every_frames=every),
    )
    pipeline.open()
    freeze_startup_heap()  # as livefx run does
    stats = pipeline.run(log_every_s=0)
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--every", type=int, default=8, help="classify every N frames (default 8)")
    args = ap.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    converter = FrameConverter(device, torch.float16 if device.type == "cuda" else torch.float32)
    runs: dict[str, list[dict]] = {"without": [], "with": []}
    for _ in range(args.rounds):
        for key in ("without", "with"):
            stats = one_run(args.seconds, key == "with", converter, args.every)
            runs[key].append(stats)
            print(key, stats["latency_ms"], stats.get("actions", {}).get("runs"), flush=True)

    def agg(key: str) -> dict:
        rs = runs[key]
        row = {
            "latency_p50_ms": float(np.mean([r["latency_ms"]["p50"] for r in rs])),
            "latency_p95_ms": float(np.mean([r["latency_ms"]["p95"] for r in rs])),
            "latency_p99_ms": float(np.mean([r["latency_ms"]["p99"] for r in rs])),
            "frames_in": sum(r["frames_in"] for r in rs),
            "frames_dropped": sum(r["frames_dropped"] for r in rs),
        }
        if key == "with":
            row["classifications"] = sum(r["actions"]["runs"] for r in rs)
            row["classifier_ms_p50"] = float(np.mean([r["actions"]["ms"]["p50"] for r in rs]))
            row["deferred"] = sum(r["actions"]["deferred"] for r in rs)
        return row

    without, with_ = agg("without"), agg("with")
    rise = with_["latency_p95_ms"] / without["latency_p95_ms"] - 1
    lines = [
        "| run | latency p50 ms | p95 ms | p99 ms | frames in | dropped | classifications | classifier p50 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in (("without actions", without), ("with actions", with_)):
        lines.append(
            f"| {name} | {row['latency_p50_ms']:.1f} | {row['latency_p95_ms']:.1f} | {row['latency_p99_ms']:.1f} |"
            f" {row['frames_in']} | {row['frames_dropped']} | {row.get('classifications', '-')} |"
            f" {round(row['classifier_ms_p50'], 1) if 'classifier_ms_p50' in row else '-'} |"
        )
    lines += ["", f"p95 frame-path latency rise with actions: {100 * rise:+.1f}% (every {args.every} frames)"]
    write_results(
        f"actions-overhead-{device.type}",
        {
            "machine": machine(),
            "setup": f"320x240 synthetic at 30 fps, {args.seconds:g} s x {args.rounds} rounds each,"
            f" actions every {args.every} frames",
            "without": without,
            "with": with_,
            "p95_rise": round(rise, 4),
        },
        "\n".join(lines),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
