"""Probe: the embedded IFNet's later blocks refining OpenCV DIS flow, untrained for it.

    python -m livefx.models.train.dis_refine_probe [--limit N]

Each later IFNet block takes the flow so far and returns a correction. Here the flow so far
is DIS's (both ways, taken to the middle as ``train_rife.dis_flow`` does) instead of the
earlier blocks' output, with an even mask. Scored on the half-rate held-out triplets
(``halfrate.half_rate_triplets``) next to the linear blend, DIS alone and the IFNet alone,
all in one run. It answers whether DIS-initialised refinement is worth training for; the
outcome is in models/train/NOTES.md.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from livefx.models.registry import DEFAULT_RIFE
from livefx.models.rife import load_ifnet
from livefx.models.rife.ifnet import IFNet, pad_to_multiple, warp
from livefx.models.train.common import to_image, to_tensor
from livefx.models.train.halfrate import half_rate_triplets
from livefx.models.train.metrics import psnr
from livefx.models.train.train_rife import Method, dis_flow, dis_time_flows, ifnet_method, linear_blend

CPU = torch.device("cpu")


def refine_dis(model: IFNet, first_block: int) -> Method:
    """DIS flow to the middle, then IFNet blocks ``first_block``.. (v4.6 layout only)."""
    if model.config.head:
        raise ValueError("the probe runs v4.6-layout models (no feature encoder)")
    multiple = model.config.pad_multiple

    def run(f0: np.ndarray, f1: np.ndarray, t: float) -> np.ndarray:
        x0, size = pad_to_multiple(to_tensor(f0, CPU), multiple)
        x1, _ = pad_to_multiple(to_tensor(f1, CPU), multiple)
        ft0, ft1 = dis_time_flows(f0, f1, t)
        flow = torch.from_numpy(np.concatenate([ft0, ft1], -1).transpose(2, 0, 1).copy())[None]
        flow, _ = pad_to_multiple(flow, multiple)
        n, _, h, w = x0.shape
        times, mask = torch.full((n, 1, h, w), t), torch.zeros(n, 1, h, w)
        w0, w1 = warp(x0, flow[:, :2]), warp(x1, flow[:, 2:4])
        for block, scale in list(zip(model.blocks, model.config.scales))[first_block:]:
            d_flow, d_mask, _ = block(torch.cat((w0, w1, times, mask), 1), flow, scale)
            flow, mask = flow + d_flow, mask + d_mask
            w0, w1 = warp(x0, flow[:, :2]), warp(x1, flow[:, 2:4])
        weight = torch.sigmoid(mask)
        return to_image((w0 * weight + w1 * (1 - weight))[..., : size[0], : size[1]].clamp(0, 1))

    return run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="score only the first N triplets")
    args = ap.parse_args(argv)
    model = load_ifnet(DEFAULT_RIFE).eval()
    methods: dict[str, Method] = {
        "linear blend": linear_blend,
        "OpenCV DIS flow, bidirectional warp": dis_flow,
        "livefx IFNet, full size": ifnet_method(model, CPU),
    }
    methods |= {f"DIS -> IFNet blocks {k}..{len(model.blocks) - 1}": refine_dis(model, k) for k in (1, 2, 3)}
    triplets = half_rate_triplets()[: args.limit]
    scores: dict[str, list[float]] = {name: [] for name in methods}
    with torch.inference_mode():
        for _, f0, truth, f1 in triplets:
            for name, method in methods.items():
                scores[name].append(psnr(to_tensor(method(f0, f1, 0.5), CPU), to_tensor(truth, CPU)))
    print(f"{len(triplets)} held-out half-rate triplets, mean PSNR (dB)")
    for name, values in scores.items():
        print(f"{np.mean(values):6.2f}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
