"""The websockets server: one Session per ``/ws`` client, the broadcast hub they share (with a
server-side source), and the HTTP routes of ``routes`` (static files from ``web/``, /metrics)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
from collections.abc import Sequence

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ..scheduling.own_thread import run_on_own_thread
from ..sinks.base import Sink
from ..sources.base import Source
from . import audio_level, protocol, security
from .events import hello_event, report_hub
from .metrics import ServerMetrics
from .pipelines import BroadcastHub, build_hub
from .ratelimit import TokenBucket
from .relay import SessionRelay
from .routes import HttpRoutes
from .session import Session
from .settings import SessionSettings

log = logging.getLogger("livefx.server")

#: Largest websocket message accepted (an SDP offer is ~5-15 KB).
MAX_MESSAGE_BYTES = 64 * 1024


class LivefxServer:
    """Serves the web client and runs one Session per websocket, up to ``max_sessions``."""

    def __init__(
        self,
        settings: SessionSettings,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        token: str | None = None,
        max_sessions: int = 4,
        source: Source | None = None,
        sinks: Sequence[Sink] = (),
        tls: ssl.SSLContext | None = None,
        ping_every_s: float = 5.0,
    ) -> None:
        """``source=None``: each client sends its camera (send-receive), and one page at a time
        feeds ``sinks`` (``SessionRelay``); otherwise the source is processed once and
        broadcast to every client, and to ``sinks`` (a virtual camera, a recording) whether
        or not anyone watches. ``tls``: serve HTTPS/WSS.
        ``ping_every_s``: a client that does not answer a ping within as long again is
        gone (a closed laptop, a lost network) and its session is freed."""
        self.settings = settings
        self.source = source
        self.sinks = list(sinks)
        #: The server's outputs fed by one page's camera at a time (the browser source only).
        self.relay = SessionRelay(self.sinks) if self.sinks and source is None else None
        self.ping_every_s = ping_every_s
        self.hub: BroadcastHub | None = None
        self.host = host
        self.port = port
        self.token = security.token_for(host, token)
        self.max_sessions = max_sessions
        self.tls = tls
        self.sessions: set[Session] = set()
        #: ``GET /metrics``: every session's and the hub's frames, summed since the start.
        self.metrics = ServerMetrics(sessions=lambda: len(self.sessions))
        self.routes = HttpRoutes(self.token, tls is not None, self.metrics)

    def url(self, path: str = "/", host: str | None = None) -> str:
        query = f"?token={self.token}" if self.token else ""
        host = host or security.reachable_hosts(self.host)[0]
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{self.port}{path}{query}"

    def urls(self, path: str = "/") -> list[str]:
        """One URL per address this server can be reached at (a wildcard host has several)."""
        return [self.url(path, host) for host in security.reachable_hosts(self.host)]

    async def serve(self, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
        loop = asyncio.get_running_loop()
        audio_level.install()  # aiortc's per-sample Python loop would cost the video its loop time
        if self.source is not None:
            build = functools.partial(build_hub, self.source, self.settings, loop, self.sinks, self.metrics)
            self.hub = await loop.run_in_executor(None, run_on_own_thread, build, "livefx-load")  # see own_thread
        try:
            await self._serve(ready, stop)
        finally:
            if self.hub is not None:
                await loop.run_in_executor(None, self.hub.stop)
            if self.relay is not None:
                await loop.run_in_executor(None, self.relay.close)

    async def _serve(self, ready: asyncio.Event | None, stop: asyncio.Event | None) -> None:
        async with serve(
            self._handler,
            self.host,
            self.port,
            process_request=self.routes.process_request,
            max_size=MAX_MESSAGE_BYTES,
            ping_interval=self.ping_every_s,
            ping_timeout=self.ping_every_s,
            close_timeout=self.ping_every_s,
            server_header="livefx",
            ssl=self.tls,
        ) as server:
            self.port = server.sockets[0].getsockname()[1]
            # A broadcast's labels and figures reach the overlay whether or not anyone watches.
            reporter = (
                asyncio.ensure_future(report_hub(self.hub, self._publish, self.settings.metrics_every_s))
                if self.hub is not None
                else None
            )
            if ready is not None:
                ready.set()
            try:
                await (stop.wait() if stop is not None else asyncio.Future())
            finally:
                if reporter is not None:
                    reporter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reporter
        for session in list(self.sessions):
            await session.close()

    async def _publish(self, message: str, origin: Session | None = None) -> None:
        """Send an event to every observer (e.g. OBS overlays) but the session it came from."""
        for session in list(self.sessions):
            if session.observer and session is not origin:
                try:
                    await session.send(message)
                except ConnectionClosed:
                    pass

    async def _handler(self, ws: ServerConnection) -> None:
        peer = ws.remote_address[0] if ws.remote_address else "?"
        if len(self.sessions) >= self.max_sessions:
            log.info("client %s refused: %d sessions already running (--max-sessions)", peer, self.max_sessions)
            await ws.send(protocol.error(f"busy: {self.max_sessions} sessions already running; try again later"))
            await ws.close(1013, "busy")
            return
        session = Session(ws.send, self.settings, self._publish, self.hub, self.metrics, self.relay)
        self.sessions.add(session)
        log.info("client %s connected (%d of %d sessions)", peer, len(self.sessions), self.max_sessions)
        try:
            # A broadcast's mix and mirror are the shared pipeline's now (a viewer may have changed them).
            look = self.hub.pipeline.look.settings() if self.hub is not None else None
            await ws.send(hello_event(self.settings, broadcast=self.hub is not None, look=look))
            await self._converse(ws, session, peer)
        except ConnectionClosed:
            pass
        finally:
            await session.close()
            self.sessions.discard(session)
            log.info("client %s left (%d sessions remain)", peer, len(self.sessions))

    async def _converse(self, ws: ServerConnection, session: Session, peer: str) -> None:
        """Hand the client's messages to its session until it leaves: a flood is dropped, and a
        message that fails is answered with an ``error``, the session going on."""
        limiter, told = TokenBucket(MESSAGES_PER_S, MESSAGE_BURST), False
        async for raw in ws:
            if not limiter.take():  # a flood: dropped, the client told once per episode
                if not told:
                    log.warning("client %s floods the websocket; dropping its messages", peer)
                    await ws.send(protocol.error(FLOOD_MESSAGE))
                told = True
                continue
            told = told and not limiter.recovered
            try:
                await session.handle(protocol.parse(raw))
            except protocol.ProtocolError as exc:
                await ws.send(protocol.error(str(exc)))
            except ConnectionClosed:
                raise
            except Exception as exc:  # noqa: BLE001 - one bad message must not drop the client
                log.exception("error handling a message")
                await ws.send(
                    protocol.error(f"internal error: {str(exc).splitlines()[0][:200] if str(exc) else exc!r}")
                )


#: Websocket messages one client may send: a page sends a few a second (ICE candidates come
#: in bursts of a dozen or two at the start); a flood is dropped without touching the stream.
MESSAGES_PER_S = 20
MESSAGE_BURST = 60
FLOOD_MESSAGE = (
    f"too many messages: at most {MESSAGES_PER_S} a second (bursts of {MESSAGE_BURST});"
    " the ones over the limit were dropped"
)
