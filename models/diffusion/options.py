"""How a stream runs its diffusion style (``DiffusionOptions``) and a live change to it
(``PromptChange``), both validated on construction."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import UsageError

#: Step counts the planner chooses among by default, best first (see ``DiffusionOptions.steps``).
DEFAULT_STEPS = (4, 2, 1)


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
