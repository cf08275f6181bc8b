"""Browser-like clients for load, soak and fuzz runs: aiortc peers against a real ``livefx serve``.

``ServeProcess`` starts the real CLI server in its own process (so what is measured — memory,
threads, descriptors, CPU — is the server's alone); ``Client`` sends a synthetic camera over
WebRTC and records what comes back: frames, their arrival times and the server's metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack

from livefx.stream.sources.synthetic import SyntheticSource


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """``livefx serve`` on a free loopback port, in a child process; stopped with SIGTERM."""

    def __init__(self, *args: str, log: Path | None = None) -> None:
        self.port = free_port()
        self.args = ["--port", str(self.port), *args]
        self.log_path = log
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> ServeProcess:
        out = open(self.log_path, "w") if self.log_path else subprocess.DEVNULL  # noqa: SIM115 - closed in __exit__
        self._out = out
        cmd = [sys.executable, "-m", "livefx.stream.cli.main", "serve", *self.args]
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300  # model warm-up happens per session, the page is up at once
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"livefx serve exited with {self.proc.returncode}; see {self.log_path}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2).close()
                return self
            if time.monotonic() > deadline:
                raise TimeoutError("livefx serve did not answer within 300 s")
            time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._out is not subprocess.DEVNULL:
            self._out.close()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def sample(self) -> ProcessSample:
        assert self.proc is not None
        return ProcessSample.of(self.proc.pid)


@dataclass(frozen=True)
class ProcessSample:
    """Resident memory, threads and open descriptors of a process (Linux /proc)."""

    t: float
    rss_mb: float
    threads: int
    fds: int

    @classmethod
    def of(cls, pid: int) -> ProcessSample:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        values = dict(line.split(":", 1) for line in status if ":" in line)
        return cls(
            t=time.monotonic(),
            rss_mb=int(values["VmRSS"].split()[0]) / 1024,
            threads=int(values["Threads"]),
            fds=len(os.listdir(f"/proc/{pid}/fd")),
        )

    def summary(self) -> dict:
        """The counts for a results file (memory rounded to 0.1 MB)."""
        return {"rss_mb": round(self.rss_mb, 1), "threads": self.threads, "fds": self.fds}


def thread_names(pid: int) -> list[str]:
    """The names of a process's threads (Linux /proc), sorted."""
    names = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            names.append((task / "comm").read_text().strip())
        except OSError:  # the thread ended meanwhile
            pass
    return sorted(names)


class CameraTrack(VideoStreamTrack):
    """A synthetic camera (textured moving content) at ``fps``."""

    def __init__(self, width: int, height: int, fps: float = 30.0) -> None:
        super().__init__()
        self.source = SyntheticSource(width, height, fps=fps)
        self.source.open()
        self.period = 1 / fps
        self._next: float | None = None

    async def recv(self) -> av.VideoFrame:
        loop = asyncio.get_running_loop()
        self._next = loop.time() if self._next is None else self._next + self.period
        await asyncio.sleep(max(0.0, self._next - loop.time()))
        image, t = self.source.read()
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = round(t * 90_000), Fraction(1, 90_000)
        return frame


@dataclass
class Client:
    """One browser-like session: camera out, processed video and events back."""

    url: str
    width: int = 320
    height: int = 240
    fps: float = 30.0
    arrivals: list[float] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def join(self, timeout: float = 300) -> None:
        self.pc = RTCPeerConnection()
        self.pc.addTrack(CameraTrack(self.width, self.height, self.fps))

        @self.pc.on("track")
        def on_track(track) -> None:
            asyncio.ensure_future(self._pull(track))

        self.ws = await websockets.connect(self.url)
        hello = json.loads(await self.ws.recv())
        if hello["type"] == "error":
            raise ConnectionRefusedError(hello["message"])
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self.ws.send(json.dumps({"type": "offer", "sdp": self.pc.localDescription.sdp}))
        while (msg := json.loads(await asyncio.wait_for(self.ws.recv(), timeout)))["type"] != "answer":
            if msg["type"] == "error":
                raise RuntimeError(msg["message"])
        await self.pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "answer"))
        self._listener = asyncio.ensure_future(self._listen())

    async def _pull(self, track) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await track.recv()
            except Exception:  # noqa: BLE001 - the track ends on hang-up
                return
            self.arrivals.append(loop.time())

    async def _listen(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                msg = json.loads(raw)
                if msg["type"] == "metrics":
                    msg["_t"] = asyncio.get_running_loop().time()
                    self.metrics.append(msg)
                elif msg["type"] == "error":
                    self.errors.append(msg["message"])

    async def leave(self) -> None:
        await self.pc.close()
        await self.ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._listener


async def refused_message(url: str) -> str | None:
    """What the server tells one more client (None if it lets it in)."""
    async with websockets.connect(url) as ws:
        msg = json.loads(await ws.recv())
        return msg["message"] if msg["type"] == "error" else None
