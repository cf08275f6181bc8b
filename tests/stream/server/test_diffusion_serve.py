"""``livefx serve --style sd:PATH --prompt ...`` end to end: a real server process on the tiny random
diffusers folder, an aiortc client sending a still camera, the prompt changed over the websocket."""

from __future__ import annotations

import asyncio
import json
from fractions import Fraction

import av
import numpy as np
import torch
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack

from livefx.bench.clients import ServeProcess
from tests.diffusion_folders import diffusers_or_skip

diffusers_or_skip()

WIDTH, HEIGHT = 64, 48
#: Slow enough that the tiny model keeps up at full scale on a busy 2-core machine, so every
#: frame is processed the same way and can be compared with the expected pictures.
CAMERA_FPS = 2


class StillCamera(VideoStreamTrack):
    """The same textured picture at ``CAMERA_FPS``."""

    def __init__(self) -> None:
        super().__init__()
        y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
        self.image = np.stack([x * 4, y * 5, (x * y) % 256], axis=-1).astype(np.uint8)
        self.pts = 0

    async def recv(self) -> av.VideoFrame:
        await asyncio.sleep(1 / CAMERA_FPS)
        frame = av.VideoFrame.from_ndarray(self.image, format="rgb24")
        frame.pts, frame.time_base = self.pts, Fraction(1, CAMERA_FPS)
        self.pts += 1
        return frame


def expected(model, image: np.ndarray, prompt: str, strength: float) -> list[np.ndarray]:
    """The picture at each processing scale the planner may choose (to keep up with the camera
    on a busy machine it may run the style at 0.75 or 0.5 and scale back, as the worker does)."""
    import torch.nn.functional as F

    from livefx.models.diffusion.stage import DiffusionOptions, DiffusionStage

    stage = DiffusionStage(model, DiffusionOptions(prompt=prompt, strength=strength, steps=(1,)), backend="eager")
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    pictures = []
    for scale in (1.0, 0.75, 0.5):
        small = F.interpolate(x, scale_factor=scale, mode="bilinear", antialias=True) if scale != 1 else x
        y = F.interpolate(stage(small), size=x.shape[-2:], mode="bilinear") if scale != 1 else stage(x)
        pictures.append((y[0].permute(1, 2, 0) * 255).round().numpy())
    return pictures


async def session(url: str, camera: StillCamera) -> dict:
    pc = RTCPeerConnection()
    pc.addTrack(camera)
    frames: list[tuple[str, np.ndarray]] = []
    events: list[dict] = []
    phase = {"prompt": "before"}

    @pc.on("track")
    def on_track(track) -> None:
        async def pull() -> None:
            while True:
                try:
                    frame = await track.recv()
                except Exception:  # noqa: BLE001 - ends on hang-up
                    return
                frames.append((phase["prompt"], frame.to_ndarray(format="rgb24")))

        asyncio.ensure_future(pull())

    async with websockets.connect(url) as ws:
        hello = json.loads(await ws.recv())
        await pc.setLocalDescription(await pc.createOffer())
        await ws.send(json.dumps({"type": "offer", "sdp": pc.localDescription.sdp}))
        while (msg := json.loads(await asyncio.wait_for(ws.recv(), 120)))["type"] != "answer":
            events.append(msg)
        await pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "answer"))

        async def until(condition, timeout: float = 120) -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not condition():
                assert loop.time() < deadline, f"timed out; events: {[e['type'] for e in events][-5:]}"
                try:
                    events.append(json.loads(await asyncio.wait_for(ws.recv(), 0.2)))
                except asyncio.TimeoutError:
                    pass

        await until(lambda: len(frames) >= 12)
        await ws.send(json.dumps({"type": "prompt", "prompt": "a blue whale", "strength": 1.5}))
        await until(lambda: any(e["type"] == "error" for e in events))
        phase["prompt"] = "changing"
        await ws.send(json.dumps({"type": "prompt", "prompt": "a blue whale", "strength": 0.9}))
        await until(lambda: any(e["type"] == "prompt" for e in events))
        phase["prompt"] = "after"
        count = len(frames)
        await until(lambda: len(frames) >= count + 8)
        await until(lambda: any(e["type"] == "metrics" and e["diffusion"]["prompt"] == "a blue whale" for e in events))
        phase["prompt"] = "switching"
        for name in ("none", hello["style"]):  # away and back: the live prompt comes back with it
            await ws.send(json.dumps({"type": "style", "name": name}))
            await until(lambda name=name: any(e["type"] == "style" and e["name"] == name for e in events))
        await until(lambda: sum(e["type"] == "prompt" for e in events) >= 2)  # sent after the style event
    await pc.close()
    return {"hello": hello, "frames": frames, "events": events}


def test_serve_runs_a_diffusion_style_and_the_prompt_control_changes_the_output(tiny_sd, tmp_path):
    folder, _ = tiny_sd
    camera = StillCamera()
    args = ("--style", f"sd:{folder}", "--prompt", "the red fox", "--steps", "1", "--size", f"{WIDTH}x{HEIGHT}")
    with ServeProcess(*args, "--backend", "eager", log=tmp_path / "serve.log") as server:
        result = asyncio.run(session(server.url, camera))
    log = (tmp_path / "serve.log").read_text()
    hello = result["hello"]
    assert hello["diffusion"]["prompt"] == "the red fox" and f"sd:{folder.name}" in hello["styles"]
    errors = [e["message"] for e in result["events"] if e["type"] == "error"]
    assert errors == ["'prompt' strength must be a number in (0, 1]"], errors
    prompt_events = [e for e in result["events"] if e["type"] == "prompt"]
    assert [(e["prompt"], e["strength"]) for e in prompt_events] == [("a blue whale", 0.9)] * 2  # set, then resumed
    metrics = [e for e in result["events"] if e["type"] == "metrics"]
    assert metrics[-1]["steps"] and set(metrics[-1]["steps"]) == {"1"}

    from livefx.models.diffusion.folder import DiffusionSource, load_diffusion

    model = load_diffusion(DiffusionSource(str(folder)), torch.device("cpu"), torch.float32)
    fox = expected(model, camera.image, "the red fox", 0.5)
    whale = expected(model, camera.image, "a blue whale", 0.9)
    # Random weights: the prompt alone moves the picture little; the strength moves it a lot.
    assert all(np.abs(f - w).mean() > 8 for f, w in zip(fox, whale)), "the two settings give different pictures"

    def closer_to(image: np.ndarray) -> tuple[str, float, float]:
        d_fox = min(np.abs(image - f).mean() for f in fox)
        d_whale = min(np.abs(image - w).mean() for w in whale)
        return ("fox" if d_fox < d_whale else "whale", round(float(d_fox), 1), round(float(d_whale), 1))

    before = [closer_to(img.astype(float)) for phase, img in result["frames"] if phase == "before"]
    after = [closer_to(img.astype(float)) for phase, img in result["frames"] if phase == "after"]
    assert len(before) >= 12 and len(after) >= 8, log[-2000:]
    # The first frames after the event may have left the server before it (in flight in the
    # codec); past those, each frame shows its prompt, much closer to it than to the other one.
    assert all(kind == "fox" and d_fox < 0.6 * d_whale for kind, d_fox, d_whale in before), before
    assert all(kind == "whale" and d_whale < 0.6 * d_fox for kind, d_fox, d_whale in after[2:]), after
