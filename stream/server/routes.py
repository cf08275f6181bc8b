"""What the server answers over plain HTTP: the token check before anything, the origin check
before a ``/ws`` handshake, ``/metrics``, and the page's static files from ``web/``."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from http import HTTPStatus
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from . import security, static
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import ServerMetrics


class HttpRoutes:
    """Every HTTP request before (or instead of) a websocket: ``process_request`` for websockets'
    ``serve``. ``token``: required of every request (None: none); ``secure``: served over TLS."""

    def __init__(self, token: str | None, secure: bool, metrics: ServerMetrics) -> None:
        self.token = token
        self.secure = secure
        self.metrics = metrics
        self._files: dict[str, tuple[bytes, str]] = {}

    def process_request(self, connection: ServerConnection, request: Request) -> Response | Awaitable[Response] | None:
        """A response, or None to go on with the websocket handshake."""
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
            return self.metrics_page()
        return self.file(path, request.headers.get("Host"))

    async def metrics_page(self) -> Response:
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

    def file(self, path: str, host: str | None = None) -> Response:
        """A file of the page (read once, then served from memory), asked for as ``host``."""
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
            headers["Set-Cookie"] = security.token_cookie(self.token, secure=self.secure)
        return Response(HTTPStatus.OK.value, "OK", headers, body)


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
