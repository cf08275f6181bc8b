"""Broadcast mode: a server-side source processed once and sent to every viewer."""

import asyncio
import json

import numpy as np
import torch
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription

from livefx.stream.device import FrameConverter
from livefx.stream.server.app import LivefxServer
from livefx.stream.server.session import SessionSettings
from livefx.stream.sources.synthetic import SyntheticSource


class Viewer:
    def __init__(self, port: int):
        self.port = port
        self.frames: list[np.ndarray] = []
        self.pc = RTCPeerConnection()
        self.pc.addTransceiver("video", direction="recvonly")

        @self.pc.on("track")
        def on_track(track):
            async def pull():
                while True:
                    try:
                        frame = await track.recv()
                    except Exception:  # noqa: BLE001 - ends on hang-up
                        return
                    self.frames.append(frame.to_ndarray(format="rgb24"))

            asyncio.ensure_future(pull())

    async def join(self):
        self.ws = await websockets.connect(f"ws://127.0.0.1:{self.port}/ws")
        self.hello = json.loads(await self.ws.recv())
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self.ws.send(json.dumps({"type": "offer", "sdp": self.pc.localDescription.sdp}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if msg["type"] == "answer":
                break
        await self.pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "answer"))

    async def wait_frames(self, n: int, timeout: float = 30):
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.frames) < n:
            assert asyncio.get_running_loop().time() < deadline, f"only {len(self.frames)} frames"
            await asyncio.sleep(0.1)

    async def leave(self):
        await self.pc.close()
        await self.ws.close()


async def scenario():
    settings = SessionSettings(FrameConverter(torch.device("cpu"), torch.float32), None, size=(96, 72), backend="eager")
    server = LivefxServer(settings, port=0, source=SyntheticSource(96, 72, fps=30))
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.ensure_future(server.serve(ready, stop))
    await ready.wait()
    a, b = Viewer(server.port), Viewer(server.port)
    await a.join()
    await b.join()
    await a.wait_frames(20)
    await b.wait_frames(20)
    viewers_both = server.hub.fan_out.viewers
    await a.leave()
    for _ in range(300):  # up to 30 s: a hang guard on a busy machine
        if server.hub.fan_out.viewers == 1:
            break
        await asyncio.sleep(0.1)
    n = len(b.frames)
    await b.wait_frames(n + 15)  # the other viewer keeps receiving
    viewers_after = server.hub.fan_out.viewers
    processed_once = server.hub.pipeline.snapshot()["frames_out"]
    await b.leave()
    stop.set()
    await task
    return a, b, viewers_both, viewers_after, processed_once


def test_two_viewers_share_one_processed_stream():
    a, b, viewers_both, viewers_after, processed = asyncio.run(scenario())
    assert a.hello["mode"] == "broadcast"
    assert viewers_both == 2 and viewers_after == 1
    assert a.frames[0].shape == (72, 96, 3)
    # Both saw the same moving synthetic content (not a frozen frame).
    assert np.abs(b.frames[-1].astype(int) - b.frames[-10].astype(int)).mean() > 1
    assert processed > 0


async def overlay_scenario():
    settings = SessionSettings(
        FrameConverter(torch.device("cpu"), torch.float32), None, size=(96, 72), backend="eager", metrics_every_s=0.2
    )
    server = LivefxServer(settings, port=0, source=SyntheticSource(96, 72, fps=30))
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.ensure_future(server.serve(ready, stop))
    await ready.wait()
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws") as overlay:
        await overlay.recv()  # hello
        await overlay.send(json.dumps({"type": "subscribe"}))
        viewer = Viewer(server.port)
        await viewer.join()
        while True:
            msg = json.loads(await asyncio.wait_for(overlay.recv(), 20))
            if msg["type"] == "metrics":
                break
        await viewer.leave()
    stop.set()
    await task
    return msg


def test_overlay_subscriber_receives_the_sessions_events():
    metrics = asyncio.run(overlay_scenario())
    assert metrics["frames_out"] >= 0 and "latency_ms" in metrics


async def observer_only_scenario():
    """An overlay alone, then with two viewers beside it: what it receives in each stretch."""
    settings = SessionSettings(
        FrameConverter(torch.device("cpu"), torch.float32), None, size=(96, 72), backend="eager", metrics_every_s=0.2
    )
    server = LivefxServer(settings, port=0, source=SyntheticSource(96, 72, fps=30))
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.ensure_future(server.serve(ready, stop))
    await ready.wait()

    async def metrics_for(overlay, seconds: float) -> list[dict]:
        got, end = [], asyncio.get_running_loop().time() + seconds
        while (left := end - asyncio.get_running_loop().time()) > 0:
            try:
                msg = json.loads(await asyncio.wait_for(overlay.recv(), left))
            except asyncio.TimeoutError:
                break
            got += [msg] if msg["type"] == "metrics" else []
        return got

    async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws") as overlay:
        await overlay.recv()  # hello
        await overlay.send(json.dumps({"type": "subscribe"}))
        alone = await metrics_for(overlay, 2.0)
        a, b = Viewer(server.port), Viewer(server.port)
        await a.join()
        await b.join()
        await a.wait_frames(5)
        watched = await metrics_for(overlay, 2.0)
        await a.leave()
        await b.leave()
    stop.set()
    await task
    return alone, watched


