"""Several browser sessions at once against a real ``livefx serve``, and one more refused.

    python -m bench.sessions_load [--clients 4] [--seconds 60] [--size 320x240] [-- SERVE ARGS]

Starts ``livefx serve`` (default chain: the shipped default style; ``--max-sessions`` =
``--clients``) and ``--clients`` aiortc peers, each sending a synthetic 30 fps camera at
``--size``; after they all stream, one more client must be told "busy". For each session:
frames received and their rate, the longest gap between two frames, and the server's own
latency (capture to processed, p95) early and late in the run: bounded latency means the
late figure is not growing away from the early one. The server's CPU share is the
machine's, so the figures are this machine's only. Writes bench/results/sessions-load-cpu.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path

from .clients import Client, ServeProcess, refused_message
from .common import RESULTS, machine, write_report


async def run(url: str, clients: int, seconds: float, size: tuple[int, int]) -> dict:
    peers = [Client(url, *size) for _ in range(clients)]
    await asyncio.gather(*(p.join() for p in peers))
    loop = asyncio.get_running_loop()
    while any(not p.arrivals for p in peers):  # every session's first frame (after its warm-up)
        await asyncio.sleep(0.1)
    refused = await refused_message(url)
    start = loop.time()
    await asyncio.sleep(seconds)
    end = loop.time()
    sessions = [summarise(p, start, end) for p in peers]
    await asyncio.gather(*(p.leave() for p in peers))
    return {"sessions": sessions, "refused": refused}


def summarise(client: Client, start: float, end: float) -> dict:
    arrivals = [t for t in client.arrivals if start <= t <= end]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    # The server's capture-to-send median over its last 2 s, per fifth of the run: a windowed
    # figure (the metrics' latency percentiles span the whole session, warm-up included).
    window = [m for m in client.metrics if start <= m["_t"] <= end and m.get("capture_to_send_ms")]
    fifths = [
        [
            m["capture_to_send_ms"]
            for m in window
            if start + k * (end - start) / 5 <= m["_t"] < start + (k + 1) * (end - start) / 5
        ]
        for k in range(5)
    ]
    last = client.metrics[-1] if client.metrics else {}
    return {
        "frames": len(arrivals),
        "fps": round(len(arrivals) / (end - start), 2),
        "longest_gap_ms": round(1000 * max(gaps, default=end - start), 1),
        "capture_to_send_ms_per_fifth": [round(statistics.median(f), 1) if f else None for f in fifths],
        "latency_p95_ms_whole_session": last.get("latency_ms", {}).get("p95"),
        "server_frames_in": last.get("frames_in"),
        "server_frames_dropped": last.get("frames_dropped"),
        "decisions": last.get("decisions"),
        "errors": client.errors,
    }


def report(doc: dict) -> str:
    lines = [
        f"# {doc['clients']} sessions at once against `livefx serve` ({doc['machine']})",
        "",
        f"`python -m bench.sessions_load --clients {doc['clients']} --seconds {doc['seconds']:g}"
        f" --size {doc['size']}`; server args: `{' '.join(doc['serve_args']) or '(defaults)'}`.",
        "Each client sends a synthetic 30 fps camera over WebRTC (aiortc, VP8) and counts what"
        " comes back. Latency from the server's metrics events: capture to send (median over the"
        " last 2 s), per fifth of the run (bounded: not growing), and capture to processed p95"
        " over the whole session (warm-up included).",
        "",
        "| session | frames back | fps | longest gap | capture to send, median per fifth of the run |"
        " latency p95, whole session | dropped / in (server) |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, s in enumerate(doc["sessions"], 1):
        lines.append(
            f"| {i} | {s['frames']} | {s['fps']} | {s['longest_gap_ms']} ms |"
            f" {', '.join(str(v) for v in s['capture_to_send_ms_per_fifth'])} ms |"
            f" {s['latency_p95_ms_whole_session']} ms | {s['server_frames_dropped']} / {s['server_frames_in']} |"
        )
    lines += ["", f"Client {doc['clients'] + 1} was told: {doc['refused']!r}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--out", type=Path, default=RESULTS / "sessions-load-cpu")
    ap.add_argument("serve_args", nargs="*", help="extra `livefx serve` arguments (after --)")
    args = ap.parse_args(argv)
    size = tuple(int(v) for v in args.size.split("x"))
    serve_args = ["--max-sessions", str(args.clients), "--size", args.size, *args.serve_args]
    log = args.out.with_suffix(".log")
    with ServeProcess(*serve_args, log=log) as server:
        result = asyncio.run(run(server.url, args.clients, args.seconds, size))
    doc = {
        "machine": machine(),
        "clients": args.clients,
        "seconds": args.seconds,
        "size": args.size,
        "serve_args": args.serve_args,
        **result,
    }
    write_report(args.out, doc, report(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
