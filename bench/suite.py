"""The bench suite: every scenario in one process, baselines beside livefx on the same frames.

    python -m bench [--quick] [--only stages chain overload] [--out DIR]
    livefx-bench ...            (the same, installed)

Scenarios:
  stages    each model alone at each frame size (median, p95, p99; output fps)
  chain     the README main job (default style + 2x interpolation, 15 fps source, mp4 out)
            and the full default chain (+ action labels) through the real engine, and the
            naive loop's throughput on the same frames
  overload  a source faster than the chain for minutes: livefx against an unbounded-queue
            pipeline, latency over time
  heavy     a style teacher (about 5x the student's cost) at 640x480 from a 60 fps source:
            what the default --on-late best-effort does when even the cheapest plan is late

Writes <out>/<device>.json and .md (``-quick`` added with --quick) and prints the tables;
peak resident (and GPU) memory per scenario. --quick takes about 3 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch

from livefx.models.accel import default_dtype
from livefx.models.frames import resolve_device
from livefx.models.registry import DEFAULT_ACTIONS, DEFAULT_RIFE, resolve_style
from livefx.models.stylize import build_style_stage, load_transformer_net
from livefx.stream.device import FrameConverter
from livefx.stream.process import freeze_startup_heap
from livefx.stream.scheduling.own_thread import run_on_own_thread
from livefx.stream.stages.motion import FLOW_METHODS, build_flow, choose_flow

from . import chain
from .report import markdown
from .stages import run_stages

T = TypeVar("T")

SCENARIOS = ("stages", "chain", "overload", "heavy")
CHECKOUT_RESULTS = Path(__file__).parent / "results"


def device_tag(device: torch.device) -> str:
    """``cpu`` or the GPU's name as a file name (``nvidia-h100-80gb-hbm3``)."""
    if device.type != "cuda":
        return "cpu"
    return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")


def describe_machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}), torch {torch.__version__}"
    return f"CPU {platform.machine()} ({os.cpu_count()} cores), torch {torch.__version__}"


def default_out() -> Path:
    """bench/results in a checkout; ./livefx-bench elsewhere (an installed wheel)."""
    return CHECKOUT_RESULTS if (CHECKOUT_RESULTS.parent.parent / "pyproject.toml").is_file() else Path("livefx-bench")


def parse_args(argv: list[str] | None, prog: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--quick", action="store_true", help="fewer sizes, repeats and seconds (about 3 min on a 2-core CPU)"
    )
    ap.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS), help="scenarios to run")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default: bench/results in a checkout)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default: auto)")
    ap.add_argument(
        "--size", default=None, metavar="WxH", help="chain frame size (default: 320x240 on CPU, 1280x720 on GPU)"
    )
    ap.add_argument("--overload-s", type=float, default=None, help="overload run length (default: 300, quick 20)")
    ap.add_argument(
        "--unbounded-s",
        type=float,
        default=None,
        help="the unbounded queue's overload run (default: 60, quick 20: its latency only grows)",
    )
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    ap.add_argument(
        "--flow",
        choices=FLOW_METHODS,
        default="auto",
        help="the chain's motion (as livefx run --flow; default auto: DIS fast on a CPU, the IFNet on a GPU)",
    )
    ap.add_argument(
        "--no-keep-up",
        action="store_true",
        help="the chain's planner spends the whole latency budget instead of keeping up with the source"
        " (to measure what keeping up gains)",
    )
    return ap.parse_args(argv)


