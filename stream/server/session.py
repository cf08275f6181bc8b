"""One client: its websocket, its peer connection and its pipeline (send-receive mode).

The session's lifecycle is here: it routes each message to its job, runs its tasks and frees
what it holds. The WebRTC side is ``peer.PeerLink``, the control messages ``controls.Controls``,
the pipelines ``pipelines``."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import TYPE_CHECKING

from websockets.exceptions import ConnectionClosed

from livefx.models.diffusion.stage import DiffusionStage

from ..pipeline import Pipeline
from ..scheduling.own_thread import run_on_own_thread
from . import protocol
from .band import TimingBand
from .bridge import MIN_INPUT_SIDE, ProcessedTrack, TrackSource
from .controls import Controls
from .events import metrics_event, prompt_event
from .metrics import ServerMetrics
from .peer import PeerLink
from .pipelines import BroadcastHub, build_hub, build_session_pipeline, release_session_pipeline
from .progress import LoadProgress
from .relay import SessionRelay
from .settings import SessionSettings

if TYPE_CHECKING:
    from aiortc import RTCPeerConnection

__all__ = ["BroadcastHub", "Session", "SessionSettings", "build_hub"]

log = logging.getLogger("livefx.server")


class Session:
    """One websocket's session: routes its messages to their jobs, runs its tasks, reports its
    stream's figures, and frees what it holds when it ends."""

    def __init__(
        self,
        send,
        settings: SessionSettings,
        publish=None,
        hub: BroadcastHub | None = None,
        metrics: ServerMetrics | None = None,
        relay: SessionRelay | None = None,
    ) -> None:
        self._send = send
        #: The server's own outputs, which this session feeds while it is the live one.
        self.relay = relay
        self.metrics = metrics  # the server's /metrics: counts this session's own pipeline
        self._publish = publish  # server-wide event fan-out (observers such as the overlay)
        self.hub = hub  # broadcast mode: the shared pipeline, not this session's
        self.observer = False
        self.settings = settings
        self.pipeline: Pipeline | None = None
        #: The page's timing band (``marker``): cut off its frames, put back on what it gets.
        self.band = TimingBand()
        self.link = PeerLink(settings.codec, self.band, self._spawn)
        self.controls = Controls(
            settings.style, self.band, hub is not None, lambda: self.pipeline, self._send, self._emit
        )
        self._tasks: set[asyncio.Task] = set()
        self.closed = False

    @property
    def pc(self) -> RTCPeerConnection | None:
        """The peer connection (None before the offer)."""
        return self.link.pc

    @property
    def source(self) -> TrackSource | None:
        """The browser's camera frames (send-receive mode; None before the offer)."""
        return self.link.source

    @property
    def out_track(self) -> ProcessedTrack | None:
        """The processed frames this session sends (None before the offer)."""
        return self.link.out_track

    async def handle(self, message: protocol.Message) -> None:
        kind, data = message.type, message.data
        if kind == "ping":
            await self._send(protocol.event("pong"))
        elif kind == "subscribe":
            self.observer = True
            if self.hub is not None:  # what a broadcast shows now, without waiting for a change
                await self._send_hub_state()
        elif kind == "marker":
            await self.controls.marker(data["width"], data["height"], data["band"])
        elif kind == "offer":
            await self._on_offer(data["sdp"])
        elif kind == "candidate":
            await self.link.add_candidate(data)
        elif kind == "style":
            self._spawn(self.controls.switch_style(data["name"]))
        elif kind == "interpolate":
            await self.controls.interpolate(data["on"])
        elif kind == "prompt":
            self._spawn(self.controls.prompt(data["prompt"], data.get("strength"), data.get("seed")))
        elif kind == "budget":
            await self.controls.budget(data["ms"])
        elif kind == "mix":
            await self.controls.mix(data["value"])
        elif kind == "mirror":
            await self.controls.mirror(data["on"])

    async def _on_offer(self, sdp: str) -> None:
        sound = self.hub.pipeline.source.audio_channels if self.hub is not None else 0
        answer = await self.link.accept(sdp, receive=self.hub is None, sound_channels=sound)
        self.link.watch(self._on_state)
        loop = asyncio.get_running_loop()
        if self.hub is None:
            # Models load and warm up on a thread that ends with it (see own_thread).
            tracks = [self.out_track, *([self.link.audio_out] if self.link.audio_out is not None else [])]
            outputs = [self.relay.feed(self)] if self.relay is not None else []
            build = functools.partial(
                build_session_pipeline, self.settings, self.source, tracks, self.band, loop, self.metrics, outputs
            )
            with LoadProgress(self._send, loop):  # the page sees each warm-up step
                self.pipeline = await loop.run_in_executor(None, run_on_own_thread, build, "livefx-load")
        else:
            self.pipeline = self.hub.pipeline
            self.hub.fan_out.add(self.out_track)
            if self.link.audio_out is not None:
                self.hub.fan_out.add(self.link.audio_out)
            self.hub.start()
        try:
            sdp_answer = await self.link.finish(answer)
        except protocol.ProtocolError:  # the stream cannot start: free what was built for it
            await self._abandon_offer()
            raise
        await self._send(protocol.event("answer", sdp=sdp_answer))
        self._spawn(self._metrics())

    async def _on_state(self, state: str) -> None:
        with contextlib.suppress(ConnectionClosed):  # the client may already be gone
            await self._send(protocol.event("state", state=state))
        if state in ("failed", "closed"):
            await self.close()

    async def _abandon_offer(self) -> None:
        """Undo a failed offer: the session is as before it (a corrected offer may follow)."""
        tracks = [self.out_track, self.link.audio_out]
        await self.link.abandon()
        if self.hub is not None:
            for track in tracks:
                if track is not None and self.pipeline is not None:
                    self.hub.fan_out.remove(track)
        elif self.pipeline is not None:
            await self._release(self.pipeline)
        self.pipeline = None

    async def _release(self, pipeline: Pipeline) -> None:
        """Stop this session's own pipeline, off the loop."""
        release = functools.partial(release_session_pipeline, pipeline, self.metrics)
        await asyncio.get_running_loop().run_in_executor(None, release)

    async def _metrics(self) -> None:
        # A broadcast's labels and figures reach observers (the overlay) from the server's own
        # report (``report_hub``), once, whether or not anyone watches: a viewer sends them to
        # itself only.
        emit = self._emit if self.hub is None else self._send
        last_labels, told_ended, told_small = None, False, False
        while not self.closed and self.pipeline is not None:
            await asyncio.sleep(self.settings.metrics_every_s)
            if self.hub is not None and self.hub.source_ended and not told_ended:
                told_ended = True
                await self._emit(protocol.event("source_ended", source=self.hub.pipeline.source.spec))
            if self.source is not None and self.source.refused_small and not told_small:
                told_small = True
                width, height = self.source.sent_size
                await self._send(
                    protocol.error(
                        f"camera frames of {width}x{height} are too small to process (at least"
                        f" {MIN_INPUT_SIDE} px a side): nothing comes back until they are larger"
                    )
                )
            actions = self.pipeline.actions
            if actions is not None and actions.latest is not None and actions.latest is not last_labels:
                last_labels = actions.latest
                await emit(protocol.event("labels", **last_labels.to_json()))
            await emit(metrics_event(self.pipeline, self.source, self.out_track, self.link.audio_out, self._outputs()))

    async def _send_hub_state(self) -> None:
        """To this observer: the broadcast's latest labels and its prompt (diffusion styles)."""
        assert self.hub is not None
        pipeline = self.hub.pipeline
        if pipeline.actions is not None and pipeline.actions.latest is not None:
            await self._send(protocol.event("labels", **pipeline.actions.latest.to_json()))
        if isinstance(pipeline.style_stage(), DiffusionStage):
            await self._send(prompt_event(pipeline))

    def _outputs(self) -> dict | None:
        """The server's own outputs, and whether this page feeds them now (for the page)."""
        if self.relay is None:
            return None
        return {"sinks": self.relay.specs, "fed_by_this_page": self.relay.feeds(self)}

    async def send(self, message: str) -> None:
        await self._send(message)

    async def _emit(self, message: str) -> None:
        await self._send(message)
        if self._publish is not None:
            await self._publish(message, self)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and not self.closed:
            log.warning("session task failed: %r", task.exception())

    async def close(self) -> None:
        """Free the peer connection, the tasks and the pipeline's threads. Idempotent."""
        if self.closed:
            return
        self.closed = True
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        await self.link.close()
        if self.hub is not None:
            for track in (self.out_track, self.link.audio_out):
                if track is not None:
                    self.hub.fan_out.remove(track)
        elif self.pipeline is not None:
            await self._release(self.pipeline)
