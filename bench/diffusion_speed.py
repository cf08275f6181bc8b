"""Few-step img2img speed: livefx's diffusion stage against diffusers' own img2img pipeline.

    python -m bench.diffusion_speed [--config auto|tiny|sd-turbo] [--size 512] [--steps 1 2 4]
                                    [--runs 10] [--backends eager compile]

Both run the same modules (RANDOM weights: speed does not depend on the weights) on the same
512x512 frame, interleaved round by round, at 1, 2 and 4 denoising steps (strength 0.5, no
guidance: how turbo models run). livefx's stage includes encoding and decoding, as the
pipeline does; the pipeline is given the prompt embeddings so neither re-encodes text per frame.
``compile`` is torch.compile through models.accel (on CUDA: reduce-overhead mode, i.e. CUDA
graphs per shape). Stream batch (k frames in one UNet call, output k-1 frames late) is timed
per frame. The reference: StreamDiffusion's 93.9 fps (SD-Turbo img2img, 1 step, RTX 4090).

``--config auto`` runs the full SD-Turbo architecture on CUDA and the tiny config on a CPU: one
full-size frame takes about a minute on a 2-core CPU, which says nothing about the GPU product.
Writes bench/results/diffusion-speed-<device>[-<config>].{json,md} (the suffix when ``--config``
is given).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from livefx.models.accel import default_dtype
from livefx.models.diffusion.folder import DiffusionModel, equivalent_inference_steps, require_diffusers
from livefx.models.diffusion.stage import DiffusionOptions, DiffusionStage

from .common import RESULTS, machine, write_report
from .diffusion_models import DiffusionParts, sd_turbo_parts, tiny_parts
from .measure import percentile_summary, time_interleaved

STRENGTH = 0.5
REFERENCE = "StreamDiffusion: 93.9 fps, SD-Turbo img2img, 1 step, RTX 4090 (its README)"


def build(
    config: str, device: torch.device, dtype: torch.dtype, workdir: Path
) -> tuple[DiffusionParts, DiffusionModel]:
    parts = (sd_turbo_parts if config == "sd-turbo" else tiny_parts)(workdir / "tokenizer")
    for module in (parts.unet, parts.vae, parts.text_encoder):
        module.to(device=device, dtype=dtype).eval().requires_grad_(False)
    model = DiffusionModel(
        parts.unet,
        parts.vae,
        parts.text_encoder,
        parts.tokenizer,
        parts.scheduler,
        name=f"{config} (random weights)",
        device=device,
        dtype=dtype,
    )
    return parts, model


def diffusers_pipeline(parts: DiffusionParts):
    diffusers = require_diffusers()
    pipe = diffusers.StableDiffusionImg2ImgPipeline(
        vae=parts.vae,
        text_encoder=parts.text_encoder,
        tokenizer=parts.tokenizer,
        unet=parts.unet,
        scheduler=parts.scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=("auto", "tiny", "sd-turbo"), default="auto")
    ap.add_argument("--size", type=int, default=512, help="square frame side in pixels (default: 512)")
    ap.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--runs", type=int, default=10, help="timed rounds (after warm-up rounds)")
    ap.add_argument("--backends", nargs="+", default=None, help="livefx backends (default: eager compile)")
    args = ap.parse_args(argv)

    require_diffusers()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = args.config if args.config != "auto" else ("sd-turbo" if device.type == "cuda" else "tiny")
    dtype = default_dtype(device)
    backends = args.backends or ["eager", "compile"]
    with tempfile.TemporaryDirectory() as tmp:
        parts, model = build(config, device, dtype, Path(tmp))
    pipe = diffusers_pipeline(parts)
    embeddings = model.encode_prompt("a watercolor painting of a city street")
    torch.manual_seed(0)
    frame = torch.rand(1, 3, args.size, args.size, device=device, dtype=dtype)

    rows, payload = [], {"machine": machine(), "config": config, "dtype": str(dtype), "size": args.size, "rows": []}
    for steps in args.steps:
        options = DiffusionOptions(strength=STRENGTH, steps=(steps,))
        calls = {}
        for backend in backends:
            stage = DiffusionStage(model, options, embeddings, backend=backend)
            calls[f"livefx {backend}"] = lambda stage=stage, steps=steps: stage.run_steps(frame, steps)
        if steps > 1:
            batched = DiffusionStage(
                model,
                DiffusionOptions(strength=STRENGTH, steps=(steps,), stream_batch=True),
                embeddings,
                backend=backends[-1],
            )
            batched.warmup(args.size, args.size, runs=1)  # compiles every batch size it will meet
            for _ in range(steps):  # in flight: each timed call is a full batch, as mid-stream
                batched(frame)
            calls[f"livefx {backends[-1]} stream batch"] = lambda batched=batched: batched(frame)
        calls["diffusers img2img"] = lambda steps=steps: reference(pipe, frame, embeddings, steps)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        print(f"{steps} step(s): timing {', '.join(calls)} ...", flush=True)
        samples = time_interleaved(calls, runs=args.runs, warmup=2, device=device)
        base = percentile_summary(samples["diffusers img2img"])["median_ms"]
        for name, times in samples.items():
            summary = percentile_summary(times)
            fps = 1000 / summary["median_ms"]
            row = {
                "steps": steps,
                "method": name,
                **summary,
                "fps": round(fps, 2),
                "speedup_vs_diffusers": round(base / summary["median_ms"], 2),
            }
            payload["rows"].append(row)
            rows.append(
                f"| {steps} | {name} | {summary['median_ms']:.1f} | {summary['p95_ms']:.1f} | {fps:.1f} |"
                f" {row['speedup_vs_diffusers']:.2f}x |"
            )
        if device.type == "cuda":
            payload.setdefault("peak_gpu_mb", {})[steps] = round(torch.cuda.max_memory_allocated(device) / 2**20)
    check = DiffusionStage(model, DiffusionOptions(strength=STRENGTH, steps=(1,), seed=0), embeddings, backend="eager")
    difference = (check.run_steps(frame, 1).float() - reference(pipe, frame, embeddings, 1).float()).abs().max()
    payload["max_abs_difference_1_step"] = float(difference)
    payload["unet_parameters_m"] = model.describe()["unet_parameters_m"]

    note = (
        ""
        if config == "sd-turbo"
        else "\nThe tiny config (under a million parameters), not SD-Turbo: on a 2-core CPU one full SD-Turbo"
        " frame takes about a minute at 512x512 (`--config sd-turbo --runs 1 --steps 1`), which says"
        " nothing about the GPU product. The ratios show the engine's overhead over diffusers' loop.\n"
    )
    text = (
        f"# Diffusion img2img speed: livefx stage vs diffusers pipeline\n\nMachine: {payload['machine']}  \n"
        f"Model: {config}, {payload['unet_parameters_m']}M UNet parameters, **random weights** (speed does not"
        f" depend on the weights), {payload['dtype']}, {args.size}x{args.size}, strength {STRENGTH}, no guidance."
        f"  \nReference: {REFERENCE}.  \nOutputs agree: max |livefx - diffusers| at 1 step ="
        f" {payload['max_abs_difference_1_step']:.1e}.\n{note}\n"
        "| steps | method | median ms | p95 ms | fps | vs diffusers |\n|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )
    if payload.get("peak_gpu_mb"):
        text += f"\nPeak GPU memory per step count (MB): {payload['peak_gpu_mb']}\n"
    device_name = "cuda" if device.type == "cuda" else "cpu"
    suffix = "" if args.config == "auto" else f"-{config}"  # an explicit config never overwrites the default's file
    write_report(RESULTS / f"diffusion-speed-{device_name}{suffix}", payload, text)
    return 0


def reference(pipe, frame: torch.Tensor, embeddings: torch.Tensor, steps: int) -> torch.Tensor:
    """diffusers' img2img output for ``frame`` at ``steps`` with seed 0 (the noise livefx draws)."""
    return pipe(
        image=frame,
        prompt_embeds=embeddings,
        num_inference_steps=equivalent_inference_steps(steps, STRENGTH),
        strength=STRENGTH,
        guidance_scale=0.0,
        output_type="pt",
        generator=torch.Generator().manual_seed(0),
    ).images


if __name__ == "__main__":
    raise SystemExit(main())
