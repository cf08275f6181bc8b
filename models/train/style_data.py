"""Frames for distilling styles: varied training inputs, and held-out frames no training step reads.

Held out (never opened by a training script): the scikit-image photos ``astronaut`` (a face),
``chelsea``, ``coffee`` and the stereo pair ``motorcycle_left``/``motorcycle_right``, and the
whole ``carphone`` clip (a face in a car: the webcam case). Training reads every other real
picture in scikit-image and all frames of the ``bikes`` and ``bigbuckbunny`` clips, plus
procedurally generated scenes (shapes, gradients, text, noise textures, face-like layouts
under uneven light), each through strong augmentation: scale, crop, rotation, flips, colour
and exposure jitter, blur, noise and JPEG artefacts.
"""

from __future__ import annotations

import cv2
import numpy as np

from .data import clip_frames, fit_short_side, package_dir, skimage_image

HELD_OUT_PHOTOS = ["astronaut", "chelsea", "coffee", "motorcycle_right"]
NEVER_READ = [*HELD_OUT_PHOTOS, "motorcycle_left"]  # the left view is a near-copy of the right
HELD_OUT_STYLE_CLIP = "carphone_pristine.mp4"
TRAIN_PHOTOS = [
    "rocket", "hubble_deep_field", "retina", "ihc", "camera", "brick", "grass", "gravel", "moon", "horse",
    "page", "text", "coins", "cell", "clock_motion", "color", "logo", "phantom", "chessboard_RGB",
]  # fmt: skip
TRAIN_STYLE_CLIPS = ["bikes.mp4", "bigbuckbunny.mp4"]


def _rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, -1)
    return img[..., :3]


def real_training_pictures() -> list[np.ndarray]:
    """Every real picture training may read, at most 720 px on the short side."""
    pics = [_rgb(skimage_image(name)) for name in TRAIN_PHOTOS]
    for clip in TRAIN_STYLE_CLIPS:
        pics += clip_frames(clip)[::2]
    faces = np.load(package_dir("skimage") / "data" / "lfw_subset.npy")  # 200 small grey faces
    pics += [
        _rgb((cv2.resize(f, (100, 100), interpolation=cv2.INTER_CUBIC) * 255).clip(0, 255).astype(np.uint8))
        for f in faces[::4]
    ]
    return [fit_short_side(p, 720) if min(p.shape[:2]) > 720 else p for p in pics]


