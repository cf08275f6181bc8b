"""The bench suite: every scenario in one process, baselines beside livefx on the same frames.

    python -m bench [--quick] [--only stages chain overload] [--out DIR]
    livefx bench ...            (the same)

Scenarios:
  stages    each model alone at each frame size (median, p95, p99; output fps)
  chain     the README main job (default style + 2x interpolation, 15 fps source, mp4 out)
            and the full default chain (+ action labels) through the real engine, and the
            naive loop's throughput on the same frames
  overload  a source faster than the chain for minutes: livefx against an unbounded-queue
            pipeline, latency over time

Writes <out>/<device>.json and .md (``-quick`` added with --quick) and prints the tables;
peak resident (and GPU) memory per scenario. --quick takes about 3 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import time
from pathlib import Path

import torch

from livefx.models.accel import default_dtype
from livefx.models.frames import resolve_device
from livefx.models.registry import DEFAULT_ACTIONS, DEFAULT_RIFE, resolve_style
from livefx.models.rife.stage import build_flow_stage
from livefx.models.stylize import build_style_stage
from livefx.stream.device import FrameConverter
from livefx.stream.process import freeze_startup_heap

from . import chain
from .report import markdown
from .stages import run_stages

SCENARIOS = ("stages", "chain", "overload")
CHECKOUT_RESULTS = Path(__file__).parent / "results"


def device_tag(device: torch.device) -> str:
    """``cpu`` or the GPU's name as a file name (``nvidia-h100-80gb-hbm3``)."""
    if device.type != "cuda":
        return "cpu"
    return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")


def describe_machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}), torch {torch.__version__}"
    return f"CPU {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


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
    return ap.parse_args(argv)


def main(argv: list[str] | None = None, prog: str = "python -m bench") -> int:
    args = parse_args(argv, prog)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    dtype = default_dtype(device)
    backend = "auto"
    quick = args.quick
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
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "scenarios": {},
    }
    t_start = time.perf_counter()
    if "stages" in args.only:
        print("stages: each model alone ...", flush=True)
        results["scenarios"]["stages"] = run_stages(device, dtype, backend, sizes, runs, base=True)
    if "chain" in args.only or "overload" in args.only:
        print("loading the default chain ...", flush=True)
        converter = FrameConverter(device, dtype)
        models = chain.ChainModels(
            build_style_stage(resolve_style("default"), device, dtype, backend),
            build_flow_stage(DEFAULT_RIFE, device, dtype, backend),
            _load_actions(),
            converter,
        )
        frames = chain.source_frames(*chain_size, 150)
    if "chain" in args.only:
        fps = 30.0 if cuda else 15.0
        print(f"chain: README main job, {chain_size[0]}x{chain_size[1]} at {fps:g} fps -> 2x, mp4 ...", flush=True)
        readme = chain.run_livefx(models, frames, fps, chain_s, actions=False, sink="file:{tmp}/out.mp4")
        print("chain: + action labels ...", flush=True)
        full = chain.run_livefx(models, frames, fps, chain_s, actions=True, sink="null")
        print("chain: naive loop ...", flush=True)
        naive = chain.run_naive(models, frames, 30 if quick else 120)
        results["scenarios"]["chain"] = {
            "size": list(chain_size),
            "fps": fps,
            "seconds": chain_s,
            "readme_job": readme,
            "full_chain": full,
            "naive": naive,
        }
    if "overload" in args.only:
        fps = 120.0 if cuda else 60.0
        print(f"overload: {fps:g} fps source for {overload_s:g} s, livefx ...", flush=True)
        live = chain.run_livefx(models, frames, fps, overload_s, actions=False, sink="null")
        print("overload: unbounded queue ...", flush=True)
        unbounded = chain.run_unbounded(models, frames, fps, overload_s)
        results["scenarios"]["overload"] = {
            "size": list(chain_size),
            "fps": fps,
            "seconds": overload_s,
            "livefx": live,
            "unbounded": unbounded,
        }
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


def _load_actions():
    from livefx.models.action import load_action_model

    return load_action_model(DEFAULT_ACTIONS)
