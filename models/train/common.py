"""Pieces every training script shares: device, schedule, image <-> tensor."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..frames import image_to_tensor, resolve_device, tensor_to_image


def training_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else the CPU; ``cpu``; ``cuda[:N]``."""
    return resolve_device(name)


def warmup_cosine(opt: torch.optim.Optimizer, steps: int, warmup: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup`` steps, then cosine decay to zero at ``steps``."""
    warmup = max(1, warmup)
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps)))
    )


def to_tensor(img: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """HxWx3 uint8 RGB -> 1x3xHxW float32 in [0, 1] on ``device``."""
    return image_to_tensor(img, device, torch.float32)


def to_image(x: torch.Tensor) -> np.ndarray:
    """1x3xHxW in [0, 1] -> HxWx3 uint8 RGB."""
    return tensor_to_image(x)