def procedural_scene(rng: np.random.Generator, h: int = 360, w: int = 480) -> np.ndarray:
    """Gradients, shapes, text, textures and sometimes a face-like layout under uneven light."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    angle = rng.uniform(0, np.pi)
    t = ((xx * np.cos(angle) + yy * np.sin(angle)) / max(h, w)).clip(0, 1)[..., None]
    img = (c0 * (1 - t) + c1 * t).astype(np.float32)
    if rng.random() < 0.5:  # texture
        noise = cv2.resize(rng.normal(0, 1, (h // 8, w // 8)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        img += noise[..., None] * rng.uniform(5, 40) * rng.uniform(0.5, 1, 3)
    img = np.ascontiguousarray(img.clip(0, 255).astype(np.uint8))  # OpenCV draws text on 8-bit images only
    for _ in range(rng.integers(3, 12)):
        color = tuple(float(c) for c in rng.uniform(0, 255, 3))
        kind = rng.integers(0, 4)
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        if kind == 0:
            cv2.circle(img, (cx, cy), int(rng.integers(5, h // 3)), color, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(
                img, (cx, cy), (cx + int(rng.integers(10, w // 2)), cy + int(rng.integers(10, h // 2))), color, -1
            )
        elif kind == 2:
            pts = rng.integers(0, [w, h], (int(rng.integers(3, 7)), 2)).astype(np.int32)
            cv2.fillPoly(img, [pts], color, cv2.LINE_AA)
        else:
            cv2.line(img, (cx, cy), (int(rng.integers(0, w)), int(rng.integers(0, h))), color, int(rng.integers(1, 8)))
    if rng.random() < 0.5:
        text = "".join(rng.choice(list("ABCDEFGHKLMNOPRSTUVWXYZ0123456789 "), int(rng.integers(4, 14))))
        cv2.putText(img, text, (int(rng.integers(0, w // 2)), int(rng.integers(20, h))), cv2.FONT_HERSHEY_SIMPLEX,
                    rng.uniform(0.5, 2.5), tuple(float(c) for c in rng.uniform(0, 255, 3)), int(rng.integers(1, 5)),
                    cv2.LINE_AA)  # fmt: skip
    if rng.random() < 0.6:  # a face-like layout: skin-toned head, eyes, mouth, hair, shoulders
        cx, cy, r = w * rng.uniform(0.3, 0.7), h * rng.uniform(0.35, 0.6), h * rng.uniform(0.15, 0.3)
        skin = np.array([rng.uniform(120, 250), rng.uniform(80, 200), rng.uniform(60, 170)])
        cv2.ellipse(img, (int(cx), int(cy + 2.2 * r)), (int(2 * r), int(1.2 * r)), 0, 180, 360,
                    tuple(float(c) for c in rng.uniform(0, 255, 3)), -1, cv2.LINE_AA)  # fmt: skip
        cv2.ellipse(img, (int(cx), int(cy - 0.3 * r)), (int(r * 1.05), int(r * 1.2)), 0, 180, 360,
                    tuple(float(c) for c in rng.uniform(0, 90, 3)), -1, cv2.LINE_AA)  # fmt: skip
        cv2.ellipse(
            img, (int(cx), int(cy)), (int(r * 0.8), int(r)), 0, 0, 360, tuple(float(c) for c in skin), -1, cv2.LINE_AA
        )
        for side in (-1, 1):
            cv2.circle(
                img,
                (int(cx + side * 0.35 * r), int(cy - 0.15 * r)),
                max(2, int(0.1 * r)),
                (30, 30, 30),
                -1,
                cv2.LINE_AA,
            )
        cv2.ellipse(
            img, (int(cx), int(cy + 0.45 * r)), (int(0.3 * r), int(0.08 * r)), 0, 0, 360, (150, 50, 60), -1, cv2.LINE_AA
        )
    light = 1 + rng.uniform(-0.5, 0.5) * (xx / w - 0.5) + rng.uniform(-0.5, 0.5) * (yy / h - 0.5)
    return (img.astype(np.float32) * light[..., None]).clip(0, 255).astype(np.uint8)


def augment(img: np.ndarray, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A random view of ``img`` at ``size`` (w, h): scale, rotation, crop, flip, colour, blur, noise, JPEG."""
    w, h = size
    scale = max(w / img.shape[1], h / img.shape[0]) * rng.uniform(1.0, 2.5)
    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    if rng.random() < 0.3:
        center = (img.shape[1] / 2, img.shape[0] / 2)
        rot = cv2.getRotationMatrix2D(center, rng.uniform(-20, 20), 1.15)
        img = cv2.warpAffine(img, rot, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)
    y0, x0 = rng.integers(0, img.shape[0] - h + 1), rng.integers(0, img.shape[1] - w + 1)
    img = img[y0 : y0 + h, x0 : x0 + w].astype(np.float32)
    if rng.random() < 0.5:
        img = img[:, ::-1]
    gain = rng.uniform(0.6, 1.4) * rng.uniform(0.85, 1.15, 3)  # exposure and white balance
    img = (img - 128) * rng.uniform(0.7, 1.3) + 128  # contrast
    img = img * gain
    if rng.random() < 0.3:
        img = img.mean(-1, keepdims=True) * (1 - (s := rng.uniform(0.3, 1))) + img * s  # saturation
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < 0.4:
        img = img + rng.normal(0, rng.uniform(2, 10), img.shape)
    img = np.ascontiguousarray(img.clip(0, 255).astype(np.uint8))
    if rng.random() < 0.3:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return img


def training_views(count: int, size: tuple[int, int], seed: int = 0, procedural: float = 0.3) -> list[np.ndarray]:
    """``count`` augmented training frames at ``size`` (w, h): a ``procedural`` share of
    generated scenes, the rest views of the real pictures."""
    rng = np.random.default_rng(seed)
    pictures = real_training_pictures()
    views = []
    for _ in range(count):
        src = procedural_scene(rng) if rng.random() < procedural else pictures[rng.integers(len(pictures))]
        views.append(augment(src, rng, size))
    return views


def held_out_style_frames() -> list[tuple[str, np.ndarray]]:
    """(name, frame) pairs no training step reads: four photos and twelve carphone frames."""
    out = [(name, fit_short_side(_rgb(skimage_image(name)), 288)) for name in HELD_OUT_PHOTOS]
    frames = clip_frames(HELD_OUT_STYLE_CLIP)
    out += [(f"carphone#{i}", fit_short_side(frames[i], 240)) for i in range(0, len(frames), 10)]
    return out
