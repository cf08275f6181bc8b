"""Interpolation over WebRTC: announced in hello, running per session, switchable live."""

import asyncio
import json

import torch
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from safetensors.torch import save_file

from livefx.models.rife import IFNet, IFNetConfig
from livefx.models.rife.load import config_metadata
from livefx.stream.device import FrameConverter
from livefx.stream.server.app import LivefxServer
from livefx.stream.server.session import SessionSettings
from livefx.stream.stages.motion import MotionConfig

from .test_webrtc_e2e import SyntheticCamera

CPU = torch.device("cpu")


def tiny_rife(path):
    config = IFNetConfig((8, 8, 8, 8))
    save_file(IFNet(config).state_dict(), str(path), metadata=config_metadata(config))
    return path


async def interpolating_session(tmp_path):
    settings = SessionSettings(
        FrameConverter(CPU, torch.float32),
        None,
        budget_ms=1000,
        keep_up=False,  # interpolate every pair, however busy the machine (the test counts them)
        size=(160, 120),
        backend="eager",
        motion=MotionConfig(factor=2),
        rife=tiny_rife(tmp_path / "tiny.safetensors"),
    )
    server = LivefxServer(settings, port=0)
    ready, stop = asyncio.Event(), asyncio.Event()
    serving = asyncio.ensure_future(server.serve(ready, stop))
    await ready.wait()
    pc = RTCPeerConnection()
    pc.addTrack(SyntheticCamera())
    pc.addTransceiver("video", direction="recvonly")
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        hello = json.loads(await ws.recv())

        async def read_until(kind):
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if msg["type"] in (kind, "error"):
                    return msg

        await ws.send(json.dumps({"type": "interpolate", "on": False}))
        early = await read_until("interpolate")
        await pc.setLocalDescription(await pc.createOffer())
        await ws.send(json.dumps({"type": "offer", "sdp": pc.localDescription.sdp}))
        answer = await read_until("answer")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        (session,) = server.sessions
        while session.pipeline is None or session.pipeline.stats.frames_interpolated < 10:
            await asyncio.sleep(0.1)
        await ws.send(json.dumps({"type": "interpolate", "on": False}))
        off = await read_until("interpolate")  # sent once the worker applied it, between frames
        stats = session.pipeline.stats
        made_when_off, processed_when_off = stats.frames_interpolated, stats.frames_out

        async def frames_out_reach(count: int) -> None:
            while stats.frames_out < count:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(frames_out_reach(processed_when_off + 5), 60)  # five more through the worker
        after = stats.frames_interpolated, stats.frames_out
    await pc.close()
    stop.set()
    await serving
    return hello, early, off, made_when_off, processed_when_off, after


def test_interpolation_runs_per_session_and_switches_off_live(tmp_path):
    hello, early, off, made_when_off, processed_when_off, (made_after, processed_after) = asyncio.run(
        interpolating_session(tmp_path)
    )
    assert hello["interpolation"] == 2
    assert early["type"] == "error" and "offer first" in early["message"]
    assert off == {"type": "interpolate", "on": False}
    assert processed_after > processed_when_off  # frames keep flowing...
    assert made_after == made_when_off  # ...but no more in-between frames are made
