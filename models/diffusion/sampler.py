"""The few-step img2img sampler: noising and denoising in the alpha-bar form, batched over timesteps.

Deterministic sampling (DDIM with eta 0) is what Euler's method on the probability-flow ODE
computes for these models: with sigma = sqrt((1 - a) / a), Euler's latent is the alpha-bar
latent times sqrt(1 + sigma^2), so the two give the same images (tests/models/diffusion check it
against diffusers' EulerDiscreteScheduler). Working in the alpha-bar form lets one UNet call
advance several latents that sit at different timesteps (stream batch).
"""

from __future__ import annotations

import torch


def add_noise(latents: torch.Tensor, noise: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """The latent at the timestep whose alpha-bar is ``alpha``: sqrt(a) x0 + sqrt(1 - a) n."""
    return (alpha.sqrt() * latents.float() + (1 - alpha).sqrt() * noise.float()).to(latents.dtype)


def predict(
    model_output: torch.Tensor, latents: torch.Tensor, alpha: torch.Tensor, prediction_type: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0, eps) from the UNet's output at latents of alpha-bar ``alpha`` (float32)."""
    out, x = model_output.float(), latents.float()
    if prediction_type == "epsilon":
        eps = out
        x0 = (x - (1 - alpha).sqrt() * eps) / alpha.sqrt()
    elif prediction_type == "v_prediction":
        x0 = alpha.sqrt() * x - (1 - alpha).sqrt() * out
        eps = alpha.sqrt() * out + (1 - alpha).sqrt() * x
    elif prediction_type == "sample":
        x0 = out
        eps = (x - alpha.sqrt() * x0) / (1 - alpha).sqrt()
    else:
        raise ValueError(f"unknown prediction type {prediction_type!r}")
    return x0, eps


def step(
    model_output: torch.Tensor,
    latents: torch.Tensor,
    alpha: torch.Tensor,
    alpha_next: torch.Tensor,
    prediction_type: str,
) -> torch.Tensor:
    """One deterministic step from alpha-bar ``alpha`` to ``alpha_next`` (1: the clean latent)."""
    x0, eps = predict(model_output, latents, alpha, prediction_type)
    return (alpha_next.sqrt() * x0 + (1 - alpha_next).sqrt() * eps).to(latents.dtype)


def guided(model_output: torch.Tensor, guidance: float) -> torch.Tensor:
    """Classifier-free guidance over a batch stacked as [unconditional; conditional]."""
    unconditional, conditional = model_output.chunk(2)
    return unconditional + guidance * (conditional - unconditional)
