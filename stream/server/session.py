"""One client: its websocket, its peer connection and its pipeline (send-receive mode)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp
from websockets.exceptions import ConnectionClosed

from livefx.models.action.load import ActionModel
from livefx.models.diffusion.stage import DiffusionStage, DiffusionStyle

from ..actions import ActionsConfig
from ..budget import OnLate
from ..device import FrameConverter
from ..errors import LivefxError
from ..motion import MotionConfig, MotionStage, build_motion_stage
from ..own_thread import run_on_own_thread
from ..pipeline import Pipeline, PipelineConfig
from ..sinks.base import Sink
from ..sources.base import Source
from ..sources.file import FileSource
from ..style import Style, style_stages
from . import protocol
from .band import TimingBand
from .bridge import MIN_INPUT_SIDE, ProcessedTrack, TrackSink, TrackSource, discard, drain
from .codecs import prefer_codec
from .events import metrics_event, prompt_event
from .metrics import ServerMetrics

log = logging.getLogger("livefx.server")


@dataclass
class SessionSettings:
    """What every new session starts with."""

    converter: FrameConverter
    style: Style
    budget_ms: float = 100.0
    on_late: OnLate = OnLate.BEST_EFFORT
    #: Prefer plans that keep up with the source's frame rate (see PipelineConfig.keep_up).
    keep_up: bool = True
    size: tuple[int, int] = (640, 480)
    #: How a server-side source's frames meet ``size`` (see stream.fit).
    fit: str = "pad"
    backend: str = "auto"
    #: CPU threads for the models, fixed (None: tuned between frames; see stream.thread_tuner).
    threads: int | None = None
    codec: str = "vp8"
    metrics_every_s: float = 0.5
    #: Interpolation/stabilization for every stream (see stream.motion); ``rife`` is the weights file.
    motion: MotionConfig = field(default_factory=MotionConfig)
    rife: Path | None = None
    #: Action labels for every stream (one loaded model, shared), sent as ``labels`` events.
    actions: ActionModel | None = None
    actions_config: ActionsConfig = field(default_factory=ActionsConfig)

    def pipeline_config(self, size: tuple[int, int] | None) -> PipelineConfig:
        """The engine settings every session's pipeline (and a broadcast's) starts with."""
        return PipelineConfig(
            budget_ms=self.budget_ms,
            on_late=self.on_late,
            keep_up=self.keep_up,
            size=size,
            fit=self.fit,
            backend=self.backend,
            threads=self.threads,
        )

    def motion_stage(self) -> MotionStage | None:
        if not self.motion.active or self.rife is None:
            return None
        return build_motion_stage(self.rife, self.motion, self.converter, self.backend)


class BroadcastHub:
    """One server-side source processed once; every viewer session gets the same frames."""

    def __init__(self, pipeline: Pipeline, fan_out: TrackSink) -> None:
        self.pipeline = pipeline
        self.fan_out = fan_out

    def start(self) -> None:
        """Start processing (once; later calls do nothing)."""
        if self.pipeline.capture is None:
            self.pipeline.start()

    @property
    def source_ended(self) -> bool:
        """True once the source has no more frames (a file played to its end)."""
        capture = self.pipeline.capture
        return capture is not None and not capture.is_alive() and capture.error is None

    def stop(self) -> None:
        self.pipeline.close()


def build_hub(
    source: Source,
    settings: SessionSettings,
    loop: asyncio.AbstractEventLoop,
    sinks: Sequence[Sink] = (),
    metrics: ServerMetrics | None = None,
) -> BroadcastHub:
    """Off the loop: open the server-side source, load and warm the style, start processing.
    ``sinks`` (a virtual camera, a recording) get the same processed frames as the viewers.
    A file with nowhere else to go waits for its first viewer instead of playing to nobody.
    ``metrics``: the server's ``/metrics``, which counts the hub's frames from the start."""
    fan_out = TrackSink(loop)
    pipeline = Pipeline(
        source,
        [fan_out, *sinks],
        style_stages(settings.style, settings.converter, settings.backend),
        settings.converter,
        settings.pipeline_config(settings.size),
        settings.motion_stage(),
        settings.actions,
        settings.actions_config,
    )
    pipeline.open()
    if metrics is not None:
        metrics.attach(pipeline.stats, pipeline.snapshot)
    hub = BroadcastHub(pipeline, fan_out)
    if sinks or not isinstance(source, FileSource):
        hub.start()
    return hub


class Session:
    def __init__(
        self,
        send,
        settings: SessionSettings,
        publish=None,
        hub: BroadcastHub | None = None,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self._send = send
        self.metrics = metrics  # the server's /metrics: counts this session's own pipeline
        self._publish = publish  # server-wide event fan-out (observers such as the overlay)
        self.hub = hub  # broadcast mode: the shared pipeline, not this session's
        self.observer = False
        self.settings = settings
        self.pc: RTCPeerConnection | None = None
        self.pipeline: Pipeline | None = None
        self.source: TrackSource | None = None
        self.out_track: ProcessedTrack | None = None
        #: The page's timing band (``marker``): cut off its frames, put back on what it gets.
        self.band = TimingBand()
        self._tasks: set[asyncio.Task] = set()
        self.closed = False

    async def handle(self, message: protocol.Message) -> None:
        kind, data = message.type, message.data
        if kind == "ping":
            await self._send(protocol.event("pong"))
        elif kind == "subscribe":
            self.observer = True
            if self.hub is not None:  # what a broadcast shows now, without waiting for a change
                await self._send_hub_state()
        elif kind == "marker":
            if self.hub is not None:
                raise protocol.ProtocolError("'marker' is for a page that sends its camera; this server broadcasts")
            try:
                self.band.declare(data["width"], data["height"], data["band"])
            except ValueError as exc:
                raise protocol.ProtocolError(f"'marker': {exc}") from None
            await self._send(protocol.event("marker", width=data["width"], height=data["height"], band=data["band"]))
        elif kind == "offer":
            await self._on_offer(data["sdp"])
        elif kind == "candidate":
            await self._on_candidate(data)
        elif kind == "style":
            self._spawn(self._on_style(data["name"]))
        elif kind == "interpolate":
            if self.pipeline is None or self.pipeline.worker is None:
                raise protocol.ProtocolError("no stream yet: send an offer first")
            if self.pipeline.motion is None:
                raise protocol.ProtocolError(
                    "interpolation is off on this server: start it with --interpolate or --stabilize"
                )
            await asyncio.wrap_future(self.pipeline.set_motion(data["on"]))
            await self._send(protocol.event("interpolate", on=data["on"]))
        elif kind == "prompt":
            self._spawn(self._on_prompt(data["prompt"], data.get("strength"), data.get("seed")))
        elif kind == "budget":
            if self.pipeline is None:
                raise protocol.ProtocolError("no stream yet: send an offer first")
            await asyncio.wrap_future(self.pipeline.set_budget(float(data["ms"])))
            await self._send(protocol.event("budget", ms=float(data["ms"])))

    async def _on_offer(self, sdp: str) -> None:
        if self.pc is not None:
            raise protocol.ProtocolError("this session already has a stream; open a new websocket to restart")
        pc = self.pc = RTCPeerConnection()
        loop = asyncio.get_running_loop()
        self.out_track = ProcessedTrack()
        if self.hub is None:
            self.source = TrackSource(band=self.band)

            @pc.on("track")
            def on_track(track) -> None:
                if track.kind == "video":
                    self._spawn(drain(track, self.source))
                elif track.kind == "audio":  # until audio is supported: said once a session, not dropped unsaid
                    log.warning("the browser sends audio: livefx processes video only for now; the audio is dropped")
                    self._spawn(discard(track))

        # Created before the offer is applied so the codec choice shapes the negotiation;
        # aiortc pairs it with the offer's video m-line.
        direction = "sendrecv" if self.hub is None else "sendonly"
        transceiver = pc.addTransceiver(self.out_track, direction=direction)
        prefer_codec(transceiver, self.settings.codec)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            if transceiver.mid is None:
                raise ValueError("the offer has no video: add a camera track or a recvonly video transceiver")
            answer = await pc.createAnswer()  # fails too on offers aiortc parsed but cannot pair
        except Exception as exc:  # noqa: BLE001 - aiortc raises ValueError and others on bad SDP
            await self._abandon_offer(pc)
            raise protocol.ProtocolError(f"invalid offer: {_first_line(exc)}") from None

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc is not self.pc:  # an abandoned offer's connection closing: not this session's end
                return
            with contextlib.suppress(ConnectionClosed):  # the client may already be gone
                await self._send(protocol.event("state", state=pc.connectionState))
            if pc.connectionState in ("failed", "closed"):
                await self.close()

        if self.hub is None:
            # Models load and warm up on a thread that ends with it (see own_thread).
            build = functools.partial(self._build_pipeline, loop)
            self.pipeline = await loop.run_in_executor(None, run_on_own_thread, build, "livefx-load")
        else:
            self.pipeline = self.hub.pipeline
            self.hub.fan_out.add(self.out_track)
            self.hub.start()
        try:
            await pc.setLocalDescription(answer)  # aiortc gathers all candidates here: no trickle needed
        except Exception as exc:  # noqa: BLE001 - the stream cannot start: free what was built for it
            await self._abandon_offer(pc)
            raise protocol.ProtocolError(f"invalid offer: {_first_line(exc)}") from None
        await self._send(protocol.event("answer", sdp=pc.localDescription.sdp))
        self._spawn(self._metrics())

    async def _abandon_offer(self, pc: RTCPeerConnection) -> None:
        """Undo a failed offer: the session is as before it (a corrected offer may follow)."""
        self.pc = None
        await pc.close()
        if self.hub is not None:
            if self.out_track is not None and self.pipeline is not None:
                self.hub.fan_out.remove(self.out_track)
        elif self.pipeline is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._release_pipeline, self.pipeline)
        self.pipeline, self.source, self.out_track = None, None, None

    def _build_pipeline(self, loop: asyncio.AbstractEventLoop) -> Pipeline:
        """Off the loop: load and warm the model, then start the threads."""
        s = self.settings
        sink = TrackSink(loop, band=self.band)
        sink.add(self.out_track)
        config = s.pipeline_config(size=None)
        stages = style_stages(s.style, s.converter, s.backend)
        pipeline = Pipeline(
            self.source, [sink], stages, s.converter, config, s.motion_stage(), s.actions, s.actions_config
        )
        pipeline.warmup(*s.size)
        if self.metrics is not None:
            self.metrics.attach(pipeline.stats, pipeline.snapshot)
        try:
            pipeline.start()
        except BaseException:
            if self.metrics is not None:
                self.metrics.detach(pipeline.stats)
            raise
        return pipeline

    def _release_pipeline(self, pipeline: Pipeline) -> None:
        """Off the loop: stop this session's own pipeline; /metrics keeps what it counted."""
        try:
            pipeline.close()
        finally:
            if self.metrics is not None:
                self.metrics.detach(pipeline.stats)

    async def _on_candidate(self, data: dict) -> None:
        if self.pc is None:
            raise protocol.ProtocolError("'candidate' before 'offer'")
        if not data["candidate"]:
            return  # end-of-candidates
        if data.get("sdpMid") is None and data.get("sdpMLineIndex") is None:
            raise protocol.ProtocolError("'candidate' needs 'sdpMid' or 'sdpMLineIndex'")
        try:
            candidate = candidate_from_sdp(data["candidate"].removeprefix("candidate:"))
        except Exception:  # noqa: BLE001
            raise protocol.ProtocolError("malformed ICE candidate") from None
        candidate.sdpMid = data.get("sdpMid")
        candidate.sdpMLineIndex = data.get("sdpMLineIndex")
        await self.pc.addIceCandidate(candidate)

    async def _on_style(self, name: str) -> None:
        from livefx.models.registry import resolve_style

        try:
            if self.pipeline is None:
                raise protocol.ProtocolError("no stream yet: send an offer first")
            style = self.settings.style
            if not (isinstance(style, DiffusionStyle) and name == style.name):
                style = resolve_style(name)  # the server's diffusion model, or a style network
            await asyncio.wrap_future(self.pipeline.switch_style(style))
        except (LivefxError, protocol.ProtocolError) as exc:
            await self._send(protocol.error(str(exc)))
            return
        await self._send(protocol.event("style", name=name, status="ready"))
        if isinstance(self.pipeline.style_stage(), DiffusionStage):
            await self._emit_prompt()  # the settings it resumed with, for every page's prompt box

    async def _on_prompt(self, prompt: str, strength: float | None, seed: int | None) -> None:
        try:
            if self.pipeline is None:
                raise protocol.ProtocolError("no stream yet: send an offer first")
            await asyncio.wrap_future(self.pipeline.set_prompt(prompt, strength, seed))
        except (LivefxError, protocol.ProtocolError) as exc:
            await self._send(protocol.error(str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - e.g. out of memory encoding the prompt: say so, go on
            await self._send(protocol.error(f"prompt not applied: {_first_line(exc)}"))
            return
        await self._emit_prompt()

    async def _emit_prompt(self) -> None:
        """The running diffusion settings, to this client and the observers."""
        assert self.pipeline is not None
        await self._emit(prompt_event(self.pipeline))

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
            await emit(metrics_event(self.pipeline, self.source, self.out_track))

    async def _send_hub_state(self) -> None:
        """To this observer: the broadcast's latest labels and its prompt (diffusion styles)."""
        assert self.hub is not None
        pipeline = self.hub.pipeline
        if pipeline.actions is not None and pipeline.actions.latest is not None:
            await self._send(protocol.event("labels", **pipeline.actions.latest.to_json()))
        if isinstance(pipeline.style_stage(), DiffusionStage):
            await self._send(prompt_event(pipeline))

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
        if self.pc is not None:
            await self.pc.close()
        if self.source is not None:
            self.source.end()
        if self.hub is not None:
            if self.out_track is not None:
                self.hub.fan_out.remove(self.out_track)
        elif self.pipeline is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._release_pipeline, self.pipeline)


def _first_line(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0][:200]
