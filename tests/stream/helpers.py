"""Test doubles for the engine: stages whose cost the test controls."""

from __future__ import annotations

import time

import cv2
import numpy as np
import torch

from livefx.models.stage import Stage
from livefx.stream.device import FrameConverter
from livefx.stream.pipeline import Pipeline, PipelineConfig
from livefx.stream.scheduling.budget import StageSpec
from livefx.stream.scheduling.worker import BoundStage
from livefx.stream.sinks.base import Sink
from livefx.stream.sources.base import Source
from livefx.stream.stages.motion import MotionStage

CPU = torch.device("cpu")


class SlowInvert(Stage):
    """Inverts the image after sleeping ``ms`` (an artificially slow model)."""

    name = "slow"

    def __init__(self, ms: float) -> None:
        super().__init__(CPU, torch.float32)
        self.ms = ms

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.ms / 1e3)
        return 1.0 - x


def pipeline(
    source: Source, sinks: list[Sink], stage: Stage | None = None, motion: MotionStage | None = None, **config
) -> Pipeline:
    stages = [BoundStage(StageSpec(stage.name), stage)] if stage else []
    return Pipeline(source, sinks, stages, FrameConverter(CPU, torch.float32), PipelineConfig(**config), motion)


class Collect(Sink):
    """Keeps what it is given."""

    def __init__(self, in_order: bool = True, delay_s: float = 0.0) -> None:
        self.spec = f"collect{id(self)}"
        self.in_order = in_order
        self.delay_s = delay_s
        self.frames = []
        self.times: list[float] = []  # time.monotonic() at each write
        self.opened = None
        self.closed = False

    def open(self, width, height, fps):
        self.opened = (width, height, fps)

    def write(self, frame):
        if self.delay_s:
            time.sleep(self.delay_s)
        self.frames.append(frame)
        self.times.append(time.monotonic())

    def close(self):
        self.closed = True


class CountingSource(Source):
    """Grey frames whose level is the frame number (times 3), so a test can tell which
    input an output came from and whether it was inverted."""

    spec = "counting"
    fps = 100.0

    def __init__(self, frames: int) -> None:
        self.frames, self.n = frames, 0

    @property
    def size(self):
        return (64, 48)

    def open(self):
        pass

    def read(self):
        if self.n >= self.frames:
            return None
        self.n += 1
        return np.full((48, 64, 3), 3 * self.n, np.uint8), self.n / self.fps


def wait_until(condition, what: str, timeout_s: float = 60) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after a generous ``timeout_s``
    (a hang guard, not a speed check)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB picture with detail at several sizes (something DIS can follow)."""
    rng = np.random.default_rng(seed)
    layers = [cv2.resize(rng.random((h // k, w // k, 3), dtype=np.float32), (w, h)) for k in (4, 16, 48)]
    return (sum(layers) / len(layers) * 255).clip(0, 255).astype(np.uint8)


def shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``image`` moved right by ``dx`` and down by ``dy`` (edges repeated)."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, m, image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
