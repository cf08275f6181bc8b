"""Choosing the compute device and moving frames onto it and back."""

from __future__ import annotations

import numpy as np
import torch

from stream.errors import UsageError


def resolve_device(spec: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(
                f"--device {spec}: no CUDA device is available to this torch"
                f" ({torch.__version__}); use --device cpu or auto"
            )
        return torch.device(spec if ":" in spec else "cuda:0")
    raise UsageError(f"--device {spec}: unknown device; use auto, cpu or cuda[:N]")


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

    def __init__(self, device: torch.device, dtype: torch.dtype) -> None:
        self.device = device
        self.dtype = dtype
        self._pinned: torch.Tensor | None = None

    def to_tensor(self, image: np.ndarray) -> torch.Tensor:
        host = torch.from_numpy(np.ascontiguousarray(image))
        if self.device.type == "cuda":
            if self._pinned is None or self._pinned.shape != host.shape:
                self._pinned = torch.empty(host.shape, dtype=torch.uint8, pin_memory=True)
            self._pinned.copy_(host)
            host = self._pinned
        x = host.to(self.device, non_blocking=True)
        return x.permute(2, 0, 1).unsqueeze(0).to(self.dtype).div_(255.0)

    def to_image(self, x: torch.Tensor) -> np.ndarray:
        y = x.squeeze(0).clamp(0.0, 1.0).mul(255.0).round_().to(torch.uint8)
        return y.permute(1, 2, 0).contiguous().cpu().numpy()
