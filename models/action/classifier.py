"""VideoMAE behind a one-tensor interface, so ``models.accel.accelerate`` applies to it."""

from __future__ import annotations

import torch
from torch import nn


class ClipClassifier(nn.Module):
    """Pixel values (1 x T x 3 x H x W, ``ClipPreprocessing``'s output) -> logits (1 x labels).

    VideoMAE runs at one clip shape only: its position embeddings are a fixed table of
    (T / tubelet) x (H / patch) x (W / patch) entries and its patch embedding checks H and W in
    Python. So it declares ``converts_at_fixed_shape``: a CPU runtime may convert it at its first
    call's shape, and a call at another shape fails (see ``models.accel``)."""

    converts_at_fixed_shape = True

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(pixel_values=x).logits
