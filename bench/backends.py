"""Each CPU model in each backend and precision, at three sizes, idle and beside a busy process.

    python -m bench.backends [--runs 9] [--sizes 320x240 640x480 1280x720] [--no-busy] [--models ...]

Models: the default style as shipped (the compact student), its teacher (the real
fast-neural-style weights from ../shared where present; speed does not depend on the weights),
the embedded IFNet (one in-between frame) and the embedded action model (VideoMAE, at its one
clip shape whatever the frame size, on a real clip; also OpenVINO on one thread, as the action
stage runs it). Forms: torch eager fp32 (what ran before
OpenVINO: the baseline), torch eager with bf16 autocast, OpenVINO fp32 (what a CPU without bf16
units gets), OpenVINO bf16 where the CPU has it. Every form of a model runs interleaved,
round by round, on the same input, so load hits all alike; each row's ratio is to torch eager
fp32 in the same condition of the same run. "busy" runs one spinning process beside it (what
a call app, OBS or a game does to a laptop); threads: torch's setting (``--threads``).
Writes bench/results/backends-cpu.{json,md} when every model ran (``--models`` picks some:
then the table is printed only, or written as ``--out NAME``: the students' table is
``--models student light --out students-cpu``).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from livefx.models.accel import accelerate
from livefx.models.action import ClipClassifier, load_action_model
from livefx.models.compact import load_compact
from livefx.models.openvino_runtime import OpenVinoModel, cpu_has_bf16, openvino_problem
from livefx.models.registry import DEFAULT_ACTIONS, DEFAULT_RIFE, resolve_style
from livefx.models.rife.load import load_ifnet
from livefx.models.rife.stage import _PackedIFNet
from livefx.models.stylize import TransformerNet, light_variant, load_transformer_net
from livefx.models.train.data import clip_frames

from .common import machine, write_results

SIZES = ["320x240", "640x480", "1280x720"]
TEACHER = Path(__file__).resolve().parents[2] / "shared" / "weights" / "fast-neural-style" / "rain_princess.pth"
CPU = torch.device("cpu")


@contextlib.contextmanager
def busy_process(on: bool) -> Iterator[None]:
    """One process spinning on a core for the duration (nothing when ``on`` is False)."""
    if not on:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        spinner.kill()
        spinner.wait()


MODELS = {
    "student": "style student (rain_princess, shipped)",
    "light": "style light student (rain_princess, shipped)",
    "teacher": "style teacher (rain_princess)",
    "ifnet": "IFNet (embedded, 1 in-between)",
    "videomae": "VideoMAE (embedded action model)",
}


def models(keys: list[str]) -> dict[str, tuple[torch.nn.Module, int, float]]:
    """name -> (module, input channels, input scale) for each of ``keys`` (``MODELS``);
    0 channels: a clip model at its one shape (``clip_input``)."""
    loaders = {
        "student": lambda: (load_compact(resolve_style("default")), 3, 1.0),
        "light": lambda: (load_compact(light_variant(resolve_style("default"))), 3, 1.0),
        "teacher": lambda: (load_transformer_net(TEACHER) if TEACHER.is_file() else TransformerNet().eval(), 3, 255.0),
        "ifnet": lambda: (_PackedIFNet(load_ifnet(DEFAULT_RIFE)), 7, 1.0),
        "videomae": lambda: (ClipClassifier(load_action_model(DEFAULT_ACTIONS).model).eval(), 0, 1.0),
    }
    return {MODELS[key]: loaders[key]() for key in keys}


def clip_input() -> tuple[str, torch.Tensor]:
    """The action model's input, one clip of a real video as the stage preprocesses it."""
    model = load_action_model(DEFAULT_ACTIONS)
    frames = clip_frames("bikes.mp4")[: model.stride_for(25.0) * model.num_frames : model.stride_for(25.0)]
    x = model.preprocessing(frames, CPU, torch.float32)
    return "x".join(map(str, x.shape[1:])), x


