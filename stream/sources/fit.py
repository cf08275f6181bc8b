"""Fitting frames to a requested ``--size`` without distorting them (``--fit``)."""

from __future__ import annotations

import cv2
import numpy as np

FITS = ("pad", "crop", "stretch")


def fit_image(image: np.ndarray, size: tuple[int, int], fit: str = "pad") -> np.ndarray:
    """``image`` (HxWx3) as ``size`` (width, height): ``pad`` scales it to fit inside and
    letterboxes with black, ``crop`` scales it to cover and cuts the centre, ``stretch``
    ignores the aspect ratio."""
    width, height = size
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    if fit == "stretch":
        return _resize(image, width, height)
    scale = min(width / w, height / h) if fit == "pad" else max(width / w, height / h)
    if fit not in FITS:
        raise ValueError(f"fit {fit!r}: use one of {', '.join(FITS)}")
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    scaled = _resize(image, sw, sh)
    if fit == "crop":
        x, y = (sw - width) // 2, (sh - height) // 2
        return np.ascontiguousarray(scaled[y : y + height, x : x + width])
    out = np.zeros((height, width, 3), image.dtype)
    x, y = (width - sw) // 2, (height - sh) // 2
    out[y : y + sh, x : x + sw] = scaled
    return out


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    shrinking = width * height < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
