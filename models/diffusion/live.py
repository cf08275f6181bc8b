"""A stream's live diffusion settings: the prompt (and its embeddings), strength and seed it
runs now, and what follows from them, kept between frames: the fixed noise per latent shape
(from the seed) and the timesteps per step count (from the strength). ``configure`` changes
them between two frames."""

from __future__ import annotations

from collections import OrderedDict

import torch

from .folder import DiffusionModel
from .options import DiffusionOptions, PromptChange

#: Latent shapes whose fixed noise is kept (a few planner scales; more only if the input keeps resizing).
NOISE_SHAPES = 8


class LiveSettings:
    """The prompt, strength and seed one stream runs now, with the noise and the schedules
    they fix. Not thread-safe: the worker thread owns it (through its stage)."""

    def __init__(self, model: DiffusionModel, options: DiffusionOptions, embeddings: torch.Tensor | None) -> None:
        self.model = model
        self.device, self.dtype = model.device, model.dtype
        self.prompt = options.prompt
        self.strength = options.strength
        self.seed = options.seed
        self.embeddings = embeddings if embeddings is not None else model.encode_prompt(options.prompt)
        self._noise: OrderedDict[tuple[int, ...], tuple[torch.Tensor | None, torch.Tensor]] = OrderedDict()
        self._schedule: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def configure(self, change: PromptChange) -> None:
        """Apply a live change (validated by ``PromptChange``); what it invalidates is made
        afresh when next asked for."""
        if change.strength is not None:
            self.strength = change.strength
            self._schedule.clear()
        if change.seed is not None:
            self.seed = change.seed
            self._noise.clear()
        if change.embeddings is not None:
            self.embeddings = change.embeddings.to(self.device, self.dtype)
            self.prompt = change.prompt or ""

    def noise(self, shape: torch.Size) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(the autoencoder sample's noise or None, the diffusion noise) for latents of ``shape``:
        drawn once per seed and shape, in diffusers' order for that seed."""
        key = tuple(shape)
        if key in self._noise:
            self._noise.move_to_end(key)
        else:
            generator = torch.Generator().manual_seed(self.seed)
            sample_noise = None if self.model.tiny_vae else torch.randn(key, generator=generator)
            noise = torch.randn(key, generator=generator)
            self._noise[key] = (
                None if sample_noise is None else sample_noise.to(self.device, self.dtype),
                noise.to(self.device, self.dtype),
            )
            if len(self._noise) > NOISE_SHAPES:  # e.g. a camera resized often: forget the oldest
                self._noise.popitem(last=False)
        return self._noise[key]

    def schedule(self, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(timesteps, alpha-bar at each and 1 after the last) for ``steps`` at the current
        strength, on the device: made once per step count, not per frame."""
        if steps not in self._schedule:
            timesteps = self.model.timesteps(steps, self.strength)
            alphas = self.model.alphas_cumprod[timesteps].float()
            self._schedule[steps] = (
                torch.tensor(timesteps, device=self.device, dtype=torch.float32),
                torch.cat([alphas, torch.ones(1)]).view(-1, 1, 1, 1).to(self.device),
            )
        return self._schedule[steps]
