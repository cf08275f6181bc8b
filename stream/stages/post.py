"""What the worker does to a processed frame after the models: a list of steps.

Each step takes the input frame and the models' result and returns the result to emit.
Steps never write into the input frame's image: the action clips still read it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import cv2
import numpy as np

from ..frame import Frame
from ..scheduling.control import SetLook
from .actions import ActionStage


@dataclass
class Processed:
    """One input frame's results: its processed image and any in-between images before it."""

    image: np.ndarray
    between: list[np.ndarray]
    stage_ms: dict[str, float]
    #: Denoising steps the effect ran with (None: no stage with steps ran).
    steps: int | None = None


class PostStep(Protocol):
    def __call__(self, frame: Frame, result: Processed) -> Processed: ...


class OutputLook:
    """The effect mixed with the input, and the output mirrored (a selfie-style camera).

    ``mix`` 0 shows the input (as fitted to ``--size``), 1 the full effect, linear between;
    ``effect`` off shows the input without forgetting the mix. In-between frames mix with the
    input shown before them (what the raw video shows at their instant), so with the effect
    off every output frame is an input picture. At mix 1 without mirror nothing is done.
    Changed only by ``change`` on the worker thread (a ``SetLook`` from the control queue).
    """

    def __init__(self, mix: float = 1.0, mirror: bool = False) -> None:
        SetLook(mix=mix)  # the same check as a live change
        self.mix = mix
        self.effect = True
        self.mirror = mirror
        #: The previous frame's input: what its in-between frames mix with.
        self._last_input: np.ndarray | None = None

    @property
    def weight(self) -> float:
        """The effect's share of the output now."""
        return self.mix if self.effect else 0.0

    def change(self, change: SetLook) -> None:
        """Apply a live change (worker thread only)."""
        if change.mix is not None:
            self.mix = change.mix
        if change.mix_by:
            self.mix = round(min(1.0, max(0.0, self.mix + change.mix_by)), 6)
        self.effect = _switch(self.effect, change.effect)
        self.mirror = _switch(self.mirror, change.mirror)

    def settings(self) -> dict[str, object]:
        """What the stats document and control replies show."""
        return {"mix": self.mix, "effect": self.effect, "mirror": self.mirror}

    def __call__(self, frame: Frame, result: Processed) -> Processed:
        earlier, self._last_input = self._last_input, frame.image
        weight = self.weight
        if weight >= 1.0 and not self.mirror:
            return result
        image, between = result.image, result.between
        if weight < 1.0:
            image = _mix(image, frame.image, weight)
            if between:
                shown_before = earlier if earlier is not None and earlier.shape == frame.image.shape else frame.image
                between = [_mix(b, shown_before, weight) for b in between]
        if self.mirror:
            image, between = cv2.flip(image, 1), [cv2.flip(b, 1) for b in between]
        return replace(result, image=image, between=between)


def _mix(effect: np.ndarray, source: np.ndarray, weight: float) -> np.ndarray:
    """``weight`` of ``effect`` and the rest of ``source``, rounded to uint8."""
    if weight <= 0.0 or effect is source:
        return source
    return cv2.addWeighted(effect, weight, source, 1.0 - weight, 0.0)


def _switch(value: bool, how: str | None) -> bool:
    if how is None:
        return value
    return {"on": True, "off": False}.get(how, not value)


class DrawLabels:
    """Writes the classifier's latest labels in the bottom-left corner of the frame (after
    ``OutputLook``: mirrored text would not read)."""

    def __init__(self, actions: ActionStage) -> None:
        self.actions = actions

    def __call__(self, frame: Frame, result: Processed) -> Processed:
        latest = self.actions.latest
        if latest is None:
            return result
        image = result.image.copy() if result.image is frame.image else result.image
        h = image.shape[0]
        for i, (name, score) in enumerate(reversed(latest.labels)):
            y = h - 8 - 16 * i
            text = f"{name} {score:.2f}"
            cv2.putText(image, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(image, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        return replace(result, image=image)
