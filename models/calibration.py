"""Calibration frames for int8 models, made without a camera or a data set.

Post-training quantization measures each activation's range on sample inputs. At warm-up no
camera frame exists yet, and random noise is a poor stand-in (it calibrated the issue's first
try to a 0.3-0.4 max abs error), so this module draws scenes with what real video has: smooth
lighting and gradients, flat and textured surfaces, hard edges, skin tones, text, sensor noise,
dim and bright exposures. The scenes are deterministic (a fixed seed), so a calibrated model
is the same on every start and can be cached by the set's ``VERSION``.

Only numpy and OpenCV: nothing from the training tools runs at run time.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

#: Bumped whenever the scenes change, so that cached int8 models are calibrated again.
VERSION = "1"

_SKIN = np.array([[224, 172, 140], [198, 134, 98], [141, 85, 58], [92, 58, 40], [240, 200, 170]], np.float32)
_WORDS = ("livefx", "Meeting 10:30", "HELLO", "bookshelf", "Exit", "42", "Kitchen", "aA bB cC")


def calibration_images(width: int, height: int, count: int = 24, seed: int = 0) -> list[np.ndarray]:
    """``count`` HxWx3 uint8 RGB scenes of ``width`` x ``height``, the same for the same arguments."""
    rng = np.random.default_rng(seed)
    return [_scene(rng, width, height) for _ in range(count)]


def calibration_tensors(
    width: int, height: int, count: int = 24, scale: float = 1.0, seed: int = 0
) -> list[torch.Tensor]:
    """The scenes as 1x3xHxW float tensors in [0, ``scale``] (a network's input range)."""
    return [
        torch.from_numpy(image).permute(2, 0, 1)[None].float().mul_(scale / 255.0)
        for image in calibration_images(width, height, count, seed)
    ]


def _scene(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    image = _background(rng, width, height)
    for _ in range(int(rng.integers(3, 9))):
        _shape(rng, image)
    if rng.random() < 0.7:
        _face(rng, image)
    for _ in range(int(rng.integers(0, 3))):
        _text(rng, image)
    if rng.random() < 0.3:  # out of focus, as a webcam's background often is
        k = 2 * int(rng.integers(1, 4)) + 1
        image = cv2.GaussianBlur(image, (k, k), 0)
    exposure = float(rng.choice([0.35, 0.6, 1.0, 1.0, 1.2]))  # a dim room to a bright window
    noise = rng.normal(0.0, float(rng.uniform(1.0, 6.0)), image.shape).astype(np.float32)  # sensor noise
    return np.clip(image * exposure + noise, 0, 255).astype(np.uint8)


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A two-colour gradient (linear or radial) under low-frequency lighting."""
    a, b = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    if rng.random() < 0.5:
        angle = rng.uniform(0, np.pi)
        t = xs * np.cos(angle) / width + ys * np.sin(angle) / height
    else:
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        t = np.hypot(xs - cx, ys - cy) / np.hypot(width, height)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    image = a + (b - a) * t[..., None]
    return image * _smooth_noise(rng, width, height, cells=int(rng.integers(2, 6)), depth=0.35)[..., None]


def _smooth_noise(rng: np.random.Generator, width: int, height: int, cells: int, depth: float) -> np.ndarray:
    """A multiplicative field around 1: coarse random cells, smoothly interpolated."""
    coarse = rng.uniform(1 - depth, 1 + depth, (cells + 1, cells + 1)).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Fine texture (fabric, wood, foliage): noise at one or two scales, mean 0."""
    texture = np.zeros((height, width), np.float32)
    for cells in rng.choice([8, 24, 64, 160], size=2, replace=False):
        small = rng.normal(0, 1, (max(2, height * cells // max(width, 1)), cells)).astype(np.float32)
        texture += cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:  # stripes or grain in one direction
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        texture += np.sin((xs * rng.uniform(-1, 1) + ys * rng.uniform(-1, 1)) * rng.uniform(0.05, 0.6)) * 1.5
    return texture * float(rng.uniform(6, 30))


def _shape(rng: np.random.Generator, image: np.ndarray) -> None:
    """A filled rectangle, ellipse, polygon or thick line, flat or textured, drawn in place."""
    height, width = image.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
    size = int(rng.integers(max(4, min(width, height) // 20), max(5, min(width, height) // 2)))
    kind = rng.integers(0, 4)
    if kind == 0:
        cv2.rectangle(mask, (centre[0] - size, centre[1] - size // 2), (centre[0] + size, centre[1] + size), 255, -1)
    elif kind == 1:
        axes = (size, int(size * rng.uniform(0.3, 1.0)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    elif kind == 2:
        points = rng.integers(-size, size, (int(rng.integers(3, 7)), 2)) + np.array(centre)
        cv2.fillPoly(mask, [points.astype(np.int32)], 255)
    else:
        end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.line(mask, centre, end, 255, int(rng.integers(1, max(2, size // 4))))
    colour = rng.uniform(0, 255, 3).astype(np.float32)
    fill = np.broadcast_to(colour, image.shape).copy()
    if rng.random() < 0.6:
        fill += _texture(rng, height, width)[..., None]
    inside = mask > 0
    image[inside] = fill[inside]


def _face(rng: np.random.Generator, image: np.ndarray) -> None:
    """A head and shoulders in a skin tone with dark hair and features: the video-call subject."""
    height, width = image.shape[:2]
    skin = _SKIN[rng.integers(0, len(_SKIN))] * rng.uniform(0.85, 1.1)
    cx, cy = int(width * rng.uniform(0.3, 0.7)), int(height * rng.uniform(0.3, 0.6))
    r = int(min(width, height) * rng.uniform(0.12, 0.3))
    shirt = tuple(float(c) for c in rng.uniform(0, 255, 3))
    cv2.ellipse(image, (cx, cy + 2 * r), (int(r * 1.8), r), 0, 180, 360, shirt, -1)
    hair = tuple(float(c) for c in rng.uniform(10, 90, 3))
    cv2.ellipse(image, (cx, cy - r // 5), (int(r * 0.85), int(r * 1.1)), 0, 0, 360, hair, -1)
    cv2.ellipse(image, (cx, cy), (int(r * 0.75), r), 0, 0, 360, tuple(float(c) for c in skin), -1)
    dark = tuple(float(c) for c in skin * 0.35)
    for side in (-1, 1):
        cv2.circle(image, (cx + side * r // 3, cy - r // 6), max(1, r // 10), dark, -1)
    cv2.ellipse(image, (cx, cy + r // 2), (max(1, r // 4), max(1, r // 12)), 0, 0, 180, dark, max(1, r // 20))
    shade = np.ones(image.shape[:2], np.float32)
    cv2.ellipse(shade, (cx + r // 2, cy), (r // 2 + 1, r), 0, 0, 360, 0.8, -1)  # light from one side
    image *= cv2.GaussianBlur(shade, (0, 0), max(1.0, r / 6))[..., None]


def _text(rng: np.random.Generator, image: np.ndarray) -> None:
    height, width = image.shape[:2]
    word = str(rng.choice(_WORDS))
    scale = float(rng.uniform(0.4, 2.0)) * min(width, height) / 480
    colour = tuple(float(c) for c in rng.choice([[0, 0, 0], [255, 255, 255], rng.uniform(0, 255, 3)]))
    origin = (int(rng.integers(0, max(1, width * 3 // 4))), int(rng.integers(height // 8, height)))
    mask = np.zeros((height, width), np.uint8)  # putText draws on 8-bit images only
    cv2.putText(mask, word, origin, cv2.FONT_HERSHEY_SIMPLEX, max(scale, 0.3), 255, max(1, int(scale * 2)), cv2.LINE_AA)
    alpha = mask[..., None].astype(np.float32) / 255
    image *= 1 - alpha
    image += alpha * np.array(colour, np.float32)
