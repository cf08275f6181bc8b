"""The last styled frame carried to a newer frame by the motion between their inputs.

When no rung of the effect keeps up on a CPU, the planner may run it on one frame in two
(``Rung.every``) at a larger scale instead of on every frame at a smaller one; the frames
between show the last styled frame moved along the motion from its input to theirs (OpenCV
DIS on small greys, one remap of the styled picture): a few ms against tens for a model.
Measured on held-out real video against the light student at full scale (bench/NOTES.md,
section 22): styled at 0.75 and carried beats styled at 0.5 on the carried frames too.
A cut (the inputs no longer match after the motion) is not carried: the caller styles it.
"""

from __future__ import annotations

import cv2
import numpy as np

from livefx.models.rife.dis import dis_for

from ..scheduling.budget import CARRY_STAGE

__all__ = ["CARRY_STAGE", "FrameCarry"]

#: The motion is found on greys at most this wide: at 320 px carried frames read 0.9-2.5 dB
#: above styling at half scale on three clips; at 160 px fast motion (bikes.mp4) fell below it.
FLOW_WIDTH = 320

#: The frame is cut into this grid of blocks (columns, rows) to judge the carry.
BLOCKS = (20, 15)

#: Not carried when the key frame's input, moved by the motion, misses the new input by more
#: than this (mean 8-bit grey difference) in over 5% of the blocks: a cut, a flash, motion
#: that the flow does not follow.
MAX_BLOCK_ERROR = 20.0

#: Not carried when a block moved further than this share of the frame's width since the key
#: frame: fast pans smear the carried picture (bikes.mp4: 0.4-4.3 dB below styling at half
#: scale on such frames, +1.4-4.5 dB on the others; bench/NOTES.md, section 22).
MAX_MOTION = 0.05


class FrameCarry:
    """One stream's key frame (its input and styled output) and the carry of it to later
    inputs of the same size. Worker thread only."""

    def __init__(
        self,
        preset: str = "dis-fast",
        flow_width: int = FLOW_WIDTH,
        max_block_error: float = MAX_BLOCK_ERROR,
        max_motion: float = MAX_MOTION,
    ) -> None:
        self.preset = preset
        self.flow_width = flow_width
        self.max_block_error = max_block_error
        self.max_motion = max_motion
        #: Frames carried since the key frame (the chain's cadence reads it).
        self.since_key = 0
        #: Carries refused since start (cuts, fast motion): those frames were styled.
        self.refused = 0
        self._key_gray: np.ndarray | None = None
        self._key_output: np.ndarray | None = None
        self._grids: dict[tuple[int, int], np.ndarray] = {}

    def reset(self) -> None:
        """Forget the key frame (a new style, a passed-through frame): the next frame is styled."""
        self._key_gray = self._key_output = None
        self.since_key = 0

    def remember(self, source: np.ndarray, output: np.ndarray) -> None:
        """``output`` (H x W x 3 uint8, kept as a copy) is the effect's picture of ``source``."""
        self._key_gray = self._small_gray(source)
        self._key_output = output.copy()
        self.since_key = 0

    def holds(self, shape: tuple[int, ...]) -> bool:
        """Whether a key frame of this shape is there to carry."""
        return self._key_output is not None and self._key_output.shape == shape

    def carry(self, source: np.ndarray) -> np.ndarray | None:
        """The key frame's output moved to ``source``; None when there is no key frame of this
        size, the motion does not explain ``source`` (a cut) or is too fast to carry well."""
        if self._key_gray is None or not self.holds(source.shape):
            return None
        gray = self._small_gray(source)
        # For each pixel of the new frame, where it was in the key frame (backward warp).
        flow = dis_for(self.preset).calc(gray, self._key_gray, None)
        where = self._grid(gray.shape) + flow
        moved = cv2.remap(self._key_gray, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if not self._carries_well(moved, gray, flow):
            self.refused += 1
            self.reset()
            return None
        h, w = source.shape[:2]
        if gray.shape != (h, w):
            # The map in full-size pixels, made at the flow's size and stretched: one full-size
            # pass instead of three (stretch the flow, scale it, add the grid).
            sx, sy = w / gray.shape[1], h / gray.shape[0]
            where = (where + 0.5) * np.array([sx, sy], dtype=np.float32) - 0.5
            where = cv2.resize(where, (w, h), interpolation=cv2.INTER_LINEAR)
        # Fixed-point maps: the remap of a 640x480 picture in 1.3 ms against 2.6 with float ones.
        map_xy, map_frac = cv2.convertMaps(where, None, cv2.CV_16SC2)
        out = cv2.remap(self._key_output, map_xy, map_frac, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        self.since_key += 1
        return out

    def _carries_well(self, moved: np.ndarray, gray: np.ndarray, flow: np.ndarray) -> bool:
        error = cv2.resize(cv2.absdiff(moved, gray), BLOCKS, interpolation=cv2.INTER_AREA)
        if np.percentile(error, 95) > self.max_block_error:
            return False
        motion = cv2.resize(cv2.magnitude(flow[..., 0], flow[..., 1]), BLOCKS, interpolation=cv2.INTER_AREA)
        return float(motion.max()) <= self.max_motion * gray.shape[1]

    def _small_gray(self, image: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        h, w = gray.shape
        if w <= self.flow_width:
            return gray
        size = (self.flow_width, max(1, round(h * self.flow_width / w)))
        return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)

    def _grid(self, shape: tuple[int, int]) -> np.ndarray:
        """H x W x 2 float32 pixel coordinates (x, y), made once per size."""
        if shape not in self._grids:
            h, w = shape
            xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._grids[shape] = np.dstack([xs, ys])
        return self._grids[shape]
