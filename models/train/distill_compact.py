"""Distil a fast-neural-style teacher into a CompactStyleNet (``models/compact.py``).

    python -m livefx.models.train.distill_compact --teacher ../shared/weights/fast-neural-style/udnie.pth \\
        --out models/weights/styles/udnie.safetensors

The middle starts as the teacher's own layers, Tucker-factorised; the half-resolution
encoder and decoder start untrained. Teacher targets (in2 features, in4 features, RGB)
are computed once per augmented training view (``style_data.training_views``). First
(``--forced``) each part learns its own map from the teacher's true inputs (encoder: RGB ->
in2, each factorised middle block: the teacher block's input -> its output, decoder: in4 ->
RGB; slim ends meet the teacher at the residual stack's input and output instead of in2 and
in4), local regressions that converge fast; then the chain trains end to end on the RGB
error plus hints on both feature points. Fixed seed; CUDA when present. Writes the student as
safetensors (config and training record in the metadata) and a JSON report with
the held-out score (``metrics.style_report``: floor = quadratic colour grade, ceiling =
teacher on a 3x3-blurred input).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from ..compact import (
    COMPACT_FORMAT,
    ENDS,
    CompactConfig,
    CompactStyleNet,
    load_compact,
    read_compact_record,
    teacher_activations,
    teacher_block_statistics,
    teacher_in3_statistics,
)
from ..student import count_macs
from ..stylize import load_transformer_net
from .common import training_device, warmup_cosine
from .metrics import style_report
from .style_data import held_out_style_frames, training_views

#: Training views the fixed block norms' statistics are measured on.
STATISTICS_VIEWS = 64


def to_batch(views: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(views)).permute(0, 3, 1, 2).float().div(255)


@torch.no_grad()
def teacher_targets(teacher, views: list[np.ndarray], device: torch.device, chunk: int = 4) -> list[torch.Tensor]:
    """[inputs, *teacher_activations] for every view, stored in fp16 on the CPU (filled in
    place: no second copy, ~9 MB a 256x192 view)."""
    stores: list[torch.Tensor] = []
    for i in range(0, len(views), chunk):
        x = to_batch(views[i : i + chunk]).to(device)
        acts = [x, *teacher_activations(teacher, x)]
        stores = stores or [torch.empty((len(views), *t.shape[1:]), dtype=torch.float16) for t in acts]
        for store, t in zip(stores, acts):
            store[i : i + len(t)] = t.half().cpu()
    return stores


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", type=Path, required=True, help="a fast-neural-style .pth")
    ap.add_argument("--out", type=Path, required=True, help="where to write the student .safetensors")
    ap.add_argument("--rank", type=int, default=24, help="Tucker rank of the middle's 128-channel convs")
    ap.add_argument("--width", type=int, default=32, help="channels of the encoder and decoder")
    ap.add_argument(
        "--ends", choices=ENDS, default="full",
        help="encoder/decoder form: full (5x5/3x3 into the teacher's 64 channels), light or slim (VGA-sized)",
    )  # fmt: skip
    ap.add_argument(
        "--block-norms", choices=("instance", "fixed"), default="instance",
        help="the residual blocks' norms: the teacher's instance norms, or fixed at its statistics (faster)",
    )  # fmt: skip
    ap.add_argument(
        "--end-norms", choices=("instance", "fixed"), default="instance",
        help="slim ends: the encoder's, stride-2 conv's and decoder's norms per picture, or fixed (faster)",
    )  # fmt: skip
    ap.add_argument(
        "--padding", choices=("reflect", "zeros"), default="reflect",
        help="how every conv pads: reflect (the teacher's) or zeros (folded into the conv by graph runtimes)",
    )  # fmt: skip
    ap.add_argument("--views", type=int, default=800, help="augmented training views (teacher run once each)")
    ap.add_argument("--size", default="256x192", help="training view size WxH")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=2e-3, help="learning rate of the new ends")
    ap.add_argument("--middle-lr", type=float, default=0.5, help="the factorised middle's learning rate, relative")
    ap.add_argument("--hint", type=float, default=0.02, help="weight of the feature hints")
    ap.add_argument(
        "--forced", type=float, default=0.5,
        help="share of the steps where encoder, middle and decoder each train on the teacher's own inputs",
    )  # fmt: skip
    ap.add_argument(
        "--init", type=Path, default=None,
        help=(
            "continue from a student this script wrote (same --rank/--width/--ends/--block-norms; instance end"
            " norms are fixed at its own statistics for --end-norms fixed, padding may change); use --forced 0"
        ),
    )  # fmt: skip
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--eval-every", type=int, default=500)
    return ap.parse_args(argv)


def stored_targets(teacher, args: argparse.Namespace, device: torch.device) -> list[torch.Tensor]:
    """``teacher_targets`` of the augmented training views, views the fp16 store overflowed on left out."""
    size = tuple(int(v) for v in args.size.split("x"))
    t0 = time.time()
    views = training_views(args.views, size, seed=args.seed)
    stored = teacher_targets(teacher, views, device)
    finite = torch.stack([t.flatten(1).isfinite().all(1) for t in stored]).all(0)
    if not finite.all():  # fp16 overflow on a degenerate view: drop it
        stored = [t[finite] for t in stored]
    print(f"{len(views)} views and teacher targets in {time.time() - t0:.0f} s", flush=True)
    return stored


def continued_student(path: Path, config: CompactConfig, views: torch.Tensor) -> CompactStyleNet:
    """The student at ``path`` in ``config``'s form: its own, or with its instance end norms fixed
    at their statistics over ``views`` and/or its padding changed (the weights carry over)."""
    start = load_compact(path)
    if start.config.end_norms != config.end_norms:
        if config.end_norms != "fixed":
            raise SystemExit(f"{path}: its end norms are fixed; they cannot become instance norms again")
        start = start.fix_end_norms(views)
    if replace(start.config, padding=config.padding) != config:
        raise SystemExit(f"{path}: a {start.config} student, not {config}")
    student = CompactStyleNet(config)
    student.load_state_dict(start.state_dict())
    return student


def rgb_loss(out: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(out, rgb) + 0.1 * F.l1_loss(out, rgb)


def step_loss(student: CompactStyleNet, batch: list[torch.Tensor], forced: bool, hint: float) -> torch.Tensor:
    """The loss of one batch ([inputs, *teacher activations]): ``forced``, each part's own map
    from the teacher's true inputs; else the chain end to end, with hints on both feature points
    (``student.hint_points``)."""
    x, *acts = batch
    first, last = student.hint_points
    rgb = acts[-1]
    if forced:  # each part learns its own map from the teacher's true inputs
        loss = rgb_loss(student.decode(acts[last]), rgb) + F.mse_loss(student.encode(x), acts[first])
        for block, before, after in zip(student.middle_blocks(), acts[first:last], acts[first + 1 : last + 1]):
            loss = loss + F.mse_loss(block(before), after)
    else:  # end to end, each part now seeing the others' outputs
        s_first, s_last, out = student.features(x)
        loss = rgb_loss(out, rgb) + hint * (F.mse_loss(s_first, acts[first]) + F.mse_loss(s_last, acts[last]))
    return loss


def train(
    student: CompactStyleNet,
    stored: list[torch.Tensor],
    args: argparse.Namespace,
    device: torch.device,
    evaluate: Callable[[], dict],
) -> tuple[list[dict], int, float]:
    """(held-out history, skipped batches, seconds) of ``args.steps`` steps on random batches of ``stored``."""
    fresh = set(student.fresh_parameter_names())
    new_ends = [p for n, p in student.named_parameters() if n in fresh]
    middle = [p for n, p in student.named_parameters() if n not in fresh]
    opt = torch.optim.Adam([{"params": new_ends, "lr": args.lr}, {"params": middle, "lr": args.lr * args.middle_lr}])
    sched = warmup_cosine(opt, args.steps, args.steps // 20)
    gen = torch.Generator().manual_seed(args.seed)
    t0, history, skipped = time.time(), [], 0
    forced_steps = round(args.steps * args.forced)
    for step in range(1, args.steps + 1):
        idx = torch.randint(len(stored[0]), (args.batch,), generator=gen)
        loss = step_loss(student, [t[idx].to(device).float() for t in stored], step <= forced_steps, args.hint)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        # Near-flat views make instance norms divide by tiny deviations: clip rare spikes.
        grad_norm = torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        if torch.isfinite(grad_norm):
            opt.step()
        else:  # a degenerate batch: skip it rather than poison the weights
            skipped += 1
        sched.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.5f} skipped {skipped} ({time.time() - t0:.0f} s)", flush=True)
        if step % args.eval_every == 0 or step == args.steps:
            rep = evaluate()
            history.append({"step": step, "score": rep["score"], "psnr_mean": rep["psnr_mean"]})
            print(f"step {step}: held-out score {rep['score']:.3f} psnr {rep['psnr_mean']:.2f} dB", flush=True)
    return history, skipped, time.time() - t0


def write_student(
    student: CompactStyleNet, config: CompactConfig, args: argparse.Namespace, report: dict, training: dict
) -> None:
    """The student's safetensors (config and training record in the metadata) and its JSON report."""
    record = {
        "teacher": args.teacher.name,
        "architecture": "CompactStyleNet",
        "config": asdict(config),
        "steps": args.steps,
        "batch": args.batch,
        "views": args.views,
        "view_size": args.size,
        "lr": args.lr,
        "middle_lr": args.middle_lr,
        "hint": args.hint,
        "forced_share": args.forced,
        "seed": args.seed,
        **({"continued_from": read_compact_record(args.init)} if args.init is not None else {}),
        "skipped_batches": training["skipped"],
        "train_seconds": round(training["seconds"]),
        "device": training["device"],
        "params": sum(p.numel() for p in student.parameters()),
        "gmacs_640x480": round(count_macs(student, 480, 640) / 1e9, 3),
        "held_out": {k: v for k, v in report.items() if k != "per_frame"},
        "history": training["history"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": COMPACT_FORMAT, **config.to_metadata(), "record": json.dumps(record)}
    save_file({k: v.contiguous() for k, v in student.state_dict().items()}, str(args.out), metadata=meta)
    args.out.with_suffix(".json").write_text(json.dumps({**record, "per_frame": report["per_frame"]}, indent=1))
    print(json.dumps(record["held_out"], indent=1))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    device = training_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(max(1, torch.get_num_threads()))
    teacher = load_transformer_net(args.teacher).to(device)
    config = CompactConfig(
        rank=args.rank,
        width=args.width,
        ends=args.ends,
        block_norms=args.block_norms,
        end_norms=args.end_norms,
        padding=args.padding,
    )
    stored = stored_targets(teacher, args, device)
    statistics_views = stored[0][:STATISTICS_VIEWS].float()  # on the CPU, where the store is
    if args.init is not None:
        student = continued_student(args.init, config, statistics_views)
    else:
        views = statistics_views.to(device)
        block_stats = teacher_block_statistics(teacher, views) if config.block_norms == "fixed" else None
        in3_stats = teacher_in3_statistics(teacher, views) if config.end_norms == "fixed" else None
        student = CompactStyleNet.from_teacher(teacher, config, block_stats, in3_stats)
    student = student.to(device)
    held_out = held_out_style_frames()

    def run_teacher(x):  # the report's frames are on the CPU
        return (teacher(x.to(device) * 255) / 255).clamp(0, 1).cpu()

    def evaluate() -> dict:
        student.eval()
        report = style_report(held_out, run_teacher, lambda x: student(x.to(device)).cpu())
        student.train()
        return report

    history, skipped, train_s = train(student, stored, args, device, evaluate)
    report = evaluate()  # on the training device, before the student moves to the CPU to be saved
    student = student.cpu().eval()
    training = {"history": history, "skipped": skipped, "seconds": train_s, "device": str(device)}
    write_student(student, config, args, report, training)


if __name__ == "__main__":
    main()
