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


class DrawLabels:
    """Writes the classifier's latest labels in the bottom-left corner of the frame."""

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
