"""Distil a fast-neural-style teacher into a StudentNet.

    python -m livefx.models.train.distill_style --teacher PATH/mosaic.pth --out models/weights/mosaic.safetensors

Teacher outputs are computed once per training frame (and its mirror image) and random
crops of (input, target) pairs train the student with an L1 + gradient loss. Fixed seed;
uses CUDA when present. Writes the student (BatchNorm folded) as safetensors with its
config and training record in the metadata, and a JSON report of held-out quality.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from ..student import STUDENT_FORMAT, StudentConfig, StudentNet, count_macs
from ..stylize import TransformerNet, load_transformer_net
from .common import to_tensor, training_device, warmup_cosine
from .data import held_out_frames, training_frames
from .metrics import gradient_l1, psnr, quantize, ssim


@torch.no_grad()
def teach(teacher: TransformerNet, img: np.ndarray, device: torch.device) -> torch.Tensor:
    return (teacher(to_tensor(img, device) * 255) / 255).clamp(0, 1)


@torch.no_grad()
def evaluate(student: StudentNet, teacher: TransformerNet, device: torch.device, frames: list | None = None) -> dict:
    """PSNR/SSIM of the student against the teacher, both quantized to 8 bits."""
    rows = []
    for name, img in frames if frames is not None else held_out_frames():
        target = quantize(teach(teacher, img, device))
        out = quantize(student(to_tensor(img, device)))
        rows.append({"frame": name, "psnr": psnr(out, target), "ssim": ssim(out, target)})
    p, s = [r["psnr"] for r in rows], [r["ssim"] for r in rows]
    return {
        "frames": len(rows),
        "psnr_mean": float(np.mean(p)),
        "psnr_worst": float(np.min(p)),
        "ssim_mean": float(np.mean(s)),
        "ssim_worst": float(np.min(s)),
        "per_frame": rows,
    }


class FeatureHint:
    """FitNets-style hint: the student's block output, through a 1x1 adapter (used only in
    training), regresses the teacher's features after its residual stack."""

    def __init__(self, teacher: TransformerNet, student: StudentNet, inputs: list[torch.Tensor]) -> None:
        with torch.no_grad():
            self.targets = [self._teacher_features(teacher, x[None])[0].half() for x in inputs]
        self.adapter = torch.nn.Conv2d(student.config.width, 128, 1).to(inputs[0].device)
        self._captured: torch.Tensor | None = None
        student.blocks.register_forward_hook(self._capture)

    def _capture(self, module, inputs, output) -> None:
        self._captured = output

    @staticmethod
    def _teacher_features(t: TransformerNet, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(t.in1(t.conv1(x * 255)))
        y = F.relu(t.in2(t.conv2(y)))
        y = F.relu(t.in3(t.conv3(y)))
        return t.res5(t.res4(t.res3(t.res2(t.res1(y)))))

    def loss(self, crops: list[tuple[int, int, int]], size: int) -> torch.Tensor:
        q = size // 4
        target = torch.stack(
            [self.targets[i][:, top // 4 : top // 4 + q, left // 4 : left // 4 + q] for i, top, left in crops]
        )
        target = target.float()
        return F.mse_loss(self.adapter(self._captured), target) / (target.var() + 1e-6)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", type=Path, required=True, help="teacher .pth (TransformerNet layout)")
    ap.add_argument("--out", type=Path, required=True, help="student .safetensors to write")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=160)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--max-frames", type=int, help="use only this many training frames (smoke tests)")
    ap.add_argument("--eval-frames", type=int, help="evaluate on only this many held-out frames (smoke tests)")
    ap.add_argument("--width", type=int, default=StudentConfig.width, help="student channels at 1/4 resolution")
    ap.add_argument("--blocks", type=int, default=StudentConfig.blocks)
    ap.add_argument("--norm", choices=["batch", "instance"], default=StudentConfig.norm)
    ap.add_argument(
        "--hint-weight",
        type=float,
        default=0.0,
        help="also match the teacher's quarter-resolution features through a 1x1 adapter (FitNets)",
    )
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    device = training_device(args.device)
    t_start = time.time()
    teacher = load_transformer_net(args.teacher).to(device)
    frames = training_frames()[: args.max_frames]
    frames += [np.ascontiguousarray(f[:, ::-1]) for f in frames]  # mirrors (the teacher is not flip-equivariant)
    pairs = [(to_tensor(f, device)[0], teach(teacher, f, device)[0]) for f in frames]
    print(f"{len(pairs)} training frames taught in {time.time() - t_start:.0f} s", flush=True)

    student = StudentNet(StudentConfig(args.width, args.blocks, args.norm)).to(device).train()
    params = list(student.parameters())
    hint = None
    if args.hint_weight:
        hint = FeatureHint(teacher, student, [x for x, _ in pairs])
        params += list(hint.adapter.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    sched = warmup_cosine(opt, args.steps, args.steps // 20)
    c = args.crop
    for step in range(1, args.steps + 1):
        xs, ys, crops = [], [], []
        for i in rng.integers(0, len(pairs), args.batch):
            x, y = pairs[i]
            # Crops on a 4-pixel grid, so they line up with the quarter-resolution features.
            top = 4 * int(rng.integers(0, (x.shape[1] - c) // 4 + 1))
            left = 4 * int(rng.integers(0, (x.shape[2] - c) // 4 + 1))
            xs.append(x[:, top : top + c, left : left + c])
            ys.append(y[:, top : top + c, left : left + c])
            crops.append((int(i), top, left))
        x, y = torch.stack(xs), torch.stack(ys)
        out = student(x)
        loss = F.l1_loss(out, y) + 0.5 * gradient_l1(out, y)
        if hint is not None:
            loss = loss + args.hint_weight * hint.loss(crops, c)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 200 == 0 or step == args.steps:
            print(f"step {step}/{args.steps} loss {loss.item():.4f} ({time.time() - t_start:.0f} s)", flush=True)

    student = student.cpu().fuse()
    teacher = teacher.cpu()
    report = evaluate(student, teacher, torch.device("cpu"), held_out_frames()[: args.eval_frames])
    train_s = time.time() - t_start
    record = {
        "teacher": args.teacher.name,
        "seed": args.seed,
        "steps": args.steps,
        "batch": args.batch,
        "crop": args.crop,
        "lr": args.lr,
        "student_config": student.config.to_metadata(),
        "hint_weight": args.hint_weight,
        "train_frames": len(pairs),
        "train_seconds": round(train_s),
        "device": str(device),
        "params": sum(p.numel() for p in student.parameters()),
        "macs_640x480": count_macs(student, 480, 640),
        "teacher_macs_640x480": count_macs(TransformerNet(), 480, 640),
        **{k: v for k, v in report.items() if k != "per_frame"},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": STUDENT_FORMAT, **student.config.to_metadata(), "record": json.dumps(record)}
    save_file({k: v.contiguous() for k, v in student.state_dict().items()}, str(args.out), metadata=meta)
    args.out.with_suffix(".json").write_text(json.dumps({**record, "per_frame": report["per_frame"]}, indent=2))
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
