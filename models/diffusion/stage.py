"""Few-step img2img on each frame: encode, noise to the chosen timesteps, denoise, decode.

One ``DiffusionStage`` per stream over a shared ``DiffusionModel``. The stream's noise is drawn
once per seed and frame size, in the order diffusers' img2img draws it for that seed, so the
first frame equals diffusers' output and later frames do not boil. Prompt embeddings are
computed by the caller off the hot path (``DiffusionModel.encode_prompt``) and installed between
frames (``configure``). The number of denoising steps is the caller's choice per frame
(``run_steps``): the engine's planner picks it from measured costs.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ..accel import accelerate
from ..errors import UsageError
from ..stage import STYLE_STAGE, Stage, cheapest_run_ms
from . import sampler
from .folder import DiffusionModel

#: Step counts the planner chooses among by default, best first (see ``DiffusionOptions.steps``).
DEFAULT_STEPS = (4, 2, 1)
#: The similarity filter never repeats an output more than this many frames in a row.
MAX_SKIPPED_IN_ROW = 10
#: Side of the thumbnail the similarity filter compares frames on.
SIMILARITY_SIDE = 32
#: Latent shapes whose fixed noise is kept (a few planner scales; more only if the input keeps resizing).
NOISE_SHAPES = 8


@dataclass(frozen=True)
class DiffusionOptions:
    """How a stream runs its diffusion style. Validated on construction (``check``)."""

    prompt: str = ""
    #: How far each frame is noised (0..1]: 0.5 keeps the camera's layout, 1 ignores it.
    strength: float = 0.5
    seed: int = 0
    #: Denoising step counts, best first; the planner picks one per frame (1..8 each).
    steps: tuple[int, ...] = DEFAULT_STEPS
    #: Classifier-free guidance scale; 1 turns it off (turbo models are trained without it).
    guidance: float = 1.0
    #: Denoise the last ``steps[0]`` frames in one UNet call, each one step further (output lags).
    stream_batch: bool = False
    #: Repeat the last output when the input's cosine similarity to the last processed input is
    #: at least this (None: off). 0.98-0.995 skips a still camera's frames.
    skip_similar: float | None = None

    def __post_init__(self) -> None:
        self.check()

    @property
    def step_choices(self) -> tuple[int, ...]:
        """The step counts a stream may run per frame (stream batch: its one count)."""
        return self.steps[:1] if self.stream_batch else self.steps

    def check(self) -> None:
        """Raise UsageError for a value no stream can run."""
        if not 0 < self.strength <= 1:
            raise UsageError(f"{self.strength:g}: must be in (0, 1]", setting="strength")
        if (
            not self.steps
            or any(not 1 <= s <= 8 for s in self.steps)
            or list(self.steps) != sorted(set(self.steps), reverse=True)
        ):
            raise UsageError(
                f"{','.join(map(str, self.steps))}: distinct counts 1..8, best first (e.g. 4,2,1)", setting="steps"
            )
        if self.guidance < 1:
            raise UsageError(f"{self.guidance:g}: must be at least 1 (1: no guidance)", setting="guidance")
        if self.skip_similar is not None and not 0 < self.skip_similar < 1:
            raise UsageError(f"{self.skip_similar:g}: a similarity in (0, 1), e.g. 0.98", setting="skip-similar")
        if not 0 <= self.seed < 2**63:
            raise UsageError(f"{self.seed}: must be a non-negative integer", setting="seed")


@dataclass(frozen=True)
class PromptChange:
    """A live change to a running stage, prepared off the hot path: a new prompt (with its
    embeddings already computed), strength or seed; None leaves that setting as it is."""

    prompt: str | None = None
    embeddings: torch.Tensor | None = None
    strength: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        # Validated whole, before any work: a change is applied entirely or not at all.
        given = {"strength": self.strength, "seed": self.seed}
        DiffusionOptions(**{name: value for name, value in given.items() if value is not None})


class _Denoiser(nn.Module):
    """The UNet as one call: (latents, timesteps, text embeddings) -> its prediction."""

    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, latents: torch.Tensor, timesteps: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        return self.unet(latents, timesteps, encoder_hidden_states=embeddings, return_dict=False)[0]


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
    multiple, then crops back). Not thread-safe: the worker thread owns it."""

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
        self.prompt = options.prompt
        self.strength = options.strength
        self.seed = options.seed
        self.embeddings = embeddings if embeddings is not None else model.encode_prompt(options.prompt)
        self.unconditional = model.encode_prompt("") if options.guidance > 1 else None
        self._denoise, self.accel = accelerate(_Denoiser(model.unet), model.device, backend=backend, dtype=model.dtype)
        self._encode, _ = accelerate(
            _Encoder(model.vae, model.tiny_vae), model.device, backend=backend, dtype=model.dtype
        )
        self._decode, _ = accelerate(_Decoder(model.vae), model.device, backend=backend, dtype=model.dtype)
        #: Step counts the planner may choose, best first; stream batch runs one count only.
        self.step_choices = options.step_choices
        self._noise: OrderedDict[tuple[int, ...], tuple[torch.Tensor | None, torch.Tensor]] = OrderedDict()
        self._schedule: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        #: Stream batch: latents part-way through denoising, least denoised first.
        self._in_flight: list[torch.Tensor] = []
        self._last_input: torch.Tensor | None = None
        self._last_output: torch.Tensor | None = None
        self._skipped_in_row = 0
        #: Frames the similarity filter answered with the previous output.
        self.skipped_similar = 0

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
        if change.strength is not None:  # validated by PromptChange
            self.strength = change.strength
            self._schedule.clear()
        if change.seed is not None:
            self.seed = change.seed
            self._noise.clear()
        if change.embeddings is not None:
            self.embeddings = change.embeddings.to(self.device, self.dtype)
            self.prompt = change.prompt or ""
        self.reset()

    def reset(self) -> None:
        """Forget what earlier frames left behind (stream-batch latents, the last output)."""
        self._in_flight.clear()
        self._last_input = self._last_output = None
        self._skipped_in_row = 0

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
                self._in_flight = [latents] * filling
                self._run(x, count)

            def full_batch() -> None:  # the cost of every frame once the stream runs
                self._in_flight = [latents] * (count - 1)
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
        if self.options.skip_similar is not None and self._similar(x):
            self.skipped_similar += 1
            self._skipped_in_row += 1
            self.last_call_representative = False
            return self._last_output
        self._skipped_in_row = 0
        self.last_call_representative = True  # unless a stream batch is still filling (below)
        y = self._run(x, steps)
        if self.options.skip_similar is not None:
            self._last_output = y
        return y

    def _similar(self, x: torch.Tensor) -> bool:
        thumb = F.adaptive_avg_pool2d(x.float(), SIMILARITY_SIDE).flatten()
        last, self._last_input = self._last_input, thumb
        if last is None or self._last_output is None or last.shape != thumb.shape:
            return False
        if self._last_output.shape[-2:] != x.shape[-2:] or self._skipped_in_row >= MAX_SKIPPED_IN_ROW:
            return False
        if F.cosine_similarity(thumb - 0.5, last - 0.5, dim=0) >= self.options.skip_similar:
            self._last_input = last  # compare with the frame the output was made from: no drift
            return True
        return False

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
            clean = self._stream_batch(latents)
        else:
            clean = self._sequential(latents, steps)
        image = self._decode(clean / self.model.scaling_factor)
        return image[..., :h, :w].to(self.dtype)

    def _encode_latents(self, x: torch.Tensor) -> torch.Tensor:
        encoded = self._encode(x * 2 - 1)
        if self.model.tiny_vae:
            return encoded * self.model.scaling_factor
        mean, std = encoded.chunk(2, dim=1)
        sample_noise, _ = self.noise(mean.shape)
        return (mean + std * sample_noise) * self.model.scaling_factor

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

    def _unet(self, latents: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The UNet's prediction for ``latents`` at timesteps ``t`` (one per latent)."""
        batch = latents.shape[0]
        text = self.embeddings.expand(batch, -1, -1)
        if self.unconditional is None:
            return self._denoise(latents, t, text)
        both = self._denoise(
            torch.cat([latents, latents]),
            torch.cat([t, t]),
            torch.cat([self.unconditional.expand(batch, -1, -1), text]),
        )
        return sampler.guided(both, self.options.guidance)

    def _sequential(self, latents: torch.Tensor, steps: int) -> torch.Tensor:
        timesteps, alphas = self.schedule(steps)
        _, noise = self.noise(latents.shape)
        x = sampler.add_noise(latents, noise, alphas[0])
        for i in range(len(timesteps)):
            out = self._unet(x, timesteps[i : i + 1])
            x = sampler.step(out, x, alphas[i], alphas[i + 1], self.model.prediction_type)
        return x

    def _stream_batch(self, latents: torch.Tensor) -> torch.Tensor:
        """Advance this frame and the frames in flight by one step each, in one UNet call; the
        frame that finishes is the output. Until the batch is full, the most advanced frame's
        clean-latent prediction is shown instead."""
        steps = self.step_choices[0]
        timesteps, alphas = self.schedule(steps)
        _, noise = self.noise(latents.shape)
        if self._in_flight and self._in_flight[0].shape != latents.shape:
            self._in_flight.clear()  # a new size: nothing in flight fits
        batch = torch.cat([sampler.add_noise(latents, noise, alphas[0]), *self._in_flight])
        n = batch.shape[0]
        self.last_call_representative = n == steps  # a part-filled batch costs less than a full one
        out = self._unet(batch, timesteps[:n])
        a, a_next = alphas[:n], alphas[1 : n + 1]
        stepped = sampler.step(out, batch, a, a_next, self.model.prediction_type)
        if n < steps:  # filling up: all stay in flight; show the most advanced frame's prediction
            self._in_flight = list(stepped.split(1))
            x0, _ = sampler.predict(out[-1:], batch[-1:], a[-1:], self.model.prediction_type)
            return x0.to(latents.dtype)
        self._in_flight = list(stepped[:-1].split(1))
        return stepped[-1:]


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
