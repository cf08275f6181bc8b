"""Choosing the compute device and moving frames onto it and back."""

from __future__ import annotations

import numpy as np
import torch

from livefx.models.frames import image_to_tensor, resolve_device, tensor_to_image

__all__ = ["FrameConverter", "describe_device", "resolve_device"]


def describe_device(device: torch.device) -> str:
    """``"cpu"`` or e.g. ``"cuda:0 NVIDIA H100 80GB HBM3"``."""
    if device.type != "cuda":
        return device.type
    index = device.index or 0
    return f"cuda:{index} {torch.cuda.get_device_name(index)}"


class FrameConverter:
    """HxWx3 uint8 host images <-> 1x3xHxW float device tensors in [0, 1].

    The arithmetic (cast, scale, layout) happens on the device; on CUDA the upload goes
    through a reused pinned buffer so the copy is asynchronous.
    """

    def __init__(self, device: torch.device, dtype: torch.dtype, precision: str = "auto") -> None:
        self.device = device
        self.dtype = dtype
        #: The user's ``--precision``: it also rules inside a CPU runtime (see ``models.accel``).
        self.precision = precision
        self._pinned: torch.Tensor | None = None

    def to_tensor(self, image: np.ndarray) -> torch.Tensor:
        if self.device.type != "cuda":
            return image_to_tensor(image, self.device, self.dtype)
        if self._pinned is None or self._pinned.shape != image.shape:
            self._pinned = torch.empty(image.shape, dtype=torch.uint8, pin_memory=True)
        self._pinned.copy_(torch.from_numpy(np.ascontiguousarray(image)))
        return image_to_tensor(self._pinned, self.device, self.dtype)

    def to_image(self, x: torch.Tensor) -> np.ndarray:
        return tensor_to_image(x)
