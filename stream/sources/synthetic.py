"""A synthetic camera: moving, textured content with a visible frame counter."""

from __future__ import annotations

import cv2
import numpy as np

from .base import Source


def _texture(width: int, height: int, seed: int = 7) -> np.ndarray:
    """A colourful periodic texture twice the frame size, so a window can scroll over it."""
    rng = np.random.default_rng(seed)
    h, w = 2 * height, 2 * width
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    channels = []
    for _ in range(3):
        fx, fy = rng.uniform(2, 9, size=2)
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * (fx * x / w + fy * y / h) + phase)
        wave += 0.5 * np.sin(2 * np.pi * (3 * fy * x / w - 2 * fx * y / h))
        channels.append(wave)
    img = np.stack(channels, axis=-1)
    img = (img - img.min()) / (img.max() - img.min()) * 200 + 28
    checker = ((x // 32 + y // 32) % 2 == 0)[..., None] * 25.0
    noise = rng.normal(0, 6, size=img.shape)
    return np.clip(img + checker + noise, 0, 255).astype(np.uint8)


class SyntheticSource(Source):
    """Scrolls a texture, moves a disc and prints the frame number on every frame."""

    self_paced = False

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0) -> None:
        self.spec = "synthetic"
        self.fps = fps
        self._size = (width, height)
        self._texture: np.ndarray | None = None
        self._index = 0

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def open(self) -> None:
        w, h = self._size
        self._texture = _texture(w, h)
        self._index = 0

    def read(self) -> tuple[np.ndarray, float]:
        assert self._texture is not None, "open() first"
        w, h = self._size
        i = self._index
        t = i / self.fps
        ox = int(w * (0.5 + 0.5 * np.sin(0.35 * t))) % w
        oy = int(h * (0.5 + 0.5 * np.cos(0.23 * t))) % h
        frame = self._texture[oy : oy + h, ox : ox + w].copy()
        cx = int(w / 2 + w / 3 * np.cos(1.3 * t))
        cy = int(h / 2 + h / 3 * np.sin(1.7 * t))
        cv2.circle(frame, (cx, cy), max(4, min(w, h) // 8), (240, 200, 40), -1, cv2.LINE_AA)
        scale = max(0.4, h / 240)
        org = (8, int(30 * scale))
        text = f"#{i:06d}"
        cv2.putText(frame, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), int(4 * scale), cv2.LINE_AA)
        cv2.putText(frame, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), int(2 * scale), cv2.LINE_AA)
        self._index += 1
        return frame, t
