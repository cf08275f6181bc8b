"""The websocket flood limit: a token bucket on an injected clock, and a real flood."""

import asyncio
import json

import websockets

from livefx.stream.server.app import FLOOD_MESSAGE, MESSAGE_BURST
from livefx.stream.server.ratelimit import TokenBucket

from .test_app import with_server


def test_bucket_allows_a_burst_then_the_rate():
    now = [0.0]
    bucket = TokenBucket(rate=10, burst=5, clock=lambda: now[0])
    assert [bucket.take() for _ in range(7)] == [True] * 5 + [False] * 2
    now[0] += 0.25  # 2.5 tokens back
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    assert not bucket.recovered
    now[0] += 100  # never more than the burst
    assert bucket.recovered and sum(bucket.take() for _ in range(10)) == 5


def test_a_flooding_client_is_told_once_and_others_are_unaffected():
    async def check(server):
        url = f"ws://127.0.0.1:{server.port}/ws"
        async with websockets.connect(url) as flooder, websockets.connect(url) as other:
            await flooder.recv(), await other.recv()  # hello
            for _ in range(1000):
                await flooder.send(json.dumps({"type": "ping"}))
            await other.send(json.dumps({"type": "ping"}))
            other_reply = json.loads(await asyncio.wait_for(other.recv(), 10))
            replies = []
            while True:
                try:
                    replies.append(json.loads(await asyncio.wait_for(flooder.recv(), 1.0)))
                except asyncio.TimeoutError:
                    break
            await asyncio.sleep(1.0)  # the bucket refills: the flooder is served again
            await flooder.send(json.dumps({"type": "ping"}))
            after = json.loads(await asyncio.wait_for(flooder.recv(), 10))
            return other_reply, replies, after

    other_reply, replies, after = asyncio.run(with_server(check))
    pongs = sum(r["type"] == "pong" for r in replies)
    errors = [r for r in replies if r["type"] == "error"]
    assert other_reply["type"] == "pong"
    assert MESSAGE_BURST <= pongs < 1000 and [e["message"] for e in errors] == [FLOOD_MESSAGE]
    assert after["type"] == "pong"
