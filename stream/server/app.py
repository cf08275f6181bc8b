"""The websockets server: static files from ``web/``, and one ``/ws`` per client."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import ssl
from collections.abc import Awaitable, Sequence
from http import HTTPStatus
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from livefx.models.diffusion.stage import DiffusionStyle
from livefx.models.registry import available_styles

from ..errors import UsageError
from ..own_thread import run_on_own_thread
from ..sinks.base import Sink
from ..sources.base import Source
from ..style import describe
from . import protocol, security, static
from .events import report_hub
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import ServerMetrics
from .ratelimit import TokenBucket
from .session import BroadcastHub, Session, SessionSettings, build_hub

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
        """``source=None``: each client sends its camera (send-receive); otherwise the
        source is processed once and broadcast to every client, and to ``sinks`` (a virtual
        camera, a recording) whether or not anyone watches. ``tls``: serve HTTPS/WSS.
        ``ping_every_s``: a client that does not answer a ping within as long again is
        gone (a closed laptop, a lost network) and its session is freed."""
        if sinks and source is None:
            raise UsageError("a server-side --source is needed for --sink (browser cameras are per viewer)")
        self.settings = settings
        self.source = source
        self.sinks = list(sinks)
        self.ping_every_s = ping_every_s
        self.hub: BroadcastHub | None = None
        self.host = host
        self.port = port
        self.token = security.token_for(host, token)
        self.max_sessions = max_sessions
        self.tls = tls
        self.sessions: set[Session] = set()
        self._files: dict[str, tuple[bytes, str]] = {}
        #: ``GET /metrics``: every session's and the hub's frames, summed since the start.
        self.metrics = ServerMetrics(sessions=lambda: len(self.sessions))

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
        if self.source is not None:
            build = functools.partial(build_hub, self.source, self.settings, loop, self.sinks, self.metrics)
            self.hub = await loop.run_in_executor(None, run_on_own_thread, build, "livefx-load")  # see own_thread
        try:
            await self._serve(ready, stop)
        finally:
            if self.hub is not None:
                await loop.run_in_executor(None, self.hub.stop)

    async def _serve(self, ready: asyncio.Event | None, stop: asyncio.Event | None) -> None:
        async with serve(
            self._handler,
            self.host,
            self.port,
            process_request=self._process_request,
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

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | Awaitable[Response] | None:
        path = urlsplit(request.path).path
        if not security.token_ok(request.path, self.token, request.headers.get("Cookie")):
            return _text(HTTPStatus.FORBIDDEN, "livefx: a token is required: open the URL printed by livefx serve")
        if path == "/ws":
            if not security.origin_ok(request.headers.get("Origin"), request.headers.get("Host")):
                return _text(HTTPStatus.FORBIDDEN, "livefx: websocket origin does not match this server")
            return None  # go on with the websocket handshake
        if request.headers.get("Upgrade"):
            return _text(HTTPStatus.NOT_FOUND, "livefx: the websocket lives at /ws")
        if path == "/metrics":
            return self._metrics_page()
        return self._file(path, request.headers.get("Host"))

    async def _metrics_page(self) -> Response:
        """The Prometheus text: the pipelines' numbers refreshed off the loop, rendered on it."""
        await asyncio.get_running_loop().run_in_executor(None, self.metrics.refresh)
        body = self.metrics.render()
        headers = Headers(
            {
                "Content-Type": METRICS_CONTENT_TYPE,
                "Content-Length": str(len(body)),
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            }
        )
        return Response(HTTPStatus.OK.value, "OK", headers, body)

    def _file(self, path: str, host: str | None = None) -> Response:
        if path not in self._files:
            found = static.resolve(path)
            if found is None:
                return _text(HTTPStatus.NOT_FOUND, f"livefx: no such page {path}")
            self._files[path] = (found.read_bytes(), static.content_type(found))
        body, ctype = self._files[path]
        headers = Headers(
            {
                "Content-Type": ctype,
                "Content-Length": str(len(body)),
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                # The page's own files only; the token in the URL never leaves in a Referer.
                "Content-Security-Policy": content_security_policy(host),
                "Referrer-Policy": "no-referrer",
            }
        )
        if self.token:
            headers["Set-Cookie"] = security.token_cookie(self.token, secure=self.tls is not None)
        return Response(HTTPStatus.OK.value, "OK", headers, body)

    def _style_name(self) -> str:
        return describe(self.settings.style)

    def _styles(self) -> list[str]:
        """The menu: the style networks, and the diffusion model the server loaded (if any)."""
        style = self.settings.style
        return sorted(available_styles()) + ([style.name] if isinstance(style, DiffusionStyle) else [])

    def _diffusion(self) -> dict | None:
        """The prompt settings streams start with (None without a diffusion style)."""
        style = self.settings.style
        if not isinstance(style, DiffusionStyle):
            return None
        o = style.options
        return {"prompt": o.prompt, "strength": o.strength, "seed": o.seed, "steps": list(o.step_choices)}

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
        session = Session(ws.send, self.settings, self._publish, self.hub, self.metrics)
        self.sessions.add(session)
        log.info("client %s connected (%d of %d sessions)", peer, len(self.sessions), self.max_sessions)
        try:
            await ws.send(
                protocol.event(
                    "hello",
                    styles=self._styles(),
                    style=self._style_name(),
                    budget_ms=self.settings.budget_ms,
                    mode="send-receive" if self.hub is None else "broadcast",
                    interpolation=self.settings.motion.factor if self.settings.motion.active else 0,
                    diffusion=self._diffusion(),
                )
            )
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
        except ConnectionClosed:
            pass
        finally:
            await session.close()
            self.sessions.discard(session)
            log.info("client %s left (%d sessions remain)", peer, len(self.sessions))


#: Websocket messages one client may send: a page sends a few a second (ICE candidates come
#: in bursts of a dozen or two at the start); a flood is dropped without touching the stream.
MESSAGES_PER_S = 20
MESSAGE_BURST = 60
FLOOD_MESSAGE = (
    f"too many messages: at most {MESSAGES_PER_S} a second (bursts of {MESSAGE_BURST});"
    " the ones over the limit were dropped"
)

#: Scripts, styles and sockets from this server only; snapshots and recordings are blob:
#: and data: URLs; the camera preview is a media stream.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:;"
    " connect-src 'self'{sockets}; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d+)?$|^\[[0-9A-Fa-f:.]+\](:\d+)?$")


def content_security_policy(host: str | None) -> str:
    """The policy for a page asked for as ``host``: its websocket named explicitly too
    (browsers before CSP3, e.g. Safari 15, do not count ws:// as 'self')."""
    sockets = f" ws://{host} wss://{host}" if host and _HOST.match(host) else ""
    return CONTENT_SECURITY_POLICY.format(sockets=sockets)


def _text(status: HTTPStatus, text: str) -> Response:
    body = text.encode()
    headers = Headers({"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body))})
    return Response(status.value, status.phrase, headers, body)
