"""Image quality metrics shared by the training scripts (tensors N x 3 x H x W in [0, 1])."""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = F.mse_loss(a, b).item()
    return 99.0 if mse == 0 else 10 * math.log10(1 / mse)


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM over channels with an 11x11 Gaussian window (Wang et al. 2004)."""
    g = torch.exp(-((torch.arange(11, dtype=a.dtype, device=a.device) - 5) ** 2) / (2 * 1.5**2))
    w = (g[:, None] * g[None, :]) / g.sum() ** 2
    w = w.expand(3, 1, 11, 11)

    def blur(x):
        return F.conv2d(x, w, groups=3)

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.mean().item()


def quantize(x: torch.Tensor) -> torch.Tensor:
    """What the pipeline delivers: 8-bit values."""
    return x.clamp(0, 1).mul(255).round().div(255)


def gradient_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
    return F.l1_loss(dx(a), dx(b)) + F.l1_loss(dy(a), dy(b))


#: ``warping_error`` judges: the flow it measures the input's motion with.
FLICKER_JUDGES = ("dis-medium", "farneback")


def warping_error(outputs: list[np.ndarray], inputs: list[np.ndarray], judge: str = "dis-medium") -> float:
    """Temporal flicker: the mean absolute difference (0-1 scale) between each output frame
    and the previous output warped onto it, where the motion is measured on the *input*
    frames by ``judge`` (OpenCV DIS medium, or Farneback: a judge independent of livefx's
    DIS motion on a CPU) and pixels that fail a forward-backward check (occlusions) are left
    out (Lai et al., ECCV 2018). Lower is steadier."""
    if len(outputs) != len(inputs) or len(outputs) < 2:
        raise ValueError("need at least two output frames, one per input frame")
    if judge not in FLICKER_JUDGES:
        raise ValueError(f"judge {judge!r}: expected one of {', '.join(FLICKER_JUDGES)}")
    flow = FarnebackFlow() if judge == "farneback" else cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    h, w = inputs[0].shape[:2]
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), -1)
    errors = []
    for k in range(1, len(outputs)):
        g_prev, g_cur = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (inputs[k - 1], inputs[k]))
        back = flow.calc(g_cur, g_prev, None)  # current pixel -> where it was in the previous frame
        fwd = flow.calc(g_prev, g_cur, None)
        m = grid + back
        fwd_at = cv2.remap(fwd, m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mismatch = np.sum((back + fwd_at) ** 2, -1)
        valid = mismatch < 0.01 * (np.sum(back**2, -1) + np.sum(fwd_at**2, -1)) + 0.5
        valid &= (m[..., 0] >= 0) & (m[..., 0] <= w - 1) & (m[..., 1] >= 0) & (m[..., 1] <= h - 1)
        warped = cv2.remap(outputs[k - 1], m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        diff = np.abs(outputs[k].astype(np.float32) - warped.astype(np.float32)).mean(-1) / 255
        errors.append(float(diff[valid].mean()) if valid.any() else 0.0)
    return float(np.mean(errors))


class FarnebackFlow:
    """OpenCV's Farneback dense flow behind DIS's ``calc`` call (a second, unrelated method)."""

    def calc(self, prev: np.ndarray, cur: np.ndarray, _: None) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(prev, cur, None, 0.5, 4, 15, 3, 5, 1.2, 0)


def colour_grade_floor(inp: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The best per-frame quadratic colour grade of ``inp`` towards ``target``: least squares
    from [r, g, b, r², g², b², rg, gb, rb, 1] of each input pixel to the target pixel.
    What a student that learned "the colours only" could at best produce (1x3xHxW in [0, 1])."""
    r, g, b = inp[0].reshape(3, -1).double()
    feats = torch.stack([r, g, b, r * r, g * g, b * b, r * g, g * b, r * b, torch.ones_like(r)], 1)
    coef = torch.linalg.lstsq(feats, target[0].reshape(3, -1).double().t()).solution
    return (feats @ coef).t().reshape_as(target).float().clamp(0, 1)


def box_blur3(x: torch.Tensor) -> torch.Tensor:
    """3x3 box blur with replicated borders: an imperceptible change of the input."""
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


def style_score(student_psnr: float, floor_psnr: float, ceiling_psnr: float) -> float:
    """(student - floor) / (ceiling - floor) of mean PSNRs: 0 = the colours only, 1 = as close to
    the teacher as the teacher is to itself under a 3x3 blur of its input."""
    return (student_psnr - floor_psnr) / (ceiling_psnr - floor_psnr)


def style_report(frames, teacher, student) -> dict:
    """Score, PSNR and SSIM (mean and worst) of ``student`` against ``teacher`` over ``frames``
    ((name, HxWx3 uint8) pairs), with the floor and ceiling each frame gives. ``teacher`` and
    ``student`` map 1x3xHxW [0, 1] tensors to [0, 1] outputs; every output is 8-bit quantized."""
    rows = []
    with torch.no_grad():
        for name, img in frames:
            x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div(255)[None]
            target = quantize(teacher(x))
            out = quantize(student(x))
            floor = quantize(colour_grade_floor(x, target))
            ceiling = quantize(teacher(box_blur3(x)))
            rows.append(
                {
                    "frame": name,
                    "psnr": psnr(out, target),
                    "ssim": ssim(out, target),
                    "floor_psnr": psnr(floor, target),
                    "ceiling_psnr": psnr(ceiling, target),
                }
            )
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim", "floor_psnr", "ceiling_psnr")}
    return {
        "frames": len(rows),
        "score": style_score(mean["psnr"], mean["floor_psnr"], mean["ceiling_psnr"]),
        "psnr_mean": mean["psnr"],
        "psnr_worst": float(min(r["psnr"] for r in rows)),
        "ssim_mean": mean["ssim"],
        "ssim_worst": float(min(r["ssim"] for r in rows)),
        "floor_psnr": mean["floor_psnr"],
        "ceiling_psnr": mean["ceiling_psnr"],
        "per_frame": rows,
    }
