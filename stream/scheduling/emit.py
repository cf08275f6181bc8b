"""Where in-between frames go: a pure function of the last output and the new frame.

With ``factor`` N, the N-1 in-between images of a frame go out before it, their pts evenly
spaced between the previous output's pts and this frame's; live sinks space them by
``gap_ns``. When the flow was skipped (no in-between images) the slots hold the previous
output, so the output rate stays steady and pts stay monotonic.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..frame import Frame


@dataclass(frozen=True)
class Emission:
    """The frames to push, in order, and what interpolation cost (when it was on)."""

    frames: list[Frame]
    #: In-between frames made by the flow, and slots that held the previous output instead.
    interpolated: int = 0
    held: int = 0
    #: How much later real frames show because in-betweens go first ((N-1)/N of an interval).
    inherent_wait_ms: float | None = None


def emit(last: Frame | None, frame: Frame, image: np.ndarray, between: list[np.ndarray], factor: int) -> Emission:
    """The output frames for ``frame`` processed into ``image`` (``between``: its in-betweens)."""
    if factor <= 1 or last is None or frame.pts <= last.pts:
        return Emission([replace(frame, image=image, gap_ns=0)])
    step = (frame.pts - last.pts) / factor
    gap_ns = int(float(step * frame.time_base) * 1e9)
    slots = between or [last.image] * (factor - 1)
    frames = [
        replace(frame, pts=last.pts + round(k * step), image=slot, gap_ns=gap_ns if k > 1 else 0)
        for k, slot in enumerate(slots, start=1)
    ]
    frames.append(replace(frame, image=image, gap_ns=gap_ns))
    wait_ms = float((frame.pts - last.pts) * frame.time_base) * 1e3 * (factor - 1) / factor
    return Emission(frames, len(between), len(slots) - len(between), wait_ms)
