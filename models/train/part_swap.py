"""Which part of a compact student limits its held-out score: each part swapped for the teacher's.

    python -m livefx.models.train.part_swap --teacher ../shared/weights/fast-neural-style/candy.pth \\
        models/weights/styles/candy.safetensors models/weights/styles/light/candy.safetensors

For each student: its own score, then the score with the teacher running every part but one
(the student's encoder alone, its middle alone, its decoder alone, between the teacher's own
parts at the student's hint points). The lowest of the three is the part to spend MACs on.
Same held-out frames, floor and ceiling as the cards (``metrics.style_report``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch

from ..compact import CompactStyleNet, load_compact, teacher_steps
from ..stylize import load_transformer_net
from .metrics import style_report
from .style_data import held_out_style_frames


def teacher_parts(teacher, first: int, last: int) -> tuple[Callable, Callable, Callable]:
    """The teacher as (RGB -> activation ``first``, ``first`` -> ``last``, ``last`` -> RGB), with
    activations indexed as in ``compact.teacher_activations``."""
    steps = teacher_steps(teacher)

    def run(x, start, stop):
        for step in steps[start:stop]:
            x = step(x)
        return x

    return (
        lambda x: run(x, 0, first + 1),
        lambda h: run(h, first + 1, last + 1),
        lambda h: run(h, last + 1, len(steps)),
    )


def part_scores(teacher, student: CompactStyleNet, frames) -> dict[str, float]:
    """Held-out score of the student and of each one-part hybrid."""
    t_enc, t_mid, t_dec = teacher_parts(teacher, *student.hint_points)
    s = student
    hybrids = {
        "student": s,
        "its encoder alone": lambda x: t_dec(t_mid(s.encode(x))),
        "its middle alone": lambda x: t_dec(s.middle(t_enc(x))),
        "its decoder alone": lambda x: s.decode(t_mid(t_enc(x))),
    }

    def teacher_run(x):
        return (teacher(x * 255) / 255).clamp(0, 1)

    with torch.no_grad():
        return {
            name: style_report(frames, teacher_run, lambda x, f=f: f(x).clamp(0, 1))["score"]
            for name, f in hybrids.items()
        }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", type=Path, required=True, help="the students' fast-neural-style .pth")
    ap.add_argument("students", type=Path, nargs="+", help="compact students (.safetensors) of that teacher")
    args = ap.parse_args(argv)
    teacher = load_transformer_net(args.teacher).eval()
    frames = held_out_style_frames()
    for path in args.students:
        student = load_compact(path).eval()
        scores = part_scores(teacher, student, frames)
        print(f"{path} ({student.config.ends} ends, rank {student.config.rank}, width {student.config.width}):")
        for name, score in scores.items():
            print(f"  {name:18s} {score:6.3f}")


if __name__ == "__main__":
    main()