def forms(net: torch.nn.Module, one_thread: bool = False) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The backend x precision forms of ``net`` this machine can run. Models with size-dependent
    steps (the IFNet) are converted here for the one size they are then timed at (fresh, no
    cache): the engine keeps them in torch for that reason, this measures what it would gain."""
    eager, _ = accelerate(net, CPU, backend="eager")

    def autocast(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return eager(x)

    out = {"eager fp32": eager, "eager bf16 autocast": autocast}
    if openvino_problem() is None:
        threads = (torch.get_num_threads(),)
        out["openvino fp32"] = OpenVinoModel(net, "fp32", threads, cache=False)
        if one_thread:
            out["openvino fp32, 1 thread"] = OpenVinoModel(net, "fp32", (1,), cache=False)
        if cpu_has_bf16():
            out["openvino bf16"] = OpenVinoModel(net, "bf16", threads, cache=False)
    return out


def time_forms(runners: dict[str, Callable], x: torch.Tensor, runs: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in runners}
    with torch.inference_mode():
        for round_ in range(runs + 1):
            for name, run in runners.items():
                t0 = time.perf_counter()
                run(x)
                if round_:  # round 0 warms up (conversion, compilation)
                    samples[name].append((time.perf_counter() - t0) * 1e3)
    return samples


def time_rows(model_name: str, runners: dict[str, Callable], x: torch.Tensor, size: str, args) -> list[dict]:
    """The rows of one model at one input: each form idle (and busy unless ``--no-busy``)."""
    rows = []
    for busy in (False,) if args.no_busy else (False, True):
        with busy_process(busy):
            samples = time_forms(runners, x, args.runs)
        base = statistics.median(samples["eager fp32"])
        for form, times in samples.items():
            med = statistics.median(times)
            rows.append(
                {
                    "model": model_name,
                    "form": form,
                    "size": size,
                    "condition": "busy" if busy else "idle",
                    "median_ms": round(med, 1),
                    "p95_ms": round(p95(times), 1),
                    "speedup_over_eager_fp32": round(base / med, 2),
                }
            )
            print(rows[-1], flush=True)
    return rows


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=9, help="timed rounds per size and condition")
    ap.add_argument("--sizes", nargs="+", default=SIZES, metavar="WxH")
    ap.add_argument("--threads", type=int, default=None, help="torch and OpenVINO threads (default: torch's)")
    ap.add_argument("--no-busy", action="store_true", help="idle only")
    ap.add_argument("--max-teacher-pixels", type=int, default=640 * 480, help="skip the teacher above this")
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="default: all")
    ap.add_argument("--out", default=None, help="results name for a --models subset (e.g. students-cpu)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for model_name, (net, channels, scale) in models(args.models).items():
        if not channels:  # a clip model: one shape, whatever the frame size
            size, x = clip_input()
            rows += time_rows(model_name, forms(net, one_thread=True), x, size, args)
            continue
        for size in args.sizes:
            w, h = (int(v) for v in size.split("x"))
            if "teacher" in model_name and w * h > args.max_teacher_pixels:
                continue
            if channels == 7:  # the IFNet takes sides padded to its layout's multiple (FlowStage pads them)
                multiple = net.net.config.pad_multiple
                h, w = -(-h // multiple) * multiple, -(-w // multiple) * multiple
            torch.manual_seed(0)
            x = torch.rand(1, channels, h, w) * scale
            if channels == 7:
                x[:, 6:] = 0.5  # the time plane
            rows += time_rows(model_name, forms(net), x, size, args)  # converted at this size in round 0
    lines = [
        f"Threads: {torch.get_num_threads()}; runs per cell: {args.runs}; bf16 units: {cpu_has_bf16()}.",
        "",
        "| model | form | size | condition | median ms | p95 ms | x eager fp32 |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['model']} | {r['form']} | {r['size']} | {r['condition']} | {r['median_ms']} | {r['p95_ms']} |"
        f" {r['speedup_over_eager_fp32']:.2f} |"
        for r in rows
    ]
    if args.models != list(MODELS) and not args.out:
        print("\n".join(lines))
        return 0
    write_results(
        args.out or "backends-cpu",
        {"machine": machine(), "runs": args.runs, "threads": torch.get_num_threads(), "rows": rows},
        "\n".join(lines),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
