"""VideoMAE behind a one-tensor interface, in the runtime ``models.accel`` picks for it."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..accel import AccelReport, accelerate


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


def accelerate_classifier(
    net: nn.Module, device: torch.device, dtype: torch.dtype, backend: str = "auto", precision: str = "auto"
) -> tuple[Callable[[torch.Tensor], torch.Tensor], AccelReport]:
    """``net`` (a VideoMAEForVideoClassification) as a callable from pixel values to logits,
    and what runs it. On the CPU through ``accelerate``, in fp32 unless ``precision`` asks for
    bf16: OpenVINO bf16 changed a top-1 label on real clips (bench/results/action-precision-cpu.md).
    On CUDA eager, as before: accelerate's CUDA forms (channels_last, CUDA graphs) are for
    4-D pictures, and a clip is 5-D."""
    classifier = ClipClassifier(net)
    if device.type == "cpu":
        return accelerate(classifier, device, backend=backend, dtype=dtype, precision=precision, exact=True)
    classifier = classifier.to(device=device, dtype=dtype).eval()
    return classifier, AccelReport("eager", str(dtype).removeprefix("torch."), False, False)
