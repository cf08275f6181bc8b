"""Browser sessions side by side: one leaving, or sending absurd frames, never disturbs another."""

import asyncio
import contextlib
import gc
import json
import logging
from pathlib import Path

import av
import numpy as np
import torch
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack

from livefx.stream.device import FrameConverter
from livefx.stream.server.app import LivefxServer
from livefx.stream.server.bridge import MAX_INPUT_PIXELS
from livefx.stream.server.session import SessionSettings

from .test_webrtc_e2e import SyntheticCamera


class Caller:
    """A client that sends a camera and counts the processed frames it gets back."""

    def __init__(self, port: int, camera=None):
        self.port, self.frames, self.sizes, self.errors = port, 0, set(), []
        #: The sound that came back (each frame's samples as aiortc decodes them: s16 stereo).
        self.audio: list = []
        self.pc = RTCPeerConnection()
        self.pc.addTrack(camera or SyntheticCamera(96, 72))

        @self.pc.on("track")
        def on_track(track):
            async def pull():
                while True:
                    try:
                        frame = await track.recv()
                    except Exception:  # noqa: BLE001 - ends on hang-up
                        return
                    if track.kind == "audio":
                        self.audio.append(frame.to_ndarray())
                        continue
                    self.frames += 1
                    self.sizes.add((frame.width, frame.height))

            asyncio.ensure_future(pull())

    async def join(self):
        self.ws = await websockets.connect(f"ws://127.0.0.1:{self.port}/ws")
        await self.ws.recv()  # hello
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self.ws.send(json.dumps({"type": "offer", "sdp": self.pc.localDescription.sdp}))
        while (msg := json.loads(await asyncio.wait_for(self.ws.recv(), 30)))["type"] != "answer":
            pass
        await self.pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "answer"))
        asyncio.ensure_future(self._listen())

    async def _listen(self):
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if msg["type"] == "error":
                    self.errors.append(msg["message"])
        except websockets.ConnectionClosed:
            pass

    async def frames_beyond(self, n: int, timeout: float = 60):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.frames < n:
            assert loop.time() < deadline, f"only {self.frames} frames"
            await asyncio.sleep(0.05)

    async def leave(self):
        await self.pc.close()
        await self.ws.close()


@contextlib.asynccontextmanager
async def running_server(settings: SessionSettings):
    server = LivefxServer(settings, port=0)
    ready, stop = asyncio.Event(), asyncio.Event()
    serving = asyncio.ensure_future(server.serve(ready, stop))
    await ready.wait()
    try:
        yield server
    finally:
        stop.set()
        await serving


async def wait_until(condition, what: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.05)


def small_settings() -> SessionSettings:
    return SessionSettings(FrameConverter(torch.device("cpu"), torch.float32), None, size=(96, 72), backend="eager")


async def two_sessions_one_leaves():
    settings = small_settings()
    async with running_server(settings) as server:
        return await _two_sessions_one_leaves(server), settings.converter


async def _two_sessions_one_leaves(server):
    first, second = Caller(server.port), Caller(server.port)
    await first.join()
    await second.join()
    await first.frames_beyond(10)
    await second.frames_beyond(10)
    converters = [s.pipeline.converter for s in server.sessions]
    await first.leave()
    await wait_until(lambda: len(server.sessions) <= 1, "the first session was not freed")
    after_close = second.frames
    await second.frames_beyond(after_close + 20)
    await second.leave()
    return converters


def test_closing_one_session_leaves_the_other_running_with_its_own_converter(monkeypatch):
    calls = []
    for name in ("collect", "freeze", "unfreeze"):
        monkeypatch.setattr(gc, name, lambda *a, _name=name, **k: calls.append(_name) or 0)
    converters, shared = asyncio.run(two_sessions_one_leaves())
    assert calls == []  # no session touches the process-wide collector
    assert len(converters) == 2 and converters[0] is not converters[1]
    assert shared not in converters  # the settings' converter only names device and dtype


class FixedCamera(VideoStreamTrack):
    """A camera that sends frames of one (odd) size: a smooth gradient, cheap to encode."""

    def __init__(self, width, height):
        super().__init__()
        ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
        self.image = np.broadcast_to(ramp, (height, width, 3)).astype(np.uint8)

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame.from_ndarray(self.image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


async def odd_cameras():
    async with running_server(small_settings()) as server:
        return await _odd_cameras(server)


async def _odd_cameras(server):
    normal, tiny, huge = (
        Caller(server.port),
        Caller(server.port, FixedCamera(8, 8)),
        Caller(server.port, FixedCamera(2560, 1600)),
    )
    for caller in (normal, tiny, huge):
        await caller.join()
    await huge.frames_beyond(3, timeout=120)
    await normal.frames_beyond(30)
    await wait_until(lambda: tiny.errors, "the tiny camera was never told")
    sources = {session.source.sent_size: session.source for session in server.sessions}
    for caller in (normal, tiny, huge):
        await caller.leave()
    return normal, tiny, huge, sources


def test_absurd_camera_sizes_are_scaled_or_refused_and_other_sessions_go_on():
    normal, tiny, huge, sources = asyncio.run(odd_cameras())
    assert tiny.frames == 0 and "8x8 are too small" in tiny.errors[0]
    assert sources[(8, 8)].refused_small > 0
    # 2560x1600 (4.1 MP) is processed within MAX_INPUT_PIXELS, aspect kept.
    assert huge.sizes and all(w * h <= MAX_INPUT_PIXELS and abs(w / h - 1.6) < 0.01 for w, h in huge.sizes)
    assert sources[(2560, 1600)].scaled_down > 0 and sources[(96, 72)].scaled_down == 0
    assert normal.frames >= 30 and normal.sizes == {(96, 72)} and not normal.errors


def test_the_page_sees_each_warm_up_step_before_its_answer(caplog):
    """A style's load and warm-up (tens of seconds on a first start on a small CPU) reaches the
    page as ``progress`` events, the lines the terminal shows, before the answer."""
    style = Path(__file__).parents[3] / "models" / "weights" / "styles" / "light" / "rain_princess.safetensors"
    converter = FrameConverter(torch.device("cpu"), torch.float32)
    settings = SessionSettings(converter, style, size=(96, 72), backend="eager")

    async def main():
        async with running_server(settings) as server:
            pc = RTCPeerConnection()
            pc.addTrack(SyntheticCamera(96, 72))
            async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
                await ws.recv()  # hello
                await pc.setLocalDescription(await pc.createOffer())
                await ws.send(json.dumps({"type": "offer", "sdp": pc.localDescription.sdp}))
                seen = []
                while (msg := json.loads(await asyncio.wait_for(ws.recv(), 60)))["type"] != "answer":
                    seen.append(msg)
            await pc.close()
            return seen

    with caplog.at_level(logging.INFO, logger="livefx"):
        seen = asyncio.run(main())
    progress = [m["message"] for m in seen if m["type"] == "progress"]
    assert any(line.startswith("warming up stylize at 96x72") for line in progress), progress
    assert any("ready in" in line for line in progress), progress
