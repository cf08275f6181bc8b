"""Random and mutated websocket messages against a real ``livefx serve``, beside a live session.

    python -m bench.fuzz_ws [--messages 1000] [--clients 4] [--seed 0]

``--clients`` fuzzers share ``--messages`` a round (``--rounds``): random bytes and text, JSON of every shape,
known message types with wrong, huge, NaN or nested fields, real SDP offers with lines
deleted, repeated or corrupted, and messages over the 64 KB limit. Each fuzz message is
followed by a ``ping``, so what arrives before the ``pong`` is that message's answer.
Documented outcomes: an ``error`` event or the message's own event; nothing for
``subscribe`` and, at once, for ``style`` (its answer comes when the switch is done); the
connection closed (code 1009) for an oversized message, after which the fuzzer reconnects.
Anything else — no answer, an ``internal error``, another close — is counted as unexpected.
Meanwhile one WebRTC client streams; afterwards the server must still let a client in and
be back to its thread and descriptor counts. Writes bench/results/fuzz-ws.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from collections import Counter
from pathlib import Path

import websockets
from aiortc import RTCPeerConnection

from livefx.stream.server.app import MAX_MESSAGE_BYTES
from livefx.stream.server.protocol import CLIENT_MESSAGES

from .clients import Client, ServeProcess, thread_names
from .common import RESULTS, write_report

#: Messages a second per fuzzer, its pings included: under the server's flood limit (20/s).
RATE = 16


async def real_offer() -> str:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


def junk_value(rng: random.Random, depth: int = 0):
    kinds = ["none", "bool", "int", "huge", "float", "nan", "str", "long", "list", "dict"]
    kind = rng.choice(kinds if depth < 3 else kinds[:8])
    return {
        "none": lambda: None,
        "bool": lambda: rng.random() < 0.5,
        "int": lambda: rng.randint(-(2**31), 2**31),
        "huge": lambda: 10 ** rng.randint(20, 400),
        "float": lambda: rng.uniform(-1e6, 1e6),
        "nan": lambda: rng.choice([float("nan"), float("inf"), -float("inf")]),
        "str": lambda: "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(0, 40))),
        "long": lambda: "x" * rng.randint(1000, 50_000),
        "list": lambda: [junk_value(rng, depth + 1) for _ in range(rng.randint(0, 4))],
        "dict": lambda: {str(junk_value(rng, 3)): junk_value(rng, depth + 1) for _ in range(rng.randint(0, 4))},
    }[kind]()


def mutate_sdp(sdp: str, rng: random.Random) -> str:
    lines = sdp.splitlines()
    for _ in range(rng.randint(1, 4)):
        op, i = rng.choice(["drop", "repeat", "swap", "flip", "truncate"]), rng.randrange(len(lines))
        if op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "repeat":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "flip" and lines[i]:
            k = rng.randrange(len(lines[i]))
            lines[i] = lines[i][:k] + chr(rng.randint(32, 126)) + lines[i][k + 1 :]
        elif op == "truncate":
            lines = lines[: i + 1]
    return "\r\n".join(lines) + "\r\n"


def fuzz_message(rng: random.Random, offer: str) -> tuple[str, str | bytes]:
    """(category, raw message)."""
    kind = rng.choice(["bytes", "text", "json", "type", "fields", "fields", "offer", "offer", "oversized"])
    if kind == "bytes":
        return kind, bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
    if kind == "text":
        return kind, "".join(chr(rng.randint(1, 0xFFFF)) for _ in range(rng.randint(0, 200))).encode(
            "utf-8", "replace"
        ).decode("utf-8", "replace")
    if kind == "json":
        return kind, json.dumps(junk_value(rng))
    if kind == "type":
        return kind, json.dumps({"type": junk_value(rng), **({"sdp": "x"} if rng.random() < 0.3 else {})})
    if kind == "fields":
        msg_type = rng.choice(list(CLIENT_MESSAGES))
        fields = {name: junk_value(rng) for name in CLIENT_MESSAGES[msg_type] if rng.random() < 0.8}
        fields |= {str(junk_value(rng, 3)): junk_value(rng, 2) for _ in range(rng.randint(0, 2))}
        return f"fields:{msg_type}", json.dumps({"type": msg_type, **fields})
    if kind == "offer":
        return kind, json.dumps({"type": "offer", "sdp": mutate_sdp(offer, rng)})
    return kind, json.dumps({"type": "ping", "pad": "x" * 70_000})


def expected(category: str, size: int, replies: list[dict], closed: int | None) -> bool:
    if size > MAX_MESSAGE_BYTES:
        return closed == 1009
    if closed is not None:
        return False
    if any(r["type"] == "error" and r["message"].startswith("internal error") for r in replies):
        return False
    if category in ("fields:subscribe", "fields:style"):
        return True  # documented: no answer, or the style's answer later
    return len(replies) >= 1


async def connect(url: str, outcomes: Counter):
    """A websocket past its hello; while the server is busy (the sessions of closed
    connections are still being freed), wait and try again (counted)."""
    while True:
        ws = await websockets.connect(url, max_size=None)
        if json.loads(await ws.recv())["type"] == "hello":
            return ws
        outcomes[("reconnect", "told busy")] += 1
        await ws.close()
        await asyncio.sleep(1.0)


async def fuzzer(url: str, messages: list[tuple[str, str | bytes]], outcomes: Counter, found: list) -> None:
    ws = await connect(url, outcomes)
    for category, raw in messages:
        replies, closed = [], None
        pongs = 2 if category == "fields:ping" else 1  # a fuzzed ping is still a ping: its pong is its answer
        try:
            await ws.send(raw)
            await ws.send(json.dumps({"type": "ping"}))
            while pongs:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if msg["type"] == "pong":
                    pongs -= 1
                    if pongs:
                        replies.append(msg)
                elif msg["type"] not in ("metrics", "state", "style", "labels"):  # a session's own events
                    replies.append(msg)
        except websockets.ConnectionClosed as exc:
            closed = exc.rcvd.code if exc.rcvd else None
        except TimeoutError:
            closed = -1
        size = len(raw.encode() if isinstance(raw, str) else raw)
        ok = expected(category, size, replies, closed)
        outcomes[(category.split(":")[0], "expected" if ok else "unexpected")] += 1
        if not ok and len(found) < 20:
            found.append({"category": category, "message": str(raw)[:200], "replies": replies, "closed": closed})
        if closed is not None:
            ws = await connect(url, outcomes)
        await asyncio.sleep(2 / RATE)
    await ws.close()


async def run(server: ServeProcess, total: int, clients: int, seed: int, rounds: int) -> dict:
    """``rounds`` rounds of ``total`` messages; counts sampled after each (a leak keeps growing,
    a pool that fills once does not)."""
    offer = await real_offer()
    rng = random.Random(seed)
    watcher = Client(server.url, 160, 120)
    await watcher.join()
    while not watcher.arrivals:
        await asyncio.sleep(0.1)
    before, names_before = server.sample(), thread_names(server.proc.pid)
    frames_before = len(watcher.arrivals)
    outcomes, found, per_round = Counter(), [], []
    for _ in range(rounds):
        messages = [fuzz_message(rng, offer) for _ in range(total)]
        share = [messages[i::clients] for i in range(clients)]
        await asyncio.gather(*(fuzzer(server.url, part, outcomes, found) for part in share))
        await asyncio.sleep(5)  # closed sessions freed
        per_round.append(server.sample().summary())
    frames_during = len(watcher.arrivals) - frames_before
    after, names_after = server.sample(), thread_names(server.proc.pid)
    async with websockets.connect(server.url) as ws:
        let_in = json.loads(await ws.recv())["type"] == "hello"
    await watcher.leave()
    return {
        "messages": total * rounds,
        "rounds": rounds,
        "after_each_round": per_round,
        "fuzzers": clients,
        "outcomes": {f"{c} {o}": n for (c, o), n in sorted(outcomes.items())},
        "unexpected": sum(n for (_, o), n in outcomes.items() if o == "unexpected"),
        "messages_sent": sum(n for (c, _), n in outcomes.items() if c != "reconnect"),
        "unexpected_examples": found,
        "live_session_frames_during_fuzz": frames_during,
        "live_session_errors": watcher.errors,
        "server_lets_a_client_in_after": let_in,
        "server_before": before.summary(),
        "server_after": after.summary(),
        "threads_new_after": sorted((Counter(names_after) - Counter(names_before)).elements()),
        "threads_gone_after": sorted((Counter(names_before) - Counter(names_after)).elements()),
    }


def report(doc: dict) -> str:
    lines = [
        f"# Websocket fuzz: {doc['messages']} messages from {doc['fuzzers']} clients beside a live session",
        "",
        f"`python -m bench.fuzz_ws --messages {doc['messages'] // doc['rounds']} --rounds {doc['rounds']}"
        f" --clients {doc['fuzzers']} --seed {doc['seed']}`",
        "",
        "| category | outcome | messages |",
        "|---|---|---|",
        *(f"| {k.split(' ', 1)[0]} | {k.split(' ', 1)[1]} | {n} |" for k, n in doc["outcomes"].items()),
        "",
        f"- unexpected outcomes: {doc['unexpected']}",
        f"- the live session received {doc['live_session_frames_during_fuzz']} frames during the fuzz,"
        f" errors: {doc['live_session_errors'] or 'none'}",
        f"- a new client let in afterwards: {doc['server_lets_a_client_in_after']}",
        f"- server threads {doc['server_before']['threads']} -> {doc['server_after']['threads']},"
        f" descriptors {doc['server_before']['fds']} -> {doc['server_after']['fds']},"
        f" RSS {doc['server_before']['rss_mb']} -> {doc['server_after']['rss_mb']} MB;"
        f" after each round: {doc['after_each_round']};"
        f" threads new afterwards: {doc['threads_new_after'] or 'none'}, gone: {doc['threads_gone_after'] or 'none'}",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=2, help="rounds of --messages each")
    ap.add_argument("--out", type=Path, default=RESULTS / "fuzz-ws", help="results path, without suffix")
    args = ap.parse_args(argv)
    serve = ("--max-sessions", str(args.clients + 2), "--style", "none", "--size", "160x120")
    with ServeProcess(*serve, log=args.out.with_suffix(".log")) as server:
        doc = {"seed": args.seed, **asyncio.run(run(server, args.messages, args.clients, args.seed, args.rounds))}
    write_report(args.out, doc, report(doc))
    return 0 if doc["unexpected"] == 0 and doc["server_lets_a_client_in_after"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
