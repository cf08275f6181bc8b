"""The similarity filter (``DiffusionOptions.skip_similar``): a frame nearly equal to the last
processed one is answered with the last output, at most ``MAX_SKIPPED_IN_ROW`` times in a row."""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: The similarity filter never repeats an output more than this many frames in a row.
MAX_SKIPPED_IN_ROW = 10
#: Side of the thumbnail the similarity filter compares frames on.
SIMILARITY_SIDE = 32


class SimilarFrames:
    """Decides per frame whether the last output can stand for it, and counts the frames it
    answered so. ``threshold`` None: off (no frame is ever repeated)."""

    def __init__(self, threshold: float | None) -> None:
        self.threshold = threshold
        self._last_input: torch.Tensor | None = None
        self._last_output: torch.Tensor | None = None
        self._skipped_in_row = 0
        #: Frames answered with the previous output.
        self.skipped = 0

    def repeat(self, x: torch.Tensor) -> torch.Tensor | None:
        """The last output when it may stand for ``x`` (counted), else None: then ``x`` must
        be run and its output handed to ``keep``."""
        if self.threshold is not None and self._similar(x):
            self.skipped += 1
            self._skipped_in_row += 1
            return self._last_output
        self._skipped_in_row = 0
        return None

    def keep(self, y: torch.Tensor) -> None:
        """Remember the output of a frame that was run (only while the filter is on)."""
        if self.threshold is not None:
            self._last_output = y

    def reset(self) -> None:
        """Forget the last frame and output (a new prompt, size or stream)."""
        self._last_input = self._last_output = None
        self._skipped_in_row = 0

    def _similar(self, x: torch.Tensor) -> bool:
        thumb = F.adaptive_avg_pool2d(x.float(), SIMILARITY_SIDE).flatten()
        last, self._last_input = self._last_input, thumb
        if last is None or self._last_output is None or last.shape != thumb.shape:
            return False
        if self._last_output.shape[-2:] != x.shape[-2:] or self._skipped_in_row >= MAX_SKIPPED_IN_ROW:
            return False
        if F.cosine_similarity(thumb - 0.5, last - 0.5, dim=0) >= self.threshold:
            self._last_input = last  # compare with the frame the output was made from: no drift
            return True
        return False
