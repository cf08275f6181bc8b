"""Two browser sessions side by side: one leaving never disturbs the other."""

import asyncio
import gc
import json

import torch
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription

from livefx.stream.device import FrameConverter
from livefx.stream.server.app import LivefxServer
from livefx.stream.server.session import SessionSettings

from .test_webrtc_e2e import SyntheticCamera


class Caller:
    """A client that sends a camera and counts the processed frames it gets back."""

    def __init__(self, port: int):
        self.port, self.frames = port, 0
        self.pc = RTCPeerConnection()
        self.pc.addTrack(SyntheticCamera(96, 72))

        @self.pc.on("track")
        def on_track(track):
            async def pull():
                while True:
                    try:
                        await track.recv()
                    except Exception:  # noqa: BLE001 - ends on hang-up
                        return
                    self.frames += 1

            asyncio.ensure_future(pull())

    async def join(self):
        self.ws = await websockets.connect(f"ws://127.0.0.1:{self.port}/ws")
        await self.ws.recv()  # hello
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self.ws.send(json.dumps({"type": "offer", "sdp": self.pc.localDescription.sdp}))
        while (msg := json.loads(await asyncio.wait_for(self.ws.recv(), 30)))["type"] != "answer":
            pass
        await self.pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "answer"))

    async def frames_beyond(self, n: int, timeout: float = 60):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.frames < n:
            assert loop.time() < deadline, f"only {self.frames} frames"
            await asyncio.sleep(0.05)

    async def leave(self):
        await self.pc.close()
        await self.ws.close()


async def two_sessions_one_leaves():
    settings = SessionSettings(FrameConverter(torch.device("cpu"), torch.float32), None, size=(96, 72), backend="eager")
    server = LivefxServer(settings, port=0)
    ready, stop = asyncio.Event(), asyncio.Event()
    serving = asyncio.ensure_future(server.serve(ready, stop))
    await ready.wait()
    first, second = Caller(server.port), Caller(server.port)
    await first.join()
    await second.join()
    await first.frames_beyond(10)
    await second.frames_beyond(10)
    converters = [s.pipeline.converter for s in server.sessions]
    await first.leave()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while len(server.sessions) > 1:
        assert loop.time() < deadline, "the first session was not freed"
        await asyncio.sleep(0.05)
    after_close = second.frames
    await second.frames_beyond(after_close + 20)
    await second.leave()
    stop.set()
    await serving
    return converters, settings.converter


def test_closing_one_session_leaves_the_other_running_with_its_own_converter(monkeypatch):
    calls = []
    for name in ("collect", "freeze", "unfreeze"):
        monkeypatch.setattr(gc, name, lambda *a, _name=name, **k: calls.append(_name) or 0)
    converters, shared = asyncio.run(two_sessions_one_leaves())
    assert calls == []  # no session touches the process-wide collector
    assert len(converters) == 2 and converters[0] is not converters[1]
    assert shared not in converters  # the settings' converter only names device and dtype