def main(argv: list[str] | None = None, prog: str = "livefx-bench") -> int:
    args = parse_args(argv, prog)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    dtype = default_dtype(device)
    backend = "auto"
    quick = args.quick
    if args.threads:
        torch.set_num_threads(args.threads)
    freeze_startup_heap()
    sizes = [(320, 240), (640, 480)] if quick else [(320, 240), (640, 480), (1280, 720)]
    chain_size = tuple(int(v) for v in (args.size or ("1280x720" if cuda else "320x240")).split("x"))
    runs = 3 if quick else 10
    chain_s = 12.0 if quick else 60.0
    overload_s = args.overload_s or (20.0 if quick else 300.0)
    results: dict = {
        "machine": describe_machine(device),
        "device": device_tag(device),
        "quick": quick,
        "dtype": str(dtype).removeprefix("torch."),
        "threads": torch.get_num_threads(),
        "flow": choose_flow(args.flow, DEFAULT_RIFE, device),
        "keep_up": not args.no_keep_up,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "scenarios": {},
    }
    t_start = time.perf_counter()
    keep_up = not args.no_keep_up
    if "stages" in args.only:
        print("stages: each model alone ...", flush=True)
        results["scenarios"]["stages"] = own_thread(lambda: run_stages(device, dtype, backend, sizes, runs, base=True))
    if "chain" in args.only or "overload" in args.only:
        print("loading the default chain ...", flush=True)
        converter = FrameConverter(device, dtype)
        models = own_thread(
            lambda: chain.ChainModels(
                build_style_stage(resolve_style("default"), device, dtype, backend),
                build_flow(results["flow"], DEFAULT_RIFE, device, dtype, backend),
                _load_actions(),
                converter,
            )
        )
        frames = chain.source_frames(*chain_size, 150)
    if "chain" in args.only:
        fps = 30.0 if cuda else 15.0
        sink, sink_label = readme_sink()
        size_text = f"{chain_size[0]}x{chain_size[1]}"
        print(f"chain: README main job, {size_text} at {fps:g} fps -> 2x, {sink_label} ...", flush=True)
        readme = chain.run_livefx(models, frames, fps, chain_s, actions=False, sink=sink, keep_up=keep_up)
        print("chain: + action labels ...", flush=True)
        full = chain.run_livefx(models, frames, fps, chain_s, actions=True, sink="null", keep_up=keep_up)
        print("chain: naive loop ...", flush=True)
        naive = own_thread(lambda: chain.run_naive(models, frames, 30 if quick else 120))
        results["scenarios"]["chain"] = {
            "size": list(chain_size),
            "fps": fps,
            "seconds": chain_s,
            "readme_job": readme,
            "readme_sink": sink_label,
            "full_chain": full,
            "naive": naive,
        }
    if "overload" in args.only:
        fps = 120.0 if cuda else 60.0
        print(f"overload: {fps:g} fps source for {overload_s:g} s, livefx ...", flush=True)
        live = chain.run_livefx(models, frames, fps, overload_s, actions=False, sink="null", keep_up=keep_up)
        print("overload: unbounded queue ...", flush=True)
        unbounded_s = args.unbounded_s or min(overload_s, 60.0)
        unbounded = own_thread(lambda: chain.run_unbounded(models, frames, fps, unbounded_s))
        results["scenarios"]["overload"] = {
            "size": list(chain_size),
            "fps": fps,
            "seconds": overload_s,
            "unbounded_seconds": unbounded_s,
            "livefx": live,
            "unbounded": unbounded,
        }
    if "heavy" in args.only:
        results["scenarios"]["heavy"] = run_heavy(device, dtype, backend, 10.0 if quick else 30.0, keep_up)
    results["wall_s"] = round(time.perf_counter() - t_start, 1)
    out = args.out or default_out()
    out.mkdir(parents=True, exist_ok=True)
    name = results["device"] + ("-quick" if quick else "")
    (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results)
    (out / f"{name}.md").write_text(text)
    print(text)
    print(f"wrote {out / name}.json and .md in {results['wall_s']:.0f} s")
    return 0


def readme_sink() -> tuple[str, str]:
    """The README job's sink and its label: an mp4 as the README's command writes, or the
    null sink where PyAV is not installed (the GPU machines this is run on lack it)."""
    try:
        import av  # noqa: F401
    except ImportError:
        return "null", "null sink (PyAV not installed)"
    return "file:{tmp}/out.mp4", "mp4"


def own_thread(work: Callable[[], T]) -> T:
    """Loading, a baseline's loop or a model's timed runs on a thread that ends with it, as
    the engine loads and warms up (``livefx.stream.scheduling.own_thread``): a main thread with an
    OpenMP pool would slow every later run's worker."""
    return run_on_own_thread(work, "bench-scenario")


def run_heavy(device: torch.device, dtype: torch.dtype, backend: str, seconds: float, keep_up: bool) -> dict:
    """The heavy style scenario: a teacher at 640x480 from a 60 fps source, no interpolation."""
    from livefx.models.stylize import StyleStage, TransformerNet

    teacher = _shared_teacher()
    label = teacher.name if teacher else "random weights"
    print(f"heavy: teacher ({label}) at 640x480 from 60 fps for {seconds:g} s ...", flush=True)

    def load() -> StyleStage:
        net = load_transformer_net(teacher) if teacher else TransformerNet()
        return StyleStage(net, device, dtype, "teacher", 255.0, backend)

    stage = own_thread(load)
    models = chain.ChainModels(stage, None, None, FrameConverter(device, dtype))
    run = chain.run_livefx(
        models,
        chain.source_frames(640, 480, 60),
        60.0,
        seconds,
        actions=False,
        sink="null",
        interpolate=False,
        keep_up=keep_up,
    )
    return {"teacher": label, "size": [640, 480], "fps": 60.0, "seconds": seconds, "livefx": run}


def _shared_teacher() -> Path | None:
    """A real fast-neural-style teacher from ../shared beside the checkout, if there is one."""
    folder = CHECKOUT_RESULTS.parents[2] / "shared" / "weights" / "fast-neural-style"
    found = sorted(folder.glob("*.pth")) if folder.is_dir() else []
    return found[0] if found else None


def _load_actions():
    from livefx.models.action import load_action_model

    return load_action_model(DEFAULT_ACTIONS)
