"""A long session: does ``livefx serve`` hold its memory, threads and descriptors steady?

    python -m bench.soak [--minutes 30] [--warmup-s 60] [--size 320x240] [-- SERVE ARGS]

One aiortc client sends a synthetic 30 fps camera to ``livefx serve`` (default chain: the
shipped default style) for ``--minutes``; the server's resident memory, thread count and
open descriptors are sampled every ``--every-s`` seconds. After the warm-up (models loaded,
allocator pools filled), memory growth is the last minute's median against the first
minute's, and the thread and descriptor counts must not drift. A 2-minute version runs in
the test suite (tests/bench/test_soak.py); the long one writes
bench/results/soak-cpu.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path

from .clients import Client, ServeProcess
from .common import RESULTS, machine, write_report


async def soak(server: ServeProcess, seconds: float, every_s: float, size: tuple[int, int]) -> list[dict]:
    client = Client(server.url, *size)
    await client.join()
    loop = asyncio.get_running_loop()
    start, samples = loop.time(), []
    while loop.time() - start < seconds:
        s = server.sample()
        frames = len(client.arrivals)
        samples.append({"t": round(loop.time() - start, 1), "frames_back": frames, **s.summary()})
        await asyncio.sleep(every_s)
    samples[-1]["errors"] = client.errors
    await client.leave()
    return samples


def verdict(samples: list[dict], warmup_s: float, window_s: float = 60.0) -> dict:
    """Growth after warm-up: medians of the first and last ``window_s`` (or a quarter of the
    measured span, whichever is shorter), and the spread of threads and descriptors."""
    steady = [s for s in samples if s["t"] >= warmup_s]
    if len(steady) < 4:
        raise ValueError(f"only {len(steady)} samples after the warm-up: run longer")
    span = steady[-1]["t"] - steady[0]["t"]
    window = min(window_s, span / 4)
    first = [s for s in steady if s["t"] <= steady[0]["t"] + window]
    last = [s for s in steady if s["t"] >= steady[-1]["t"] - window]
    rss0, rss1 = statistics.median(s["rss_mb"] for s in first), statistics.median(s["rss_mb"] for s in last)
    return {
        "rss_mb_after_warmup": rss0,
        "rss_mb_at_end": rss1,
        "rss_growth": round((rss1 - rss0) / rss0, 4),
        "threads": sorted({s["threads"] for s in steady}),
        "fds": sorted({s["fds"] for s in steady}),
        "threads_drift": statistics.median(s["threads"] for s in last) - statistics.median(s["threads"] for s in first),
        "fds_drift": statistics.median(s["fds"] for s in last) - statistics.median(s["fds"] for s in first),
        "frames_back": steady[-1]["frames_back"],
        "fps_back": round((steady[-1]["frames_back"] - steady[0]["frames_back"]) / max(span, 1e-9), 2),
    }


def report(doc: dict) -> str:
    v = doc["verdict"]
    return "\n".join(
        [
            f"# Soak: one session for {doc['minutes']:g} min against `livefx serve` ({doc['machine']})",
            "",
            f"`python -m bench.soak --minutes {doc['minutes']:g} --warmup-s {doc['warmup_s']:g}"
            f" --size {doc['size']}`; server args: `{' '.join(doc['serve_args']) or '(defaults)'}`.",
            "",
            "| | after warm-up | at the end |",
            "|---|---|---|",
            f"| server RSS | {v['rss_mb_after_warmup']:.1f} MB | {v['rss_mb_at_end']:.1f} MB"
            f" ({100 * v['rss_growth']:+.2f}%) |",
            f"| threads (values seen) | {v['threads']} | drift {v['threads_drift']:+g} |",
            f"| open descriptors (values seen) | {v['fds']} | drift {v['fds_drift']:+g} |",
            f"| frames back to the client | {v['fps_back']} fps | {v['frames_back']} in all |",
            "",
            f"Samples every {doc['every_s']:g} s in soak-cpu.json.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--warmup-s", type=float, default=60.0, help="excluded from the growth figures")
    ap.add_argument("--every-s", type=float, default=5.0, help="sampling period")
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--out", type=Path, default=RESULTS / "soak-cpu", help="results path, without suffix")
    ap.add_argument("serve_args", nargs="*", help="extra `livefx serve` arguments (after --)")
    args = ap.parse_args(argv)
    size = tuple(int(v) for v in args.size.split("x"))
    with ServeProcess("--size", args.size, *args.serve_args, log=args.out.with_suffix(".log")) as server:
        samples = asyncio.run(soak(server, args.minutes * 60, args.every_s, size))
    doc = {
        "machine": machine(),
        "minutes": args.minutes,
        "warmup_s": args.warmup_s,
        "every_s": args.every_s,
        "size": args.size,
        "serve_args": args.serve_args,
        "verdict": verdict(samples, args.warmup_s),
        "samples": samples,
    }
    write_report(args.out, doc, report(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
