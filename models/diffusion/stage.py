"""Few-step img2img on each frame: encode, noise to the chosen timesteps, denoise, decode.

One ``DiffusionStage`` per stream over a shared ``DiffusionModel``. The stream's noise is drawn
once per seed and frame size, in the order diffusers' img2img draws it for that seed, so the
first frame equals diffusers' output and later frames do not boil. Prompt embeddings are
computed by the caller off the hot path (``DiffusionModel.encode_prompt``) and installed between
frames (``configure``). The number of denoising steps is the caller's choice per frame
(``run_steps``): the engine's planner picks it from measured costs.

The stage assembles its parts: ``options`` (what a stream runs), ``live`` (the prompt, strength
and seed now, with the noise and timesteps they fix), ``similar`` (repeating the last output for
a still camera) and ``denoise`` (the UNet and the denoising loops, stream batch included).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ..accel import accelerate
from ..stage import STYLE_STAGE, Stage, cheapest_run_ms
from .denoise import Denoising
from .folder import DiffusionModel
from .live import NOISE_SHAPES, LiveSettings
from .options import DEFAULT_STEPS, DiffusionOptions, PromptChange
from .similar import MAX_SKIPPED_IN_ROW, SIMILARITY_SIDE, SimilarFrames

# Moved to their own modules (issue 32); importable from here as before.
__all__ = [
    "DEFAULT_STEPS",
    "MAX_SKIPPED_IN_ROW",
    "NOISE_SHAPES",
    "SIMILARITY_SIDE",
    "DiffusionOptions",
    "DiffusionStage",
    "DiffusionStyle",
    "PromptChange",
]


class _Encoder(nn.Module):
    """Image in [-1, 1] -> latents (tiny autoencoder) or [mean; std] along channels (KL)."""

    def __init__(self, vae: nn.Module, tiny: bool) -> None:
        super().__init__()
        self.vae = vae
        self.tiny = tiny

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        encoded = self.vae.encode(image)
        if self.tiny:
            return encoded.latents
        dist = encoded.latent_dist
        return torch.cat([dist.mean, dist.std], dim=1)


class _Decoder(nn.Module):
    """Latents (unscaled) -> image in [0, 1]."""

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return (self.vae.decode(latents, return_dict=False)[0] / 2 + 0.5).clamp(0, 1)


class DiffusionStage(Stage):
    """Runs a diffusion style on NCHW [0, 1] RGB frames of any size (pads to the autoencoder's
    multiple, then crops back). Not thread-safe: the worker thread owns it.

    Its parts, by job: ``live`` (prompt, strength, seed and the noise and timesteps they fix),
    ``similar`` (the similarity filter), ``denoising`` (the UNet and the denoising loops)."""

    name = STYLE_STAGE

    def __init__(
        self,
        model: DiffusionModel,
        options: DiffusionOptions,
        embeddings: torch.Tensor | None = None,
        backend: str = "eager",
    ) -> None:
        super().__init__(model.device, model.dtype)
        self.model = model
        self.options = options
        self.label = model.name
        self.live = LiveSettings(model, options, embeddings)
        self.denoising = Denoising(model, self.live, options.guidance, backend)
        self.accel = self.denoising.accel
        self._encode, _ = accelerate(
            _Encoder(model.vae, model.tiny_vae), model.device, backend=backend, dtype=model.dtype
        )
        self._decode, _ = accelerate(_Decoder(model.vae), model.device, backend=backend, dtype=model.dtype)
        #: Step counts the planner may choose, best first; stream batch runs one count only.
        self.step_choices = options.step_choices
        self.similar = SimilarFrames(options.skip_similar)

    @property
    def prompt(self) -> str:
        return self.live.prompt

    @property
    def strength(self) -> float:
        return self.live.strength

    @property
    def seed(self) -> int:
        return self.live.seed

    @property
    def skipped_similar(self) -> int:
        """Frames the similarity filter answered with the previous output."""
        return self.similar.skipped

    def live_state(self) -> dict:
        """What the stream runs now, for the stats and the page (read from any thread)."""
        return {
            "model": self.model.name,
            "prompt": self.prompt,
            "strength": self.strength,
            "seed": self.seed,
            "step_choices": list(self.step_choices),
            "guidance": self.options.guidance,
            "stream_batch": self.options.stream_batch,
            "lag_frames": self.lag_frames,
            "skipped_similar": self.skipped_similar,
        }

    @property
    def lag_frames(self) -> int:
        """How many frames behind its input the output is (stream batch: steps - 1)."""
        return self.step_choices[0] - 1 if self.options.stream_batch else 0

    def configure(self, change: PromptChange) -> None:
        """Apply a live change between two frames (worker thread)."""
        self.live.configure(change)
        self.reset()

    def reset(self) -> None:
        """Forget what earlier frames left behind (stream-batch latents, the last output)."""
        self.denoising.in_flight.clear()
        self.similar.reset()

    def noise(self, shape: torch.Size) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The stream's fixed noise for latents of ``shape`` (``LiveSettings.noise``)."""
        return self.live.noise(shape)

    def schedule(self, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Timesteps and alpha-bars for ``steps`` at the current strength (``LiveSettings.schedule``)."""
        return self.live.schedule(steps)

    @torch.inference_mode()
    def warmup(self, height: int, width: int, runs: int = 3, steps: int | None = None) -> float:
        """Cheapest of ``runs`` on a blank frame at ``steps`` (default: the most), in ms; the
        stream's state is reset afterwards (nothing of the blank frames stays in flight)."""
        x = torch.full((1, 3, height, width), 0.5, device=self.device, dtype=self.dtype)
        count = steps or self.step_choices[0]
        if not self.options.stream_batch:
            ms = cheapest_run_ms(lambda: self._run(x, count), self.device, runs)
        else:
            latents = self._encode_latents(self._padded(x)[0])
            for filling in range(count - 1):  # every batch size a starting stream meets, compiled now
                self.denoising.in_flight = [latents] * filling
                self._run(x, count)

            def full_batch() -> None:  # the cost of every frame once the stream runs
                self.denoising.in_flight = [latents] * (count - 1)
                self._run(x, count)

            ms = cheapest_run_ms(full_batch, self.device, runs)
        self.reset()
        return ms

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.run_steps(x, self.step_choices[0])

    @torch.inference_mode()
    def run_steps(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """Stylize ``x`` with ``steps`` denoising steps (stream batch: its fixed count)."""
        repeated = self.similar.repeat(x)
        if repeated is not None:
            self.last_call_representative = False
            return repeated
        self.last_call_representative = True  # unless a stream batch is still filling (below)
        y = self._run(x, steps)
        self.similar.keep(y)
        return y

    def _padded(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        h, w = x.shape[-2:]
        m = self.model.vae_scale
        pad_h, pad_w = -h % m, -w % m
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        return x, h, w

    def _run(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        x, h, w = self._padded(x.to(self.dtype))
        latents = self._encode_latents(x)
        if self.options.stream_batch:
            clean, self.last_call_representative = self.denoising.stream_batch(latents, self.step_choices[0])
        else:
            clean = self.denoising.sequential(latents, steps)
        image = self._decode(clean / self.model.scaling_factor)
        return image[..., :h, :w].to(self.dtype)

    def _encode_latents(self, x: torch.Tensor) -> torch.Tensor:
        encoded = self._encode(x * 2 - 1)
        if self.model.tiny_vae:
            return encoded * self.model.scaling_factor
        mean, std = encoded.chunk(2, dim=1)
        sample_noise, _ = self.noise(mean.shape)
        return (mean + std * sample_noise) * self.model.scaling_factor


@dataclass(frozen=True)
class DiffusionStyle:
    """What ``--style sd:PATH`` resolves to: a loaded model (shared by every stream) and how
    each stream starts running it."""

    model: DiffusionModel
    options: DiffusionOptions

    @property
    def name(self) -> str:
        return self.model.name

    def build_stage(self, backend: str = "auto") -> DiffusionStage:
        """A ready-to-warm-up stage for one stream."""
        return DiffusionStage(self.model, self.options, backend=backend)

    def with_settings(self, **changes: object) -> DiffusionStyle:
        """The same model started with other options (e.g. the prompt a stream last ran)."""
        return DiffusionStyle(self.model, replace(self.options, **changes))
