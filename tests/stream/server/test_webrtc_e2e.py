"""A real aiortc client against a real livefx server, over loopback."""

import asyncio
import json
import threading

import av
import numpy as np
import torch
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack

from livefx.models.stylize import build_style_stage
from livefx.stream.device import FrameConverter
from livefx.stream.server.app import LivefxServer
from livefx.stream.server.encoders import LeanVp8Encoder
from livefx.stream.server.jitter import PromptJitterBuffer
from livefx.stream.server.session import SessionSettings
from livefx.stream.sources.synthetic import SyntheticSource

from ..test_switching import student_file

CPU = torch.device("cpu")


class SyntheticCamera(VideoStreamTrack):
    """A camera track of textured moving frames; remembers what it sent."""

    def __init__(self, width=160, height=120):
        super().__init__()
        self.source = SyntheticSource(width, height, fps=30)
        self.source.open()
        self.sent: list[np.ndarray] = []

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        image, _ = self.source.read()
        self.sent.append(image)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


def styler(path):
    stage = build_style_stage(path, CPU, torch.float32, "eager")

    def apply(image):
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        return (stage(x)[0].permute(1, 2, 0) * 255).round().numpy()

    return apply


def closest(received: np.ndarray, candidates: list[np.ndarray]) -> float:
    return min(np.abs(received.astype(float) - c.astype(float)).mean() for c in candidates)


async def session_run(tmp_path):
    style_a = student_file(tmp_path / "a.safetensors", 11)
    style_b = student_file(tmp_path / "b.safetensors", 12)
    settings = SessionSettings(
        FrameConverter(CPU, torch.float32),
        style_a,
        budget_ms=1000,
        size=(160, 120),
        backend="eager",
        metrics_every_s=0.2,
    )
    server = LivefxServer(settings, port=0)
    ready, stop = asyncio.Event(), asyncio.Event()
    serving = asyncio.ensure_future(server.serve(ready, stop))
    await ready.wait()

    pc = RTCPeerConnection()
    camera = SyntheticCamera()
    pc.addTrack(camera)
    received: list[np.ndarray] = []
    got_track = asyncio.Event()

    @pc.on("track")
    def on_track(track):
        async def pull():
            while True:
                try:
                    frame = await track.recv()
                except Exception:  # noqa: BLE001 - the track ends when we hang up
                    return
                received.append(frame.to_ndarray(format="rgb24"))

        asyncio.ensure_future(pull())
        got_track.set()

    events: list[dict] = []
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["style"] == "a"
        await ws.send("this is not json")
        events.append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"type": "teleport"}))
        events.append(json.loads(await ws.recv()))

        await pc.setLocalDescription(await pc.createOffer())
        await ws.send(json.dumps({"type": "offer", "sdp": pc.localDescription.sdp}))

        async def read_until(kind, timeout=60):
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), timeout))
                events.append(msg)
                if msg["type"] == kind:
                    return msg

        answer = await read_until("answer")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        await asyncio.wait_for(got_track.wait(), 20)
        while len(received) < 30:
            await asyncio.sleep(0.1)
        before_switch = list(received)
        # What aiortc's sender and receiver on the server actually run (private: no public handle)
        pc_server = next(iter(server.sessions)).link.pc
        video = next(t for t in pc_server.getTransceivers() if t.kind == "video")
        machinery = (type(video.sender._RTCRtpSender__encoder), type(video.receiver._RTCRtpReceiver__jitter_buffer))

        await ws.send(json.dumps({"type": "style", "name": str(style_b)}))
        await read_until("style")
        n_at_switch = len(received)
        while len(received) < n_at_switch + 30:
            await asyncio.sleep(0.1)
        after_switch = received[n_at_switch + 10 :]
        metrics = await read_until("metrics")
        assert len(server.sessions) == 1
    await pc.close()
    for _ in range(300):  # the server notices the hang-up and frees the session (30 s guard)
        if not server.sessions:
            break
        await asyncio.sleep(0.1)
    sessions_left = len(server.sessions)
    stop.set()
    await serving
    return events, camera.sent, before_switch, after_switch, metrics, sessions_left, style_a, style_b, machinery


def test_aiortc_client_gets_processed_video_switches_style_and_hangs_up(tmp_path):
    events, sent, before, after, metrics, sessions_left, style_a, style_b, machinery = asyncio.run(
        session_run(tmp_path)
    )
    # The server encodes with its lean encoder and releases frames on their last packet (the
    # client offered VP8 first: --codec auto answers in the offer's order).
    assert machinery == (LeanVp8Encoder, PromptJitterBuffer)
    assert events[0]["type"] == "error" and "not JSON" in events[0]["message"]
    assert events[1]["type"] == "error" and "unknown message type 'teleport'" in events[1]["message"]

    apply_a, apply_b = styler(style_a), styler(style_b)
    recent = sent[-200:]
    styled_a = [apply_a(s) for s in recent[::2]]
    styled_b = [apply_b(s) for s in recent[::2]]
    for frame in before[-5:]:
        # Processed by style a: much closer to a(input) than to the input or to b(input).
        assert closest(frame, styled_a) < 0.5 * closest(frame, recent)
        assert closest(frame, styled_a) < closest(frame, styled_b)
    for frame in after[-5:]:
        assert closest(frame, styled_b) < closest(frame, styled_a)

    assert metrics["frames_out"] > 0 and "p95" in metrics["latency_ms"]
    assert metrics["capture_to_send_ms"] > 0
    assert metrics["source_fps"] > 0  # measured from the frames the camera sent
    assert sessions_left == 0
    # Everything the session started is gone: no engine thread outlives it.
    names = [t.name for t in threading.enumerate()]
    assert not [n for n in names if n.startswith(("livefx-worker", "livefx-capture", "livefx-sink"))], names
