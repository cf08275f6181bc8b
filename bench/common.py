"""Helpers shared by the benchmarks: timing, machine description, result files."""

from __future__ import annotations

import json
import platform
import statistics
from collections.abc import Callable
from pathlib import Path

import torch

from livefx.models.stage import run_times_ms

RESULTS = Path(__file__).parent / "results"


def machine() -> str:
    if torch.cuda.is_available():
        return f"cuda:0 {torch.cuda.get_device_name(0)}"
    return f"cpu {platform.processor() or platform.machine()} x{torch.get_num_threads()} threads"


def time_ms(
    fn: Callable[[], object], *, warmup: int = 2, runs: int = 10, device: torch.device | None = None
) -> dict[str, float]:
    """Median and p90 wall time of ``fn`` in ms after ``warmup`` untimed calls (waiting for
    ``device``'s kernels around each call)."""
    for _ in range(warmup):
        fn()
    samples = sorted(run_times_ms(fn, device, runs))
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p90_ms": round(samples[int(0.9 * (len(samples) - 1))], 2),
    }


def write_report(out: Path, payload: dict, text: str) -> None:
    """``out``.json (the payload) and ``out``.md (``text``, a whole report), and ``text`` printed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(payload, indent=2) + "\n")
    out.with_suffix(".md").write_text(text)
    print(text)


def write_results(name: str, payload: dict, table: str) -> None:
    """``bench/results/<name>.json`` and ``.md`` (the table, with the machine named)."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(f"# {name}\n\nMachine: {payload['machine']}\n\n{table}\n")
    print(table)
