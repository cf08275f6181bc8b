"""A VideoMAE processor's preprocessing, as torch ops on the model's device.

Mirrors ``VideoMAEImageProcessor``: resize (shortest edge, bilinear) -> centre crop ->
rescale to [0, 1] -> normalise with the checkpoint's mean/std. Reading its settings from
``preprocessor_config.json`` keeps a downloaded checkpoint's expectations exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

#: transformers' VideoMAEImageProcessor defaults (IMAGENET_STANDARD_MEAN/STD).
DEFAULT_MEAN = (0.5, 0.5, 0.5)
DEFAULT_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class ClipPreprocessing:
    shortest_edge: int = 224
    crop: tuple[int, int] = (224, 224)  # height, width
    mean: tuple[float, float, float] = DEFAULT_MEAN
    std: tuple[float, float, float] = DEFAULT_STD

    @classmethod
    def from_folder(cls, folder: Path, image_size: int) -> ClipPreprocessing:
        """From the folder's ``preprocessor_config.json``; the processor defaults at the
        model's ``image_size`` when there is none."""
        path = folder / "preprocessor_config.json"
        if not path.is_file():
            return cls(image_size, (image_size, image_size))
        cfg = json.loads(path.read_text())
        size = cfg.get("size") or {}
        crop = cfg.get("crop_size") or {}
        edge = size.get("shortest_edge") or size.get("height") or image_size
        return cls(
            shortest_edge=int(edge),
            crop=(int(crop.get("height", image_size)), int(crop.get("width", image_size))),
            mean=tuple(cfg.get("image_mean", DEFAULT_MEAN)),
            std=tuple(cfg.get("image_std", DEFAULT_STD)),
        )

    def __call__(self, frames: list[np.ndarray], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """HxWx3 uint8 RGB frames -> 1 x T x 3 x crop_h x crop_w pixel values."""
        x = torch.from_numpy(np.stack(frames)).to(device).permute(0, 3, 1, 2).to(dtype).div_(255)
        h, w = x.shape[-2:]
        scale = self.shortest_edge / min(h, w)
        size = (max(self.crop[0], round(h * scale)), max(self.crop[1], round(w * scale)))
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        top, left = (size[0] - self.crop[0]) // 2, (size[1] - self.crop[1]) // 2
        x = x[..., top : top + self.crop[0], left : left + self.crop[1]]
        mean = torch.tensor(self.mean, device=device, dtype=dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=device, dtype=dtype).view(1, 3, 1, 1)
        return ((x - mean) / std).unsqueeze(0)