def test_an_overlay_alone_hears_the_broadcast_once_however_many_watch():
    """A server-side source reports itself to observers with nobody watching, and viewers
    do not repeat it (repeated figures would make the overlay's frame rate jump)."""
    alone, watched = asyncio.run(observer_only_scenario())
    assert len(alone) >= 3 and alone[-1]["frames_out"] > alone[0]["frames_out"]
    assert 3 <= len(watched) <= 14  # one report every 0.2 s, not one per viewer as well
    assert all(later["frames_out"] >= earlier["frames_out"] for earlier, later in zip(watched, watched[1:]))


async def recording_scenario(path):
    from livefx.stream.sinks.file import FileSink

    settings = SessionSettings(FrameConverter(torch.device("cpu"), torch.float32), None, size=(96, 72), backend="eager")
    server = LivefxServer(settings, port=0, source=SyntheticSource(96, 72, fps=30), sinks=[FileSink(str(path))])
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.ensure_future(server.serve(ready, stop))
    await ready.wait()
    viewer = Viewer(server.port)
    await viewer.join()
    await viewer.wait_frames(20)
    await viewer.leave()
    stop.set()
    await task
    return viewer


def test_serve_records_the_broadcast_while_a_viewer_watches(tmp_path):
    """``livefx serve --source synthetic --sink file:o.mkv``: one processed stream, to the
    viewers and to the recording."""
    from ...conftest import count_frames

    path = tmp_path / "o.mkv"
    viewer = asyncio.run(recording_scenario(path))
    assert len(viewer.frames) >= 20
    assert count_frames(path) >= 20  # finalised and playable after the server stopped


async def file_broadcast_scenario(clip):
    from livefx.stream.sources.file import FileSource

    settings = SessionSettings(
        FrameConverter(torch.device("cpu"), torch.float32), None, size=(64, 48), backend="eager", metrics_every_s=0.2
    )
    server = LivefxServer(settings, port=0, source=FileSource(clip))
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.ensure_future(server.serve(ready, stop))
    await ready.wait()
    waiting = server.hub.pipeline.capture is None  # nobody watches yet: the file has not started
    viewer = Viewer(server.port)
    await viewer.join()
    while True:
        msg = json.loads(await asyncio.wait_for(viewer.ws.recv(), 60))
        if msg["type"] == "source_ended":
            break
    await viewer.leave()
    stop.set()
    await task
    return waiting, viewer, msg


def test_a_broadcast_file_waits_for_its_first_viewer_and_says_when_it_ends(make_video):
    clip = make_video("short.mkv", frames=30, size=(64, 48))
    waiting, viewer, ended = asyncio.run(file_broadcast_scenario(clip))
    assert waiting
    assert len(viewer.frames) >= 10  # the viewer saw the file from (near) its start
    assert ended["source"] == f"file:{clip}"


async def look_scenario():
    settings = SessionSettings(
        FrameConverter(torch.device("cpu"), torch.float32), None, size=(96, 72), backend="eager", mix=0.3
    )
    server = LivefxServer(settings, port=0, source=SyntheticSource(96, 72, fps=30))
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.ensure_future(server.serve(ready, stop))
    await ready.wait()
    viewer = Viewer(server.port)
    replies = []

    async def ask(message: dict) -> dict:
        await viewer.ws.send(json.dumps(message))
        while True:  # metrics and state events come and go in between
            reply = json.loads(await asyncio.wait_for(viewer.ws.recv(), 30))
            if reply["type"] in (message["type"], "error"):
                return reply

    try:
        viewer.ws = await websockets.connect(f"ws://127.0.0.1:{server.port}/ws")
        viewer.hello = json.loads(await viewer.ws.recv())
        replies.append(await ask({"type": "mix", "value": 0.5}))  # before the offer: no stream yet
        await viewer.ws.close()
        await viewer.join()
        started = server.hub.pipeline.snapshot()["output"]
        replies.append(await ask({"type": "mix", "value": 0}))
        replies.append(await ask({"type": "mirror", "on": True}))
        after = server.hub.pipeline.snapshot()["output"]
        for bad in ({"type": "mix", "value": 2}, {"type": "mix", "value": "all"}, {"type": "mirror", "on": 1}):
            replies.append(await ask(bad))
        replies.append(await ask({"type": "mix", "value": 1}))  # the session goes on after bad messages
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws") as newcomer:
            joined = json.loads(await newcomer.recv())  # a later viewer's page shows the look as it is now
        await viewer.leave()
    finally:
        stop.set()
        await task
    return viewer.hello, started, after, replies, joined


def test_mix_and_mirror_messages_reach_the_broadcasts_pipeline_and_bad_values_get_errors():
    hello, started, after, replies, joined = asyncio.run(look_scenario())
    assert hello["mix"] == 0.3 and hello["mirror"] is False  # what serve --mix/--mirror start with
    assert started == {"mix": 0.3, "effect": True, "mirror": False}
    assert after == {"mix": 0.0, "effect": True, "mirror": True}
    early, mix, mirror, *bad, last = replies
    assert early == {"type": "error", "message": "no stream yet: send an offer first"}
    assert mix == {"type": "mix", "value": 0.0} and mirror == {"type": "mirror", "on": True}
    assert [r["type"] for r in bad] == ["error"] * 3
    assert "'mix' value must be between 0" in bad[0]["message"] and "type number" in bad[1]["message"]
    assert "'mirror' needs a 'on' field of type boolean" in bad[2]["message"]
    assert last == {"type": "mix", "value": 1.0}
    assert (joined["mix"], joined["mirror"]) == (1.0, True)
