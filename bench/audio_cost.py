"""What the sound costs: the same live run of a clip with its audio track and without, interleaved.

    python -m bench.audio_cost [--runs 3] [--seconds 12] [--size 640x480]

Each run is a real `livefx run --source file:CLIP --sink file:out.mkv --stats ...` in real time
(default style), CLIP the flash/beep clip of ``bench.av_sync`` at ``--size``, once with its sound
(decoded, timed, written as Opus beside the video) and once as a copy without the audio track.
Measured per run: the process's CPU seconds per second (user + system, from /proc, over a
steady window that ends a second before the run does: model loading and warm-up left out)
and the video's capture-to-output latency (p50, p95, from the stats). Issue 33's
target: the sound adds < 2 % CPU and never changes the video's latency figures.
Writes bench/results/audio-cpu.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

from .av_sync import write_flash_beep_clip
from .common import machine, write_results


def video_only_copy(clip: Path, out: Path) -> Path:
    """``clip``'s video stream alone, packets copied (the same pictures, no sound)."""
    with av.open(str(clip)) as src, av.open(str(out), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    return out


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process (every thread), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(clip: Path, seconds: float, window_s: float) -> dict:
    folder = Path(tempfile.mkdtemp())
    stats = folder / "s.json"
    argv = [sys.executable, "-m", "livefx.stream", "run", "--source", f"file:{clip}", "--loop"]
    argv += ["--sink", f"file:{folder / 'out.mkv'}", "--stats", str(stats), "-q"]
    argv += ["--frames", str(round(seconds * 30))]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    samples: list[tuple[float, float]] = []  # (wall s, CPU s)
    while proc.poll() is None:
        cpu = cpu_seconds(proc.pid)
        if cpu is not None:
            samples.append((time.monotonic(), cpu))
        time.sleep(0.25)
    if proc.returncode != 0:
        raise RuntimeError(f"livefx run failed ({proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
    doc = json.loads(stats.read_text())
    end = samples[-1][0] - 1.0
    (t1, c1) = next(s for s in reversed(samples) if s[0] <= end)
    (t0, c0) = next(s for s in reversed(samples) if s[0] <= end - window_s)
    return {
        "cpu_s_per_s": round((c1 - c0) / (t1 - t0), 4),
        "latency_p50_ms": doc["latency_ms"]["p50"],
        "latency_p95_ms": doc["latency_ms"]["p95"],
        "frames_out": doc["frames_out"],
        "audio": doc.get("audio"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20.0, help="of video per run (CPU counted over the later half)")
    ap.add_argument("--size", default="640x480")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    folder = Path(tempfile.mkdtemp())
    with_sound = folder / "clip.mp4"
    write_flash_beep_clip(with_sound, seconds=6.0, size=(width, height))
    clips = {"with its sound": with_sound, "without (video only)": video_only_copy(with_sound, folder / "v.mp4")}
    runs: dict[str, list[dict]] = {name: [] for name in clips}
    for _ in range(args.runs):
        for name, clip in clips.items():
            runs[name].append(one_run(clip, args.seconds, args.seconds / 2))
            print(name, runs[name][-1], flush=True)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    lines = [
        f"`python -m bench.audio_cost --runs {args.runs} --seconds {args.seconds} --size {args.size}`:"
        " `livefx run` (default style, real time) of the flash/beep clip looped into an .mkv, with its"
        " sound and without; medians over interleaved runs.",
        "",
        "| clip | CPU s per s | video latency p50 ms | p95 ms | frames out |",
        "|---|---|---|---|---|",
    ]
    for name in clips:
        lines.append(
            f"| {name} | {med(name, 'cpu_s_per_s'):.3f} | {med(name, 'latency_p50_ms'):.1f} |"
            f" {med(name, 'latency_p95_ms'):.1f} | {med(name, 'frames_out'):.0f} |"
        )
    names = list(clips)
    extra = med(names[0], "cpu_s_per_s") / med(names[1], "cpu_s_per_s") - 1
    lines += ["", f"The sound adds {100 * extra:+.1f} % CPU (target < 2 %)."]
    write_results("audio-cpu", {"machine": machine(), "args": vars(args), "runs": runs}, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
