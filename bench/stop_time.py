"""How fast ``livefx run`` stops on SIGTERM while recording, and what the recording keeps.

    python -m bench.stop_time [--runs 5] [--sink mp4|mkv] [--interpolate]

Starts ``livefx run --source synthetic`` (default style) recording to a file, waits until
frames flow plus ``--after`` seconds, sends SIGTERM, and measures the time to exit; then
counts the frames the file decodes against the frames the stats say were written. Also
kills one run with SIGKILL and counts what a player can still decode.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av


def decodable_frames(path: Path) -> int:
    """Frames a player shows: decoded packet by packet up to the first broken one."""
    count = 0
    try:
        with av.open(str(path)) as container:
            for packet in container.demux(video=0):
                count += len(packet.decode())
    except av.error.FFmpegError:
        pass
    return count


def one_run(folder: Path, suffix: str, sig: int, after_s: float, extra: list[str]) -> dict:
    out, stats = folder / f"out.{suffix}", folder / "s.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "livefx.stream", "run", "--source", "synthetic", "--size", "320x240",
         "--sink", f"file:{out}", "--stats", str(stats), "--log-every", "0.5", *extra],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:
        if " out " in line and "out 0.0 fps" not in line:
            break
    time.sleep(after_s)
    t0 = time.monotonic()
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    exit_s = time.monotonic() - t0
    written = json.loads(stats.read_text())["sinks"][f"file:{out}"]["written"] if stats.exists() else None
    return {"exit_s": round(exit_s, 2), "rc": proc.returncode, "written": written, "decoded": decodable_frames(out)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sink", choices=["mp4", "mkv"], default="mp4")
    ap.add_argument("--after", type=float, default=3.0, help="seconds of recording before the signal")
    ap.add_argument("--interpolate", action="store_true")
    args = ap.parse_args(argv)
    extra = ["--interpolate"] if args.interpolate else []
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(one_run(Path(tmp), args.sink, signal.SIGTERM, args.after, extra))
        print("SIGTERM", runs[-1], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        killed = one_run(Path(tmp), args.sink, signal.SIGKILL, args.after, extra)
    print("SIGKILL", killed, flush=True)
    times = [r["exit_s"] for r in runs]
    complete = sum(r["rc"] == 0 and r["decoded"] == r["written"] for r in runs)
    print(
        f"SIGTERM: exit median {statistics.median(times):.2f} s, max {max(times):.2f} s;"
        f" {complete}/{len(runs)} files decode every frame the stats say were written."
        f" SIGKILL after {args.after:g} s of recording: {killed['decoded']} frames decodable."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
