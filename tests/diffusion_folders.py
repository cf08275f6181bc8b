"""Tiny random diffusion models in the real diffusers/transformers classes, saved as diffusers
folders (safetensors), for tests that must not download weights. Random weights: these check
the arithmetic and the plumbing, never picture quality."""

from __future__ import annotations

from pathlib import Path

import pytest


def diffusers_or_skip():
    return pytest.importorskip("diffusers", reason="diffusion tests need diffusers: pip install 'livefx[diffusion]'")


def build_tiny_folder(
    folder: Path, *, tiny_vae: Path | None = None, seed: int = 0, prediction: str = "epsilon"
) -> Path:
    """Save a tiny SD-class img2img model (UNet, KL autoencoder, CLIP text model, a tokenizer
    written here, Euler with trailing timesteps as sd-turbo has) to ``folder``; with
    ``tiny_vae``, also an AutoencoderTiny there."""
    diffusers_or_skip()
    from livefx.bench.diffusion_models import save_folder, tiny_autoencoder, tiny_parts

    save_folder(tiny_parts(folder.parent / (folder.name + "-tokenizer"), seed, prediction), folder)
    if tiny_vae is not None:
        tiny_autoencoder().save_pretrained(tiny_vae, safe_serialization=True)
    return folder


def diffusers_img2img(
    folder: Path,
    image,
    prompt: str,
    *,
    steps: int,
    strength: float,
    seed: int,
    guidance: float = 1.0,
    vae_tiny: Path | None = None,
):
    """diffusers' own StableDiffusionImg2ImgPipeline on ``folder``: the reference output, NCHW [0, 1]."""
    diffusers = diffusers_or_skip()
    import torch

    extra = {}
    if vae_tiny is not None:
        extra["vae"] = diffusers.AutoencoderTiny.from_pretrained(vae_tiny, local_files_only=True)
    pipe = diffusers.StableDiffusionImg2ImgPipeline.from_pretrained(
        folder, local_files_only=True, use_safetensors=True, safety_checker=None, requires_safety_checker=False, **extra
    )
    pipe.set_progress_bar_config(disable=True)
    from livefx.models.diffusion.folder import equivalent_inference_steps

    total = equivalent_inference_steps(steps, strength)
    return pipe(
        prompt,
        image=image,
        num_inference_steps=total,
        strength=strength,
        guidance_scale=guidance,
        generator=torch.Generator().manual_seed(seed),
        output_type="pt",
    ).images
