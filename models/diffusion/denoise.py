"""The denoising loop over a stream's latents: all of a frame's steps in turn (``sequential``),
or one step each for this frame and the frames in flight in one UNet call (``stream_batch``).
Noise and timesteps come from the stream's ``LiveSettings``; the step arithmetic from ``sampler``."""

from __future__ import annotations

import torch
from torch import nn

from ..accel import accelerate
from . import sampler
from .folder import DiffusionModel
from .live import LiveSettings


class _Denoiser(nn.Module):
    """The UNet as one call: (latents, timesteps, text embeddings) -> its prediction."""

    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, latents: torch.Tensor, timesteps: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        return self.unet(latents, timesteps, encoder_hidden_states=embeddings, return_dict=False)[0]


class Denoising:
    """One stream's UNet (accelerated for ``backend``, guided when ``guidance`` > 1) and the
    loops over it. Stream batch keeps latents part-way through denoising between frames."""

    def __init__(self, model: DiffusionModel, live: LiveSettings, guidance: float, backend: str) -> None:
        self.model = model
        self.live = live
        self.guidance = guidance
        self.unconditional = model.encode_prompt("") if guidance > 1 else None
        self._denoise, self.accel = accelerate(_Denoiser(model.unet), model.device, backend=backend, dtype=model.dtype)
        #: Stream batch: latents part-way through denoising, least denoised first.
        self.in_flight: list[torch.Tensor] = []

    def unet(self, latents: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The UNet's prediction for ``latents`` at timesteps ``t`` (one per latent)."""
        batch = latents.shape[0]
        text = self.live.embeddings.expand(batch, -1, -1)
        if self.unconditional is None:
            return self._denoise(latents, t, text)
        both = self._denoise(
            torch.cat([latents, latents]),
            torch.cat([t, t]),
            torch.cat([self.unconditional.expand(batch, -1, -1), text]),
        )
        return sampler.guided(both, self.guidance)

    def sequential(self, latents: torch.Tensor, steps: int) -> torch.Tensor:
        """The clean latents of a frame noised to the first of ``steps`` timesteps, denoised in turn."""
        timesteps, alphas = self.live.schedule(steps)
        _, noise = self.live.noise(latents.shape)
        x = sampler.add_noise(latents, noise, alphas[0])
        for i in range(len(timesteps)):
            out = self.unet(x, timesteps[i : i + 1])
            x = sampler.step(out, x, alphas[i], alphas[i + 1], self.model.prediction_type)
        return x

    def stream_batch(self, latents: torch.Tensor, steps: int) -> tuple[torch.Tensor, bool]:
        """Advance this frame and the frames in flight by one step each, in one UNet call; the
        frame that finishes is the output. Until the batch is full, the most advanced frame's
        clean-latent prediction is shown instead. Also says whether the batch was full (a
        part-filled batch costs less than a full one)."""
        timesteps, alphas = self.live.schedule(steps)
        _, noise = self.live.noise(latents.shape)
        if self.in_flight and self.in_flight[0].shape != latents.shape:
            self.in_flight.clear()  # a new size: nothing in flight fits
        batch = torch.cat([sampler.add_noise(latents, noise, alphas[0]), *self.in_flight])
        n = batch.shape[0]
        out = self.unet(batch, timesteps[:n])
        a, a_next = alphas[:n], alphas[1 : n + 1]
        stepped = sampler.step(out, batch, a, a_next, self.model.prediction_type)
        if n < steps:  # filling up: all stay in flight; show the most advanced frame's prediction
            self.in_flight = list(stepped.split(1))
            x0, _ = sampler.predict(out[-1:], batch[-1:], a[-1:], self.model.prediction_type)
            return x0.to(latents.dtype), False
        self.in_flight = list(stepped[:-1].split(1))
        return stepped[-1:], True
